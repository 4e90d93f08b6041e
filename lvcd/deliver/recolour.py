"""`lvcd recolour INDEXED_DIR --palette edited.gpl -o out.mp4`: apply an edited palette to an indexed render.

Entries are matched by position: entry i of the edited file recolours every pixel of index i (the .gpl / .aco /
palette.json written beside the render list the entries in index order; edit colours in place, do not reorder).
The edited file must hold as many entries as the render's palette; a renamed entry is reported (a reordered file
is the usual cause) but applied. Output: any format lvcd.video writes (mp4/mkv/mov, PNG folder or pattern), at the
render's frame rate (palette.json `fps`, or `fps=`). No torch.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .indexed import indexed_frames, read_indexed_png
from .paints import PaletteError, to_hex
from .swatches import read_palette_file

logger = logging.getLogger("lvcd")


@dataclass
class RecolourResult:
    output: Path
    frames: int
    changed: list[int]  # palette indices whose colour changed


def recolour(
    indexed: str | os.PathLike,
    palette: str | os.PathLike,
    output: str | os.PathLike,
    *,
    fps: Fraction | str | float | None = None,
    crf: int = 18,
    fmt: str | None = None,
    overwrite: bool = False,
    quiet: bool = True,
) -> RecolourResult:
    """Decode the indexed frames of `indexed` with the colours of the palette file `palette` and write `output`."""
    from tqdm.auto import tqdm

    from ..video import open_writer

    folder = Path(indexed)
    files = indexed_frames(folder)
    new, new_names = read_palette_file(palette)
    meta_file = folder / "palette.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    idx0, old = read_indexed_png(files[0])
    old_names = [e.get("name", "") for e in meta.get("entries", [])] or [""] * len(old)
    if len(new) != len(old):
        raise PaletteError(
            f"{palette} has {len(new)} entries but the render in {folder} has {len(old)}; edit the "
            f"colours of {folder / 'palette.gpl'} in place (same entries, same order)."
        )
    renamed = [
        i
        for i, (a, b) in enumerate(zip(old_names, new_names, strict=True))
        if a and b and a != b and not a.startswith("#")
    ]  # "#rrggbb" names are placeholders to rename
    if renamed:
        logger.warning(
            "%s: entries %s are named differently from the render's palette (%s); entries are applied by "
            "position, so check the file was not reordered",
            palette,
            renamed,
            ", ".join(f"{i}: {old_names[i]!r} -> {new_names[i]!r}" for i in renamed[:5]),
        )
    changed = [i for i in range(len(old)) if tuple(old[i]) != tuple(new[i])]
    for i in changed:
        label = "" if old_names[i].startswith("#") else f" ({old_names[i]})"
        logger.info("entry %d%s: %s -> %s", i, label, to_hex(old[i]), to_hex(new[i]))
    if fps is None:
        if "fps" not in meta:
            raise ValueError(f"{folder} has no palette.json with the frame rate; pass --fps (e.g. 24 or 24000/1001).")
        fps = meta["fps"]
    h, w = idx0.shape
    n = 0
    with open_writer(output, Fraction(str(fps)), (w, h), crf=crf, fmt=fmt, overwrite=overwrite) as writer:
        for f in tqdm(files, unit="frame", desc="recolour", disable=quiet):
            idx, pal = read_indexed_png(f)
            if idx.shape != (h, w):
                raise ValueError(
                    f"{f} is {idx.shape[1]}x{idx.shape[0]} but {files[0].name} is {w}x{h}; one render per folder."
                )
            if len(pal) != len(old) or int(idx.max()) >= len(new):
                raise PaletteError(
                    f"{f} has a palette of {len(pal)} entries (index {int(idx.max())} used) but the "
                    f"render's first frame has {len(old)}; one render per folder."
                )
            writer.write(np.ascontiguousarray(new[idx]))
            n += 1
    return RecolourResult(Path(output), n, changed)
