"""LVCDPipeline: lineart video colorization with Stable Video Diffusion, a sketch video ControlNet and
(Prev-)Reference Attention (Huang, Zhang, Liao, SIGGRAPH Asia 2024), long videos sampled as overlapping segments.

This is the one place where models, sampling and images meet. It reproduces the official inference code (the code
that produced the released weights; see docs/lvcd-reference.md in the shared docs): 19-frame windows (reference +
4 prev-reference + 14 video frames), noise recycling, Overlapped Blending of the denoised estimate at every step,
prev-reference concat latents, no classifier-free guidance, fps_id 6 / motion bucket 160 / cond_aug 0 passed raw,
chunked temporal VAE decoding with the reference latent prepended.

Deliberately not here: file IO, lineart extraction, resizing to the model resolution (see `lvcd.backends.diffusion`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKLTemporalDecoder, DiffusionPipeline, EulerDiscreteScheduler
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing
from diffusers.utils.torch_utils import randn_tensor
from einops import rearrange, repeat

from ..lineart import detect_polarity, line_strength
from ..models import (
    LVCDControlNetModel,
    LVCDUNetModel,
    ReferenceAttentionState,
    install_lvcd_processors,
    missing_lvcd_processors,
)
from ..prefetch import background
from ..sampling import (
    SegmentConfig,
    edm_sigmas,
    get_scalings,
    noise_scale,
    plan_segments,
    recycle_noise,
    sample_euler,
)
from .decoding import TemporalDecodeMixin
from .extra_refs import attach_side_batch, with_side_batch
from .state import (
    LVCDConditioning,
    LVCDPipelineOutput,
    NonFiniteLatentsError,
    SegmentCarry,
    SegmentResult,
    SketchWindow,
    _Conditions,
)

# OpenCLIP / CLIP normalisation, used when no feature extractor config is loaded.
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class LVCDPipeline(TemporalDecodeMixin, DiffusionPipeline):
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
    def preprocess_sketches(self, sketches, device, dtype, polarity: str = "auto") -> torch.Tensor:
        """-> [N, 3, H, W] white lines on black in [0, 1]. Tensors are taken as already in that convention; PIL images
        and arrays go through `sketch_tensor` (line strength in the given or detected polarity), exactly as
        `lvcd.colorize_frames` prepares them."""
        if isinstance(sketches, torch.Tensor):
            x = sketches
            if x.dim() == 5:  # [1, N, 3, H, W] -> [N, 3, H, W]
                x = rearrange(x, "1 n c h w -> n c h w")
            if x.dim() != 4:
                raise ValueError(f"`sketches` tensor must be [N, 3, H, W] (got shape {tuple(x.shape)}).")
            x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        else:
            frames = [self._as_array(s, "sketches") for s in sketches]
            if polarity == "auto":
                polarity = detect_polarity(frames[0])
            x = torch.stack([self.sketch_tensor(f, polarity) for f in frames]).expand(-1, 3, -1, -1)
        return x.to(device=device, dtype=dtype)

    @staticmethod
    def sketch_tensor(
        frame: np.ndarray, polarity: str, fit: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> torch.Tensor:
        """One lineart frame (any polarity) -> [1, H, W] float32 line strength, lines = 1: the model convention with
        one channel (the segment loop repeats it to 3 on the device). `fit` maps the [h, w] strength at the source
        size to the model size (lvcd's letterbox); without it the frame must already be at the model size."""
        strength = line_strength(frame, polarity).astype(np.float32)
        return rearrange(torch.from_numpy(fit(strength) if fit is not None else strength), "h w -> 1 h w")

    def preprocess_reference(self, reference, size: tuple[int, int], device, dtype) -> torch.Tensor:
        """-> [1, 3, H, W] in [-1, 1]. Tensors are taken as already in [-1, 1]."""
        if isinstance(reference, torch.Tensor):
            x = reference if reference.dim() == 4 else rearrange(reference, "c h w -> 1 c h w")
        else:
            arr = self._as_array(reference, "reference")[..., :3]
            x = rearrange(torch.from_numpy(np.ascontiguousarray(arr)), "h w c -> 1 c h w").float()
            x = x / 127.5 - 1.0 if arr.dtype == np.uint8 else x * 2.0 - 1.0
        if tuple(x.shape[-2:]) != tuple(size):
            raise ValueError(
                f"`reference` is {tuple(x.shape[-2:])} (H, W) but the sketches are {tuple(size)}; resize the reference"
                " to the sketch size (lvcd.colorize_video does this for you)."
            )
        return x.to(device=device, dtype=dtype)

    @staticmethod
    def _as_array(image, name: str) -> np.ndarray:
        if isinstance(image, PIL.Image.Image):
            image = np.asarray(image.convert("RGB"))
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = repeat(arr, "h w -> h w 3")
        if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
            raise ValueError(f"`{name}` images must be HxW, HxWx3 or HxWx4 (got shape {arr.shape}).")
        return arr

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
        return rearrange(self.image_encoder(image).image_embeds, "b c -> b 1 c")

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
            eps = randn_tensor(
                posterior.mean.shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32
            )
            first_cond = posterior.mean + posterior.std * eps.to(posterior.mean.device, posterior.mean.dtype)
        else:
            first_cond = posterior.mean
        return concat_first.float(), first_cond.float()

    def _added_time_ids(self, device) -> torch.Tensor:
        c = self.conditioning
        return torch.tensor([[c.fps_id, c.motion_bucket_id, c.cond_aug]], device=device, dtype=torch.float32)

    # ------------------------------------------------------------------------------------------------ 4. denoiser
    def _denoise(
        self, x: torch.Tensor, sigma: torch.Tensor, concat: torch.Tensor, hint: torch.Tensor, cond: _Conditions
    ) -> torch.Tensor:
        """D(x; sigma) for one 19-frame window: [T, 4, h, w] fp32 -> [T, 4, h, w] fp32."""
        dtype = self.unet.dtype
        c_skip, c_out, c_in, c_noise = get_scalings(sigma)
        x_in = rearrange(torch.cat([x * c_in, concat], dim=1), "t c h w -> 1 t c h w").to(dtype)
        t = c_noise.reshape(1).to(x.device)
        ehs = cond.image_embeddings.to(dtype)
        ids = cond.added_time_ids.to(dtype)
        down, mid = self.controlnet(x_in, t, ehs, ids, controlnet_cond=hint, return_dict=False)
        out = self.unet(
            x_in,
            t,
            ehs,
            ids,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
            return_dict=False,
        )[0]
        return rearrange(out, "1 t c h w -> t c h w").float() * c_out + x * c_skip

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
        segments: Sequence | None = None,
    ) -> Iterator[SegmentResult]:
        """Sample the windows of a `num_frames`-frame clip one by one, yielding each window's new final latents.

        `sketch_fn(indices)` returns the sketches of those source frames as [len, 3, H, W] in the model convention (or
        [len, 1, H, W], repeated to 3 channels on the device: a third of the copying), so a caller can stream frames
        from disk; `noise` is the first window's unit noise [T, 4, h, w]. Only one window,
        its overlap and the per-step denoised estimates of the overlap frames are held. `segments`: the window plan
        when the caller already made it (`stream`), else planned here.
        """
        self._check_processors()
        cfg = self.segment_config(overlap)
        segments = plan_segments(num_frames, cfg) if segments is None else segments
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
            # one channel repeated on the device (a third of the copying): [T, 1 or 3, H, W] -> [1, T, 3, H, W]
            pattern = "t 1 h w -> 1 t 3 h w" if hint.shape[1] == 1 else "t c h w -> 1 t c h w"
            hint = repeat(hint, pattern).contiguous()
            if seg.index == 0:
                concat = cond.concat_first.expand(cfg.window, -1, -1, -1)
            else:  # [ref, prev-ref final latents (unscaled), ref x video frames]
                concat = torch.cat(
                    [cond.first_cond, prev_tail / sf, cond.first_cond.expand(cfg.video_frames, -1, -1, -1)], dim=0
                )
            concat = concat.to(device=device, dtype=torch.float32)
            history = []  # D of the last `overlap` frames at every step, for the next window's blending

            def denoiser(x, sigma, i, seg=seg, concat=concat, hint=hint):
                mode = seg.mode if (seg.mode == "normal" or steps_prev is None or i < steps_prev) else "normal"
                with self.reference_attention.use(mode, overlap=ov):
                    return self._denoise(x, sigma, concat, hint, cond)

            denoiser = with_side_batch(self, cond, seg, sigmas, denoiser)  # extra references, if any (extra_refs.py)

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
                carry = SegmentCarry(
                    seg.index + 1, x_t.cpu(), prev_tail.cpu(), prev_d.cpu() if prev_d is not None else torch.empty(0)
                )
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

    # ------------------------------------------------------------------------------------------------ conditions
    def prepare_conditions(
        self, reference: torch.Tensor, image_embeddings: torch.Tensor | None, generator: torch.Generator | None
    ) -> _Conditions:
        device = self._execution_device
        if image_embeddings is None:
            image_embeddings = self.encode_image(reference, device)
        image_embeddings = image_embeddings.to(device)
        if image_embeddings.dim() == 2:
            image_embeddings = rearrange(image_embeddings, "b c -> b 1 c")
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

    # ------------------------------------------------------------------------------------------------ streaming
    @torch.no_grad()
    def stream(
        self,
        sketches: Iterable,
        reference: torch.Tensor,
        num_frames: int,
        *,
        prepare: Callable[[object], torch.Tensor] | None = None,
        image_embeddings: torch.Tensor | None = None,
        latents: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        num_inference_steps: int = 25,
        overlap: int = 4,
        decode_chunk: int | None = None,
        output_type: str = "uint8",
        store=None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        progress: bool = False,
        prefetch: int = 16,
        extra_references: Sequence | None = None,
        reference_target_mask=None,
    ) -> Iterator[torch.Tensor]:
        """The window choreography over a stream of `num_frames` sketches: plan the windows once, draw the noise,
        build the conditions, sample window by window and decode chunk by chunk, holding one window, its overlap and
        one decode chunk whatever the length.

        `sketches` yields the frames in order; `prepare(frame)` turns one into its [1 or 3, H, W] model-convention
        tensor (default: tensors as they are), read `prefetch` frames ahead in a thread (0: inline). `reference` is
        [1, 3, H, W] in [-1, 1] on the device. `store` (a `lvcd.resume.SegmentStore`) checkpoints every window and
        resumes after the last checkpointed one: its frames are re-decoded, and the sketches before the next window
        are read but not prepared. Yields, in frame order: "uint8" blocks [m, H, W, 3] (rounded on the device),
        "pt" blocks [m, 3, H, W] float in [0, 1], or "latent" blocks [n, 4, h, w] (no decoding). `extra_references`
        / `reference_target_mask`: references used together by every frame, routed by masks (see `__call__`)."""
        if output_type not in ("uint8", "pt", "latent"):
            raise ValueError(f"`output_type` must be 'uint8', 'pt' or 'latent' (got {output_type!r}).")
        segments = plan_segments(num_frames, self.segment_config(overlap))  # the one window plan of this render
        done, carry = store.load() if store is not None else ([], None)
        resume = SegmentCarry.from_state_dict(carry) if carry else None
        finished = len(done)
        first_needed = (
            min([i for i in segments[finished].hint_indices if i > 0], default=0)
            if finished < len(segments)
            else num_frames
        )
        prepare = prepare or (lambda frame: frame)

        def prepared_items():
            for index, frame in enumerate(sketches):
                yield None if 0 < index < first_needed else prepare(frame)

        items = (
            background(prepared_items(), maxsize=prefetch, name="lvcd-sketches")
            if prefetch
            else contextlib.nullcontext(prepared_items())
        )
        with items as prepared:
            sketch_fn = SketchWindow(prepared, num_frames)
            H, W = reference.shape[-2:]
            f = self.vae_scale_factor
            # noise first, then the conditions: the official RNG order (x_T, then the reference posterior sample)
            noise = self.prepare_noise(latents, H // f, W // f, generator, overlap)
            cond = self.prepare_conditions(reference, image_embeddings, generator)
            attach_side_batch(self, cond, extra_references, reference_target_mask, num_frames, generator)

            def final_latents():
                yield from done
                if done and resume is None:
                    return  # every window was already finished
                for res in self.iter_segments(
                    sketch_fn,
                    num_frames,
                    cond,
                    noise,
                    num_inference_steps,
                    overlap,
                    resume=resume,
                    callback_on_step_end=callback_on_step_end,
                    callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
                    progress=progress,
                    segments=segments,
                ):
                    if store is not None:
                        store.save(res)
                    yield res.latents

            if output_type == "latent":
                yield from final_latents()
            else:
                yield from self.decode_latents_stream(
                    final_latents(), num_frames, chunk=decode_chunk, as_uint8=output_type == "uint8"
                )

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
        extra_references: Sequence | None = None,
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
            extra_references: [`~lvcd.pipelines.ExtraReference`] (image, lineart, optional source / target masks)
                used together with `reference` by every frame through Reference Attention (`lvcd.models.routing`).
            reference_target_mask: [H, W] or [N, H, W] in [0, 1]: the pixels that may take `reference`'s colours.
        """
        # 1. Check inputs
        self.check_inputs(sketches, reference, image_embeddings, num_inference_steps, overlap)
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"`output_type` must be 'pil', 'np', 'pt' or 'latent' (got {output_type!r}).")

        # 2. Preprocess images (the same preparation as lvcd.colorize_frames for PIL images and uint8 arrays)
        sk = self.preprocess_sketches(sketches, torch.device("cpu"), torch.float32)
        n, _, H, W = sk.shape
        f = self.vae_scale_factor
        if H % (8 * f) or W % (8 * f):
            raise ValueError(
                f"sketch size {W}x{H} must be a multiple of {8 * f} pixels in both directions (the UNet halves the"
                f" {f}x smaller latent three times); resize or pad first (lvcd.colorize_video does this for you)."
            )
        ref = self.preprocess_reference(reference, (H, W), self._execution_device, torch.float32)

        # 3.-7. Noise, conditioning and the window loop, collected
        all_latents = torch.cat(
            list(
                self.stream(
                    sk,
                    ref,
                    n,
                    image_embeddings=image_embeddings,
                    latents=latents,
                    generator=generator,
                    num_inference_steps=num_inference_steps,
                    overlap=overlap,
                    output_type="latent",
                    prefetch=0,
                    progress=True,
                    callback_on_step_end=callback_on_step_end,
                    callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
                    extra_references=extra_references,
                    reference_target_mask=reference_target_mask,
                )
            ),
            dim=0,
        ).float()

        # 8. Decode
        if output_type == "latent":
            frames = None
        else:
            frames = torch.cat(list(self.decode_latents_stream([all_latents], n)), dim=0)
            if output_type == "np":
                frames = rearrange(frames, "n c h w -> n h w c").numpy()
            elif output_type == "pil":
                arr = (rearrange(frames, "n c h w -> n h w c").numpy() * 255).round().astype(np.uint8)
                frames = [PIL.Image.fromarray(a) for a in arr]

        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames, all_latents)
        return LVCDPipelineOutput(frames=frames, latents=all_latents)
