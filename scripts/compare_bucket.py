"""Compare two runs of `scripts/eval_bucket.py --json`: clip by clip, which changed and by how much.

    python scripts/eval_bucket.py --seed dev,3,4 --json /tmp/base.json      # on the code before
    python scripts/eval_bucket.py --seed dev,3,4 --json /tmp/new.json       # on the change
    python scripts/compare_bucket.py /tmp/base.json /tmp/new.json

Prints each clip whose region Acc moved (and its last tenth), the clips up and down, and both runs' overall, worst
clip and largest first-to-last-tenth drop. A change to the colorizer is judged this way on tuning seeds (never on
the held-out one): a mean that rises while as many clips lose as gain is noise, not progress.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TOL = 5e-5  # region Acc differences below this are rounding, not change


def clips_of(run: dict) -> dict[tuple[int, str, int], dict]:
    """{(seed, clip name, occurrence): clip result} of one `eval_bucket.py --json` file (one seed or several)."""
    out = {}
    for r in run.get("seeds", [run]):
        for c in r.get("clips", []):
            n = 0
            while (r["seed"], c["clip"], n) in out:
                n += 1
            out[(r["seed"], c["clip"], n)] = c
    return out


def compare(base: dict, new: dict, show_all: bool = False) -> list[str]:
    """Lines of the comparison (see the module docstring)."""
    a, b = clips_of(base), clips_of(new)
    both = [k for k in a if k in b]
    if not both:
        raise SystemExit("the two runs share no clip: run them with the same --seed and --clips")
    lines, up, down = [], 0, 0
    for k in both:
        x, y = a[k]["region_acc"], b[k]["region_acc"]
        d = y - x
        up += d > TOL
        down += d < -TOL
        if show_all or abs(d) > TOL:
            lines.append(
                f"seed {k[0]:>3} {k[1]:13s} {x:.4f} -> {y:.4f} {d:+.4f}   "
                f"last tenth {a[k]['last_tenth']:.3f} -> {b[k]['last_tenth']:.3f}"
            )
    lines.append(f"clips: {len(both)} compared, {up} up, {down} down")
    for name, run in (("base", base), ("new", new)):
        lines.append(
            f"{name:4s}: overall {run['overall_region_acc']:.4f}  worst clip {run['worst_clip_acc']:.4f}  "
            f"largest drop {run['max_decay']:.3f}"
        )
    missing = len(a) + len(b) - 2 * len(both)
    if missing:
        lines.append(f"note: {missing} clips are in one run only (not compared; overall numbers differ in scope)")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path, help="eval_bucket.py --json of the code before")
    ap.add_argument("new", type=Path, help="eval_bucket.py --json of the change")
    ap.add_argument("--all", action="store_true", help="print unchanged clips too")
    args = ap.parse_args(argv)
    runs = []
    for p in (args.base, args.new):
        try:
            runs.append(json.loads(p.read_text()))
        except (OSError, ValueError) as e:
            print(f"error: cannot read {p} as eval_bucket.py --json output: {e}", file=sys.stderr)
            return 2
    print("\n".join(compare(*runs, show_all=args.all)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
