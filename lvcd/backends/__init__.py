"""Colorizer backends that share one contract (docs/architecture.md, "Colorizer backends"):

    colorize(reference_rgb, reference_lineart, lineart_frames) -> Iterator[np.ndarray]

yielding exactly one uint8 [H, W, 3] RGB frame per input frame, in order, streaming. The weight-free paint-bucket
colorizer lives here; the diffusion backend is `lvcd.pipelines.LVCDPipeline`, wrapped by `lvcd.api`. Importing this
package never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np

from .bucket import BucketColorizer, BucketConfig


class Colorizer(Protocol):
    def colorize(
        self, reference_rgb: np.ndarray, reference_lineart: np.ndarray | None, lineart_frames: Iterable[np.ndarray]
    ) -> Iterator[np.ndarray]: ...


__all__ = ["BucketColorizer", "BucketConfig", "Colorizer"]
