"""LVCDPipeline: lineart video colorization with Stable Video Diffusion, a sketch video ControlNet and
(Prev-)Reference Attention (Huang, Zhang, Liao, SIGGRAPH Asia 2024), long videos sampled as overlapping segments.

This is the one place where models, sampling and images meet. It reproduces the official inference code (the code
that produced the released weights; see docs/lvcd-reference.md in the shared docs): 19-frame windows (reference +
4 prev-reference + 14 video frames), noise recycling, Overlapped Blending of the denoised estimate at every step,
prev-reference concat latents, no classifier-free guidance, fps_id 6 / motion bucket 160 / cond_aug 0 passed raw,
chunked temporal VAE decoding with the reference latent prepended.

Deliberately not here: file IO, lineart extraction, resizing to the model resolution (see `lvcd.api`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKLTemporalDecoder, DiffusionPipeline, EulerDiscreteScheduler
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from ..models import (
    LVCDControlNetModel,
    LVCDUNetModel,
    ReferenceAttentionState,
    install_lvcd_processors,
    missing_lvcd_processors,
)
from ..sampling import (
    SegmentConfig,
    edm_sigmas,
    get_scalings,
    noise_scale,
    plan_decode_chunks,
    plan_segments,
    recycle_noise,
    sample_euler,
)
from .extra_refs import ExtraReference, SideBatch

# OpenCLIP / CLIP normalisation, used when no feature extractor config is loaded.
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


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


class LVCDPipeline(DiffusionPipeline):
    r"""Colorize a lineart sequence from one coloured reference frame (frame 0 of the sequence).

    Components: `vae` ([`AutoencoderKLTemporalDecoder`]), `unet` ([`LVCDUNetModel`]), `controlnet`
    ([`LVCDControlNetModel`]), `scheduler` ([`EulerDiscreteScheduler`], the source of sigma_min / sigma_max; the
    segment loop runs the functional Euler sampler over one explicit sigma tensor), and the optional
    `image_encoder` ([`~transformers.CLIPVisionModelWithProjection`]) / `feature_extractor`, not needed when
    `image_embeddings` are passed.
    """

    model_cpu_offload_seq = "image_encoder->vae->controlnet->unet"
    _optional_components = ["image_encoder", "feature_extractor"]
    _callback_tensor_inputs = ["latents", "denoised"]

    def __init__(
        self,
        vae: AutoencoderKLTemporalDecoder,
        unet: LVCDUNetModel,
        controlnet: LVCDControlNetModel,
        scheduler: EulerDiscreteScheduler,
        image_encoder=None,
        feature_extractor=None,
    ):
        super().__init__()
        self.register_modules(
            vae=vae,
            unet=unet,
            controlnet=controlnet,
            scheduler=scheduler,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
        )
        # One state object shared by every reference-attention processor of both networks; the segment loop switches
        # its mode. The +ln(10) prev-reference bias is off in the UNet's highest-resolution decoder level only.
        self.reference_attention = ReferenceAttentionState()
        self.install_lvcd_processors()
        self.conditioning = LVCDConditioning()

    # ------------------------------------------------------------------------------------------------ attention
    def install_lvcd_processors(self) -> None:
        """(Re)install LVCD's attention processors on the spatial and temporal `attn1` layers of both networks, all
        sharing `self.reference_attention`; other layers keep theirs."""
        install_lvcd_processors(self.unet, self.reference_attention, bias_excluded=("up_blocks.3.",))
        install_lvcd_processors(self.controlnet, self.reference_attention, bias_excluded=())

    def enable_xformers_memory_efficient_attention(self, attention_op=None) -> None:
        """xformers for the attention layers LVCD leaves as in SVD (cross-attention, the VAE's). LVCD's own `attn1`
        processors stay: they call SDPA, which picks the flash / memory-efficient kernels on CUDA by itself.
        (diffusers' version would put xformers processors on every layer and silently drop Reference Attention.)"""
        super().enable_xformers_memory_efficient_attention(attention_op)
        self.install_lvcd_processors()

    def disable_xformers_memory_efficient_attention(self) -> None:
        super().disable_xformers_memory_efficient_attention()
        self.install_lvcd_processors()

    def _check_processors(self) -> None:
        missing = missing_lvcd_processors(self.unet) + missing_lvcd_processors(self.controlnet)
        if missing:
            raise RuntimeError(
                f"{len(missing)} attention layers lost their LVCD processors (e.g. {missing[0]}), so Reference "
                "Attention would be silently off: something replaced them (set_attn_processor, "
                "set_default_attn_processor, diffusers' xformers switch on a model). Call "
                "pipe.install_lvcd_processors() to put them back."
            )

    # ------------------------------------------------------------------------------------------------ properties
    def segment_config(self, overlap: int = 4) -> SegmentConfig:
        """Window layout: 1 reference + `overlap` prev-reference frames + the UNet's video frames (14 for SVD)."""
        return SegmentConfig(video_frames=self.unet.config.num_frames, overlap=overlap)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    # ------------------------------------------------------------------------------------------------ 1. inputs
    def check_inputs(self, sketches, reference, image_embeddings, num_inference_steps: int, overlap: int):
        if sketches is None or (hasattr(sketches, "__len__") and len(sketches) == 0):
            raise ValueError(
                "`sketches` is empty: pass at least one lineart frame (frame 0 is the one `reference` colours)."
            )
        if reference is None:
            raise ValueError("`reference` is required: the coloured version of the first sketch frame.")
        if image_embeddings is None and self.image_encoder is None:
            raise ValueError(
                "This pipeline has no `image_encoder`; pass `image_embeddings` ([1, 1, C] CLIP image embedding of the"
                " reference) or load a pipeline converted from a checkpoint that contains the CLIP image tower."
            )
        if num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be >= 1 (got {num_inference_steps}); the model uses 25.")
        self.segment_config(overlap)  # validates overlap

    # ------------------------------------------------------------------------------------------------ 2. images
    def preprocess_sketches(self, sketches, device, dtype) -> torch.Tensor:
        """-> [N, 3, H, W] white lines on black in [0, 1]. Tensors are taken as already in that convention; PIL images
        and uint8 arrays are taken as dark lines on a light background (the usual lineart file) and inverted."""
        if isinstance(sketches, torch.Tensor):
            x = sketches
            if x.dim() == 5:  # [1, N, 3, H, W] -> [N, 3, H, W]
                x = x[0]
            if x.dim() != 4:
                raise ValueError(f"`sketches` tensor must be [N, 3, H, W] (got shape {tuple(x.shape)}).")
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
        else:
            frames = [self._to_float_rgb(s, "sketches") for s in sketches]
            x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # [N, H, W, 3] -> [N, 3, H, W]
            x = 1.0 - x
        return x.to(device=device, dtype=dtype)

    def preprocess_reference(self, reference, size: tuple[int, int], device, dtype) -> torch.Tensor:
        """-> [1, 3, H, W] in [-1, 1]. Tensors are taken as already in [-1, 1]."""
        if isinstance(reference, torch.Tensor):
            x = reference if reference.dim() == 4 else reference[None]
        else:
            arr = self._to_float_rgb(reference, "reference")
            x = torch.from_numpy(arr).permute(2, 0, 1)[None] * 2.0 - 1.0  # [H, W, 3] -> [1, 3, H, W]
        if tuple(x.shape[-2:]) != tuple(size):
            raise ValueError(
                f"`reference` is {tuple(x.shape[-2:])} (H, W) but the sketches are {tuple(size)}; resize the reference"
                " to the sketch size (lvcd.colorize_video does this for you)."
            )
        return x.to(device=device, dtype=dtype)

    @staticmethod
    def _to_float_rgb(image, name: str) -> np.ndarray:
        if isinstance(image, PIL.Image.Image):
            image = np.asarray(image.convert("RGB"))
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
            raise ValueError(f"`{name}` images must be HxW, HxWx3 or HxWx4 (got shape {arr.shape}).")
        arr = arr[..., :3]
        if arr.dtype == np.uint8:
            return arr.astype(np.float32) / 255.0
        return arr.astype(np.float32)

    # ------------------------------------------------------------------------------------------------ 3. conditions
    def encode_image(self, reference: torch.Tensor, device) -> torch.Tensor:
        """CLIP image embedding of the reference, as diffusers' SVD `_encode_image` / sgm's OpenCLIP embedder."""
        dtype = next(self.image_encoder.parameters()).dtype
        image = _resize_with_antialiasing(reference.float(), (224, 224))
        image = (image + 1.0) / 2.0
        fe = self.feature_extractor
        mean = torch.tensor(getattr(fe, "image_mean", None) or _CLIP_MEAN, device=image.device).view(1, 3, 1, 1)
        std = torch.tensor(getattr(fe, "image_std", None) or _CLIP_STD, device=image.device).view(1, 3, 1, 1)
        image = ((image - mean) / std).to(device=device, dtype=dtype)
        return self.image_encoder(image).image_embeds.unsqueeze(1)  # [1, C] -> [1, 1, C]

    def encode_reference(self, reference: torch.Tensor, generator: torch.Generator | None):
        """Reference latents, unscaled. Segment 0 uses the conditioner's path (encoder + quant_conv, posterior mode);
        later segments use the first-stage path (encoder without quant_conv, posterior sample drawn from
        `generator` right after the first-segment noise, as the official code draws it; its mean without one)."""
        vae = self.vae
        x = reference.to(dtype=vae.dtype)
        h = vae.encoder(x)
        concat_first = DiagonalGaussianDistribution(vae.quant_conv(h)).mode()
        posterior = DiagonalGaussianDistribution(h)
        if generator is not None:
            eps = randn_tensor(posterior.mean.shape, generator=generator, device=torch.device("cpu"),
                               dtype=torch.float32)
            first_cond = posterior.mean + posterior.std * eps.to(posterior.mean.device, posterior.mean.dtype)
        else:
            first_cond = posterior.mean
        return concat_first.float(), first_cond.float()

    def _added_time_ids(self, device) -> torch.Tensor:
        c = self.conditioning
        return torch.tensor([[c.fps_id, c.motion_bucket_id, c.cond_aug]], device=device, dtype=torch.float32)

    # ------------------------------------------------------------------------------------------------ 4. denoiser
    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor, concat: torch.Tensor, hint: torch.Tensor,
                 cond: _Conditions) -> torch.Tensor:
        """D(x; sigma) for one 19-frame window: [T, 4, h, w] fp32 -> [T, 4, h, w] fp32."""
        dtype = self.unet.dtype
        c_skip, c_out, c_in, c_noise = get_scalings(sigma)
        x_in = torch.cat([x * c_in, concat], dim=1)[None].to(dtype)  # [T, 8, h, w] -> [1, T, 8, h, w]
        t = c_noise.reshape(1).to(x.device)
        ehs = cond.image_embeddings.to(dtype)
        ids = cond.added_time_ids.to(dtype)
        down, mid = self.controlnet(x_in, t, ehs, ids, controlnet_cond=hint, return_dict=False)
        out = self.unet(
            x_in, t, ehs, ids, down_block_additional_residuals=down, mid_block_additional_residual=mid,
            return_dict=False,
        )[0]
        return out[0].float() * c_out + x * c_skip

    def _denoise_side(self, x: torch.Tensor, sigma: torch.Tensor, concat: torch.Tensor, hint: torch.Tensor,
                      cond: _Conditions) -> torch.Tensor:
        """D(x; sigma) for the side batch of extra references: [K-1, 4, h, w], each frame its own one-frame video
        (position id 0, reference-path only), with the window's CLIP embedding and time ids."""
        dtype = self.unet.dtype
        k = x.shape[0]
        c_skip, c_out, c_in, c_noise = get_scalings(sigma)
        x_in = torch.cat([x * c_in, concat], dim=1)[:, None].to(dtype)  # [K-1, 1, 8, h, w]
        t = c_noise.reshape(1).to(x.device).expand(k)
        ehs = cond.image_embeddings.to(dtype).expand(k, -1, -1)
        ids = cond.added_time_ids.to(dtype).expand(k, -1)
        down, mid = self.controlnet(x_in, t, ehs, ids, controlnet_cond=hint, return_dict=False)
        out = self.unet(
            x_in, t, ehs, ids, down_block_additional_residuals=down, mid_block_additional_residual=mid,
            return_dict=False,
        )[0]
        return out[:, 0].float() * c_out + x * c_skip

    # ------------------------------------------------------------------------------------------------ 5. segments
    @torch.no_grad()
    def iter_segments(
        self,
        sketch_fn: Callable[[list[int]], torch.Tensor],
        num_frames: int,
        cond: _Conditions,
        noise: torch.Tensor,
        num_inference_steps: int = 25,
        overlap: int = 4,
        resume: SegmentCarry | None = None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        progress: bool = True,
    ) -> Iterator[SegmentResult]:
        """Sample the windows of a `num_frames`-frame clip one by one, yielding each window's new final latents.

        `sketch_fn(indices)` returns the sketches of those source frames as [len, 3, H, W] in the model convention (or
        [len, 1, H, W], repeated to 3 channels on the device: a third of the copying), so a caller can stream frames
        from disk; `noise` is the first window's unit noise [T, 4, h, w]. Only one window,
        its overlap and the per-step denoised estimates of the overlap frames are held.
        """
        self._check_processors()
        cfg = self.segment_config(overlap)
        segments = plan_segments(num_frames, cfg)
        device = self._execution_device
        sigma_min = float(getattr(self.scheduler.config, "sigma_min", 0.002) or 0.002)
        sigma_max = float(getattr(self.scheduler.config, "sigma_max", 700.0) or 700.0)
        sigmas = edm_sigmas(num_inference_steps, sigma_min, sigma_max).to(device)
        r, ov = cfg.reference_frames, cfg.overlap
        steps_blend = self.conditioning.blend_steps
        steps_prev = self.conditioning.prev_attn_steps
        first = resume.next_segment if resume is not None else 0
        x_t = (resume.noise if resume is not None else noise).to(device=device, dtype=torch.float32)
        prev_tail = resume.prev_tail.to(device) if resume is not None else None
        prev_d = resume.prev_denoised.to(device) if resume is not None else None
        sf = self.vae.config.scaling_factor
        if not segments:  # a single frame is the reference itself: its encoded latent, no window to sample
            yield SegmentResult(0, 0, cond.first_cond * sf, None)
            return
        todo = segments[first:]
        bar = self.progress_bar(total=len(todo) * num_inference_steps) if progress else None
        for seg in todo:
            hint = sketch_fn(seg.hint_indices).to(device=device, dtype=self.unet.dtype)  # [T, 1 or 3, H, W]
            hint = hint.expand(-1, 3, -1, -1).contiguous()[None]  # one channel repeated on the device: [1, T, 3, H, W]
            if seg.index == 0:
                concat = cond.concat_first.expand(cfg.window, -1, -1, -1)
            else:  # [ref, prev-ref final latents (unscaled), ref x video frames]
                concat = torch.cat(
                    [cond.first_cond, prev_tail / sf, cond.first_cond.expand(cfg.video_frames, -1, -1, -1)], dim=0
                )
            concat = concat.to(device=device, dtype=torch.float32)
            history = []  # D of the last `overlap` frames at every step, for the next window's blending
            side = cond.extra.get("side")  # extra references (a SideBatch), routed by masks
            routing = side.routing(seg.video) if side is not None else None
            if side is not None:
                side.begin(sigmas, noise_scale(sigmas))

            def denoiser(x, sigma, i, seg=seg, concat=concat, hint=hint, side=side, routing=routing):
                mode = seg.mode if (seg.mode == "normal" or steps_prev is None or i < steps_prev) else "normal"
                with self.reference_attention.use(mode, overlap=ov), self.reference_attention.route(routing):
                    if side is not None and side.count:  # the side batch first: every layer keeps its K/V
                        side_concat = side.concat(seg.index)
                        with routing.capture():
                            side.advance(i, lambda xs, s: self._denoise_side(xs, s, side_concat, side.hint, cond))
                    return self._denoise(x, sigma, concat, hint, cond)

            def blend(i, d, seg=seg, prev_d=prev_d, history=history):
                history.append(d[d.shape[0] - ov :].clone())
                if seg.index == 0 or ov == 0 or (steps_blend is not None and i >= steps_blend):
                    return d
                d = d.clone()
                d[r : r + ov] = prev_d[i]  # Overlapped Blending: overlap frames follow the previous window
                return d

            def on_step(info, seg=seg):
                if bar is not None:
                    bar.update()
                if callback_on_step_end is not None:
                    tensors = {"latents": info["x"], "denoised": info["denoised"]}
                    kwargs = {k: tensors[k] for k in callback_on_step_end_tensor_inputs if k in tensors}
                    step = seg.index * num_inference_steps + info["i"]
                    out = callback_on_step_end(self, step, info["sigma"], kwargs) or {}
                    if "latents" in out and out["latents"] is not info["x"]:
                        info["x"].copy_(out["latents"])

            x = x_t * noise_scale(sigmas)
            x0 = sample_euler(denoiser, x, sigmas, blend=blend, callback=on_step, disable=True)
            if routing is not None:
                routing.clear()
            if not bool(torch.isfinite(x0).all()):  # one device sync per window, not per step
                if bar is not None:
                    bar.close()
                raise NonFiniteLatentsError(self._non_finite_message(seg, num_frames))
            if seg.index == 0:
                new = torch.cat([cond.first_cond * sf, x0[r:]], dim=0)  # frame 0 = the encoded reference
                first_frame = 0
            else:
                new = x0[r + ov :]
                first_frame = seg.emit_start
            n_real = seg.emit_stop - first_frame
            new = new[: max(n_real, 0)]
            prev_tail, prev_d = x0[x0.shape[0] - ov :], torch.stack(history) if ov else None
            x_t = recycle_noise(x_t, cfg)
            carry = None
            if seg is not segments[-1]:
                carry = SegmentCarry(seg.index + 1, x_t.cpu(), prev_tail.cpu(),
                                     prev_d.cpu() if prev_d is not None else torch.empty(0))
            yield SegmentResult(seg.index, first_frame, new, carry)
        if bar is not None:
            bar.close()

    def _non_finite_message(self, seg, num_frames: int) -> str:
        dtype = self.unet.dtype
        first, last = seg.video[0], min(seg.video[-1], num_frames - 1)
        msg = (
            f"window {seg.index} (source frames {first}-{last} of {num_frames}) produced non-finite latents"
            f" (NaN/inf) with the UNet in {str(dtype).replace('torch.', '')}. "
        )
        if dtype != torch.float16:
            msg += "The UNet is not in float16, so check the weights and inputs; note that "
        return msg + "float16 overflows in this model; use --dtype bf16 (the CUDA default) or fp32."

    # ------------------------------------------------------------------------------------------------ 6. decoding
    @torch.no_grad()
    def decode_latents_stream(self, latents: Iterable[torch.Tensor], num_frames: int, chunk: int | None = None,
                              overlap: int | None = None, as_uint8: bool = False) -> Iterator[torch.Tensor]:
        """Official chunked temporal decoding (reference latent prepended, 3 frames overlap) over a stream of final
        latents [n, 4, h, w] in frame order; yields decoded frames in order, on the CPU: float [m, 3, H, W] in [0, 1],
        or with `as_uint8` uint8 [m, H, W, 3] rounded on the device (4x less to copy back; the same values as
        rounding the float output on the CPU). `chunk` / `overlap` default to `self.conditioning`'s (10 / 3)."""
        c = self.conditioning
        chunk = c.decode_chunk if chunk is None else chunk
        overlap = c.decode_overlap if overlap is None else overlap
        chunks = plan_decode_chunks(num_frames, chunk, overlap, anchor=1)
        buf: dict[int, torch.Tensor] = {}  # latents not yet decoded (plus the anchor, index 0)
        have = 0
        it = iter(latents)
        for k, ch in enumerate(chunks):
            while have <= max(ch.latent_indices):
                block = next(it)
                for j in range(block.shape[0]):
                    buf[have] = block[j]
                    have += 1
            lat = torch.stack([buf[i] for i in ch.latent_indices])  # [len, 4, h, w]
            frames = self._decode(lat)[ch.keep_from :]  # [m, 3, H, W] in [0, 1], on the execution device
            if as_uint8:
                frames = (frames * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1)  # [m, 3, H, W] -> [m, H, W, 3]
            yield frames.cpu()
            keep_from = min(chunks[k + 1].latent_indices[1:]) if k + 1 < len(chunks) else have
            for i in [i for i in buf if 0 < i < keep_from]:
                del buf[i]

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Temporal VAE decode of [n, 4, h, w] scaled latents -> float32 [n, 3, H, W] in [0, 1] on the device."""
        vae = self.vae
        needs_upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        dtype = torch.float32 if needs_upcast else vae.dtype
        if needs_upcast:
            vae.to(torch.float32)
        z = (latents / vae.config.scaling_factor).to(device=self._execution_device, dtype=dtype)
        frames = vae.decode(z, num_frames=z.shape[0]).sample.float()
        if needs_upcast:
            vae.to(torch.float16)
        return (frames.clamp(-1, 1) + 1.0) / 2.0  # official clamp to [-1, 1], then (x + 1) / 2

    # ------------------------------------------------------------------------------------------------ conditions
    def prepare_conditions(self, reference: torch.Tensor, image_embeddings: torch.Tensor | None,
                           generator: torch.Generator | None) -> _Conditions:
        device = self._execution_device
        if image_embeddings is None:
            image_embeddings = self.encode_image(reference, device)
        image_embeddings = image_embeddings.to(device)
        if image_embeddings.dim() == 2:
            image_embeddings = image_embeddings[:, None]  # [1, C] -> [1, 1, C]
        concat_first, first_cond = self.encode_reference(reference, generator)
        return _Conditions(image_embeddings, self._added_time_ids(device), concat_first, first_cond)

    def prepare_noise(self, latents: torch.Tensor | None, h: int, w: int, generator, overlap: int = 4) -> torch.Tensor:
        """First window's unit noise [T, 4, h, w], drawn on the CPU like the official `torch.randn(19, 4, h, w)`."""
        shape = (self.segment_config(overlap).window, self.unet.config.out_channels, h, w)
        if latents is None:
            return randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32)
        latents = latents[0] if latents.dim() == 5 else latents
        if tuple(latents.shape) != shape:
            raise ValueError(
                f"`latents` must be the first window's noise of shape {shape} (got {tuple(latents.shape)})."
            )
        return latents.float()

    # ------------------------------------------------------------------------------------------------ __call__
    @torch.no_grad()
    def __call__(
        self,
        sketches: torch.Tensor | Sequence[PIL.Image.Image] | Sequence[np.ndarray],
        reference: torch.Tensor | PIL.Image.Image | np.ndarray,
        image_embeddings: torch.Tensor | None = None,
        latents: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        num_inference_steps: int = 25,
        overlap: int = 4,
        output_type: str = "pil",
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        return_dict: bool = True,
        extra_references: Sequence[ExtraReference] | None = None,
        reference_target_mask=None,
    ) -> LVCDPipelineOutput | tuple:
        r"""Colorize `sketches` (N frames) so that frame 0 matches `reference`.

        Args:
            sketches: [N, 3, H, W] tensor, white lines on black in [0, 1] (model convention), or a list of PIL
                images / uint8 arrays with dark lines on a light background. H and W must be multiples of 64.
            reference: the coloured frame 0: a [1, 3, H, W] tensor in [-1, 1], or a PIL image / uint8 array.
            image_embeddings: [1, 1, C] CLIP image embedding of the reference; computed with `image_encoder` if None.
            latents: the first window's unit noise [T, 4, H/8, W/8] (T = 19); drawn from `generator` if None.
            generator: a CPU `torch.Generator`; seeded s, it draws the same noise as the official code with seed s.
            num_inference_steps: Euler steps per window (25 as released).
            overlap: frames shared by consecutive windows (4 as released).
            output_type: "pil", "np" ([N, H, W, 3]), "pt" ([N, 3, H, W] in [0, 1]) or "latent" (no decoding).
            callback_on_step_end: `fn(pipe, step, sigma, tensors) -> dict`, called after every step of every window;
                tensors are those named in `callback_on_step_end_tensor_inputs` ("latents", "denoised").
            extra_references: more references used together with `reference` by every frame
                ([`~lvcd.pipelines.extra_refs.ExtraReference`]: image, its lineart, optional source and target
                masks), attended through Reference Attention (see `lvcd.models.routing`); their noise comes from
                generators derived from `generator`'s seed. None or [] is exactly the one-reference pipeline.
            reference_target_mask: optional [H, W] or [N, H, W] mask in [0, 1]: the pixels of each frame that may take
                colours from `reference` (log-mask bias on its key block; 0 excludes it there).
        """
        # 1. Check inputs
        self.check_inputs(sketches, reference, image_embeddings, num_inference_steps, overlap)
        device = self._execution_device
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"`output_type` must be 'pil', 'np', 'pt' or 'latent' (got {output_type!r}).")

        # 2. Preprocess images
        sk = self.preprocess_sketches(sketches, torch.device("cpu"), torch.float32)
        n, _, H, W = sk.shape
        f = self.vae_scale_factor
        if H % (8 * f) or W % (8 * f):
            raise ValueError(
                f"sketch size {W}x{H} must be a multiple of {8 * f} pixels in both directions (the UNet halves the"
                f" {f}x smaller latent three times); resize or pad first (lvcd.colorize_video does this for you)."
            )
        ref = self.preprocess_reference(reference, (H, W), device, torch.float32)

        # 3. Noise first (the official RNG order: x_T, then the reference posterior sample)
        noise = self.prepare_noise(latents, H // f, W // f, generator, overlap)

        # 4. Conditioning: CLIP embedding, added time ids, reference latents
        cond = self.prepare_conditions(ref, image_embeddings, generator)
        if extra_references or reference_target_mask is not None:
            cond.extra["side"] = SideBatch(self, list(extra_references or []), (H, W), n, generator, device,
                                           reference_target_mask)

        # 5.-7. Segment loop (denoising with blending and prev-reference attention)
        parts = []
        for res in self.iter_segments(
            lambda idx: sk[idx], n, cond, noise, num_inference_steps, overlap,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
        ):
            parts.append(res.latents)
        all_latents = torch.cat(parts, dim=0).float()

        # 8. Decode
        if output_type == "latent":
            frames = None
        else:
            frames = torch.cat(list(self.decode_latents_stream([all_latents], n)), dim=0)
            if output_type == "np":
                frames = frames.permute(0, 2, 3, 1).numpy()
            elif output_type == "pil":
                arr = (frames.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
                frames = [PIL.Image.fromarray(a) for a in arr]

        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames, all_latents)
        return LVCDPipelineOutput(frames=frames, latents=all_latents)
