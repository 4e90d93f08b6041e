"""Benchmark lvcd.video against ffmpeg's own speed: decode (reader) and x264-medium encode (writer) throughput.

Generates a 576x320 testsrc2 clip (600 frames, H.264 CRF 18), then times, interleaved and repeated:

* decode: `ffmpeg -i clip -f null -` (ffmpeg's own speed) vs `lvcd.video.open_reader` (uint8 RGB frames in Python),
  plus the alternatives the reader's backend was chosen from: an ffmpeg rawvideo rgb24 pipe read into numpy, and
  PyAV with its own (libswscale) rgb24 conversion;
* encode: `ffmpeg -f rawvideo -pix_fmt rgb24 -i raw -c:v libx264 -preset medium -crf 18` (ffmpeg's own speed, from
  a raw file) vs `lvcd.video.open_writer` (frames held in memory), plus the alternative of piping rgb24 to ffmpeg.

Each figure is frames per second over the whole operation (process start, probe and muxing included); ratios are
against ffmpeg, from the best run of each (the least disturbed by other load) and from the medians. CPU time per
frame (this process and its ffmpeg children, all threads) is reported too: unlike wall time it hardly moves when
other jobs share the machine. Results go to benchmarks/video_io.json.
Run: `python scripts/bench_video_io.py [--repeats 5] [--frames 600]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
W, H = 576, 320  # the default model resolution's frame size
FPS = Fraction(24)
GOALS = {"decode": 0.8, "encode": 0.75}  # issue 3: reader >= 0.8x, writer >= 0.75x ffmpeg's own speed


def ffmpeg_args() -> list[str]:
    from lvcd.video._ffmpeg import ffmpeg_exe

    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system, all threads)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float]:
    """(frames per second of wall time, CPU milliseconds per frame). The CPU figure barely moves when other jobs
    share the machine, so it is the fairer comparison on a busy box."""
    c, t = cpu_seconds(), time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t), (cpu_seconds() - c) * 1000 / n


# ------------------------------------------------------------------------------------------------------ decode
def ffmpeg_decode(clip: Path, n: int):
    def run():
        subprocess.run(ffmpeg_args() + ["-i", str(clip), "-f", "null", "-"], check=True, stdin=subprocess.DEVNULL)
        return n

    return run


def lvcd_decode(clip: Path):
    def run():
        from lvcd.video import open_reader
        from lvcd.video.probe import _probe_cached

        _probe_cached.cache_clear()  # probing is part of the cost
        k, shape = 0, None
        with open_reader(clip) as reader:
            for frame in reader:
                k, shape = k + 1, frame.shape
        assert shape == (H, W, 3)
        return k

    return run


def pipe_decode(clip: Path):
    """The alternative: ffmpeg converts to rgb24 and we read the pipe into numpy (the Real-ESRGAN design)."""

    def run():
        from lvcd.video._ffmpeg import grow_pipe

        proc = subprocess.Popen(
            ffmpeg_args() + ["-i", str(clip), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        grow_pipe(proc.stdout)
        size, k = W * H * 3, 0
        while True:
            frame = np.empty((H, W, 3), np.uint8)
            view, got = memoryview(frame).cast("B"), 0
            while got < size:
                r = proc.stdout.readinto(view[got:])
                if not r:
                    break
                got += r
            if got < size:
                break
            k += 1
        proc.wait()
        return k

    return run


def pyav_swscale_decode(clip: Path):
    """The alternative: PyAV decoding with its own rgb24 conversion (libswscale)."""

    def run():
        import av

        k = 0
        with av.open(str(clip)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for f in c.decode(s):
                f.to_ndarray(format="rgb24")
                k += 1
        return k

    return run


# ------------------------------------------------------------------------------------------------------ encode
def ffmpeg_encode(raw: Path, out: Path, n: int):
    def run():
        subprocess.run(
            ffmpeg_args()
            + [
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                f"{W}x{H}",
                "-framerate",
                str(FPS),
                "-i",
                str(raw),
                "-c:v",
                "libx264",
                "-preset",
                "medium",
                "-crf",
                "18",
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
                str(out),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return n

    return run


def lvcd_encode(frames: np.ndarray, out: Path):
    def run():
        from lvcd.video import open_writer

        with open_writer(out, FPS, (W, H), crf=18, preset="medium", overwrite=True) as w:
            for f in frames:
                w.write(f)
        return len(frames)

    return run


def pipe_rgb_encode(frames: np.ndarray, out: Path):
    """The alternative: hand ffmpeg rgb24 and let it convert (what imageio-ffmpeg and Real-ESRGAN do)."""

    def run():
        from lvcd.video._ffmpeg import grow_pipe

        proc = subprocess.Popen(
            ffmpeg_args()
            + [
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                f"{W}x{H}",
                "-framerate",
                str(FPS),
                "-i",
                "pipe:0",
                "-c:v",
                "libx264",
                "-preset",
                "medium",
                "-crf",
                "18",
                "-pix_fmt",
                "yuv420p",
                str(out),
            ],
            stdin=subprocess.PIPE,
        )
        grow_pipe(proc.stdin)
        for f in frames:
            proc.stdin.write(memoryview(f).cast("B"))
        proc.stdin.close()
        assert proc.wait() == 0
        return len(frames)

    return run


# ------------------------------------------------------------------------------------------------------ main
def summarize(runs: dict[str, list[tuple[float, float]]], reference: str, goal: float) -> dict:
    def fps(name):
        return [r[0] for r in runs[name]]

    def cpu(name):
        return statistics.median(r[1] for r in runs[name])

    best_ref, med_ref, cpu_ref = max(fps(reference)), statistics.median(fps(reference)), cpu(reference)
    out = {}
    for name in runs:
        v = fps(name)
        out[name] = {
            "fps_best": round(max(v), 1),
            "fps_median": round(statistics.median(v), 1),
            "fps_runs": [round(x, 1) for x in v],
            "cpu_ms_per_frame_median": round(cpu(name), 3),
        }
        if name != reference:
            out[name]["ratio_best"] = round(max(v) / best_ref, 3)
            out[name]["ratio_median"] = round(statistics.median(v) / med_ref, 3)
            out[name]["cpu_ratio"] = round(cpu_ref / cpu(name), 3)  # > 1: less CPU per frame than ffmpeg
    out["goal_ratio"] = goal
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved runs of every variant (best and median kept)")
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "video_io.json")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import av
    import cv2

    from lvcd.video import open_reader, probe

    n = args.frames
    with tempfile.TemporaryDirectory(prefix="lvcd-bench-video-") as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        subprocess.run(
            ffmpeg_args()
            + [
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={W}x{H}:rate={FPS}",
                "-frames:v",
                str(n),
                "-c:v",
                "libx264",
                "-preset",
                "medium",
                "-crf",
                "18",
                "-pix_fmt",
                "yuv420p",
                str(clip),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        assert probe(clip).frame_count == n
        frames = np.stack(list(open_reader(clip)))  # [N, H, W, 3] held for the encoders
        raw = tmp / "clip.rgb"
        frames.tofile(raw)

        decode = {
            "ffmpeg -f null": ffmpeg_decode(clip, n),
            "lvcd open_reader": lvcd_decode(clip),
            "alt: ffmpeg rgb24 pipe": pipe_decode(clip),
            "alt: PyAV swscale rgb24": pyav_swscale_decode(clip),
        }
        encode = {
            "ffmpeg x264 medium": ffmpeg_encode(raw, tmp / "ff.mp4", n),
            "lvcd open_writer": lvcd_encode(frames, tmp / "ours.mp4"),
            "alt: rgb24 pipe to ffmpeg": pipe_rgb_encode(frames, tmp / "pipe.mp4"),
        }
        results: dict[str, dict[str, list[tuple[float, float]]]] = {
            "decode": {k: [] for k in decode},
            "encode": {k: [] for k in encode},
        }
        load_before = os.getloadavg()
        for rep in range(args.repeats):
            for group, fns in (("decode", decode), ("encode", encode)):
                for name, fn in fns.items():
                    results[group][name].append(timed(fn))
            print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr)
        load_after = os.getloadavg()
        assert probe(tmp / "ours.mp4").frame_count == n

    report = {
        "clip": {
            "size": [W, H],
            "frames": n,
            "fps": str(FPS),
            "codec": "h264 yuv420p, x264 medium crf 18",
            "source": "lavfi testsrc2",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyav": av.__version__,
            "opencv": cv2.__version__,
            "ffmpeg": subprocess.run(ffmpeg_args()[:1] + ["-version"], capture_output=True, text=True).stdout.split(
                "\n"
            )[0],
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
        },
        "repeats": args.repeats,
        "decode": summarize(results["decode"], "ffmpeg -f null", GOALS["decode"]),
        "encode": summarize(results["encode"], "ffmpeg x264 medium", GOALS["encode"]),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"\n{W}x{H}, {n} frames, {os.cpu_count()} CPUs, load {load_before[0]:.2f} -> {load_after[0]:.2f}, "
        f"{args.repeats} interleaved repeats"
    )
    print(
        f"{'':8s}{'variant':30s}{'best fps':>10s}{'median':>10s}{'x ffmpeg':>10s}{'(median)':>10s}"
        f"{'cpu ms/fr':>11s}{'cpu x':>7s}"
    )
    for group in ("decode", "encode"):
        for name, r in report[group].items():
            if name == "goal_ratio":
                continue
            ratio = f"{r['ratio_best']:.2f}" if "ratio_best" in r else "1.00"
            ratio_med = f"{r['ratio_median']:.2f}" if "ratio_median" in r else "1.00"
            cpu_ratio = f"{r.get('cpu_ratio', 1.0):.2f}"
            print(
                f"{group:8s}{name:30s}{r['fps_best']:10.0f}{r['fps_median']:10.0f}{ratio:>10s}{ratio_med:>10s}"
                f"{r['cpu_ms_per_frame_median']:11.2f}{cpu_ratio:>7s}"
            )
        print(f"{'':8s}goal: lvcd >= {report[group]['goal_ratio']}x ffmpeg")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
