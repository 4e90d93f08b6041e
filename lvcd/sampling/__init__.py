"""Sampling: EDM sigmas, preconditioning, the stateless Euler loop and long-video segment planning (no models)."""

from .edm import EDMConfig, edm_sigmas, get_scalings, noise_scale, precondition, sample_euler
from .segments import (
    DecodeChunk,
    Segment,
    SegmentConfig,
    num_segments,
    plan_decode_chunks,
    plan_segments,
    recycle_noise,
)

__all__ = [
    "EDMConfig",
    "edm_sigmas",
    "get_scalings",
    "noise_scale",
    "precondition",
    "sample_euler",
    "DecodeChunk",
    "Segment",
    "SegmentConfig",
    "num_segments",
    "plan_decode_chunks",
    "plan_segments",
    "recycle_noise",
]
