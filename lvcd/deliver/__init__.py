"""Deliverables a paint stage imports: indexed-colour frames, palette files, per-colour layers, and recolouring.

* `paints`: a shot's palette (line colour, named manifest entries, keyframe paints, in a stable order), the named
  palette snap, and the RGB -> (paint beneath, ink coverage) decomposition that maps anti-aliased lines;
* `swatches`: palette.json, GIMP/Krita .gpl and Photoshop .aco writers and readers;
* `indexed`: the `--format indexed` writer (palette PNGs) and `--layers` (alpha-mask PNG sequences);
* `shots`: how a render's or a manifest's shots get their palettes (the glue used by lvcd.api and lvcd.shots);
* `recolour`: apply an edited palette file to an indexed render (`lvcd recolour`).

No torch.
"""

from .indexed import IndexedWriter, read_indexed_png
from .paints import Palette, PaletteError, build_palette, decompose, merge_palettes, parse_named_palette, to_indices
from .recolour import recolour
from .swatches import read_aco, read_gpl, read_palette_file

__all__ = [
    "IndexedWriter",
    "Palette",
    "PaletteError",
    "build_palette",
    "decompose",
    "merge_palettes",
    "parse_named_palette",
    "read_aco",
    "read_gpl",
    "read_indexed_png",
    "read_palette_file",
    "recolour",
    "to_indices",
]
