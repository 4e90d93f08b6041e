"""Shared pieces of the converter: its errors, the key-plan type and the generic plan helpers.

A "plan" maps each output key to (input key, value transform or None); a key map is a pure function of the key set,
so the converters can check keys before reading a single tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

Transform = Callable[[torch.Tensor], torch.Tensor] | None
Plan = dict[str, tuple[str, Transform]]


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match the expected model; the message names the file and fix."""


class KeyMappingError(ValueError):
    """Keys that no rule of a key map accepts. `unknown` lists them in the input's naming."""

    def __init__(self, component: str, unknown: list[str]):
        self.component, self.unknown = component, unknown
        super().__init__(f"{len(unknown)} {component} key(s) fit no conversion rule, e.g. {_preview(unknown)}")


# ----------------------------------------------------------------------------------------------------------------
# Key maps. A "plan" maps each output key to (input key, value transform or None); a map is a pure function of the


def _sub(rest: str, table: Mapping[str, str]) -> str | None:
    """Replace the leading dotted name of `rest` found in `table` (longest first); None if none matches."""
    for old in sorted(table, key=len, reverse=True):
        if rest == old or rest.startswith(old + "."):
            return table[old] + rest[len(old) :]
    return None


def _invert(table: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


def _int(s: str) -> int | None:
    return int(s) if s.isdigit() else None


def _rename_plan(keys, rename: Callable[[str], str | None]) -> tuple[Plan, list[str]]:
    plan: Plan = {}
    unknown: list[str] = []
    for k in keys:
        new = rename(k)
        if new is None or new in plan:  # a second source for one target is as wrong as no rule
            unknown.append(k)
        else:
            plan[new] = (k, None)
    return plan, unknown


def _transform_plan(keys, rename: Callable[[str], tuple[str, Transform] | None]) -> tuple[Plan, list[str]]:
    plan: Plan = {}
    unknown: list[str] = []
    for k in keys:
        r = rename(k)
        if r is None or r[0] in plan:
            unknown.append(k)
        else:
            plan[r[0]] = (k, r[1])
    return plan, unknown


def _materialize(
    plan: Plan, source: Mapping[str, torch.Tensor], dtype: torch.dtype | None = None
) -> dict[str, torch.Tensor]:
    out = {}
    for new, (old, transform) in plan.items():
        t = source[old]
        if transform is not None:
            t = transform(t)
        out[new] = t.to(dtype) if dtype is not None and t.is_floating_point() else t
    return out


def _convert(plan_fn, component: str, state_dict: Mapping[str, torch.Tensor], *args) -> dict[str, torch.Tensor]:
    plan, unknown = plan_fn(state_dict.keys(), *args)
    if unknown:
        raise KeyMappingError(component, unknown)
    return _materialize(plan, state_dict)


def _preview(items, n: int = 5) -> str:
    items = list(items)
    shown = ", ".join(f"`{x}`" for x in items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")
