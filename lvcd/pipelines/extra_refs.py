"""Extra references for `LVCDPipeline`: references used together by every frame, routed by masks (issue 15).

The primary reference stays in-sequence exactly as in the official code. References 2..K are a *side batch* of
reference-path-only frames: each is one frame (position id 0, `[K-1, 1, ...]`: its own video of one frame, so nothing
mixes it with the window), conditioned like the window's reference frame (its own reference latent as concat, its own
lineart as ControlNet hint, the shot's CLIP embedding and time ids), sampled at the same sigma as the window at every
step from its own noise (drawn from a generator derived from the shot seed; the shot's generator is not consumed).
Before each window step the side batch runs through the ControlNet and the UNet with the routing in capture mode, so
every one of the 23 Reference Attention layers keeps its keys/values; the window call then attends to them as extra
key blocks (`lvcd.models.routing`).

Target masks (which pixels of each frame may take a reference's colours) and source masks (which part of a reference
image to use) are area-pooled to the latent grid once per shot, on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor

from ..models.routing import ReferenceRouting
from ..sampling import get_scalings, noise_scale

_SEED_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: side-batch seeds far from the shot seed's neighbours


@dataclass
class ExtraReference:
    """One extra reference of a shot.

    `image`: the coloured reference, same size as the sketches (a [1, 3, H, W] / [3, H, W] tensor in [-1, 1], or a
    PIL image / uint8 array). `sketch`: its lineart (a tensor in the model convention, white lines on black in [0, 1],
    or a PIL image / uint8 array with dark lines on light); the ControlNet needs one for every frame it sees.
    `mask`: optional [H, W] source mask, the part of `image` to use. `target_mask`: optional [H, W] or
    [num_frames, H, W] mask, the pixels of each frame that may take this reference's colours (soft values allowed).
    """

    image: object
    sketch: object
    mask: object | None = None
    target_mask: object | None = None


def _mask_tensor(mask, what: str) -> torch.Tensor:
    if isinstance(mask, PIL.Image.Image):
        mask = np.asarray(mask.convert("L"))
    m = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask)
    if m.dtype == torch.bool:
        return m.float()
    if m.dtype == torch.uint8:
        return m.float() / 255.0
    if not torch.is_floating_point(m):
        raise TypeError(f"{what}: masks must be boolean, uint8 (0-255) or float in [0, 1], got {m.dtype}.")
    m = m.float()
    if float(m.min()) < 0 or float(m.max()) > 1:
        raise ValueError(f"{what}: float mask values must lie in [0, 1].")
    return m


def pool_mask(mask, size: tuple[int, int], latent: tuple[int, int], what: str, frames: int | None = None):
    """A [H, W] or [F, H, W] mask at the frame size `size` -> float [F|1, h, w] at the `latent` grid (area mean)."""
    m = _mask_tensor(mask, what)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"{what}: expected [H, W] or [frames, H, W], got shape {tuple(m.shape)}.")
    if tuple(m.shape[-2:]) not in (tuple(size), tuple(latent)):
        raise ValueError(
            f"{what} is {tuple(m.shape[-2:])} (H, W); it must match the frames {tuple(size)} or the latent grid "
            f"{tuple(latent)}."
        )
    if frames is not None and m.shape[0] not in (1, frames):
        raise ValueError(f"{what} has {m.shape[0]} frames; the shot has {frames} (or give one [H, W] mask).")
    if tuple(m.shape[-2:]) != tuple(latent):
        m = F.adaptive_avg_pool2d(m[:, None], latent)[:, 0]
    return m.contiguous()


def side_generator(generator: torch.Generator | None, index: int) -> torch.Generator | None:
    """The generator of extra reference `index` (0-based), derived from the shot generator's seed (not consumed)."""
    if generator is None:
        return None
    seed = (int(generator.initial_seed()) ^ _SEED_MIX) + 7919 * (index + 1)
    return torch.Generator(device="cpu").manual_seed(seed % (1 << 63))


