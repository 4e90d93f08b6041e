"""A shot's several keyframes used together: the paint-bucket backend colours a shot with several `references` as
ONE shot, every frame matched against all its keyframes (nearest in time first), instead of the sub-shots
`load_manifest` splits it into for the diffusion backend (which takes one reference per run).

`join_keyframes(manifest, overrides)` is applied when a batch is planned (the backend is known only then: it may come
from the defaults, the shot's options or the caller's overrides): the sub-shots of a shot whose backend resolves to
"bucket" become one `Shot` named as the manifest's shot, with `keyframes` = its (frame, image) pairs. Its passes are
those of a shot whose reference is its first keyframe: a forward pass from the first keyframe to the end, which
reads every keyframe (`pass_keyframes`: their images and the shot's own lineart frames at their positions), and, when
the first keyframe is not the shot's first frame, a backward pass from it alone (the other keyframes lie further
in time). The render key covers every keyframe's sha256 (`keyframe_params`); `--only <shot>.f<frame>` (a sub-shot's
name) selects the whole shot (`Manifest.select`); the colour-drift check takes the palette of all the keyframes
(`drift_reference`). No torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from ..backends import resolve_backend
from ..frames import load_reference
from ..options import RenderOptions
from ..resume import sha256_file
from .shot import Manifest, Shot

__all__ = ["drift_reference", "join_keyframes", "keyframe_params", "pass_keyframes"]


def join_keyframes(m: Manifest, overrides: Mapping) -> Manifest:
    """`m` with the sub-shots of every shot rendered by the bucket backend joined into one shot (see the module
    docstring); shots of other backends, and shots with one keyframe, are left as they are."""
    groups: dict[str, list[Shot]] = {}
    for s in m.shots:
        if s.parent is not None:
            groups.setdefault(s.parent, []).append(s)
    if not groups:
        return m
    joined: dict[str, Shot] = {}
    for parent, subs in groups.items():
        first = min(subs, key=lambda s: s.start)
        opts = RenderOptions.of({**m.defaults, **first.options, **overrides})
        if resolve_backend(opts, strict=False)[0] != "bucket":
            continue
        keys = tuple(sorted((s.reference_frame, s.reference) for s in subs))
        joined[parent] = Shot(
            parent,
            first.start,
            max(s.end for s in subs),
            keys[0][1],
            keys[0][0],
            None,
            dict(first.options),
            first.index,
            None,
            keys,
            first.extra_references,
        )
    if not joined:
        return m
    shots, done = [], set()
    for s in m.shots:
        if s.parent in joined:
            if s.parent not in done:
                done.add(s.parent)
                shots.append(joined[s.parent])
        else:
            shots.append(s)
    return replace(m, shots=shots)


def keyframe_params(shot: Shot) -> dict:
    """What the render key adds for a shot with keyframes used together: every keyframe's frame and image sha256."""
    if not shot.keyframes:
        return {}
    return {"keyframes": [{"frame": f, "sha256": sha256_file(p)} for f, p in shot.keyframes]}


def pass_keyframes(plan, p, source, size: tuple[int, int]) -> list[tuple[int, np.ndarray, np.ndarray]] | None:
    """The keyframes pass `p` of `plan` uses together: (position in the pass, reference RGB, lineart frame) for every
    keyframe the pass reads forwards; None for an ordinary shot or a backward pass (one reference)."""
    shot = plan.shot
    if not shot.keyframes or p.step != 1 or p.prepend_reference:
        return None
    opts = plan.options
    out = []
    for frame, image in shot.keyframes:
        if p.start <= frame < p.stop:
            rgb = load_reference(image, size, opts.reference_fit, opts.reference_background)
            out.append((frame - p.start, rgb, source.frame(frame)))
    return out


def drift_reference(plan, size: tuple[int, int], ref_rgb: np.ndarray) -> np.ndarray:
    """The image the colour-drift check takes its palette from: `ref_rgb`, or every keyframe side by side for a shot
    with keyframes used together (a paint only a later keyframe shows is no drift)."""
    if not plan.shot.keyframes:
        return ref_rgb
    opts = plan.options
    return np.concatenate(
        [
            load_reference(image, size, opts.reference_fit, opts.reference_background)
            for _, image in plan.shot.keyframes
        ],
        axis=1,
    )
