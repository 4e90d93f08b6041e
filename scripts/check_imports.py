#!/usr/bin/env python3
"""Check that lvcd's imports point one way: an AST scan of every module under lvcd/, function-local imports
included (they hide cycles from Python but not from a reader), for

1. import cycles between lvcd modules (strongly connected components of the import graph), and
2. a module below the top floor importing the top floor: only the upper floor (`UPPER`: the API, the shot
   pipeline, the command line and whatever is built on them) may import `lvcd.api`, `lvcd.shots` or `lvcd.cli`.

`from pkg import name` counts as an import of `pkg.name` when that is a module, else of `pkg` (its __init__).
Importing `a.b.c` does not add the implicit edges to the parent packages' __init__ files: a package importing its
own submodules is how packages work, not a design cycle.

Usage: python scripts/check_imports.py [ROOT]     (exit 1 and a report when a rule is broken)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

TOP = ("lvcd.api", "lvcd.shots", "lvcd.cli")  # the upper floor's entry points
# modules allowed to import TOP (prefixes: a package covers its modules): the top floor itself, the entry point, and
# what is built on the API and the shot pipeline (`lvcd.single_shot`: one clip as a one-shot manifest; the browser
# page; distributed batch rendering; `lvcd.eval.cuts` reads a shot manifest for `lvcd eval --shots` and is imported
# by the CLI only)
UPPER = TOP + ("lvcd.__main__", "lvcd.single_shot", "lvcd.ui", "lvcd.distributed", "lvcd.eval.cuts")


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def module_names(root: Path) -> dict[str, Path]:
    """lvcd module name -> file, for every .py under root/lvcd."""
    out = {}
    for f in sorted((root / "lvcd").rglob("*.py")):
        parts = list(f.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported lvcd module, line) for every import statement in the file, at any depth."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in modules else base, node.lineno))
    return [(m, line) for m, line in found if m in modules and m != name]


def graph(root: Path) -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    modules = module_names(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    where: dict[tuple[str, str], int] = {}
    for name, path in modules.items():
        for target, line in imports_of(name, path, modules):
            edges[name].add(target)
            where.setdefault((name, target), line)
    return edges, where


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, imported) pairs where a module below the upper floor imports the top floor."""
    return sorted((m, t) for m, ts in edges.items() for t in ts if _under(t, TOP) and not _under(m, UPPER))


def problems(root: Path) -> list[str]:
    edges, where = graph(root)
    out = []
    for comp in cycles(edges):
        links = [f"{a} -> {b} (line {where[(a, b)]})" for a in comp for b in sorted(edges[a]) if b in comp]
        out.append("import cycle: " + ", ".join(comp) + "\n    " + "\n    ".join(links))
    for m, t in upward(edges):
        out.append(f"{m} imports {t} (line {where[(m, t)]}): modules below the API must not import {', '.join(TOP)}")
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    found = problems(root)
    edges, _ = graph(root)
    if found:
        print("\n".join(found))
        return 1
    print(
        f"imports OK: {len(edges)} modules, {sum(map(len, edges.values()))} import edges, no cycle, nothing below "
        "the API imports api/shots/cli"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