class SideBatch:
    """The extra references of one shot, prepared for sampling (latents, hints, noise, pooled masks)."""

    def __init__(
        self,
        pipe,
        refs: Sequence[ExtraReference],
        size: tuple[int, int],
        num_frames: int,
        generator: torch.Generator | None,
        device,
        reference_target_mask=None,
    ):
        f = pipe.vae_scale_factor
        self.latent = (size[0] // f, size[1] // f)
        self.num_frames = num_frames
        self.count = len(refs)
        self.primary_target = None
        if reference_target_mask is not None:
            self.primary_target = pool_mask(
                reference_target_mask, size, self.latent, "`reference_target_mask`", num_frames
            )
        if not refs and self.primary_target is None:
            raise ValueError("SideBatch needs an extra reference or a target mask for the reference.")
        concat_first, first_mean, hints, noise = [], [], [], []
        self.target_masks: list[torch.Tensor | None] = []
        self.source_masks: list[torch.Tensor | None] = []
        for j, ref in enumerate(refs):
            name = f"extra reference {j + 2}"
            image = ref.image
            if torch.is_tensor(image) and image.dim() == 3:
                image = image[None]
            try:
                x = pipe.preprocess_reference(image, size, device, torch.float32)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
            c0, mean = pipe.encode_reference(x, None)  # no generator: the first-stage posterior mean
            concat_first.append(c0)
            first_mean.append(mean)
            sketch = ref.sketch
            if sketch is None:
                raise ValueError(f"{name} has no lineart (`sketch`): the ControlNet needs one for every frame.")
            if torch.is_tensor(sketch):
                sk = pipe.preprocess_sketches(sketch[None] if sketch.dim() == 3 else sketch, device, torch.float32)
            else:
                sk = pipe.preprocess_sketches([sketch], device, torch.float32)
            if tuple(sk.shape[-2:]) != tuple(size):
                raise ValueError(f"{name}: lineart is {tuple(sk.shape[-2:])} (H, W), the frames are {tuple(size)}.")
            hints.append(sk[:1].expand(-1, 3, -1, -1))
            shape = (1, pipe.unet.config.out_channels, *self.latent)
            noise.append(
                randn_tensor(
                    shape, generator=side_generator(generator, j), device=torch.device("cpu"), dtype=torch.float32
                )
            )
            if ref.mask is not None:
                self.source_masks.append(pool_mask(ref.mask, size, self.latent, f"{name} `mask`")[0])
            else:
                self.source_masks.append(None)
            if ref.target_mask is not None:
                target = pool_mask(ref.target_mask, size, self.latent, f"{name} `target_mask`", num_frames)
                self.target_masks.append(target)
            else:
                self.target_masks.append(None)
        self.x: torch.Tensor | None = None
        if not refs:  # only the primary reference is masked: nothing to sample on the side
            return
        self.concat_first = torch.cat(concat_first).to(device)  # [K-1, 4, h, w], unscaled
        self.first_mean = torch.cat(first_mean).to(device)
        self.hint = torch.stack(hints).to(device=device, dtype=pipe.unet.dtype)  # [K-1, 1, 3, H, W]
        self.noise = torch.cat(noise).to(device)  # [K-1, 4, h, w] unit noise

    def routing(self, video: Sequence[int]) -> ReferenceRouting:
        """The routing of one window whose video-path positions show source frames `video`."""
        idx = [min(max(int(i), 0), self.num_frames - 1) for i in video]
        targets = [
            None if m is None else (m[0] if m.shape[0] == 1 else m[idx])
            for m in [self.primary_target, *self.target_masks]
        ]
        return ReferenceRouting(
            self.count, target_masks=targets, source_masks=self.source_masks, latent_size=self.latent
        )

    def concat(self, segment_index: int) -> torch.Tensor:
        """Concat latents of the side frames, chosen as the window's reference frame's (official quirk)."""
        return self.concat_first if segment_index == 0 else self.first_mean

    def begin(self, sigmas: torch.Tensor, scale: torch.Tensor | float) -> None:
        """Start a window: the side frames' state is their own unit noise at the first sigma."""
        self.sigmas = sigmas
        if not self.count:
            return
        self.x = self.noise * scale

    def advance(self, i: int, denoise) -> None:
        """Capture step i (`denoise(x, sigma)` runs the models on the side frames and returns D) and take the same
        Euler step as the window."""
        sigma = self.sigmas[i]
        d = denoise(self.x, sigma)
        self.x = self.x + (self.sigmas[i + 1] - sigma) * (self.x - d) / sigma


def side_denoise(
    pipe, x: torch.Tensor, sigma: torch.Tensor, concat: torch.Tensor, hint: torch.Tensor, cond
) -> torch.Tensor:
    """D(x; sigma) for the side batch: [K-1, 4, h, w], each frame its own one-frame video (position id 0, the
    reference path's self-attention), with the window's CLIP embedding and time ids."""
    dtype = pipe.unet.dtype
    k = x.shape[0]
    c_skip, c_out, c_in, c_noise = get_scalings(sigma)
    x_in = torch.cat([x * c_in, concat], dim=1)[:, None].to(dtype)  # [K-1, 4+4, h, w] -> [K-1, 1, 8, h, w]
    t = c_noise.reshape(1).to(x.device).expand(k)
    ehs = cond.image_embeddings.to(dtype).expand(k, -1, -1)  # [1, 1, C] -> [K-1, 1, C]
    ids = cond.added_time_ids.to(dtype).expand(k, -1)
    down, mid = pipe.controlnet(x_in, t, ehs, ids, controlnet_cond=hint, return_dict=False)
    out = pipe.unet(
        x_in,
        t,
        ehs,
        ids,
        down_block_additional_residuals=down,
        mid_block_additional_residual=mid,
        return_dict=False,
    )[0]
    return out[:, 0].float() * c_out + x * c_skip  # [K-1, 1, 4, h, w] -> [K-1, 4, h, w]


def attach_side_batch(pipe, cond, extra_references, reference_target_mask, num_frames: int, generator) -> None:
    """`LVCDPipeline.stream`'s hook: prepare the side batch into `cond.extra["side"]` (nothing for K = 1 unmasked,
    so that render stays exactly the one-reference pipeline)."""
    if not extra_references and reference_target_mask is None:
        return
    f = pipe.vae_scale_factor
    h, w = cond.concat_first.shape[-2:]
    cond.extra["side"] = SideBatch(
        pipe,
        list(extra_references or []),
        (h * f, w * f),
        num_frames,
        generator,
        pipe._execution_device,
        reference_target_mask,
    )


def with_side_batch(pipe, cond, seg, sigmas: torch.Tensor, denoiser):
    """`LVCDPipeline.iter_segments`' hook: the window's `denoiser(x, sigma, i)` with the routing of window `seg`
    installed and, before each step, the side batch's step run in capture mode (every reference-attention layer
    keeps its keys/values). `denoiser` itself when the render has no side batch."""
    side = cond.extra.get("side")
    if side is None:
        return denoiser
    routing = side.routing(seg.video)
    concat = side.concat(seg.index) if side.count else None

    def routed(x, sigma, i):
        if i == 0:  # a window starts: the side frames start again from their own noise
            side.begin(sigmas, noise_scale(sigmas))
        with pipe.reference_attention.route(routing):
            if side.count:
                with routing.capture():
                    side.advance(i, lambda xs, s: side_denoise(pipe, xs, s, concat, side.hint, cond))
            return denoiser(x, sigma, i)

    return routed
