"""The values that travel through `LVCDPipeline`: the released conditioning constants, the output, the carry between
windows (what a checkpoint holds), one window's result, the prepared conditions, and the one-pass sketch window."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import PIL.Image
import torch
from diffusers.utils import BaseOutput

from ..errors import LVCDError


@dataclass
class LVCDConditioning:
    """Constants of the released model (lvcd-reference.md §3.1), passed to the UNet as added time ids."""

    fps_id: int = 6  # raw id used in training and in the official notebook (no "fps - 1" as in diffusers' SVD)
    motion_bucket_id: int = 160  # official notebook / training value
    cond_aug: float = 0.0  # the released model was trained with cond_aug off; non-zero only shifts the ids
    decode_chunk: int = 10  # official `decoding_t`: latents per temporal-decoder call (anchor included)
    decode_overlap: int = 3  # official `decoding_olap`: frames shared by consecutive decoder calls
    blend_steps: int | None = None  # steps with Overlapped Blending; None = all (official: 25 of 25)
    prev_attn_steps: int | None = None  # steps with prev-reference attention; None = all (official: 25 of 25)


@dataclass
class LVCDPipelineOutput(BaseOutput):
    """`frames`: list of PIL images, np.ndarray [N, H, W, 3] or torch.Tensor [N, 3, H, W] in [0, 1];
    `latents`: [N, 4, h, w] final latents in the diffusion (scaled) space, row 0 = the encoded reference."""

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor | None
    latents: torch.Tensor


@dataclass
class SegmentCarry:
    """Everything segment n+1 needs from segment n (lvcd-reference.md §10). Saving it after each segment lets an
    interrupted render resume and produce the same bytes as an uninterrupted one."""

    next_segment: int
    noise: torch.Tensor  # [T, 4, h, w] unit noise of the next segment (already recycled)
    prev_tail: torch.Tensor  # [overlap, 4, h, w] final latents of the previous segment's last frames (scaled)
    prev_denoised: torch.Tensor  # [steps, overlap, 4, h, w] previous segment's D of those frames at every step

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "next_segment": torch.tensor(self.next_segment),
            "noise": self.noise,
            "prev_tail": self.prev_tail,
            "prev_denoised": self.prev_denoised,
        }

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> SegmentCarry:
        return cls(int(sd["next_segment"]), sd["noise"], sd["prev_tail"], sd["prev_denoised"])


@dataclass
class SegmentResult:
    segment: int
    first_frame: int  # source index of latents[0]
    latents: torch.Tensor  # [n, 4, h, w] newly emitted final latents (scaled), in order
    carry: SegmentCarry | None  # None after the last segment


class NonFiniteLatentsError(FloatingPointError):
    """A window's final latents contain NaN or inf (typically float16 overflow inside the UNet)."""


@dataclass
class _Conditions:
    image_embeddings: torch.Tensor  # [1, 1, C]
    added_time_ids: torch.Tensor  # [1, 3]
    concat_first: torch.Tensor  # [1, 4, h, w] segment-0 concat latent (posterior mode after quant_conv), unscaled
    first_cond: torch.Tensor  # [1, 4, h, w] later segments' reference latent (first-stage posterior), unscaled
    extra: dict = field(default_factory=dict)


class SketchWindow:
    """`sketch_fn(indices)` over a one-pass stream of prepared sketches: keeps frame 0 and the frames from the lowest
    index asked for on (windows move forward), so at most one window of sketches is held."""

    def __init__(self, prepared: Iterator, num_frames: int):
        self.prepared, self.num_frames = prepared, num_frames
        self.held: dict[int, torch.Tensor] = {}
        self.read = 0

    def __call__(self, indices: list[int]) -> torch.Tensor:
        lowest = min([i for i in indices if i > 0], default=0)
        for k in [k for k in self.held if 0 < k < lowest]:
            del self.held[k]
        while self.read <= max(indices):
            s = next(self.prepared, _END)
            if s is _END:
                raise LVCDError(
                    f"the lineart stream ended after {self.read} frames but {self.num_frames} were announced."
                )
            if self.read == 0 or self.read >= lowest:
                self.held[self.read] = s
            self.read += 1
        return torch.stack([self.held[i] for i in indices])


_END = object()
