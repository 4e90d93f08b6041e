#!/usr/bin/env python3
"""Generate the hard cel benchmark for the paint-bucket colorizer: clips with exact ground truth, at run time.

Nothing here is committed as data: `eval_bucket.py` and the tests call `make_clip` / `make_bench` in memory; `-o DIR`
writes a seed's clips as PNGs to look at. Each clip is drawn the way a cel is: every shape a flat paint, every
boundary between two shapes an anti-aliased ink line (2-4 px), some outline segments left open with 2-4 px gaps, and
some boundaries (a body and its shadow) drawn in red colour-trace ink. The id map is rendered first and the lines are
derived from it, so the ground truth (paint and shape id of every non-line pixel) is exact.

Stressors, spread over six clips (see CLIPS): several characters, camera pan (parallax background), hops 4-12
px/frame, fast motion 8-20 px/frame with squash/deform and rotation, exit and re-entry, occlusion and reveal (a
foreground pole, characters crossing), a look-alike of a keyframe character entering mid-shot (coloured by a second
keyframe), blinks, thin parts (ear rims, stripes, pupils), gapped outlines, anti-aliased lines, colour-trace lines,
sizes 576x320 to 960x540 and 40-120 frames. Random placement, palettes, speeds, phases and gaps come from the seed:
tune on one seed (dev: 1), report on another (held-out: 2).

    python scripts/make_cel_bench.py -o /tmp/celbench --seed 1 [--clips hop_pan,exit_reentry]

Per clip folder: line/%04d.png (RGB lineart), gt/%04d.png (paints, lines black), ids/%04d.png (16-bit shape ids, 0 on
lines), clip.json (size, keyframes, palette). Not a renderer of shading, textures or hand-drawn line jitter.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import scipy.ndimage as ndi

BLACK = (20, 20, 20)
TRACE = (220, 40, 40)  # colour-trace ink
MIN_REGION = 10  # px: smaller pieces between strokes are ink specks, not regions (ground truth says line)


@dataclass
class ClipSpec:
    name: str
    size: tuple[int, int]
    frames: int
    chars: int = 2
    speed: tuple[float, float] = (4.0, 12.0)  # px/frame (at this clip's size), hop speed range
    pan: float = 0.0  # camera pan px/frame
    line: float = 3.0  # pen width, px
    gaps: float = 0.1  # share of outline segments (~24 px) with a 2-4 px gap
    exit_reentry: bool = False
    pole: bool = False  # a foreground pole occluding what passes behind it
    lookalike: bool = False  # a look-alike of character 0 enters mid-shot; keyframes 0 and last
    blink: bool = False
    squash: float = 0.08
    rotate: float = 0.06
    keyframes: list[int] = field(default_factory=lambda: [0])


CLIPS = [
    ClipSpec("hop_pan", (576, 320), 48, chars=3, speed=(4, 12), pan=3.0, line=3.0),
    ClipSpec("fast_squash", (768, 432), 40, chars=2, speed=(8, 20), line=2.0, squash=0.18, rotate=0.12),
    ClipSpec("exit_reentry", (576, 320), 64, chars=2, speed=(5, 10), line=3.0, exit_reentry=True),
    ClipSpec("occlusion", (640, 360), 48, chars=3, speed=(4, 10), pan=2.0, line=4.0, pole=True),
    ClipSpec("lookalike", (576, 320), 48, chars=2, speed=(4, 9), line=3.0, lookalike=True),
    ClipSpec("long_blink", (960, 540), 120, chars=2, speed=(3, 8), pan=1.5, line=3.0, blink=True, gaps=0.15),
]
CLIP_NAMES = [c.name for c in CLIPS]
SEEDS = {"dev": 1, "heldout": 2}


# ------------------------------------------------------------------------------------------------ characters
PARTS = [
    "body",
    "shadow",
    "stripe1",
    "stripe2",
    "foot_l",
    "foot_r",
    "arm_l",
    "arm_r",
    "head",
    "hair",
    "ear_l",
    "ear_l_in",
    "ear_r",
    "ear_r_in",
    "eye_l",
    "eye_r",
    "pupil_l",
    "pupil_r",
    "mouth",
]


def _ellipse(cx, cy, rx, ry, n=40):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _rect(cx, cy, w, h, ang):
    c, s = math.cos(ang), math.sin(ang)
    pts = np.array([[-w / 2, 0], [w / 2, 0], [w / 2, h], [-w / 2, h]])
    return pts @ np.array([[c, s], [-s, c]]) + [cx, cy]


def _tri(cx, cy, w, h, shrink=1.0, down=0.0):
    pts = np.array([[cx - w / 2, cy], [cx + w / 2, cy], [cx, cy - h]])
    cen = pts.mean(0)
    return (pts - cen) * shrink + cen + [0, down]


def character_parts(t: float, eye_open: float, arm_phase: float):
    """(part name, polygon in character units, clip-to-part or None) in painter's order. Unit = character height."""
    a = 0.5 * math.sin(arm_phase)
    eo = max(eye_open, 0.0)
    out = [
        ("arm_l", _rect(-0.27, 0.32, 0.09, 0.32, 0.6 + a), None),
        ("arm_r", _rect(0.27, 0.32, 0.09, 0.32, -0.6 - a), None),
        ("foot_l", _ellipse(-0.13, 0.9, 0.12, 0.06), None),
        ("foot_r", _ellipse(0.13, 0.9, 0.12, 0.06), None),
        ("body", _ellipse(0.0, 0.55, 0.3, 0.36), None),
        ("shadow", _ellipse(0.16, 0.66, 0.22, 0.3), "body"),
        ("stripe1", _rect(0.0, 0.42, 0.8, 0.045, 0.0), "body"),
        ("stripe2", _rect(0.0, 0.55, 0.8, 0.045, 0.0), "body"),
        ("ear_l", _tri(-0.17, -0.26, 0.2, 0.22), None),
        ("ear_l_in", _tri(-0.17, -0.26, 0.2, 0.22, 0.6, 0.02), None),
        ("ear_r", _tri(0.17, -0.26, 0.2, 0.22), None),
        ("ear_r_in", _tri(0.17, -0.26, 0.2, 0.22, 0.6, 0.02), None),
        ("head", _ellipse(0.0, -0.05, 0.28, 0.25), None),
        ("hair", _ellipse(0.0, -0.22, 0.29, 0.11), "head"),
        ("mouth", _ellipse(0.0, 0.08, 0.06, 0.025), None),
    ]
    if eo > 0.15:
        for side, sx in (("l", -0.1), ("r", 0.1)):
            out.append((f"eye_{side}", _ellipse(sx, -0.04, 0.065, 0.075 * eo), None))
            out.append((f"pupil_{side}", _ellipse(sx + 0.015, -0.03, 0.032, 0.036), f"eye_{side}"))
    return out


