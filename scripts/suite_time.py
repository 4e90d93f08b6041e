#!/usr/bin/env python3
"""Compare two per-test timing JSONs written by the `suite_cpu` pytest plugin (scripts/suite_cpu.py).

CPU seconds of a test = this process's user + system time plus the CPU time of child processes it reaped; wall seconds
are reported too but depend on the machine's load. Only test ids present in both files are compared like-for-like;
ids in one file only are listed (moved or renamed tests).

    python scripts/suite_time.py BASE.json NEW.json [--top 15] [--files]

With `--partial`, NEW covers only some test files (those that changed): the estimated full-suite total is
BASE total - BASE(those files) + NEW(those files), the files being the ones NEW contains.
`--json OUT` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys


def load(path: str) -> dict[str, dict]:
    with open(path) as f:
        return json.load(f)["tests"]


def cost(rec: dict) -> float:
    return rec.get("cpu_s", 0.0) + rec.get("children_cpu_s", 0.0)


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def totals(tests: dict[str, dict], ids=None) -> dict:
    ids = tests.keys() if ids is None else ids
    return {
        "cpu_s": round(sum(cost(tests[i]) for i in ids), 2),
        "wall_s": round(sum(tests[i].get("wall_s", 0.0) for i in ids), 2),
        "tests": len(list(ids)),
    }


def by_file(tests: dict[str, dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, rec in tests.items():
        out[file_of(i)] = out.get(file_of(i), 0.0) + cost(rec)
    return out


def compare(base: dict, new: dict, partial: bool) -> dict:
    files = {file_of(i) for i in new}
    base_scope = {i: r for i, r in base.items() if not partial or file_of(i) in files}
    common = sorted(set(base_scope) & set(new))
    result = {
        "base": totals(base_scope),
        "new": totals(new),
        "common_ids": len(common),
        "only_in_base": sorted(set(base_scope) - set(new)),
        "only_in_new": sorted(set(new) - set(base_scope)),
        "not_passed_new": sorted(i for i, r in new.items() if r.get("outcome") not in ("passed", "skipped")),
        "not_passed_base": sorted(i for i, r in base_scope.items() if r.get("outcome") not in ("passed", "skipped")),
    }
    if partial:
        full = totals(base)
        est = full["cpu_s"] - result["base"]["cpu_s"] + result["new"]["cpu_s"]
        result["suite"] = {
            "base_cpu_s": full["cpu_s"],
            "new_cpu_s_estimated": round(est, 2),
            "cut_pct": round(100 * (1 - est / full["cpu_s"]), 1),
            "files_rerun": sorted(files),
        }
    else:
        b, n = result["base"]["cpu_s"], result["new"]["cpu_s"]
        result["suite"] = {"base_cpu_s": b, "new_cpu_s": n, "cut_pct": round(100 * (1 - n / max(b, 1e-9)), 1)}
    bf, nf = by_file(base_scope), by_file(new)
    result["files"] = {
        f: {"base_cpu_s": round(bf.get(f, 0.0), 2), "new_cpu_s": round(nf.get(f, 0.0), 2)}
        for f in sorted(set(bf) | set(nf), key=lambda f: -bf.get(f, 0.0))
    }
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("new", nargs="?", help="omit to list BASE's top offenders only")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--files", action="store_true", help="print per-file totals")
    ap.add_argument("--partial", action="store_true", help="NEW reran only some files: estimate the full suite")
    ap.add_argument("--json", help="write the comparison here")
    a = ap.parse_args(argv)
    base = load(a.base)
    if a.new is None:
        print(f"total {totals(base)}")
        for i in sorted(base, key=lambda i: -cost(base[i]))[: a.top]:
            print(f"{cost(base[i]):8.1f} cpu s {base[i].get('wall_s', 0):8.1f} wall s  {i}")
        if a.files:
            for f, c in sorted(by_file(base).items(), key=lambda kv: -kv[1])[: a.top]:
                print(f"{c:8.1f} cpu s  {f}")
        return 0
    new = load(a.new)
    r = compare(base, new, a.partial)
    print(f"base {r['base']}  new {r['new']}  like-for-like ids {r['common_ids']}")
    print(f"suite: {r['suite']}")
    for key in ("only_in_base", "only_in_new", "not_passed_base", "not_passed_new"):
        if r[key]:
            print(f"{key} ({len(r[key])}): " + ", ".join(r[key][:10]) + (" ..." if len(r[key]) > 10 else ""))
    print(f"top {a.top} in base -> new (cpu s):")
    for i in sorted(base, key=lambda i: -cost(base[i]))[: a.top]:
        after = f"{cost(new[i]):8.1f}" if i in new else "     n/a"
        print(f"{cost(base[i]):8.1f} -> {after}  {i}")
    if a.files:
        for f, v in r["files"].items():
            print(f"{v['base_cpu_s']:8.1f} -> {v['new_cpu_s']:8.1f}  {f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    return 1 if r["not_passed_new"] else 0


if __name__ == "__main__":
    sys.exit(main())
