"""Model configs shipped with the package (package data, configs only, no weights).

`LVCD_SVD` is the released LVCD-on-SVD-img2vid architecture as a diffusers pipeline folder: the default configs of
`lvcd convert` and the architecture that the weight-free memory and FLOP estimates (`lvcd.preflight`) size. The
repository's top-level `pipelines/lvcd-svd` is the user-facing copy of the same files (a test keeps them equal).
"""

from __future__ import annotations

from pathlib import Path

LVCD_SVD = Path(__file__).resolve().parent / "lvcd-svd"

__all__ = ["LVCD_SVD"]
