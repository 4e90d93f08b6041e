"""`lvcd batch`: dry run, errors, and the kill test (SIGKILL mid-shot at several points, resume, byte-identical)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shots"))  # the shot tests' clip generator
from shots_synth import colour_reference, make_clip, write_sequence  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.shots.shot import shot_seed  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SPEC = [dict(kind="shapes", n=16, seed=1), dict(kind="pan", n=24, seed=2, speed=1.0), dict(kind="twos", n=16, seed=4)]


def _episode(root: Path, size=(128, 72), defaults: dict | None = None, shots: list[dict] | None = None) -> Path:
    frames, _ = make_clip(SPEC, size=size)
    write_sequence(frames, root / "line")
    (root / "refs").mkdir()
    shots = shots or [
        {"name": "a", "start": 0, "end": 16, "reference": "refs/0.png"},
        {"name": "b", "start": 16, "end": 40, "reference": "refs/28.png", "reference_frame": 28},
        {"name": "c", "start": 40, "end": 56, "reference": "refs/40.png"},
    ]
    for s in shots:
        k = s.get("reference_frame", s["start"])
        cv2.imwrite(
            str(root / "refs" / f"{k}.png"), cv2.cvtColor(colour_reference(frames[k], seed=k), cv2.COLOR_RGB2BGR)
        )
    defaults = {"backend": "bucket", "fmt": "png", "seed": 5, **(defaults or {})}
    data = {"input": "line", "output": "out", "defaults": defaults, "shots": shots}
    (root / "shots.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root / "shots.yaml"


def test_dry_run_prints_plan_and_renders_nothing(tmp_path, capsys):
    manifest = _episode(tmp_path)
    assert main(["batch", str(manifest), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "forward+backward" in out and str(shot_seed(5, "b")) in out and out.count("todo") == 3
    assert not (tmp_path / "shots.work" / "shots").exists() and not (tmp_path / "out").exists()


def test_manifest_error_exits_2_and_names_the_shot(tmp_path, capsys):
    manifest = _episode(tmp_path)
    data = yaml.safe_load(manifest.read_text())
    data["shots"][1]["reference_frame"] = 3
    manifest.write_text(yaml.safe_dump(data))
    assert main(["batch", str(manifest), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "shot 'b': `reference_frame` 3 is outside the shot (frames 16-39)" in err and "Nothing was rendered" in err


def test_only_renders_selected_shots(tmp_path):
    manifest = _episode(tmp_path)
    assert main(["batch", str(manifest), "--only", "a,c", "--quiet"]) == 0
    shots = tmp_path / "shots.work" / "shots"
    assert sorted(p.name for p in shots.glob("*.json")) == ["a.json", "c.json"] and not (tmp_path / "out").exists()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _batch(manifest: Path, work: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "lvcd", "batch", str(manifest), "--work", str(work), "-o", str(out), "--quiet"],
        cwd=manifest.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> bool:
    """SIGKILL `proc` as soon as `ready()` holds; False if it finished first."""
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait()
    return False


def _kill_test(tmp_path: Path, manifest: Path, points: list[tuple[str, str, int]], frames: int) -> None:
    """Render `manifest` once uninterrupted, then again SIGKILLed at `points` (shot, "frames" | "windows", n: kill
    once the shot has n frames / n diffusion window checkpoints and is not done), then to the end: same bytes."""
    clean = _batch(manifest, tmp_path / "work_clean", tmp_path / "out_clean")
    log = clean.communicate(timeout=900)[0].decode()
    assert clean.returncode == 0, log
    work, out = tmp_path / "work_killed", tmp_path / "out_killed"
    killed = []
    for shot, what, n in points:
        folder = work / "shots" / shot
        stamp = work / "shots" / f"{shot}.json"

        def ready(folder=folder, stamp=stamp, what=what, n=n) -> bool:
            if stamp.exists():
                return False
            if what == "frames":
                return len(list(folder.glob("*.png"))) >= n
            return len(list(folder.with_name(folder.name + ".state").glob("ckpt/*/seg_*.safetensors"))) >= n

        if _kill_when(_batch(manifest, work, out), ready):
            killed.append((shot, what, n))
    assert len(killed) >= 2, f"the renders finished before they could be killed: {killed}"
    assert not out.exists()  # nothing that looks finished after a kill
    final = _batch(manifest, work, out)
    log = final.communicate(timeout=900)[0].decode()
    assert final.returncode == 0, log
    a, b = _files(tmp_path / "out_clean"), _files(out)
    assert len(a) == frames and a.keys() == b.keys() and all(a[k] == b[k] for k in a), "final video differs"
    ws = _files(tmp_path / "work_clean" / "shots")
    wk = _files(work / "shots")
    pngs = [k for k in ws if k.endswith(".png")]
    assert len(pngs) == frames and all(ws[k] == wk[k] for k in pngs)


def test_kill_and_resume_is_byte_identical_bucket(tmp_path):
    # points inside shot a, in b's backward pass (its forward part is 12 frames), and inside c
    manifest = _episode(tmp_path, size=(320, 180))
    _kill_test(tmp_path, manifest, [("a", "frames", 5), ("b", "frames", 15), ("c", "frames", 6)], 56)


@pytest.mark.slow
def test_kill_and_resume_is_byte_identical_diffusion(tmp_path, tiny_pipeline_dir_short):
    from lvcd.pipelines.tiny import SHORT_OVERLAP

    # the short tiny random pipeline (windows of 1 + 1 + 4 frames), 2 steps at 64x64. Shot a: 2 forward windows;
    # shot b: reference at 10 in 6..14, one forward and one backward window. Kill after a's first window (it resumes
    # from that checkpoint) and after b's forward pass (during the backward one).
    shots = [
        {"name": "a", "start": 0, "end": 6, "reference": "refs/0.png"},
        {"name": "b", "start": 6, "end": 15, "reference": "refs/10.png", "reference_frame": 10},
    ]
    defaults = {
        "backend": "diffusion",
        "model": str(tiny_pipeline_dir_short),
        "steps": 2,
        "overlap": SHORT_OVERLAP,
        "size": "64x64",
    }
    manifest = _episode(tmp_path, size=(64, 64), defaults=defaults, shots=shots)
    data = yaml.safe_load(manifest.read_text())
    data["input"], data["shots"] = "line15", shots
    write_sequence(make_clip(SPEC, size=(64, 64))[0][:15], tmp_path / "line15")
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    _kill_test(tmp_path, manifest, [("a", "windows", 1), ("b", "windows", 1)], 15)


def test_shots_then_batch_workflow(tmp_path):
    """`lvcd shots` writes the manifest, the user fills in the references, `lvcd batch` renders and assembles."""
    frames, cuts = make_clip(SPEC, size=(128, 72))
    write_sequence(frames, tmp_path / "line")
    manifest = tmp_path / "shots.yaml"
    assert main(["shots", str(tmp_path / "line"), "-o", str(manifest), "--quiet"]) == 0
    assert main(["batch", str(manifest), "--quiet"]) == 2  # empty reference slots: nothing renders
    text = manifest.read_text()
    for start in [0, *cuts]:
        key = cv2.cvtColor(colour_reference(frames[start]), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(tmp_path / f"key{start}.png"), key)
        text = text.replace("    reference:\n", f"    reference: key{start}.png\n", 1)
    manifest.write_text(text)
    assert (
        main(
            ["batch", str(manifest), "--backend", "bucket", "--format", "png", "-o", str(tmp_path / "out"), "--quiet"]
        )
        == 0
    )
    assert len(list((tmp_path / "out").glob("*.png"))) == len(frames)
