"""The diffusion backend: load a converted pipeline onto a device (dtype, pre-flight memory check, offload tier,
attention kernel, torch.compile) and colour a frame stream with it. `DiffusionBackend` only converts frames around
`LVCDPipeline.stream`, which owns the windows: the source frames are letterboxed into the model size on the way in
(line strength first, padding = no lines) and the letterbox is undone on the way out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import LVCDError
from ..frames import Letterbox
from ..model_dir import model_size_for
from ..options import DTYPE_ALIASES, RenderOptions
from ..prefetch import background
from ..resume import SegmentStore
from .extra_refs import diffusion_extra_references

logger = logging.getLogger("lvcd")

COMPILE_BACKEND = "inductor"  # torch.compile backend for --compile (tests use "aot_eager": no C++ build)
MEMORY_CHECK_ENV = "LVCD_SKIP_MEMORY_CHECK"  # set to 1 to load even when the pre-flight estimate says it won't fit


def torch_device_dtype(opts: RenderOptions):
    import torch

    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LVCDError(
            "--device cuda was requested but this torch has no CUDA; install a CUDA build or use --device cpu."
        )
    names = {
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
        "fp32": torch.float32,
        "float32": torch.float32,
    }
    if opts.dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:  # RenderOptions checked the name
        dtype = names[DTYPE_ALIASES.get(opts.dtype, opts.dtype)]
    return device, dtype


def memory_plan(model_dir, device: str, dtype, offload: str, size: tuple[int, int]) -> str:
    """The offload tier to load with on a CUDA device: `offload` when the pre-flight estimate fits in the free
    memory; the cheapest slower tier that fits (with a warning) when only the tier has to change; an LVCDError with
    the numbers and the fix when nothing fits. No check off CUDA or with LVCD_SKIP_MEMORY_CHECK=1."""
    from .. import preflight

    mem = preflight.cuda_free_memory(device)
    if mem is None or os.environ.get(MEMORY_CHECK_ENV, "") not in ("", "0"):
        return offload
    cost = preflight.model_cost(size[1], size[0], model_dir, dtype=dtype)
    verdict = preflight.check_memory(cost, dtype, offload, *mem)
    if verdict.fits:
        return offload
    if verdict.suggestion in ("--offload model", "--offload sequential"):  # only the tier has to change
        tier = verdict.suggestion.split()[-1]
        logger.warning("%s Loading with --offload %s.", verdict.message, tier)
        return tier
    raise LVCDError(f"{verdict.message} (The check is an estimate; set {MEMORY_CHECK_ENV}=1 to try anyway.)")


def load_pipeline(model_dir: str | os.PathLike, opts: RenderOptions, size: tuple[int, int] | None = None):
    """Load a converted pipeline folder onto the chosen device, dtype, offload tier and attention backend. On CUDA
    the pre-flight memory estimate for the render `size` (W, H; default the options' or 576x320) is checked first
    (see `memory_plan`)."""
    from ..pipelines import LVCDPipeline

    device, dtype = torch_device_dtype(opts)
    offload = memory_plan(model_dir, device, dtype, opts.offload, size or opts.size or (576, 320))
    if opts.compile != "off" and offload != "none":
        raise LVCDError(
            f"--compile {opts.compile} needs the networks resident on the device, but the render uses "
            f"--offload {offload}; drop --compile, or free memory for --offload none."
        )
    try:
        pipe = LVCDPipeline.from_pretrained(str(model_dir), torch_dtype=dtype)
    except (OSError, ValueError, KeyError) as e:  # diffusers' "no file named config.json ..." and the like
        raise LVCDError(
            f"the model folder {model_dir} cannot be loaded ({str(e).strip().splitlines()[0][:200]}); "
            f"run `lvcd doctor --model {model_dir}` to see what is missing or damaged, then convert it "
            "again with `lvcd convert`."
        ) from None
    return place_pipeline(pipe, device, offload, opts.attention, opts.compile)


def place_pipeline(pipe, device: str, offload: str = "none", attention: str = "sdpa", compile: str = "off"):
    """Put a built pipeline on `device` with an offload tier, an attention backend and (optionally) torch.compile of
    its two networks; progress bars off (the caller shows its own)."""
    import torch

    if attention == "xformers":
        if not torch.cuda.is_available():
            raise LVCDError("--attention xformers needs CUDA; use --attention sdpa (the default) on this machine.")
        pipe.enable_xformers_memory_efficient_attention()
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if compile != "off":
        kw = {"mode": compile} if COMPILE_BACKEND == "inductor" else {}
        for net in (pipe.unet, pipe.controlnet):  # in place: same module objects, same state-dict keys
            net.compile(backend=COMPILE_BACKEND, dynamic=False, **kw)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class DiffusionBackend:
    """LVCD diffusion over a frame stream: letterbox to the model size, `LVCDPipeline.stream`, undo the letterbox,
    yielding one uint8 RGB frame per input frame."""

    name = "diffusion"

    def __init__(self, pipe, opts: RenderOptions):
        self.pipe, self.opts = pipe, opts

    def colorize(
        self,
        reference_rgb: np.ndarray,
        lineart_frames: Iterable[np.ndarray],
        num_frames: int,
        polarity: str = "auto",
        checkpoint_dir: str | os.PathLike | None = None,
        options: RenderOptions | None = None,
        extra_references=None,
    ) -> Iterator[np.ndarray]:
        """Yield one coloured frame per lineart frame (`options` of this call: seed, steps, overlap, size, decode
        chunk; the loaded pipeline's device/dtype/offload stay as built). With `checkpoint_dir`, every finished
        window is checkpointed there and a later call with the same inputs resumes after the last one, producing
        exactly the same frames."""
        import torch

        pipe, opts = self.pipe, options or self.opts
        src = (reference_rgb.shape[1], reference_rgb.shape[0])
        size = opts.size or model_size_for(*src)
        lb = Letterbox(src, size)
        ref = pipe.preprocess_reference(
            lb.fit(reference_rgb, fill=255), (size[1], size[0]), pipe._execution_device, torch.float32
        )
        store = SegmentStore(checkpoint_dir) if checkpoint_dir is not None else None
        latent = (size[1] // pipe.vae_scale_factor, size[0] // pipe.vae_scale_factor)
        extras = diffusion_extra_references(extra_references, src, num_frames, polarity, lb, latent)
        if extras and pipe._execution_device.type == "cuda" and os.environ.get(MEMORY_CHECK_ENV, "") in ("", "0"):
            from .. import preflight  # K references must fit next to the render (an LVCDError with the numbers)

            folder = getattr(pipe.config, "_name_or_path", None)  # the loaded model's folder (its architecture)
            cost = preflight.model_cost(
                size[1],
                size[0],
                folder if folder and os.path.isdir(folder) else None,
                opts.overlap,
                extra_references=True,
            )
            preflight.refuse_extra_references(cost, opts, str(pipe._execution_device), len(extras))

        def prepare(frame: np.ndarray):
            # polarity-free line strength at the source size first, then letterbox (padding = no lines)
            return pipe.sketch_tensor(frame, polarity, fit=lambda s: lb.fit(s, fill=0.0))

        def model_frames() -> Iterator[np.ndarray]:
            for block in pipe.stream(
                lineart_frames,
                ref,
                num_frames,
                prepare=prepare,
                store=store,
                generator=torch.Generator("cpu").manual_seed(opts.seed),
                num_inference_steps=opts.steps,
                overlap=opts.overlap,
                decode_chunk=opts.decode_chunk,
                output_type="uint8",
                extra_references=extras,
            ):
                yield from block.numpy()  # [m, H, W, 3] uint8 at the model size

        # The model loop runs in its own thread (the sketches are read one more ahead inside `stream`), never
        # waiting on the restore/encode of the caller.
        with background(model_frames(), maxsize=2 * opts.decode_chunk, name="lvcd-model") as out:
            for a in out:
                yield lb.unfit(a)
