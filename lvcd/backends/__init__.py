"""Colorizer backends behind one contract, and the one place that decides which backend a render uses.

A backend has a `name` and

    colorize(reference_rgb, lineart_frames, num_frames, polarity="auto", checkpoint_dir=None, options=None,
             extra_references=None) -> Iterator[np.ndarray]

yielding exactly one uint8 [H, W, 3] RGB frame per input frame, in order, streaming (`options`: the call's
`RenderOptions`; `checkpoint_dir`: resumable windows, diffusion only; `extra_references`: references used together
with the keyframe by every frame, see `extra_refs.py`). The bucket backend also takes
`keyframes=[(position, reference_rgb, lineart), ...]`: several keyframes used together (`bucket_keyframes`).
`BucketBackend` wraps the weight-free paint-bucket colorizer (`bucket.py`); `diffusion.DiffusionBackend` wraps
`LVCDPipeline.stream` (torch, imported only when a diffusion backend is made). `resolve_backend` settles "auto"
without loading anything; `make_backend` loads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import LVCDError
from ..lineart.regions import RegionConfig
from ..model_dir import find_model, no_model_message
from ..options import RenderOptions
from .bucket import BucketColorizer, BucketConfig
from .bucket_keyframes import colorize_shot
from .extra_refs import RoutedBucketColorizer

logger = logging.getLogger("lvcd")


class Colorizer(Protocol):
    """The contract of `BucketColorizer`: one shot from a keyframe and its lineart."""

    def colorize(
        self, reference_rgb: np.ndarray, reference_lineart: np.ndarray | None, lineart_frames: Iterable[np.ndarray]
    ) -> Iterator[np.ndarray]: ...


class Backend(Protocol):
    """What `lvcd.api` renders with (see the module docstring)."""

    name: str

    def colorize(
        self,
        reference_rgb: np.ndarray,
        lineart_frames: Iterable[np.ndarray],
        num_frames: int,
        polarity: str = "auto",
        checkpoint_dir: str | os.PathLike | None = None,
        options: RenderOptions | None = None,
        extra_references=None,
    ) -> Iterator[np.ndarray]: ...


class BucketBackend:
    """The weight-free paint-bucket colorizer (flat palette colours by region matching)."""

    name = "bucket"

    def __init__(self, opts: RenderOptions):
        self.opts = opts
        regions = RegionConfig(hole_length=opts.pinholes)
        # = BucketColorizer without extra references
        self.colorizer = RoutedBucketColorizer(BucketConfig(mode=opts.bucket_mode, regions=regions))

    def confidence(self) -> dict | None:
        """The last shot's per-frame confidence (`lvcd.backends.bucket_confidence`); None in warp mode."""
        log = getattr(self.colorizer, "confidence", None)
        return log.summary() if log is not None and getattr(self.colorizer, "used_mode", "flat") == "flat" else None

    def colorize(
        self,
        reference_rgb: np.ndarray,
        lineart_frames: Iterable[np.ndarray],
        num_frames: int,
        polarity: str = "auto",
        checkpoint_dir: str | os.PathLike | None = None,
        options: RenderOptions | None = None,
        keyframes=None,
        extra_references=None,
    ) -> Iterator[np.ndarray]:
        if extra_references:  # issue 15: more keyframes to match against, restricted by target masks
            return self.colorizer.colorize_references(
                reference_rgb, lineart_frames, extra_references, num_frames, keyframes
            )
        return colorize_shot(self.colorizer, reference_rgb, lineart_frames, keyframes)


def resolve_backend(opts: RenderOptions, strict: bool = True) -> tuple[str, Path | None]:
    """("diffusion" | "bucket", the model folder or None) for `opts`, loading nothing: "auto" is diffusion when a
    converted model is found, else the bucket. `strict`: --backend diffusion without a model is an error (a dry run
    passes False to plan it anyway)."""
    if opts.backend == "bucket":
        return "bucket", None
    model_dir = find_model(opts.model)
    if model_dir is None:
        if opts.backend == "diffusion":
            if strict:
                raise LVCDError(no_model_message())
            return "diffusion", None
        return "bucket", None
    return "diffusion", model_dir


def make_backend(opts: RenderOptions, size: tuple[int, int] | None = None):
    """-> (the loaded backend `opts` asks for, its model folder or None). `size`: the model resolution (W, H) the
    render will use, for the pre-flight memory check."""
    name, model_dir = resolve_backend(opts)
    if name == "bucket":
        if opts.backend == "auto":
            logger.info("no converted LVCD model found: using the weight-free paint-bucket backend")
        return BucketBackend(opts), None
    from .diffusion import DiffusionBackend, load_pipeline

    return DiffusionBackend(load_pipeline(model_dir, opts, size), opts), model_dir


__all__ = [
    "Backend",
    "BucketBackend",
    "BucketColorizer",
    "BucketConfig",
    "Colorizer",
    "make_backend",
    "resolve_backend",
]
