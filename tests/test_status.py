"""lvcd.status: atomic per-shot progress files, and `lvcd batch` writing them."""

import json

import pytest

from lvcd.status import StatusReporter, read_status, read_statuses, status_path, write_status


def test_write_read_roundtrip(tmp_path):
    write_status(tmp_path, "s1", "running", frames_done=3, frames_total=10, started=1.0, worker="h:1")
    rec = read_status(tmp_path, "s1")
    assert rec["state"] == "running" and rec["frames_done"] == 3 and rec["frames_total"] == 10
    assert rec["worker"] == "h:1" and rec["error"] is None
    assert list(read_statuses(tmp_path)) == ["s1"]
    assert not [p for p in status_path(tmp_path, "s1").parent.iterdir() if p.name.endswith(".tmp")]


def test_bad_state_refused(tmp_path):
    with pytest.raises(ValueError, match="pending"):
        write_status(tmp_path, "s", "finished", frames_done=0, frames_total=1)


def test_unreadable_file_ignored(tmp_path):
    write_status(tmp_path, "a", "done", frames_done=2, frames_total=2)
    (tmp_path / "status" / "b.json").write_text("{not json")
    assert set(read_statuses(tmp_path)) == {"a"}
    assert read_status(tmp_path, "b") is None


def test_reporter_progress_and_failure(tmp_path):
    r = StatusReporter(tmp_path, "s", 3, interval=0.0)
    r.start()
    r.frame()
    assert read_status(tmp_path, "s")["frames_done"] == 1
    r.fail(RuntimeError("disk full\nmore"))
    rec = read_status(tmp_path, "s")
    assert rec["state"] == "failed" and rec["error"] == "disk full"


def test_batch_writes_done_status(tmp_path):
    from pathlib import Path

    from lvcd.shots.render import render_shots

    sample = Path(__file__).resolve().parents[1] / "lvcd" / "data" / "sample" / "shots.yaml"
    res = render_shots(sample, work=tmp_path / "w", output=tmp_path / "o.mp4", progress=False)
    st = read_statuses(tmp_path / "w")
    assert set(st) == {s.name for s in res.shots}
    for s in res.shots:
        assert st[s.name]["state"] == "done"
        assert st[s.name]["frames_done"] == st[s.name]["frames_total"] == s.end - s.start
    assert json.loads(status_path(tmp_path / "w", res.shots[0].name).read_text())["attempt"] == 1
