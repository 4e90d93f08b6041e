#!/usr/bin/env python3
"""Look inside the paint-bucket colorizer on one clip of the hard cel benchmark: why a shape got the paint it got.

`eval_bucket.py --explain` says which shape got whose paint in which frame; this says why. Every answer names the
benchmark's truth parts ("c0.arm_l", "roof"), never bare region ids or palette indices.

    python scripts/probe_bucket.py objects --seed 14 --clip hop_pan --frame 5
        each tracked object: its keyframe regions by the part they are, attached parts, live / coasting, fit
    python scripts/probe_bucket.py votes --seed 14 --clip hop_pan --part roof --frames 4,9
        each piece of that part: its region, the paint decided, confidence, keyframe backing, and the top paints
        of every vote source (keyframe flow, shape matches against the keyframe and the previous frame, objects,
        re-identification, previous frame)
    python scripts/probe_bucket.py map --seed 3 --clip fast_squash --part roof --frames 3,10,20
        where each keyframe's position map sends that part's pixels (the truth there), before and after the veto
    python scripts/probe_bucket.py images --seed 3 --clip fast_squash --frames 0,4,10 -o /tmp/roof.png
        truth | output | wrong pixels in magenta, one row per frame

Diagnostics for whoever tunes the matcher: they read the colorizer's private state and wrap its private methods on
one instance (nothing global is patched), so they follow the code as it is; `tests/test_bench_scripts.py` runs each
one. Never score quality with them: that is `eval_bucket.py`'s job, on the seeds its docstring names.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)
from eval_bucket import _codes, colorize_clip  # noqa: E402
from make_cel_bench import CLIP_NAMES, make_bench  # noqa: E402

from lvcd.backends.bucket import BucketConfig  # noqa: E402
from lvcd.lineart.regions import RegionConfig  # noqa: E402

MIN_PIECE = 10  # px: smaller pieces of a part (anti-aliasing crumbs) are not reported


class Clip:
    """One benchmark clip and names for what the colorizer works with."""

    def __init__(self, seed: int, name: str, scale: float, hole_length: int = 0):
        self.clip = next(iter(make_bench(seed, [name], scale)))
        self.hole_length = hole_length  # the colorizer's pinhole closing (RegionConfig.hole_length), 0 = its default
        self.names = self.clip["names"]
        self.ids_of = {v: k for k, v in self.names.items()}

    def part_id(self, part: str) -> int:
        if part not in self.ids_of:
            raise SystemExit(f"no part {part!r} in this clip; parts: {', '.join(sorted(self.ids_of))}")
        return self.ids_of[part]

    def paint_names(self, palette: np.ndarray) -> list[str]:
        """Per palette index of the colorizer, the parts whose truth colour it is ('a/b' when several share it)."""
        by_code: dict[int, list[str]] = {}
        for sid, rgb in self.clip["palette"].items():
            by_code.setdefault((rgb[0] << 16) | (rgb[1] << 8) | rgb[2], []).append(self.names.get(sid, str(sid)))
        codes = _codes(np.asarray(palette, np.int64)[None])[0]
        return ["/".join(by_code.get(int(c), [f"#{int(c):06x}"])[:2]) for c in codes]

    def region_name(self, labels: np.ndarray, region: int, t: int) -> str:
        """The truth part covering most of `region` (of label image `labels`) in frame t."""
        ids = self.clip["ids"][t][labels == region]
        if not len(ids):
            return "?"
        vals, cnt = np.unique(ids, return_counts=True)
        return self.names.get(int(vals[cnt.argmax()]), "line")

    def pieces(self, part: str, t: int):
        """Bool masks of the 4-connected pieces of `part` in frame t, largest first."""
        n, comp = cv2.connectedComponents((self.clip["ids"][t] == self.part_id(part)).astype(np.uint8), connectivity=4)
        masks = [comp == c for c in range(1, n)]
        return sorted((m for m in masks if m.sum() >= MIN_PIECE), key=lambda m: -int(m.sum()))


def _top(row: np.ndarray, paints: list[str], k: int = 3) -> str:
    order = np.argsort(-row)[:k]
    return ", ".join(f"{paints[p]} {row[p]:.1f}" for p in order if row[p] > 0) or "-"


def _run(c: Clip, last: int, setup=None, lookahead: int | None = None):
    """Colour the clip until frame `last` was output (the look-ahead matches a few frames further; `lookahead=0`:
    none, the tracker's state is then that frame's, as the look-ahead changes only the output); `setup(colorizer,
    state)` installs spies first. Returns (colorizer, state, outputs)."""
    kw = {} if lookahead is None else {"lookahead": lookahead}
    if c.hole_length:
        kw["regions"] = RegionConfig(hole_length=c.hole_length)
    gen, colorizer = colorize_clip(c.clip, BucketConfig(**kw) if kw else None)
    state: dict = {"i": -1, "frames": {}}
    inner = colorizer._match

    def match(la, regions, cur_img, keys, prev, i):
        state["i"], state["keys"] = i, keys
        out = inner(la, regions, cur_img, keys, prev, i)
        state["frames"].setdefault(i, {}).update(regions=regions, keys=keys, out=out)
        return out

    colorizer._match = match
    if setup is not None:
        setup(colorizer, state)
    outs = []
    for t, frame in enumerate(gen):
        outs.append(frame)
        if t >= last:
            break
    return colorizer, state, outs


def cmd_objects(c: Clip, a) -> None:
    colorizer, state, _ = _run(c, a.frame, lookahead=0)
    objs = getattr(colorizer, "_objs", [])
    print(f"frame {a.frame}: {len(objs)} objects")
    keys = {k.index: k for f in state["frames"].values() for k in f["keys"]}
    for o in objs:
        reg, kt = keys[o.key_index].frame.regions, max(o.key_index, 0)  # -1: the reference given for frame 0
        parts = Counter(c.region_name(reg.inner, int(r), kt) for r in o.ids)
        att = sorted(c.region_name(reg.inner, int(r), kt) for r in o.attached)
        status = "dormant/lost" if not o.live else (f"coasting {o.miss}" if o.miss else "in view")
        print(f"object {o.uid} (keyframe {kt}) {status}, fit {o.fit:.2f}, at {np.round(o.pos(), 1)}")
        specks = parts.pop("line", 0)  # regions of a pixel or two between line strokes
        listed = ", ".join(f"{n} x{k}" if k > 1 else n for n, k in sorted(parts.items()))
        print(f"   parts: {listed}" + (f" (and {specks} specks on lines)" if specks else ""))
        if att:
            print("   attached: " + ", ".join(att))


def cmd_votes(c: Clip, a) -> None:
    frames = set(a.frames)

    def setup(colorizer, state):
        def rec(name):
            inner = getattr(colorizer, name)

            def wrapped(*args, **kwargs):
                result = inner(*args, **kwargs)
                if state["i"] in frames:
                    caller = sys._getframe(1).f_code.co_name  # _match, or a re-identification, a limb match...
                    votes = result[0] if isinstance(result, tuple) else result
                    label = ("previous frame" if "weights" in kwargs else "keyframe") if caller == "_match" else caller
                    state["frames"].setdefault(state["i"], {}).setdefault("src", []).append((label, votes.copy()))
                return result

            setattr(colorizer, name, wrapped)

        rec("_dense_votes")
        rec("_dense_votes_split")

        def in_place(name, label, arg):  # sources that add to arrays they are given: the change they make
            inner = getattr(colorizer, name)

            def wrapped(*args, **kwargs):
                before = args[arg].copy()
                result = inner(*args, **kwargs)
                if state["i"] in frames:
                    which = label(args) if callable(label) else label
                    src = state["frames"].setdefault(state["i"], {}).setdefault("src", [])
                    src.append((which, args[arg] - before))
                return result

            setattr(colorizer, name, wrapped)

        def rescue(a):  # a shape match against a keyframe or the previous frame
            return "shape, keyframe" if any(a[3] is k.frame for k in state["keys"]) else "shape, previous"

        in_place("_rigid_rescue", rescue, 4)
        in_place("_reidentify", "re-identified", 6)  # key_score: the keyframe backing it gives
        in_place("_add_object_votes", "objects", 0)  # score

    colorizer, state, _ = _run(c, max(a.frames), setup)
    paints = c.paint_names(colorizer.palette)
    truth = _codes(np.asarray(c.clip["palette"][c.part_id(a.part)])[None])[0]
    for t in a.frames:
        f = state["frames"].get(t)
        if f is None:
            print(f"frame {t}: not matched")
            continue
        regions, (color, conf, backed) = f["regions"], f["out"]
        for m in c.pieces(a.part, t):
            inner = regions.inner[m]
            if not (inner > 0).any():
                print(f"frame {t} {a.part} piece {int(m.sum())} px: all on lines")
                continue
            vals, cnt = np.unique(inner[inner > 0], return_counts=True)
            r = int(vals[cnt.argmax()])
            ok = "right" if _codes(np.asarray(colorizer.palette[color[r]])[None])[0] == truth else "WRONG"
            print(
                f"frame {t} {a.part} piece {int(m.sum())} px -> region {r} ({regions.area[r]} px): "
                f"{paints[color[r]]} ({ok}), conf {conf[r]:.2f}, keyframe-backed {backed[r]:.2f}"
            )
            for label, votes in f.get("src", []):
                print(f"   {label:15s} {_top(votes[r], paints)}")


def cmd_map(c: Clip, a) -> None:
    frames = set(a.frames)
    pid = c.part_id(a.part)

    def setup(colorizer, state):
        inner = colorizer._vetoed_flow

        def vetoed(key, flow, regions):
            out = inner(key, flow, regions)
            t = state["i"]
            if t in frames:
                m = c.clip["ids"][t] == pid
                ys, xs = np.nonzero(m)
                kid = c.clip["ids"][max(key.index, 0)]  # -1: the reference given for frame 0
                H, W = m.shape

                def lands(fl):
                    f = fl[ys, xs]
                    kx = np.clip(np.rint(xs + f[:, 0]).astype(int), 0, W - 1)
                    ky = np.clip(np.rint(ys + f[:, 1]).astype(int), 0, H - 1)
                    where = Counter(c.names.get(int(k), "line") for k in kid[ky, kx])
                    top = ", ".join(f"{n} {k}" for n, k in where.most_common(4))
                    return f"median shift {np.round(np.median(f, axis=0), 1)} px, lands on {top}"

                dropped = int(out[1][0][m].sum()) if out[1] is not None else 0
                print(f"frame {t} {a.part} ({int(m.sum())} px) -> keyframe {max(key.index, 0)}")
                print(f"   map:        {lands(flow)}")
                print(f"   after veto: {lands(out[0])}; {dropped} px vetoed")
            return out

        colorizer._vetoed_flow = vetoed

    _run(c, max(a.frames), setup)


def cmd_images(c: Clip, a) -> None:
    _, _, outs = _run(c, max(a.frames))
    rows = []
    for t in a.frames:
        gt, pred, ids = c.clip["gt"][t], outs[t], c.clip["ids"][t]
        wrong = (_codes(pred) != _codes(gt)) & (ids > 0)
        over = pred.copy()
        over[wrong] = (255, 0, 255)
        rows.append(np.concatenate([gt, pred, over], 1))
    img = np.concatenate(rows, 0)
    if a.scale_image != 1.0:
        img = cv2.resize(img, None, fx=a.scale_image, fy=a.scale_image, interpolation=cv2.INTER_AREA)
    if not cv2.imwrite(str(a.out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"could not write {a.out} (a .png path in an existing folder?)")
    print(f"wrote {a.out}: truth | output | wrong pixels (magenta), frames {', '.join(map(str, a.frames))}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def frames(s: str) -> list[int]:
        return [int(x) for x in s.split(",")]

    for name, helptext in (
        ("objects", "the tracked objects and the parts they hold"),
        ("votes", "why each piece of a part got its paint"),
        ("map", "where the keyframe position maps send a part"),
        ("images", "truth | output | wrong pixels"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--seed", type=int, required=True, help="benchmark seed (tune on any but 2, the held-out one)")
        p.add_argument("--clip", required=True, choices=CLIP_NAMES)
        p.add_argument("--scale", type=float, default=1.0, help="resize the clip (0.5: a quick look)")
        p.add_argument("--hole-length", type=int, default=0, help="pinhole closing, as eval_bucket.py's (0: default)")
        if name == "objects":
            p.add_argument("--frame", type=int, required=True)
        else:
            p.add_argument("--frames", type=frames, required=True, help="comma-separated frame numbers")
        if name in ("votes", "map"):
            p.add_argument("--part", required=True, help="a truth part: sky, roof, c0.arm_l, ...")
        if name == "images":
            p.add_argument("-o", "--out", type=Path, required=True, help="PNG to write")
            p.add_argument("--scale-image", type=float, default=1.0, help="resize the written image")
    a = ap.parse_args(argv)
    if a.seed == 2:
        print("note: seed 2 is the held-out seed; looking at it to choose anything spoils it", file=sys.stderr)
    c = Clip(a.seed, a.clip, a.scale, a.hole_length)
    {"objects": cmd_objects, "votes": cmd_votes, "map": cmd_map, "images": cmd_images}[a.cmd](c, a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
