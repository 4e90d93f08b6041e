"""Reference-path layers shared by the LVCD UNet and ControlNet.

LVCD runs every forward on `T = dt + num_video_frames` frames: the first `dt` frames form the *reference path* (the
reference frame and, in later segments, the prev-reference frames), the last `num_video_frames` (14 for SVD) form the
*video path*. The official code keeps the two paths apart in the temporal layers of SVD:

* frame positions: the reference-path frames all get position 0, the video frames 0..13
  (`FramePositionTimesteps`, the `time_proj` of every `TransformerSpatioTemporalModel`);
* temporal 3-tap convolutions: a reference-path frame sees only the centre tap, the video block is convolved on its own
  with zero padding (`MaskedTemporalConv3d`, `conv1` / `conv2` of every `TemporalResnetBlock`);
* temporal self-attention (`MaskedTemporalAttnProcessor` in `attention.py`).

The temporal GroupNorms are *not* split: their statistics cover all T frames, exactly as in the official code, so the
reference path does reach the video frames through them (lvcd-reference.md 2.3.4).

`apply_reference_path_layers` swaps those modules in place; the replacements keep the parameter names and shapes of
the modules they replace, so diffusers SVD weights load unchanged. `FrameContext` carries the frame count of the
forward call in progress to the spatial reference-attention processors, which cannot infer it from their
`[B*T, N, C]` input.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.models.embeddings import Timesteps
from diffusers.models.resnet import SpatioTemporalResBlock, TemporalResnetBlock
from diffusers.models.transformers.transformer_temporal import TransformerSpatioTemporalModel

SGM_GROUPNORM_EPS = 1e-5  # sgm's GroupNorm32 default; diffusers builds 72 SVD UNet resnet norms with 1e-6


class FrameContext:
    """Frame layout of the forward call in progress of one LVCD model.

    The model's `forward` sets `num_frames` (T of the call) before running its blocks; the spatial reference-attention
    processors read it to split their `[B*T, N, C]` input into videos. The value stays set after the call, so that a
    gradient-checkpointing recomputation sees the same layout.
    """

    def __init__(self, num_video_frames: int):
        if num_video_frames < 1:
            raise ValueError(f"num_video_frames must be >= 1 (got {num_video_frames}).")
        self.num_video_frames = num_video_frames
        self.num_frames: int | None = None

    @property
    def num_reference_frames(self) -> int:
        """dt: the number of reference-path frames before the video frames (0 for a plain SVD call)."""
        if self.num_frames is None:
            raise RuntimeError(
                "The frame count of the call is unknown: LVCD attention processors run inside LVCDUNetModel / "
                "LVCDControlNetModel.forward, which sets it."
            )
        return max(self.num_frames - self.num_video_frames, 0)

    def __repr__(self) -> str:
        return f"FrameContext(num_video_frames={self.num_video_frames}, num_frames={self.num_frames})"


class FramePositionTimesteps(Timesteps):
    """`Timesteps` for the frame positions of a `TransformerSpatioTemporalModel`, with LVCD's reference-path remap.

    diffusers feeds it `arange(T)` repeated per video; LVCD uses positions `[0] * dt + arange(num_video_frames)`,
    i.e. p -> max(p - (T - num_video_frames), 0). Identity for T <= num_video_frames.
    """

    def __init__(
        self,
        num_channels: int,
        flip_sin_to_cos: bool,
        downscale_freq_shift: float,
        scale: int = 1,
        num_video_frames: int = 14,
    ):
        super().__init__(num_channels, flip_sin_to_cos, downscale_freq_shift, scale)
        self.num_video_frames = num_video_frames

    @classmethod
    def from_timesteps(cls, module: Timesteps, num_video_frames: int) -> FramePositionTimesteps:
        return cls(
            module.num_channels,
            module.flip_sin_to_cos,
            module.downscale_freq_shift,
            module.scale,
            num_video_frames=num_video_frames,
        )

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        # timesteps: [B*T] = arange(T) repeated B times, so T = max + 1. Tensor ops only (no host sync).
        shift = (timesteps.amax() + 1 - self.num_video_frames).clamp(min=0)
        positions = (timesteps - shift).clamp(min=0)
        return super().forward(positions)


class MaskedTemporalConv3d(nn.Conv3d):
    """The (3, 1, 1) temporal convolution of a `TemporalResnetBlock` with the reference path isolated.

    Input `[B, C, T, H, W]`. For T > num_video_frames, each of the first dt = T - num_video_frames frames sees only the
    centre tap (plus bias) and the last num_video_frames frames are convolved on their own with zero padding; this is
    the official `Conv3d_Masked` (zero frame inserted after each reference frame). For T <= num_video_frames it is
    `nn.Conv3d`. Parameters are `weight` / `bias` with the `nn.Conv3d` shapes.
    """

    def __init__(self, *args, num_video_frames: int = 14, **kwargs):
        super().__init__(*args, **kwargs)
        if self.kernel_size[1:] != (1, 1) or self.kernel_size[0] % 2 != 1 or self.stride != (1, 1, 1):
            raise ValueError(f"MaskedTemporalConv3d needs a (k, 1, 1) stride-1 kernel, got {self.kernel_size}.")
        if self.padding != (self.kernel_size[0] // 2, 0, 0) or self.padding_mode != "zeros" or self.groups != 1:
            raise ValueError("MaskedTemporalConv3d needs 'same' zero padding in time and groups=1.")
        self.num_video_frames = num_video_frames

    @classmethod
    def from_conv(cls, conv: nn.Conv3d, num_video_frames: int) -> MaskedTemporalConv3d:
        """A masked copy of `conv` sharing its parameters (no copy, works on the meta device)."""
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            bias=conv.bias is not None,
            num_video_frames=num_video_frames,
            device="meta",
        )
        new.weight = conv.weight
        new.bias = conv.bias
        return new

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        num_frames = hidden_states.shape[2]
        num_ref = num_frames - self.num_video_frames
        if num_ref <= 0:
            return super().forward(hidden_states)
        centre = self.kernel_size[0] // 2
        # reference path: [B, C, dt, H, W] -> [B, C_out, dt, H, W] with the centre tap only (a (1, 1, 1) kernel)
        ref = F.conv3d(hidden_states[:, :, :num_ref], self.weight[:, :, centre : centre + 1], self.bias)
        # video path: [B, C, nv, H, W] -> [B, C_out, nv, H, W], zero padded at both ends of the video block
        video = super().forward(hidden_states[:, :, num_ref:])
        return torch.cat([ref, video], dim=2)  # -> [B, C_out, T, H, W]


def apply_reference_path_layers(model: nn.Module, num_video_frames: int) -> dict[str, int]:
    """Swap in the reference-path frame positions and masked temporal convolutions, in place.

    Replaces `time_proj` of every `TransformerSpatioTemporalModel` by a `FramePositionTimesteps` and `conv1` / `conv2`
    of every `TemporalResnetBlock` by a `MaskedTemporalConv3d` (same parameters). Returns how many of each were
    replaced. Idempotent.
    """
    counts = {"time_proj": 0, "temporal_conv": 0}
    for module in model.modules():
        if isinstance(module, TransformerSpatioTemporalModel):
            if not isinstance(module.time_proj, FramePositionTimesteps):
                module.time_proj = FramePositionTimesteps.from_timesteps(module.time_proj, num_video_frames)
            counts["time_proj"] += 1
        elif isinstance(module, TemporalResnetBlock):
            for name in ("conv1", "conv2"):
                conv = getattr(module, name)
                if not isinstance(conv, MaskedTemporalConv3d):
                    setattr(module, name, MaskedTemporalConv3d.from_conv(conv, num_video_frames))
                counts["temporal_conv"] += 1
    return counts


def set_sgm_groupnorm_eps(model: nn.Module, eps: float = SGM_GROUPNORM_EPS) -> list[str]:
    """Set `eps` on the spatial and temporal norm1/norm2 of every SVD resnet (`SpatioTemporalResBlock`), in place.

    sgm builds all of them with 1e-5; diffusers builds those of down_blocks.0-2 and all up_blocks with 1e-6
    (diffusers-parity.md item 1). Returns the qualified names of the norms whose eps changed.
    """
    changed = []
    for name, module in model.named_modules():
        if not isinstance(module, SpatioTemporalResBlock):
            continue
        for sub in (
            "spatial_res_block.norm1",
            "spatial_res_block.norm2",
            "temporal_res_block.norm1",
            "temporal_res_block.norm2",
        ):
            norm = module.get_submodule(sub)
            if norm.eps != eps:
                norm.eps = eps
                changed.append(f"{name}.{sub}")
    return changed
