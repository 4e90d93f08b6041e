"""Lineart tools (numpy/OpenCV only; no torch): normalise user lineart, extract lines from colour frames, segment
paint-bucket regions, and snap colours to a reference palette.

* `normalize.py`  polarity (black-on-white / white-on-black / alpha), line strength, hysteresis mask, thin/thicken,
                  the diffusion model's sketch convention, compositing lines back over colours
* `xdog.py`       classical XDoG extraction from colour frames
* `regions.py`    regions enclosed by lines, gap closing, specks, line pixels assigned to regions
* `palette.py`    reference palettes and the flat-colour snapper (any backend's output)
* `informative_drawings.py`  the learned extractor LVCD used (torch; imported only on request, user-supplied weights)
"""

from .normalize import (
    POLARITIES,
    Lineart,
    LineartConfig,
    composite_lines,
    detect_polarity,
    hysteresis_mask,
    line_strength,
    normalize_lineart,
    thicken_lines,
    thin_lines,
    to_sketch,
)
from .palette import PaletteConfig, PaletteSnapper, extract_palette
from .regions import RegionConfig, Regions, estimate_line_width, segment_regions
from .xdog import XDoGConfig, extract_lineart, xdog

__all__ = [
    "POLARITIES",
    "Lineart",
    "LineartConfig",
    "PaletteConfig",
    "PaletteSnapper",
    "RegionConfig",
    "Regions",
    "XDoGConfig",
    "composite_lines",
    "detect_polarity",
    "estimate_line_width",
    "extract_lineart",
    "extract_palette",
    "hysteresis_mask",
    "line_strength",
    "normalize_lineart",
    "segment_regions",
    "thicken_lines",
    "thin_lines",
    "to_sketch",
    "xdog",
]
