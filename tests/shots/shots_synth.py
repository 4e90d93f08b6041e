"""Generated lineart clips with known cuts, for the shot tests (no real drawings are ever needed).

Every scene is black ink on white paper, like scanned or exported lineart:

* `shapes`: a few outlined polygons and ellipses that move and rotate (character animation stand-in);
* `pan`: a slow camera pan over a drawing wider than the frame (must NOT be cut);
* `zoom`: a slow push-in on a drawing;
* `fast`: a big shape crossing the frame quickly (action inside one shot);
* `twos`: limited animation held on twos (every drawing shown for two frames);
* `shake`: camera shake (random jumps of a few pixels) over a dense drawing;
* `sparse`: one small shape on empty paper (a cut between two sparse frames changes very few pixels);
* `reframe`: another crop of the same background a previous scene panned over (a cut between two framings of one
  drawing: its lines do not line up, so it must be a cut).

`make_clip(spec)` concatenates scenes and returns the frames and the true cut positions (the first frame of every
scene after the first).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

INK = 2  # px line width at the generated size


def _random_shapes(rng: np.random.Generator, w: int, h: int, n: int) -> list[dict]:
    shapes = []
    for _ in range(n):
        kind = rng.choice(["poly", "ellipse"])
        shapes.append(
            dict(
                kind=kind,
                cx=rng.uniform(0.2, 0.8) * w,
                cy=rng.uniform(0.2, 0.8) * h,
                r=rng.uniform(0.08, 0.2) * min(w, h),
                ratio=rng.uniform(0.5, 1.0),
                sides=int(rng.integers(3, 7)),
                angle=rng.uniform(0, 2 * math.pi),
                vx=rng.uniform(-2.0, 2.0),
                vy=rng.uniform(-1.5, 1.5),
                va=rng.uniform(-0.05, 0.05),
                inner=bool(rng.random() < 0.6),
            )
        )
    return shapes


def _draw_shape(img: np.ndarray, s: dict, t: float, scale: float = 1.0, offset=(0.0, 0.0)) -> None:
    cx = (s["cx"] + s["vx"] * t) * scale + offset[0]
    cy = (s["cy"] + s["vy"] * t) * scale + offset[1]
    r = s["r"] * scale
    a = s["angle"] + s["va"] * t
    if s["kind"] == "ellipse":
        sh = 16
        cv2.ellipse(
            img,
            (round(cx * sh), round(cy * sh)),
            (round(r * sh), round(r * s["ratio"] * sh)),
            math.degrees(a),
            0,
            360,
            0,
            INK,
            cv2.LINE_AA,
            shift=4,
        )
        if s["inner"]:
            cv2.ellipse(
                img,
                (round(cx * sh), round(cy * sh)),
                (round(r * 0.4 * sh), round(r * 0.3 * sh)),
                math.degrees(a),
                0,
                360,
                0,
                INK,
                cv2.LINE_AA,
                shift=4,
            )
    else:
        k = s["sides"]
        angles = a + 2 * math.pi * np.arange(k) / k
        pts = np.stack([cx + r * np.cos(angles), cy + r * s["ratio"] * np.sin(angles)], axis=1)
        cv2.polylines(img, [np.round(pts * 16).astype(np.int32)], True, 0, INK, cv2.LINE_AA, shift=4)
        if s["inner"]:
            cv2.line(
                img,
                tuple(np.round(pts[0] * 16).astype(int)),
                tuple(np.round(pts[k // 2] * 16).astype(int)),
                0,
                INK,
                cv2.LINE_AA,
                shift=4,
            )


def _canvas(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A background drawing (rooftops, windows, clouds) as grey uint8, wider/taller than a frame."""
    img = np.full((h, w), 255, np.uint8)
    for s in _random_shapes(rng, w, h, max(8, (w * h) // 9000)):
        s["r"] *= 0.5
        _draw_shape(img, s, 0.0)
    for _ in range(max(4, w // 60)):
        x0 = int(rng.integers(0, w))
        y0 = int(rng.integers(h // 3, h))
        cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(20, 80)), h - 1), 0, INK, cv2.LINE_AA)
    return img


def _to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def scene(
    kind: str,
    n: int,
    seed: int,
    size: tuple[int, int] = (320, 180),
    *,
    canvas_seed: int | None = None,
    speed: float = 1.0,
    start: float = 0.0,
) -> Iterator[np.ndarray]:
    """Yield `n` uint8 RGB frames of one scene (see the module docstring for the kinds)."""
    w, h = size
    px = w / 320  # motion is specified at 320 px wide and scales with the frame
    rng = np.random.default_rng(seed)
    if kind in ("shapes", "twos", "fast", "sparse"):
        shapes = _random_shapes(rng, w, h, {"fast": 2, "sparse": 1}.get(kind, 4))
        for s in shapes:
            s["vx"], s["vy"] = s["vx"] * px, s["vy"] * px
            if kind == "fast":  # crosses a third of the frame in 10 frames
                s["vx"], s["vy"], s["r"] = rng.choice([-1, 1]) * 12.0 * px, rng.uniform(-3, 3) * px, 0.25 * min(w, h)
            if kind == "sparse":
                s["r"] = 0.06 * min(w, h)
        for i in range(n):
            t = (i // 2) * 2 if kind == "twos" else i
            img = np.full((h, w), 255, np.uint8)
            for s in shapes:
                _draw_shape(img, s, float(t))
            yield _to_rgb(img)
    elif kind in ("pan", "reframe"):
        canvas = _canvas(np.random.default_rng(seed if canvas_seed is None else canvas_seed), w * 3, h + 40)
        for i in range(n):
            x = (start + speed * i) * px  # px per frame at 320 wide: a slow pan
            # sub-pixel pan: warp so every frame moves, as a camera move exported from a compositor would
            m = np.float32([[1, 0, -x], [0, 1, -20]])
            yield _to_rgb(cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255))
    elif kind == "shake":
        canvas = _canvas(rng, w + 40, h + 40)
        for _ in range(n):
            dx, dy = rng.uniform(-3, 3, size=2) * px
            m = np.float32([[1, 0, -20 + dx], [0, 1, -20 + dy]])
            yield _to_rgb(cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255))
    elif kind == "zoom":
        canvas = _canvas(rng, w, h)
        for i in range(n):
            z = 1.0 + 0.004 * i
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, z)
            yield _to_rgb(cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255))
    else:
        raise ValueError(f"unknown scene kind {kind!r}")


