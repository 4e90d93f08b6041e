"""How long rejecting (or accepting) a big manifest takes: `python scripts/bench_manifest_validation.py [N]`.

Writes N shots (default 100,000) whose ranges run past a 4-frame input and whose references are missing (the
rejection case of issue 10: 44 s, 750 MB and ~100,000 printed lines before). Reports wall and CPU seconds, peak RSS
and the number of lines the error prints. Results: benchmarks/manifest_validation.json.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lvcd.shots.manifest import ManifestError, load_manifest  # noqa: E402


def main(n: int = 100_000) -> dict:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "line").mkdir()
        for i in range(4):
            cv2.imwrite(str(root / "line" / f"{i:04d}.png"), np.full((16, 16, 3), 255, np.uint8))
        lines = ["input: line", "output: out.mp4", "shots:"]
        lines += [f"  - {{name: s{i}, start: {2 * i}, end: {2 * i + 2}, reference: r.png}}" for i in range(n)]
        (root / "m.yaml").write_text("\n".join(lines) + "\n")
        t, c = time.perf_counter(), time.process_time()
        try:
            load_manifest(root / "m.yaml")
            printed = 0
        except ManifestError as e:
            printed = len(str(e).splitlines())
        res = {
            "shots": n,
            "wall_s": round(time.perf_counter() - t, 2),
            "cpu_s": round(time.process_time() - c, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "lines_printed": printed,
            "rejected": printed > 0,
        }
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    out = main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
    (REPO / "benchmarks" / "manifest_validation.json").write_text(json.dumps(out, indent=2) + "\n")