def _palette(rng, n):
    """n distinct, saturated-enough paints (never near black, so lines stay distinguishable)."""
    cols = []
    while len(cols) < n:
        c = rng.integers(40, 250, 3)
        if all(np.abs(c - d).sum() > 60 for d in cols):
            cols.append(c)
    return [tuple(int(v) for v in c) for c in cols]


# ------------------------------------------------------------------------------------------------ rendering
class _Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.ids = np.zeros((h, w), np.int32)
        self.trace_pairs: set[tuple[int, int]] = set()

    def fill(self, poly, gid, clip_mask=None):
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [np.round(poly * 4).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
        mb = m.view(bool)
        if clip_mask is not None:
            mb &= clip_mask
        self.ids[mb] = gid
        return mb


def render_frame(ids: np.ndarray, palette: dict[int, tuple], line: float, gaps: float, trace_pairs, rng):
    """id map -> (RGB lineart, RGB ground truth, ids with 0 on line pixels)."""
    h, w = ids.shape
    bx = np.zeros((h, w), bool)
    d_r = ids[:, 1:] != ids[:, :-1]
    d_d = ids[1:, :] != ids[:-1, :]
    bx[:, 1:] |= d_r
    bx[1:, :] |= d_d
    trace = np.zeros((h, w), bool)
    if trace_pairs:
        a = ids[:, 1:] * 65536 + ids[:, :-1]
        b = ids[:, :-1] * 65536 + ids[:, 1:]
        keys = np.array(sorted(p[0] * 65536 + p[1] for p in trace_pairs))
        tr = np.isin(a, keys) | np.isin(b, keys)
        trace[:, 1:] |= tr
        a = ids[1:, :] * 65536 + ids[:-1, :]
        b = ids[:-1, :] * 65536 + ids[1:, :]
        trace[1:, :] |= np.isin(a, keys) | np.isin(b, keys)
    # gaps: ~gaps x (boundary length / 24 px) discs of diameter 2-4 px where the pen lifted
    ys, xs = np.nonzero(bx)
    n_gaps = rng.binomial(max(len(xs) // 24, 1), gaps) if len(xs) else 0
    gap_mask = np.zeros((h, w), np.uint8)
    for k in rng.choice(len(xs), size=n_gaps, replace=False) if n_gaps else []:
        r = rng.uniform(0.5, 1.5)  # a disc 2-4 px across: the opening in the stroke is 2-4 px long
        cv2.circle(gap_mask, (int(xs[k]) * 4, int(ys[k]) * 4), int(r * 4), 1, -1, cv2.LINE_8, shift=2)
    d = cv2.distanceTransform((~bx).view(np.uint8), cv2.DIST_L2, 5)
    alpha = np.clip(line / 2 + 0.5 - d, 0.0, 1.0).astype(np.float32)  # anti-aliased edge, ~`line` px wide
    alpha[gap_mask.view(bool)] = 0.0
    d_tr = cv2.distanceTransform((~trace).view(np.uint8), cv2.DIST_L2, 5) if trace.any() else None
    ink = np.empty((h, w, 3), np.float32)
    ink[:] = BLACK
    if d_tr is not None:
        ink[d_tr <= d + 0.5] = TRACE
    lut = np.zeros((int(ids.max()) + 1, 3), np.float32)
    for k, c in palette.items():
        if k < len(lut):
            lut[k] = c
    paint = lut[ids]
    a3 = alpha[..., None]
    line_rgb = np.round(255.0 * (1 - a3) + ink * a3).astype(np.uint8)
    gt = np.where(a3 >= 0.5, ink, paint).astype(np.uint8)  # a cel's colours are flat: no blend under the ink
    gt_ids = np.where(alpha >= 0.5, 0, ids).astype(np.int32)
    # specks the anti-aliasing leaves between strokes (a few px at joins) are ink, not paintable regions
    for sid, sl in enumerate(ndi.find_objects(gt_ids), start=1):
        if sl is None:
            continue
        crop = gt_ids[sl]
        n, lab, st, _ = cv2.connectedComponentsWithStats((crop == sid).astype(np.uint8), connectivity=4)
        speck = st[:, cv2.CC_STAT_AREA] < MIN_REGION
        speck[0] = False
        if speck.any():
            crop[speck[lab]] = 0
    return line_rgb, gt, gt_ids


def make_clip(spec: ClipSpec, seed: int, scale: float = 1.0) -> dict:
    """One clip in memory: {'name', 'size', 'keyframes', 'line': [...], 'gt': [...], 'ids': [...], 'speed': {id: px},
    'palette': {id: rgb}, 'names': {id: 'c0.body'}}. `scale` resizes the whole clip (geometry, lines, speeds), e.g. 2.0
    for a bigger test."""
    rng = np.random.default_rng([seed, CLIP_NAMES.index(spec.name) if spec.name in CLIP_NAMES else 99])
    W, H = round(spec.size[0] * scale), round(spec.size[1] * scale)
    line = spec.line * scale
    T = spec.frames
    palette: dict[int, tuple] = {}
    next_id = [1]

    def new_id(col):
        i = next_id[0]
        next_id[0] += 1
        palette[i] = col
        return i

    bg = _palette(rng, 6)
    sky, ground, cloud, hill, house, roof = (new_id(c) for c in bg)
    pole_id = new_id(_palette(rng, 1)[0]) if spec.pole else None
    names = dict(
        zip(
            (sky, ground, cloud, hill, house, roof, pole_id),
            ("sky", "ground", "cloud", "hill", "house", "roof", "pole"),
        )
    )
    # characters: world x, base y, size, speed, phases, colours
    chars = []
    n_chars = spec.chars + (1 if spec.lookalike else 0)
    for c in range(n_chars):
        if spec.lookalike and c == n_chars - 1:
            base = chars[0]
            cols = dict(base["cols"])
            donor = chars[1]["cols"]
            for p in ("body", "hair", "stripe1"):
                cols[p] = donor[p]  # a look-alike: same drawing, some paints of another character
            ids = {p: new_id(cols[p]) for p in PARTS}
            names.update({gid: f"c{c}.{p}" for p, gid in ids.items()})
            enter = T // 3
            x0 = W + 0.25 * H
            v = -rng.uniform(*spec.speed)
            chars.append(
                dict(
                    ids=ids,
                    cols=cols,
                    x0=x0,
                    v=v,
                    y=base["y"],
                    s=base["s"],
                    hop=rng.uniform(0.3, 0.6),
                    ph=rng.uniform(0, 6),
                    enter=enter,
                    per=rng.uniform(10, 16),
                    blink=[],
                )
            )
            continue
        cols = dict(zip(PARTS, _palette(rng, len(PARTS))))
        cols["ear_r"], cols["ear_r_in"], cols["eye_r"], cols["pupil_r"] = (
            cols["ear_l"],
            cols["ear_l_in"],
            cols["eye_l"],
            cols["pupil_l"],
        )  # shared paints, as on real models
        cols["foot_r"], cols["arm_r"] = cols["foot_l"], cols["arm_l"]
        ids = {p: new_id(cols[p]) for p in PARTS}
        names.update({gid: f"c{c}.{p}" for p, gid in ids.items()})
        s = H * rng.uniform(0.32, 0.42)
        x0 = W * (0.2 + 0.6 * (c + rng.uniform(-0.2, 0.2)) / max(n_chars - (2 if spec.lookalike else 1), 1))
        v = rng.uniform(*spec.speed) * rng.choice([-1, 1]) * 0.5
        chars.append(
            dict(
                ids=ids,
                cols=cols,
                x0=x0,
                v=v,
                y=H * rng.uniform(0.45, 0.62),
                s=s,
                hop=rng.uniform(0.4, 0.8),
                ph=rng.uniform(0, 6),
                enter=0,
                per=rng.uniform(10, 16),
                blink=sorted(rng.choice(np.arange(8, T - 4), size=3, replace=False).tolist()) if spec.blink else [],
            )
        )
    if spec.exit_reentry:  # character 0 walks out of the frame and comes back
        c0 = chars[0]
        c0["exit"] = (rng.uniform(0.2, 0.35) * T, W + 0.6 * c0["s"])
    trace_pairs = set()
    for ch in chars:
        trace_pairs.add((ch["ids"]["body"], ch["ids"]["shadow"]))
    clouds = [(rng.uniform(0, 2 * W), rng.uniform(0.05, 0.25) * H, rng.uniform(0.08, 0.14) * H) for _ in range(3)]
    house_x = rng.uniform(0.3, 0.8) * W
    pole_x = rng.uniform(0.35, 0.65) * W
    out = {
        "name": spec.name,
        "size": [W, H],
        "keyframes": list(spec.keyframes),
        "line": [],
        "gt": [],
        "ids": [],
        "speed": [],
        "pos": [],  # per frame: character index -> (x, y) of its anchor (feet centre), for diagnostics
        "palette": {k: list(v) for k, v in palette.items()},
        "names": {k: v for k, v in names.items() if k is not None},  # id -> "sky", "c0.body" (c: character)
    }
    if spec.lookalike:
        out["keyframes"] = [0, T - 1]
    prev_pos = {}
    for t in range(T):
        cv = _Canvas(W, H)
        pan = spec.pan * scale * t
        cv.ids[:] = sky
        for cx, cy, r in clouds:
            x = (cx - 0.5 * pan) % (2 * W) - 0.5 * W
            cv.fill(_ellipse(x, cy, 1.6 * r, r), cloud)
        xs = np.arange(W + 1, dtype=np.float64)
        hill_y = 0.55 * H + 0.06 * H * np.sin((xs + 0.7 * pan) / (0.23 * W))
        cv.fill(np.concatenate([np.stack([xs, hill_y], 1), [[W, H], [0, H]]]), hill)
        gy = 0.7 * H + 0.03 * H * np.sin((xs + pan) / (0.4 * W) + 1.0)
        cv.fill(np.concatenate([np.stack([xs, gy], 1), [[W, H], [0, H]]]), ground)
        hx = (house_x - pan) % (1.6 * W) - 0.3 * W
        cv.fill(_rect(hx, 0.45 * H, 0.16 * H, 0.3 * H, 0.0), house)
        cv.fill(np.array([[hx - 0.1 * H, 0.45 * H], [hx + 0.1 * H, 0.45 * H], [hx, 0.33 * H]]), roof)
        speeds = {}
        where = {}
        for ci, ch in enumerate(chars):
            if t < ch["enter"]:
                continue
            tt = t - ch["enter"]
            x = ch["x0"] + ch["v"] * tt * scale - (pan if not spec.pan else 0.3 * pan)
            if "exit" in ch:  # out past the right edge and back: a smooth round trip
                t_out, far = ch["exit"]
                u = np.clip((t - t_out) / (0.45 * T), 0, 1)
                x = ch["x0"] + (far - ch["x0"]) * math.sin(math.pi * u)
            phase = 2 * math.pi * tt / ch["per"] + ch["ph"]
            hopv = abs(math.sin(phase / 2))
            y = ch["y"] - ch["hop"] * ch["s"] * hopv * 0.35
            sq = 1.0 - spec.squash * (1.0 - hopv) ** 4  # squash on landing
            ang = spec.rotate * math.sin(phase)
            eo = 1.0
            if any(abs(t - b) <= 1 for b in ch["blink"]):
                eo = 0.1 if t in ch["blink"] else 0.5
            s = ch["s"] * scale
            masks = {}
            cr, sr = math.cos(ang), math.sin(ang)
            for part, poly, clip in character_parts(tt, eo, phase):
                p = poly.copy()
                p[:, 0] *= s / sq
                p[:, 1] *= s * sq
                p = p @ np.array([[cr, sr], [-sr, cr]]) + [x, y - 0.5 * s]
                masks[part] = cv.fill(p, ch["ids"][part], masks.get(clip) if clip else None)
            pos = np.array([x, y])
            sp = float(np.linalg.norm(pos - prev_pos[ci])) if ci in prev_pos else 0.0
            prev_pos[ci] = pos
            where[ci] = (float(x), float(y))
            for gid in ch["ids"].values():
                speeds[gid] = sp
        if pole_id is not None:
            px = (pole_x - 1.3 * pan) % (1.4 * W) - 0.2 * W
            cv.fill(_rect(px, -2.0, 0.05 * H, H + 4.0, 0.0), pole_id)
        for gid in (sky, ground, cloud, hill, house, roof) + ((pole_id,) if pole_id else ()):
            speeds.setdefault(gid, spec.pan * scale)
        la, gt, ids = render_frame(cv.ids, palette, line, spec.gaps, trace_pairs, rng)
        out["line"].append(la)
        out["gt"].append(gt)
        out["ids"].append(ids)
        out["speed"].append(speeds)
        out["pos"].append(where)
    return out


def make_bench(seed: int, names: list[str] | None = None, scale: float = 1.0):
    for spec in CLIPS:
        if names is None or spec.name in names:
            yield make_clip(spec, seed, scale)


def main(argv=None) -> int:
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--seed", default="dev", help="dev (1), heldout (2) or an integer")
    ap.add_argument("--clips", default=None, help=f"comma-separated subset of {','.join(CLIP_NAMES)}")
    args = ap.parse_args(argv)
    seed = SEEDS.get(args.seed, None) or int(args.seed)
    names = args.clips.split(",") if args.clips else None
    for clip in make_bench(seed, names):
        d = args.out / clip["name"]
        for sub in ("line", "gt", "ids"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        for i, (la, gt, ids) in enumerate(zip(clip["line"], clip["gt"], clip["ids"])):
            Image.fromarray(la).save(d / "line" / f"{i:04d}.png")
            Image.fromarray(gt).save(d / "gt" / f"{i:04d}.png")
            cv2.imwrite(str(d / "ids" / f"{i:04d}.png"), ids.astype(np.uint16))
        meta = {k: clip[k] for k in ("name", "size", "keyframes", "palette")}
        meta["frames"] = len(clip["line"])
        (d / "clip.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(f"{d}: {meta['frames']} frames {clip['size'][0]}x{clip['size'][1]}, keyframes {clip['keyframes']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
