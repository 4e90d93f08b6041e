"""Indexed assembly of a manifest's shots (`lvcd batch --format indexed`): one palette per shot from the paints its
frames are made of (`lvcd.deliver.shots.shot_paints`), merged in shot order so a named entry has one index in the
whole episode, and every frame written as an indexed PNG."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..backends import make_backend
from ..deliver.indexed import IndexedWriter
from ..deliver.paints import PAPER_NAME, Palette, build_palette, merge_palettes, parse_named_palette
from ..deliver.shots import check_indexed, shot_paints
from .plan import PNG_NAME
from .source import read_png, reference_lineart_frame, reference_rgb, shot_polarity


def shot_palette(plan, source, size: tuple[int, int]) -> Palette:
    """The palette of one planned shot of a manifest (lvcd.shots.render.ShotPlan)."""
    opts = plan.options
    snap = opts.snap
    check_indexed(plan.backend, snap)
    ref = reference_rgb(plan, size)
    first = None
    backend = plan.backend
    if not snap:
        shot = plan.shot
        if shot.external:
            first = reference_lineart_frame(plan, ref, source, shot_polarity(plan, source))
        else:
            first = source.frame(shot.reference_frame)
        backend, _ = make_backend(opts.replace(backend="bucket"))
    return build_palette(shot_paints(backend, ref, snap, first), parse_named_palette(opts.palette))


def assemble_indexed(
    manifest,
    plans: Sequence,
    output: str | os.PathLike,
    *,
    source,
    overwrite: bool = False,
    progress: bool = True,
    layers: bool = False,
) -> Path:
    """Write every frame of a rendered manifest as one indexed PNG sequence with one merged palette (shot frames
    from the work folder; frames in no shot: the lineart)."""
    from tqdm.auto import tqdm

    ordered = sorted(plans, key=lambda p: p.shot.start)
    palettes = [shot_palette(p, source, manifest.size) for p in ordered]
    pal = merge_palettes(palettes)
    gaps = manifest.gaps()
    if gaps and pal.index_of((255, 255, 255)) is None:
        pal = Palette(np.vstack([pal.colours, [[255, 255, 255]]]), pal.names + [PAPER_NAME], pal.kinds + ["paper"])
    shots = [
        {
            "name": p.shot.name,
            "start": p.shot.start,
            "end": p.shot.end,
            "indices": [pal.index_of(c) for c in sp.colours],
        }
        for p, sp in zip(ordered, palettes, strict=True)
    ]
    timeline, pos = [], 0
    for p in ordered:
        if p.shot.start > pos:
            timeline.append((pos, p.shot.start, None))
        timeline.append((p.shot.start, p.shot.end, p))
        pos = p.shot.end
    if pos < manifest.frame_count:
        timeline.append((pos, manifest.frame_count, None))
    name = manifest.path.stem if manifest.path is not None else Path(output).name
    with (
        IndexedWriter(
            output,
            manifest.fps,
            manifest.size,
            palette=pal,
            overwrite=overwrite,
            layers=layers,
            name=name,
            extra={"shots": shots},
        ) as writer,
        tqdm(total=manifest.frame_count, unit="frame", desc="assemble (indexed)", disable=not progress) as bar,
    ):
        for a, b, p in timeline:
            frames = source.read(a, b) if p is None else (read_png(p.folder / PNG_NAME.format(i)) for i in range(a, b))
            for i, f in zip(range(a, b), frames, strict=True):
                writer.write(f, number=i)
                bar.update()
    return Path(output)
