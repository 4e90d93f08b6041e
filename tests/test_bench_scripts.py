"""The benchmark scripts stay runnable: smoke runs with the tiny pipeline (timings are not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_tiny_smoke(tmp_path):
    out = tmp_path / "gpu.json"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), "--tiny", "--frames", "16", "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    run = json.loads(out.read_text())["runs"][0]
    assert run["frames"] == 16 and run["denoiser_calls"] == 2  # 16 frames: two windows, one step each
    assert 0 < run["outside_denoiser_share"] < 1


def test_bench_overhead_smoke(tmp_path):
    out = tmp_path / "overhead.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_overhead.py"),
            "--frames",
            "16",
            "--steps",
            "1",
            "--modes",
            "overlapped",
            "--decode-chunks",
            "10",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    (run,) = json.loads(out.read_text())["runs"]
    assert run["frames"] == 16 and run["denoiser_calls"] == 2
    assert 0 < run["outside_denoiser_share"] < 1
    assert 0 < run["outside_model_share"] < run["outside_denoiser_share"]
    assert run["meets_goal"] == (run["outside_model_share"] <= 0.05)
    assert run["cpu_s"] > 0 and run["children_cpu_s"] >= 0  # what the CPU side cost, and what it competed with:
    assert len(run["load_avg_before"]) == len(run["load_avg_after"]) == 3
    assert json.loads(out.read_text())["cpu_count"] >= 1
