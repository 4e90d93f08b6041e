"""LVCD networks on diffusers: the SVD UNet with ControlNet residuals, the sketch video ControlNet, and the reference /
prev-reference attention processors. No sampling and no IO here (see docs/architecture.md)."""

from .attention import (
    MaskedTemporalAttnProcessor,
    ReferenceAttentionState,
    ReferenceAttnProcessor,
    install_lvcd_processors,
    missing_lvcd_processors,
    reference_index_tables,
)
from .controlnet import LVCDControlNetModel, LVCDControlNetOutput
from .layers import FrameContext, FramePositionTimesteps, MaskedTemporalConv3d, apply_reference_path_layers
from .unet import LVCDUNetModel

__all__ = [
    "FrameContext",
    "FramePositionTimesteps",
    "LVCDControlNetModel",
    "LVCDControlNetOutput",
    "LVCDUNetModel",
    "MaskedTemporalAttnProcessor",
    "MaskedTemporalConv3d",
    "ReferenceAttentionState",
    "ReferenceAttnProcessor",
    "apply_reference_path_layers",
    "install_lvcd_processors",
    "missing_lvcd_processors",
    "reference_index_tables",
]
