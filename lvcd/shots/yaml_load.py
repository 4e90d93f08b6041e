"""Reading a manifest's YAML: `read_yaml(path)` with YAML 1.2-style numbers (`1:00:00:00` stays a timecode string,
not YAML 1.1's base-60 216000), on libyaml's C parser where PyYAML has it, and a fast path that builds the dicts and
lists straight from libyaml's parse events (a 100,000-shot manifest parses in a fraction of PyYAML's time). Syntax
errors name the file, line and column (`ManifestError`).

Deliberately not here: what the values mean (manifest.py validates them). No torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .shot import ManifestError

__all__ = ["read_yaml"]


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's base-60 numbers: `1:00:00:00` must stay a timecode string, not 216000."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """`_Loader`'s rules on libyaml's C parser where PyYAML has it (a 100,000-shot manifest parses ~10x faster)."""


_FastLoader.yaml_implicit_resolvers = {k: list(v) for k, v in _Loader.yaml_implicit_resolvers.items()}


class _NeedsFullLoader(Exception):
    """The document uses a YAML feature `_load_plain` leaves to PyYAML (anchors, aliases, tags, merge keys, ...)."""


_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_CONSTRUCTOR = yaml.SafeLoader("")  # only its scalar constructors are used (they read node.value)


def _plain_tag(value: str) -> str:
    """The tag `_Loader`'s resolver gives a plain scalar (PyYAML's `Resolver.resolve`, for plain scalars only)."""
    table = _Loader.yaml_implicit_resolvers
    for tag, regexp in table.get(value[0] if value else "", []) + table.get(None, []):
        if regexp.match(value):
            return tag
    return _STR_TAG


def _load_plain(text: str) -> Any:
    """`yaml.load(text, Loader=_FastLoader)` built straight from libyaml's parse events: PyYAML composes a node per
    scalar and resolves it in Python, which made a 100,000-shot manifest take ~15 CPU s; building the dicts and lists
    from events takes a fraction of that. Same values as the loader for the documents manifests are made of;
    anything else (anchors, aliases, explicit tags, merge keys, several documents, complex keys) raises
    `_NeedsFullLoader` and is left to PyYAML."""
    stack: list = []  # open containers: [dict, pending key or _NO_KEY] or [list]
    root: Any = None
    documents = 0
    no_key = object()

    def add(value):
        nonlocal root
        if not stack:
            root = value
            return
        top = stack[-1]
        if isinstance(top[0], list):
            top[0].append(value)
        elif top[1] is no_key:
            if isinstance(value, (dict, list)) or value == "<<":
                raise _NeedsFullLoader  # complex keys / merge keys
            top[1] = value
        else:
            top[0][top[1]] = value
            top[1] = no_key

    for ev in yaml.parse(text, Loader=_FastLoader):
        kind = type(ev)
        if kind is yaml.ScalarEvent:
            if ev.anchor is not None:
                raise _NeedsFullLoader
            if ev.implicit[0] and ev.tag is None:  # plain scalar: resolve like the loader
                tag = _plain_tag(ev.value)
            elif ev.tag in (None, "!") and ev.implicit[1]:  # quoted / block scalar without a tag: a string
                tag = _STR_TAG
            else:
                raise _NeedsFullLoader  # an explicit tag
            if tag == _STR_TAG:
                add(ev.value)
            else:
                node = yaml.ScalarNode(tag, ev.value)
                add(_SCALAR_CONSTRUCTOR.yaml_constructors[tag](_SCALAR_CONSTRUCTOR, node))
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if ev.anchor is not None or (ev.tag is not None and not ev.implicit):
                raise _NeedsFullLoader
            stack.append([{}, no_key] if kind is yaml.MappingStartEvent else [[]])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            add(stack.pop()[0])
        elif kind is yaml.AliasEvent:
            raise _NeedsFullLoader
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _NeedsFullLoader  # PyYAML says "expected a single document"
    return root


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file with `_Loader`'s rules (fast path: `_load_plain`); syntax errors name the file, line and
    column."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"manifest {p} does not exist; make one with `lvcd shots INPUT -o {p.name}`.")
    text = p.read_text(encoding="utf-8")
    try:
        try:
            return _load_plain(text)
        except _NeedsFullLoader:
            return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError as e:
        raise ManifestError([f"is not valid YAML: {e}"], p) from None
