"""`lvcd batch` safety (issue 10): manifest write paths confined, one run per work folder, re-run = up to date."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import REPO, colour_reference, lineart_frames, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.lock import WorkLock  # noqa: E402


def _project(root: Path, n: int = 24, **top) -> Path:
    frames = lineart_frames(n)
    for i, f in enumerate(frames):
        write_png(root / "line" / f"{i:04d}.png", f)
    write_png(root / "refs" / "a.png", colour_reference(frames[0]))
    write_png(root / "refs" / "b.png", colour_reference(frames[n // 2]))
    m = {
        "input": "line",
        "output": "out.mp4",
        "defaults": {"backend": "bucket"},
        "shots": [
            {"name": "a", "start": 0, "end": n // 2, "reference": "refs/a.png"},
            {"name": "b", "start": n // 2, "end": n, "reference": "refs/b.png"},
        ],
        **top,
    }
    (root / "shots.yaml").write_text(yaml.safe_dump(m, sort_keys=False))
    return root / "shots.yaml"


def test_manifest_output_outside_its_folder_refused(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("keep")
    proj = tmp_path / "proj"
    manifest = _project(proj, output="../victim", defaults={"backend": "bucket", "overwrite": True, "fmt": "png"})
    assert main(["batch", str(manifest), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "outside the manifest's folder" in err and "--allow-outside-paths" in err
    assert sorted(p.name for p in victim.iterdir()) == ["thesis.txt"] and not (proj / "shots.work").exists()
    data = yaml.safe_load(manifest.read_text())
    data["output"], data["work"] = "out.mp4", "/tmp/../" + str(tmp_path / "w")
    data["defaults"] = {"backend": "bucket"}
    manifest.write_text(yaml.safe_dump(data))
    assert main(["batch", str(manifest), "--quiet"]) == 2
    assert "`work`" in capsys.readouterr().err and not (tmp_path / "w").exists()
    # the command line naming the path is the user's own decision; so is --allow-outside-paths
    assert main(["batch", str(manifest), "--quiet", "--allow-outside-paths"]) == 0
    assert (proj / "out.mp4").exists() and (tmp_path / "w").is_dir()


def test_manifest_output_equal_to_its_input_refused(tmp_path, capsys):
    manifest = _project(tmp_path, output="line", defaults={"backend": "bucket", "fmt": "png", "overwrite": True})
    before = sorted(p.name for p in (tmp_path / "line").iterdir())
    assert main(["batch", str(manifest), "--quiet"]) == 2
    assert "input" in capsys.readouterr().err and sorted(p.name for p in (tmp_path / "line").iterdir()) == before


def test_finished_batch_rerun_is_up_to_date(tmp_path, capsys):
    manifest = _project(tmp_path)
    assert main(["batch", str(manifest), "--quiet"]) == 0
    out = tmp_path / "out.mp4"
    data, mtime = out.read_bytes(), out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["batch", str(manifest)]) == 0
    assert "2 shots up to date, output unchanged" in capsys.readouterr().err
    assert out.read_bytes() == data and out.stat().st_mtime_ns == mtime
    assert main(["batch", str(manifest), "--crf", "30", "--quiet"]) == 2  # a different encode: not up to date
    assert "--overwrite" in capsys.readouterr().err


def test_locked_work_folder_refused_cleanly(tmp_path, capsys):
    manifest = _project(tmp_path)
    with WorkLock(tmp_path / "shots.work"):
        code = main(["batch", str(manifest), "--quiet"])  # the same process re-enters its own lock...
    assert code == 0
    (tmp_path / "out.mp4").unlink()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from lvcd.lock import WorkLock\n"
            "WorkLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
            str(tmp_path / "shots.work"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        assert main(["batch", str(manifest), "--quiet"]) == 1  # ...another process's lock is respected
        err = capsys.readouterr().err
        assert f"in use by another lvcd run: pid {proc.pid}" in err and "Traceback" not in err
    finally:
        proc.kill()
        proc.wait()
    assert main(["batch", str(manifest), "--quiet"]) == 0  # the dead holder's lock is stale: taken over


def test_two_concurrent_batches(tmp_path):
    manifest = _project(tmp_path, n=48)
    cmd = [sys.executable, "-m", "lvcd", "batch", str(manifest), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for rc, err in results:
        assert rc == 0 or (rc == 1 and "in use by another lvcd run" in err), err
        assert "No such file or directory" not in err and "Traceback" not in err
    assert any(rc == 0 for rc, _ in results)
    first = (tmp_path / "out.mp4").read_bytes()
    (tmp_path / "out.mp4").unlink()
    assert main(["batch", str(manifest), "--quiet"]) == 0  # a fresh assembly from the same shots
    assert (tmp_path / "out.mp4").read_bytes() == first
