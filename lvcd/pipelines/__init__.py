"""Diffusers pipelines: `LVCDPipeline` (the only place where models, sampling and images meet)."""

from .extra_refs import ExtraReference
from .pipeline_lvcd import LVCDPipeline
from .state import LVCDConditioning, LVCDPipelineOutput, NonFiniteLatentsError, SegmentCarry, SegmentResult

__all__ = [
    "ExtraReference",
    "LVCDConditioning",
    "LVCDPipeline",
    "LVCDPipelineOutput",
    "NonFiniteLatentsError",
    "SegmentCarry",
    "SegmentResult",
]
