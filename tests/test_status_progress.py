"""lvcd.status.progress_summary: progress and ETA of a batch from the per-shot status files."""

from lvcd.status import progress_summary, read_statuses, write_status


def test_progress_counts_this_runs_frames_and_estimates_the_rest(tmp_path):
    write_status(tmp_path, "a", "done", frames_done=10, frames_total=10)
    write_status(tmp_path, "b", "running", frames_done=5, frames_total=20)
    write_status(tmp_path, "old", "done", frames_done=30, frames_total=30)
    statuses = read_statuses(tmp_path)
    statuses["old"]["updated"] = 0.0  # written by an earlier run: counts as nothing done in this one
    now = statuses["b"]["updated"]
    s = progress_summary(statuses, {"a": 10, "b": 20, "old": 30, "c": 40}, since=now - 3.0, now=now)
    assert (s["frames_done"], s["frames_total"]) == (15, 100)
    assert (s["done"], s["running"], s["pending"], s["failed"]) == (1, 1, 2, 0)
    assert abs(s["fps"] - 5.0) < 1e-6 and abs(s["eta_s"] - 17.0) < 1e-6  # 85 frames left at 5 frames/s


def test_no_progress_means_no_eta(tmp_path):
    s = progress_summary({}, {"a": 10}, since=0.0, now=5.0)
    assert s["frames_done"] == 0 and s["eta_s"] is None and s["pending"] == 1
