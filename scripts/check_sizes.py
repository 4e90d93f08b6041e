#!/usr/bin/env python3
"""Check that lvcd's files stay small enough to read: every file under lvcd/ has fewer than 600 lines, and
lvcd/api.py and every lvcd/shots/*.py (the upper floor a newcomer reads first) fewer than 400.

Lines are counted on the files as they are (as committed); `--formatted` counts them after `ruff format` instead
(what they would be once the project formats its code: ruff's line-length from ruff.toml, typically longer).
Every offender is reported, not only the first.

Usage: python scripts/check_sizes.py [--formatted] [ROOT]     (exit 1 and a report when a limit is broken)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LIMIT = 600  # every file under lvcd/: fewer lines than this
UPPER_LIMIT = 400  # lvcd/api.py and lvcd/shots/*.py
UPPER = ("lvcd/api.py", "lvcd/shots/*.py")
TEXT_SUFFIXES = {".py", ".js", ".css", ".html", ".json", ".yaml", ".yml", ".md", ".txt", ".toml", ".cfg"}


def limit_for(rel: str) -> int:
    """The line limit of a file, by its path relative to the repository root ("lvcd/shots/plan.py")."""
    return UPPER_LIMIT if any(Path(rel).match(p) and rel.count("/") == p.count("/") for p in UPPER) else LIMIT


def count_lines(path: Path, formatted: bool = False) -> int:
    text = path.read_text(encoding="utf-8")
    if formatted and path.suffix == ".py":
        text = subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            cwd=path.parent,
        ).stdout
    return len(text.splitlines())


def files(root: Path) -> list[Path]:
    return sorted(
        f
        for f in (root / "lvcd").rglob("*")
        if f.is_file() and f.suffix in TEXT_SUFFIXES and "__pycache__" not in f.parts
    )


def problems(root: Path, formatted: bool = False) -> list[str]:
    """One line per file at or over its limit, largest excess first."""
    found = []
    for f in files(root):
        rel = f.relative_to(root).as_posix()
        n, limit = count_lines(f, formatted), limit_for(rel)
        if n >= limit:
            found.append(
                (
                    n - limit,
                    f"{rel}: {n} lines{' formatted' if formatted else ''} (limit: fewer than "
                    f"{limit}); split it along a concept it holds",
                )
            )
    return [line for _, line in sorted(found, key=lambda x: -x[0])]


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if a != "--formatted"]
    formatted = len(args) != len(argv) - 1
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    found = problems(root, formatted)
    if found:
        print("\n".join(found))
        return 1
    print(
        f"sizes OK: {len(files(root))} files under lvcd/, none at {LIMIT} lines or more, api.py and shots/ under "
        f"{UPPER_LIMIT}{' (formatted)' if formatted else ''}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
