"""Lists of problems as messages a person can read: `format_problems` caps them, `cut` shortens echoed values,
`check_value` turns a wrong-typed option (`steps: many`) into a problem instead of a Python comparison error.

A manifest with 100,000 broken shots should say so in a screenful, not in 100,000 lines; a 20 MB YAML value should
be quoted by its start and its length, not whole.
"""

from __future__ import annotations

import types
import typing

__all__ = ["MAX_PROBLEMS", "MAX_VALUE_CHARS", "check_value", "cut", "format_problems"]

MAX_PROBLEMS = 50  # problems listed in full; the rest are counted
MAX_VALUE_CHARS = 200  # an echoed value (or an over-long problem line) is cut to about this many characters
MAX_LINE_CHARS = 400


def cut(value, limit: int = MAX_VALUE_CHARS) -> str:
    """`repr(value)`, cut to `limit` characters with the number of characters left out."""
    text = value if isinstance(value, str) and value.startswith(("'", '"')) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def _cut_line(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    head, tail = line[:MAX_VALUE_CHARS], line[-MAX_VALUE_CHARS // 2 :]
    return f"{head} ... ({len(line) - len(head) - len(tail):,} characters cut) ... {tail}"


def format_problems(problems: list[str], source: str | None = None, note: str = "") -> str:
    """`source: N problems:` then the first `MAX_PROBLEMS`, each cut to a readable length, and a count of the rest."""
    head = f"{source}: " if source else ""
    n = len(problems)
    if n == 1:
        body = _cut_line(problems[0])
    else:
        shown = [f"  - {_cut_line(p)}" for p in problems[:MAX_PROBLEMS]]
        if n > MAX_PROBLEMS:
            shown.append(
                f"  ... and {n - MAX_PROBLEMS:,} more problems (fix these first; the rest are often the same mistake)"
            )
        body = f"{n:,} problems:\n" + "\n".join(shown)
    return f"{head}{body}" + (f"\n{note}" if note else "")


_NAMES = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "None": type(None),
    "tuple": tuple,
    "list": list,
    "dict": dict,
}


def _types(annotation) -> tuple[type, ...] | None:
    """The plain types an annotation (a string under `from __future__ import annotations`) allows, or None when
    it is too rich to check here (left to the option's own validation)."""
    if isinstance(annotation, str):
        out = []
        for part in annotation.split("|"):
            base = part.strip().split("[", 1)[0]
            if base not in _NAMES:
                return None
            out.append(_NAMES[base])
        return tuple(out)
    if isinstance(annotation, type):
        return (annotation,)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        parts = [_types(a) for a in typing.get_args(annotation)]
        return None if any(p is None for p in parts) else tuple(t for p in parts for t in p)
    origin = typing.get_origin(annotation)
    return (origin,) if isinstance(origin, type) else None


def check_value(name: str, value, annotation) -> str | None:
    """A problem text when `value` is not of the annotated type (`steps: many` -> "`steps` must be an integer
    (got 'many')"), else None. bool is not accepted for int, int is accepted for float; a list for a tuple."""
    allowed = _types(annotation)
    if allowed is None:
        return None
    if isinstance(value, bool) and bool not in allowed:
        ok = False
    elif isinstance(value, int) and float in allowed:
        ok = True
    elif isinstance(value, list) and tuple in allowed:
        ok = True
    else:
        ok = isinstance(value, allowed)
    if ok:
        return None
    words = {
        int: "an integer",
        float: "a number",
        str: "text",
        bool: "true or false",
        tuple: "a list",
        list: "a list",
        dict: "a mapping",
        type(None): "empty (null)",
    }
    want = " or ".join(dict.fromkeys(words[t] for t in allowed if t is not type(None)))
    return f"`{name}` must be {want} (got {cut(value)})"
