#!/usr/bin/env python3
"""Generate the bundled synthetic cel-animation sample (lineart + ground truth + coloured references).

Two shots separated by a hard cut, drawn the way a paint-bucket cel is: every shape is a flat palette colour, every
boundary between two shapes is a line (1 px in shot 1 like BasicPBC's data, thicker in shot 2), and a few outlines
have small unclosed gaps (the painter closes them; the colorizer has to as well). Motion covers what breaks naive
frame-to-frame colouring: translation, rotation, squash, a camera pan, one shape occluding and splitting another,
tiny regions (pupils, a highlight), and a region entering the frame.

Output folder (default: lvcd/data/sample):
    line/%04d.png        lineart, black on white, 8-bit grey
    gt/%04d.png          ground-truth colours (lines black), RGB
    ids/%04d.png         ground-truth shape id per pixel (0 on lines), for region metrics
    reference.png        = gt of the first frame of shot 1
    reference_shot2.png  = gt of the first frame of shot 2
    shots.json           frame count, size, cut frames, per-shot frame ranges and reference files, palette
    shots.yaml           the same shots as an `lvcd batch` manifest

Deterministic for a given --seed and --size. `--size 1920x1080` makes the benchmark clip (lines scale with size).
Not a renderer of anything but flat polygons: no shading, no anti-aliasing, no colour-trace lines.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

BASE_W, BASE_H = 256, 192  # the geometry below is authored in this frame and scaled to --size
SHOT_LEN = 24  # frames per shot; 2 shots -> 48 frames, under 1 MB as PNG at 256x192


@dataclass
class Shape:
    sid: int  # ground-truth id (also indexes the palette)
    pts: np.ndarray  # [N, 2] polygon in BASE units
    gap: tuple[float, float] | None = None  # (position along the outline in [0, 1), length in pen widths)


PALETTE = {
    # shot 1
    1: (170, 210, 240),  # sky
    2: (110, 170, 90),  # ground
    3: (250, 220, 80),  # sun
    4: (200, 60, 60),  # shirt
    5: (150, 40, 50),  # shirt shadow
    6: (250, 215, 180),  # face
    7: (90, 60, 40),  # hair
    8: (245, 245, 245),  # eye white (left)
    9: (245, 245, 245),  # eye white (right) -- same colour as 8: region matching must not rely on unique colours
    10: (30, 30, 80),  # pupil
    11: (30, 30, 80),  # pupil
    12: (240, 160, 40),  # star
    13: (130, 90, 200),  # square
    # shot 2
    21: (235, 225, 200),  # wall
    22: (160, 120, 80),  # floor
    23: (200, 200, 210),  # house
    24: (180, 70, 60),  # roof
    25: (150, 200, 240),  # window
    26: (120, 80, 50),  # door
    27: (60, 120, 220),  # ball
    28: (200, 230, 255),  # ball highlight
    29: (100, 200, 160),  # pentagon
    30: (230, 120, 170),  # kite (enters the frame)
}


def ellipse(cx, cy, rx, ry, rot=0.0, n=48):
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(a), ry * np.sin(a)
    c, s = math.cos(rot), math.sin(rot)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], 1)


def poly(points, cx=0.0, cy=0.0, rot=0.0, scale=1.0):
    p = np.asarray(points, np.float64) * scale
    c, s = math.cos(rot), math.sin(rot)
    return np.stack([cx + c * p[:, 0] - s * p[:, 1], cy + s * p[:, 0] + c * p[:, 1]], 1)


def star(cx, cy, r_out, r_in, rot, k=5):
    a = rot + np.arange(2 * k) * np.pi / k
    r = np.where(np.arange(2 * k) % 2 == 0, r_out, r_in)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1)


def shot1(t: int, rng_off: np.ndarray) -> list[Shape]:
    xs = np.linspace(-10, BASE_W + 10, 40)
    horizon = 138 + 4 * np.sin(xs / 35.0 + 0.15 * t + rng_off[0])
    ground = np.concatenate([np.stack([xs, horizon], 1), [[BASE_W + 10, BASE_H + 10], [-10, BASE_H + 10]]])
    cx, cy = 62 + 3.2 * t, 96 + 3 * math.sin(t / 3.0)
    tilt = math.radians(6 * math.sin(t / 4.0))
    body = poly([[-18, 0], [18, 0], [22, 44], [-22, 44]], cx, cy, tilt)
    shadow = poly([[8, 2], [17, 2], [21, 42], [11, 42]], cx, cy, tilt)
    hx, hy = poly([[0, -17]], cx, cy, tilt)[0]
    head = ellipse(hx, hy, 16, 17, tilt)
    hair = np.concatenate(
        [
            ellipse(hx, hy - 3, 17, 15, tilt, 48)[24:],
            poly([[17, -3], [10, -9], [3, -2], [-5, -9], [-12, -2], [-17, -3]], hx, hy, tilt),
        ]
    )
    eye_l, eye_r = poly([[-6, 2], [6, 2]], hx, hy, tilt)
    look = 1.2 * math.sin(t / 5.0)
    shapes = [
        Shape(1, np.array([[-10, -10], [BASE_W + 10, -10], [BASE_W + 10, BASE_H + 10], [-10, BASE_H + 10]])),
        Shape(2, ground),
        Shape(3, ellipse(222, 28, 16, 16), gap=(0.3 + 0.1 * rng_off[1], 3.0)),
        Shape(
            13, poly([[-16, -16], [16, -16], [16, 16], [-16, 16]], 196, 150, math.radians(2.5 * t)), gap=(0.15, 3.0)
        ),
        Shape(4, body),
        Shape(5, shadow),
        Shape(6, head),
        Shape(7, hair),
        Shape(8, ellipse(eye_l[0], eye_l[1], 4.2, 5.2, tilt)),
        Shape(9, ellipse(eye_r[0], eye_r[1], 4.2, 5.2, tilt)),
        Shape(10, ellipse(eye_l[0] + look, eye_l[1] + 1, 2.0, 2.4, tilt, 16)),
        Shape(11, ellipse(eye_r[0] + look, eye_r[1] + 1, 2.0, 2.4, tilt, 16)),
        # the star crosses in front of the character and the square, splitting their regions while it passes
        Shape(12, star(232 - 7.5 * t, 112 + 10 * math.sin(t / 6.0), 21, 9, math.radians(9 * t))),
    ]
    return shapes


def shot2(t: int, rng_off: np.ndarray) -> list[Shape]:
    pan = -2.0 * t
    hx = 70 + pan
    bounce = abs(math.sin(t / 4.0 + rng_off[2]))
    bx, by = 40 + 6.5 * t, 150 - 70 * bounce
    squash = 1.0 + 0.25 * (1 - bounce) ** 4
    kite_x = BASE_W - 2 - 4.0 * t  # half inside the frame at the keyframe, then flies in
    return [
        Shape(21, np.array([[-10, -10], [BASE_W + 10, -10], [BASE_W + 10, BASE_H + 10], [-10, BASE_H + 10]])),
        Shape(22, np.array([[-10, 150], [BASE_W + 10, 142], [BASE_W + 10, BASE_H + 10], [-10, BASE_H + 10]])),
        Shape(23, poly([[0, 0], [70, 0], [70, 60], [0, 60]], hx, 88)),
        Shape(24, poly([[-8, 0], [35, -34], [78, 0]], hx, 88), gap=(0.55, 3.0)),
        Shape(25, poly([[0, 0], [18, 0], [18, 16], [0, 16]], hx + 8, 100)),
        Shape(26, poly([[0, 0], [16, 0], [16, 30], [0, 30]], hx + 44, 118)),
        Shape(30, poly([[0, -22], [14, 0], [0, 26], [-14, 0]], kite_x, 40, math.radians(10 * math.sin(t / 3.0)))),
        Shape(27, ellipse(bx, by - 14 / squash, 14 * squash, 14 / squash)),
        Shape(28, ellipse(bx - 5 * squash, by - 19 / squash, 4.5, 3.2, -0.5, 20)),
        Shape(29, poly(star(0, 0, 26, 21, 0, 5), 214, 150, math.radians(6 * t), 1.0 + 0.01 * t), gap=(0.4, 3.0)),
    ]


def line_width(size: tuple[int, int]) -> int:
    """Pen width of shot 1 (shot 2 draws 1 px thicker): 1 px at 192 and 320 lines, 3 px at 1080 lines."""
    return max(1, round(size[1] / 400))


def render(shapes: list[Shape], size: tuple[int, int], line_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise shapes in z-order -> (ids [H, W] uint8 with 0 on lines, line mask [H, W] bool)."""
    w, h = size
    base_px = line_width(size)
    sx, sy = w / BASE_W, h / BASE_H
    ids = np.zeros((h, w), np.uint8)
    shift = 4  # sub-pixel polygon vertices
    for sh in shapes:
        p = np.round(sh.pts * [sx, sy] * (1 << shift)).astype(np.int32)
        cv2.fillPoly(ids, [p], int(sh.sid), lineType=cv2.LINE_8, shift=shift)
    # a line wherever the id changes to the right or below: any two 4-adjacent pixels of different ids have a line
    # pixel between them, so the non-line pixels of different shapes are never 4-connected
    line = np.zeros((h, w), bool)
    line[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    line[:-1, :] |= ids[:-1, :] != ids[1:, :]
    if line_px > 1:
        line = cv2.dilate(line.astype(np.uint8), np.ones((line_px, line_px), np.uint8)).astype(bool)
    # unclosed gaps: erase the outline over a short stretch; the painter's fill (ids) stays whole
    for sh in shapes:
        if sh.gap is None:
            continue
        pos, length = sh.gap
        seg = np.diff(np.vstack([sh.pts, sh.pts[:1]]), axis=0)
        cum = np.concatenate([[0], np.cumsum(np.hypot(seg[:, 0], seg[:, 1]))])
        d = pos * cum[-1]
        i = int(np.searchsorted(cum, d, side="right") - 1)
        gx, gy = sh.pts[i] + seg[i] * (d - cum[i]) / max(np.hypot(*seg[i]), 1e-9)
        side = max(1, round(length * base_px))  # gap width in output px: a few pen widths, as drawn
        x0, y0 = round(gx * sx - side / 2), round(gy * sy - side / 2)
        line[max(y0, 0) : max(y0 + side, 0), max(x0, 0) : max(x0 + side, 0)] = False
    # slivers: a few pixels of a shape squeezed between two lines are ink, not a paintable region
    min_area = max(4, round(4 * sx * sy))
    for sid in np.unique(ids):
        _, lab, stats, _ = cv2.connectedComponentsWithStats(((ids == sid) & ~line).astype(np.uint8), connectivity=4)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
        small = small[small > 0]
        if len(small):
            line |= np.isin(lab, small)
    ids = np.where(line, 0, ids).astype(np.uint8)
    return ids, line


def make(out: Path, size: tuple[int, int] = (BASE_W, BASE_H), seed: int = 0, frames_per_shot: int = SHOT_LEN):
    rng = np.random.default_rng(seed)
    rng_off = rng.uniform(-1, 1, 4)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("line", "gt", "ids"):
        (out / sub).mkdir(exist_ok=True)
        for old in (out / sub).glob("*.png"):
            old.unlink()
    palette = np.zeros((256, 3), np.uint8)
    for k, c in PALETTE.items():
        palette[k] = c
    base_px = line_width(size)
    shots = [(shot1, base_px), (shot2, base_px + 1)]
    index = 0
    ranges = []
    for s, (scene, line_px) in enumerate(shots):
        start = index
        for t in range(frames_per_shot):
            ids, line = render(scene(t, rng_off), size, line_px)
            gt = palette[ids]
            gt[line] = 0
            Image.fromarray(np.where(line, 0, 255).astype(np.uint8)).save(
                out / "line" / f"{index:04d}.png", optimize=True
            )
            Image.fromarray(gt).save(out / "gt" / f"{index:04d}.png", optimize=True)
            Image.fromarray(ids).save(out / "ids" / f"{index:04d}.png", optimize=True)
            if t == 0:
                name = "reference.png" if s == 0 else f"reference_shot{s + 1}.png"
                Image.fromarray(gt).save(out / name, optimize=True)
            index += 1
        ranges.append(
            {
                "start": start,
                "end": index,
                "reference": "reference.png" if s == 0 else f"reference_shot{s + 1}.png",
                "keyframe": start,
            }
        )
    meta = {
        "frames": index,
        "size": list(size),
        "seed": seed,
        "cuts": [r["start"] for r in ranges[1:]],
        "shots": ranges,
        "line": "black on white; 0 = line",
        "palette": {str(k): list(v) for k, v in PALETTE.items()},
        "generator": "scripts/make_sample.py",
    }
    (out / "shots.json").write_text(json.dumps(meta, indent=1) + "\n")
    # the same shots as an `lvcd batch` manifest (configs/manifest.schema.md): each shot from its own keyframe
    lines = [
        "# Bundled synthetic sample (scripts/make_sample.py): two shots, each coloured from its first frame.",
        "# lvcd batch shots.yaml -o colored.mp4",
        "version: 1",
        "input: line/%04d.png",
        "defaults: {backend: bucket}",
        "shots:",
    ]
    for s, r in enumerate(ranges):
        lines.append(f"  - {{name: shot{s + 1}, start: {r['start']}, end: {r['end']}, reference: {r['reference']}}}")
    (out / "shots.yaml").write_text("\n".join(lines) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parents[1] / "lvcd" / "data" / "sample")
    ap.add_argument("--size", default=f"{BASE_W}x{BASE_H}", help="WxH, e.g. 1920x1080 for the benchmark clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames-per-shot", type=int, default=SHOT_LEN)
    args = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size must look like 256x192 (got {args.size!r})")
    meta = make(args.out, (w, h), args.seed, args.frames_per_shot)
    print(f"wrote {meta['frames']} frames ({w}x{h}, cut at {meta['cuts']}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
