"""Diffusers pipelines: `LVCDPipeline` (the only place where models, sampling and images meet)."""
from .pipeline_lvcd import LVCDPipeline
from .state import LVCDConditioning, LVCDPipelineOutput, NonFiniteLatentsError, SegmentCarry, SegmentResult

__all__ = [
    "LVCDConditioning",
    "LVCDPipeline",
    "LVCDPipelineOutput",
    "NonFiniteLatentsError",
    "SegmentCarry",
    "SegmentResult",
]