DEFAULT_SPEC = [
    dict(kind="shapes", n=20, seed=1),
    dict(kind="pan", n=40, seed=2, speed=1.5),
    dict(kind="sparse", n=12, seed=3),
    dict(kind="sparse", n=12, seed=13),  # a cut between two nearly empty frames
    dict(kind="shake", n=16, seed=9),
    dict(kind="twos", n=16, seed=4),
    dict(kind="reframe", n=18, seed=5, canvas_seed=2, start=200.0, speed=0.0),  # same drawing as the pan, new framing
    dict(kind="fast", n=14, seed=6),
    dict(kind="zoom", n=24, seed=7),
    dict(kind="shapes", n=9, seed=8),
]


def make_clip(
    spec: list[dict] | None = None,
    size: tuple[int, int] = (320, 180),
) -> tuple[list[np.ndarray], list[int]]:
    """-> (frames, true cuts): the frames of every scene of `spec` in order, and each later scene's first frame."""
    frames, cuts = [], []
    for i, sc in enumerate(spec or DEFAULT_SPEC):
        if i:
            cuts.append(len(frames))
        sc = dict(sc)
        frames.extend(scene(sc.pop("kind"), sc.pop("n"), sc.pop("seed"), size, **sc))
    return frames, cuts


def write_sequence(frames: list[np.ndarray], folder: Path, pattern: str = "{:04d}.png") -> Path:
    """Write frames as a PNG sequence (RGB in, PNG on disk) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / pattern.format(i)), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def colour_reference(lineart: np.ndarray, seed: int = 0) -> np.ndarray:
    """A flat-coloured version of a lineart frame (each enclosed region a random colour, lines kept black)."""
    gray = lineart[..., 0]
    paper = (gray > 128).astype(np.uint8)
    n, labels = cv2.connectedComponents(paper, connectivity=4)
    rng = np.random.default_rng(seed)
    palette = rng.integers(40, 256, size=(n, 3), dtype=np.uint8)
    out = palette[labels]
    out[paper == 0] = 0
    return out
