"""The Python API: colorize a lineart video or image sequence from a coloured reference keyframe.

`colorize_video(input, reference, output, **options)` reads frames as a stream, colours them with a backend (the
diffusion pipeline when a converted model is found, otherwise the weight-free paint-bucket colorizer) and writes
them as they are produced to a temporary file renamed at the end. `colorize_frames(...)` is the same streaming core
over an iterable of frames. The CLI only parses arguments and calls these.

Memory stays constant in the video's length: only the current window, its overlap and one decode chunk are held.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .lock import owner_tag
from .outputs import check_output
from .prefetch import background
from .version import __version__
from .video.audio import choose_audio

logger = logging.getLogger("lvcd")

MODEL_ENV = "LVCD_MODEL"
DEFAULT_MODEL_DIR = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "lvcd" / "lvcd-svd"
MODEL_AREA = 576 * 320  # the resolution LVCD was trained and released at
# No CUDA-graph modes ("reduce-overhead", "max-autotune"): the model loop runs in its own thread, where
# cudagraph trees assert (pytorch#123177), and the ControlNet's outputs feed the UNet, a chain of two graphed
# functions that cudagraph trees refuse (pytorch#160281).
COMPILE_MODES = ("off", "default", "max-autotune-no-cudagraphs")
COMPILE_BACKEND = "inductor"  # torch.compile backend for --compile (tests use "aot_eager": no C++ build)
SIZE_MULTIPLE = 64  # latent side must be divisible by 8 (three 2x downsamplings of the /8 latent)


class LVCDError(ValueError):
    """A user-facing error: the message names the input and the fix."""


@dataclass
class ColorizeOptions:
    """Every knob of a render. Written to the JSON sidecar; the manifest's defaults and the CLI fill these by name."""

    backend: str = "auto"  # "auto": diffusion if a converted model is found, else the weight-free "bucket"
    model: str | None = None  # folder from `lvcd convert`; else $LVCD_MODEL; else the default location
    steps: int = 25  # Euler steps per window, as released
    overlap: int = 4  # frames shared by consecutive windows, as released
    seed: int = 1234  # the official notebook's seed: same seed, same noise as the official code
    size: tuple[int, int] | None = None  # model resolution (W, H); None = from the source aspect, ~576x320 area
    device: str | None = None  # None = cuda if available, else cpu
    dtype: str | None = None  # None = bf16 on CUDA, fp32 on CPU
    offload: str = "none"  # "none" | "model" | "sequential" (lower VRAM, slower)
    decode_chunk: int = 10  # latents per temporal-decoder call, as released
    attention: str = "sdpa"  # "sdpa" | "xformers" (CUDA only)
    polarity: str = "auto"  # lineart polarity: "auto" | "black-on-white" | "white-on-black" | "alpha"
    keep_lines: bool | None = None  # composite the original lines over the colours; None: yes for the bucket
    bucket_mode: str = "auto"  # bucket backend: "flat" fills, "warp" the keyframe along flow, "auto" by lineart
    snap: bool = False  # snap flat regions to the reference's palette (any backend)
    crf: int = 18  # x264 quality for mp4/mkv output (visually lossless)
    fmt: str | None = None  # output container; None = from the output extension; "indexed": palette PNGs
    layers: bool = False  # with fmt "indexed": per-palette-entry alpha-mask PNG sequences + a lines layer
    palette: dict | None = None  # named colours {name: "#rrggbb"}: flat output snaps to them; names indexed entries
    overwrite: bool = False
    quiet: bool = False
    reference_fit: str = "error"  # reference of another aspect: "error" | "stretch" | "crop" | "pad"
    reference_background: str | None = None  # flatten a transparent reference onto this colour (white, #rrggbb)
    drift: bool = True  # measure colour drift from the reference's palette per window (~3 ms a 1080p frame)
    compile: str = "off"  # torch.compile the UNet and ControlNet: off | default | max-autotune-no-cudagraphs
    # (fewer, fused kernel launches: the eager denoiser dispatches ~11.8k ops a call; the first windows compile)

    def __post_init__(self):
        if self.backend not in ("auto", "diffusion", "bucket"):
            raise LVCDError(f"`backend` must be auto, diffusion or bucket (got {self.backend!r}).")
        if self.bucket_mode not in ("auto", "flat", "warp"):
            raise LVCDError(f"`bucket_mode` must be auto, flat or warp (got {self.bucket_mode!r}).")
        if self.offload not in ("none", "model", "sequential"):
            raise LVCDError(f"`offload` must be none, model or sequential (got {self.offload!r}).")
        if self.compile not in COMPILE_MODES:
            raise LVCDError(f"`compile` must be one of {', '.join(COMPILE_MODES)} (got {self.compile!r}).")
        if self.attention not in ("sdpa", "xformers"):
            raise LVCDError(f"`attention` must be sdpa or xformers (got {self.attention!r}).")
        if self.steps < 1:
            raise LVCDError(f"`steps` must be >= 1 (got {self.steps}); the released model uses 25.")
        if self.palette is not None:
            from .deliver.paints import parse_named_palette

            parse_named_palette(self.palette)
        if self.size is not None:
            w, h = self.size
            if w % SIZE_MULTIPLE or h % SIZE_MULTIPLE or w <= 0 or h <= 0:
                raise LVCDError(f"`size` {w}x{h} must be positive multiples of {SIZE_MULTIPLE} (e.g. 576x320).")


# ---------------------------------------------------------------------------------------------------- model lookup
def find_model(model: str | os.PathLike | None = None) -> Path | None:
    """The converted pipeline folder to use: `model`, else $LVCD_MODEL, else the default location; None if none."""
    for cand in (model, os.environ.get(MODEL_ENV), DEFAULT_MODEL_DIR):
        if cand and (Path(cand) / "model_index.json").is_file():
            return Path(cand)
        if cand and cand == model:
            raise LVCDError(no_model_message(Path(cand)))
    return None


def no_model_message(where: Path | None = None) -> str:
    head = f"no converted LVCD model at {where}" if where else "no converted LVCD model found"
    return (
        f"{head} (looked at --model, ${MODEL_ENV} and {DEFAULT_MODEL_DIR}).\n"
        "  To use the diffusion backend, fetch and convert the official weights once (the SVD repository is gated:\n"
        "  accept its licence on the Hub and log in first):\n"
        "    lvcd convert --download\n"
        "  or, from files you already have:\n"
        f"    lvcd convert --svd svd.safetensors --lvcd lvcd.ckpt --out {DEFAULT_MODEL_DIR}\n"
        "  (svd.safetensors: stabilityai/stable-video-diffusion-img2vid;\n"
        "   lvcd.ckpt: luckyhzt/lvcd_pretrained_models).\n"
        "  Or run the weight-free paint-bucket backend: add `--backend bucket`."
    )


def model_size_for(width: int, height: int, area: int = MODEL_AREA, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """Model resolution (W, H) for a source of this aspect: multiples of 64 with about `area` pixels."""
    aspect = width / height
    h = max(multiple, round(math.sqrt(area / aspect) / multiple) * multiple)
    w = max(multiple, round(h * aspect / multiple) * multiple)
    return w, h


# ---------------------------------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Letterbox:
    """Fit a source frame into the model size keeping its aspect (pad the rest), and undo it exactly."""

    src: tuple[int, int]  # (W, H) of the source
    dst: tuple[int, int]  # (W, H) of the model

    @property
    def inner(self) -> tuple[int, int, int, int]:
        sw, sh = self.src
        dw, dh = self.dst
        scale = min(dw / sw, dh / sh)
        w, h = max(1, round(sw * scale)), max(1, round(sh * scale))
        x, y = (dw - w) // 2, (dh - h) // 2
        return x, y, w, h

    def fit(self, frame: np.ndarray, fill: int | tuple = 0) -> np.ndarray:
        import cv2

        x, y, w, h = self.inner
        interp = cv2.INTER_AREA if w < frame.shape[1] else cv2.INTER_CUBIC
        inner = cv2.resize(frame, (w, h), interpolation=interp) if (w, h) != frame.shape[1::-1] else frame
        out = np.empty((self.dst[1], self.dst[0], *frame.shape[2:]), dtype=frame.dtype)
        out[...] = fill
        out[y : y + h, x : x + w] = inner
        return out

    def unfit(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        x, y, w, h = self.inner
        crop = frame[y : y + h, x : x + w]
        if (w, h) == tuple(self.src):
            return np.ascontiguousarray(crop)
        return cv2.resize(crop, self.src, interpolation=cv2.INTER_CUBIC)


# ---------------------------------------------------------------------------------------------------- reference
def parse_colour(value: str) -> tuple[int, int, int]:
    """"white", "black", "#rrggbb" or "r,g,b" -> an RGB triple."""
    named = {"white": (255, 255, 255), "black": (0, 0, 0)}
    v = value.strip().lower()
    if v in named:
        return named[v]
    try:
        if v.startswith("#") and len(v) == 7:
            return tuple(int(v[i : i + 2], 16) for i in (1, 3, 5))
        rgb = tuple(int(x) for x in v.split(","))
        if len(rgb) == 3 and all(0 <= c <= 255 for c in rgb):
            return rgb
    except ValueError:
        pass
    raise LVCDError(f"colour {value!r} is not white, black, #rrggbb or r,g,b (0-255).")


def load_reference(path: str | os.PathLike, size: tuple[int, int], fit: str = "error",
                   background: str | None = None) -> np.ndarray:
    """Read the coloured keyframe as uint8 RGB at `size` (W, H) of the lineart, with errors that teach. A reference
    with transparent pixels is refused unless `background` names a colour to flatten it onto."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"reference image {p} does not exist; pass the coloured version of the first frame.")
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError) as e:
        raise LVCDError(f"reference {p} is not a readable image ({e}); export it as PNG or JPEG.") from None
    if arr[..., 3].min() < 255:
        if background is None:
            raise LVCDError(
                f"reference {p} has transparent pixels; a colour keyframe must be opaque. Flatten it onto the"
                " background colour in your paint program (or export without alpha), or pass"
                " --reference-background white (or #rrggbb) to flatten it here."
            )
        alpha = arr[..., 3:].astype(np.float32) / 255.0
        bg = np.array(parse_colour(background), np.float32)
        arr = np.concatenate([(arr[..., :3] * alpha + bg * (1 - alpha)).round().astype(np.uint8), arr[..., 3:]], -1)
    rgb = np.ascontiguousarray(arr[..., :3])
    if mode in ("L", "LA", "1", "I", "I;16", "F") or (np.ptp(rgb.astype(np.int16), axis=-1).max() <= 2):
        ink_or_paper = ((rgb.min(-1) > 235) | (rgb.max(-1) < 20)).mean()
        if ink_or_paper > 0.9:  # black lines on white (or the reverse): the lineart, not a painted keyframe
            raise LVCDError(
                f"reference {p} is grayscale lineart; it must be the *coloured* version of the first lineart frame"
                " (did you pass the lineart itself?)."
            )
        logger.warning("reference %s has no colour (grey paints only); the output will be grey too", p)
    w, h = size
    rh, rw = rgb.shape[:2]
    if (rw, rh) != (w, h):
        if abs(rw / rh - w / h) > 0.01 * (w / h) and fit == "error":
            raise LVCDError(
                f"reference {p} is {rw}x{rh} but the lineart is {w}x{h} (another aspect ratio). Crop it to the frame,"
                " or choose how to fit it with --reference-fit stretch|crop|pad."
            )
        rgb = _fit_image(rgb, (w, h), "stretch" if fit == "error" else fit)
    return rgb


def _fit_image(img: np.ndarray, size: tuple[int, int], how: str) -> np.ndarray:
    import cv2

    w, h = size
    if how == "stretch":
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    ih, iw = img.shape[:2]
    scale = max(w / iw, h / ih) if how == "crop" else min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    r = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    if how == "crop":
        x, y = (nw - w) // 2, (nh - h) // 2
        return np.ascontiguousarray(r[y : y + h, x : x + w])
    out = np.full((h, w, 3), 255, np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    out[y : y + nh, x : x + nw] = r
    return out


# ---------------------------------------------------------------------------------------------------- backends
def _torch_device_dtype(opts: ColorizeOptions):
    import torch

    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LVCDError(
            "--device cuda was requested but this torch has no CUDA; install a CUDA build or use --device cpu."
        )
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    if opts.dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    elif opts.dtype in names:
        dtype = names[opts.dtype]
    else:
        raise LVCDError(f"`dtype` must be bf16, fp16 or fp32 (got {opts.dtype!r}).")
    return device, dtype


MEMORY_CHECK_ENV = "LVCD_SKIP_MEMORY_CHECK"  # set to 1 to load even when the pre-flight estimate says it won't fit


def memory_plan(model_dir, device: str, dtype, offload: str, size: tuple[int, int]) -> str:
    """The offload tier to load with on a CUDA device: `offload` when the pre-flight estimate fits in the free
    memory; the cheapest slower tier that fits (with a warning) when only the tier has to change; an LVCDError with
    the numbers and the fix when nothing fits. No check off CUDA or with LVCD_SKIP_MEMORY_CHECK=1."""
    from . import preflight

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


def load_pipeline(model_dir: str | os.PathLike, opts: ColorizeOptions, size: tuple[int, int] | None = None):
    """Load a converted pipeline folder onto the chosen device, dtype, offload tier and attention backend. On CUDA
    the pre-flight memory estimate for the render `size` (W, H; default the options' or 576x320) is checked first
    (see `memory_plan`)."""
    from .pipelines import LVCDPipeline

    device, dtype = _torch_device_dtype(opts)
    offload = memory_plan(model_dir, device, dtype, opts.offload, size or opts.size or (576, 320))
    if opts.compile != "off" and offload != "none":
        raise LVCDError(f"--compile {opts.compile} needs the networks resident on the device, but the render uses "
                        f"--offload {offload}; drop --compile, or free memory for --offload none.")
    try:
        pipe = LVCDPipeline.from_pretrained(str(model_dir), torch_dtype=dtype)
    except (OSError, ValueError, KeyError) as e:  # diffusers' "no file named config.json ..." and the like
        raise LVCDError(f"the model folder {model_dir} cannot be loaded ({str(e).strip().splitlines()[0][:200]}); "
                        f"run `lvcd doctor --model {model_dir}` to see what is missing or damaged, then convert it "
                        "again with `lvcd convert`.") from None
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
    """LVCD diffusion over a frame stream: letterbox to the model size, sample window by window, decode chunk by
    chunk, and undo the letterbox, yielding one uint8 RGB frame per input frame."""

    name = "diffusion"

    def __init__(self, pipe, opts: ColorizeOptions):
        self.pipe, self.opts = pipe, opts

    def colorize(self, reference_rgb: np.ndarray, lineart_frames: Iterable[np.ndarray], num_frames: int,
                 polarity: str = "auto", checkpoint_dir: str | os.PathLike | None = None,
                 options: ColorizeOptions | None = None, extra_references=None) -> Iterator[np.ndarray]:
        """Yield one coloured frame per lineart frame (`options` of this call: seed, steps, overlap, size; the
        loaded pipeline's device/dtype/offload stay as built). With `checkpoint_dir`, every finished window's latents
        and carry are saved there (atomically) and a later call with the same inputs resumes after the last one,
        producing exactly the same frames."""
        import torch

        from .lineart import line_strength
        from .sampling import plan_segments

        pipe, opts = self.pipe, options or self.opts
        src = (reference_rgb.shape[1], reference_rgb.shape[0])
        size = opts.size or model_size_for(*src)
        lb = Letterbox(src, size)
        ref = lb.fit(reference_rgb, fill=255)
        ref_t = torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 127.5 - 1.0  # [H, W, 3] -> [1, 3, H, W]
        device = pipe._execution_device

        store = SegmentStore(checkpoint_dir) if checkpoint_dir is not None else None
        # A resumed render re-decodes its finished windows: frames before the next window's sketches are read (the
        # stream is sequential) but not prepared.
        segments = plan_segments(num_frames, pipe.segment_config(opts.overlap))
        finished = store.finished() if store is not None else 0
        first_needed = (min([i for i in segments[finished].hint_indices if i > 0], default=0)
                        if finished < len(segments) else num_frames)

        def prepare(item: tuple[int, np.ndarray]) -> torch.Tensor | None:
            index, frame = item
            if 0 < index < first_needed:
                return None
            # polarity-free line strength at the source size first, then letterbox (padding = no lines)
            s = lb.fit(line_strength(frame, polarity).astype(np.float32), fill=0.0)
            return torch.from_numpy(s)[None]  # [H, W] -> [1, H, W], lines = 1 (the pipeline repeats it to 3)

        # Stage 1 (a thread): read + sketch prep, up to one window ahead of the model.
        prepared = background(map(prepare, enumerate(lineart_frames)), maxsize=16, name="lvcd-sketches")
        sketches: dict[int, torch.Tensor] = {}
        read = 0
        end = object()

        def sketch_fn(indices: list[int]) -> torch.Tensor:
            nonlocal read
            lowest = min([i for i in indices if i > 0], default=0)
            for k in [k for k in sketches if 0 < k < lowest]:
                del sketches[k]
            while read <= max(indices):
                s = next(prepared, end)
                if s is end:
                    raise LVCDError(f"the lineart stream ended after {read} frames but {num_frames} were announced.")
                if read == 0 or read >= lowest:
                    sketches[read] = s
                read += 1
            return torch.stack([sketches[i] for i in indices])

        gen = torch.Generator("cpu").manual_seed(opts.seed)
        f = pipe.vae_scale_factor
        noise = pipe.prepare_noise(None, size[1] // f, size[0] // f, gen, opts.overlap)
        cond = pipe.prepare_conditions(ref_t.to(device), None, gen)
        if extra_references:  # issue 15: references used together, a side batch routed by masks
            from .backends.extra_refs import diffusion_extra_references
            from .pipelines.extra_refs import SideBatch

            extras = diffusion_extra_references(
                extra_references, src, num_frames, polarity, lambda a: lb.fit(a, fill=255),
                lambda a: lb.fit(a, fill=0.0), lambda a: lb.fit(np.asarray(a, np.float32), fill=0.0),
                (size[1] // f, size[0] // f))
            cond.extra["side"] = SideBatch(pipe, extras, (size[1], size[0]), num_frames, gen, device)

        def latents():
            done, carry = store.load() if store is not None else ([], None)
            yield from done
            if done and carry is None:
                return  # every window was already finished
            for res in pipe.iter_segments(sketch_fn, num_frames, cond, noise, opts.steps, opts.overlap,
                                          resume=carry, progress=False):
                if store is not None:
                    store.save(res)
                yield res.latents

        def model_frames() -> Iterator[np.ndarray]:
            with torch.no_grad():  # grad mode is per thread: set here, in the thread that runs the model
                for block in pipe.decode_latents_stream(latents(), num_frames, chunk=opts.decode_chunk,
                                                        as_uint8=True):
                    yield from block.numpy()  # [m, H, W, 3] uint8 at the model size

        # Stage 2 (a thread): the model loop, never waiting on the restore/encode below; stage 3 is the caller.
        with prepared, background(model_frames(), maxsize=2 * opts.decode_chunk, name="lvcd-model") as out:
            for a in out:
                yield lb.unfit(a)


class SegmentStore:
    """Per-window checkpoints of a diffusion render: `seg_00000.safetensors` holds that window's emitted latents and
    the carry the next window needs. Written atomically (temp file + rename); read back in order on resume."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def save(self, res) -> None:
        from safetensors.torch import save_file

        tensors = {"latents": res.latents.detach().cpu().clone()}
        if res.carry is not None:  # clones: views of one window's latents may not share storage in safetensors
            tensors.update({f"carry.{k}": v.detach().cpu().clone() for k, v in res.carry.state_dict().items()})
        path = self._path(res.segment)
        tmp = path.with_name(f".{path.name}.{owner_tag()}.partial")  # unique per process
        save_file(tensors, str(tmp))
        os.replace(tmp, path)

    def finished(self) -> int:
        """How many windows are checkpointed (consecutive from window 0, as `load` reads them)."""
        k = 0
        while self._path(k).is_file():
            k += 1
        return k

    def load(self):
        """-> (latent blocks of the finished windows in order, carry of the last one or None if it was the last)."""
        from safetensors.torch import load_file

        from .pipelines import SegmentCarry

        blocks, carry = [], None
        for k in range(self.finished()):
            sd = load_file(str(self._path(k)))
            blocks.append(sd["latents"])
            c = {key[len("carry."):]: v for key, v in sd.items() if key.startswith("carry.")}
            carry = SegmentCarry.from_state_dict(c) if c else None
        return blocks, carry

    def _path(self, segment: int) -> Path:
        return self.folder / f"seg_{segment:05d}.safetensors"


class BucketBackend:
    """The weight-free paint-bucket colorizer (flat palette colours by region matching)."""

    name = "bucket"

    def __init__(self, opts: ColorizeOptions):
        from .backends.bucket import BucketColorizer, BucketConfig

        self.opts = opts
        self.colorizer = BucketColorizer(BucketConfig(mode=opts.bucket_mode))

    def confidence(self) -> dict | None:
        """The last shot's per-frame confidence (`lvcd.backends.bucket_confidence`); None in warp mode."""
        log = getattr(self.colorizer, "confidence", None)
        return log.summary() if log is not None and getattr(self.colorizer, "used_mode", "flat") == "flat" else None

    def colorize(self, reference_rgb: np.ndarray, lineart_frames: Iterable[np.ndarray], num_frames: int,
                 polarity: str = "auto", checkpoint_dir: str | os.PathLike | None = None,
                 options: ColorizeOptions | None = None, extra_references=None) -> Iterator[np.ndarray]:
        frames = iter(lineart_frames)
        first = next(frames)

        def chain():
            yield first
            yield from frames

        if extra_references:  # issue 15: more keyframes to match against, off-frame
            from .backends.extra_refs import bucket_keyframes

            size = (reference_rgb.shape[1], reference_rgb.shape[0])
            keys = bucket_keyframes(reference_rgb, first, extra_references, size)
            return self.colorizer.colorize_keyframes(keys, chain())
        return self.colorizer.colorize(reference_rgb, first, chain())


def make_backend(opts: ColorizeOptions, size: tuple[int, int] | None = None):
    """The backend the options ask for; "auto" uses diffusion when a converted model is found, else the bucket.
    `size`: the model resolution (W, H) the render will use, for the pre-flight memory check."""
    if opts.backend == "bucket":
        return BucketBackend(opts), None
    model_dir = find_model(opts.model)
    if model_dir is None:
        if opts.backend == "diffusion":
            raise LVCDError(no_model_message())
        logger.info("no converted LVCD model found: using the weight-free paint-bucket backend")
        return BucketBackend(opts), None
    return DiffusionBackend(load_pipeline(model_dir, opts, size), opts), model_dir


# ---------------------------------------------------------------------------------------------------- streaming core
class _Tee:
    """One pass over the lineart frames shared by two readers: the backend (iterating) and the output pairing
    (`next_line()`, for --keep-lines / --snap). Whichever is ahead reads from the source; a frame is dropped once both
    have passed it, so at most the backend's look-ahead (one window + one decode chunk) is held. A resumed diffusion
    render emits its checkpointed frames before the backend reads any input: pairing then reads ahead for it."""

    def __init__(self, frames: Iterable[np.ndarray]):
        import threading
        from collections import deque

        self._lock = threading.Lock()  # the backend may read from its prefetch thread while the caller pairs
        self._it = iter(frames)
        self._buf = deque()
        self._base = 0  # source index of self._buf[0]
        self._backend = 0  # next index the backend will read
        self._pair = 0  # next index the pairing will read

    def _get(self, index: int) -> np.ndarray | None:
        while self._base + len(self._buf) <= index:
            frame = next(self._it, None)
            if frame is None:
                return None
            self._buf.append(frame)
        return self._buf[index - self._base]

    def _trim(self) -> None:
        while self._buf and self._base < min(self._backend, self._pair):
            self._buf.popleft()
            self._base += 1

    def __iter__(self):
        while True:
            with self._lock:
                frame = self._get(self._backend)
                if frame is None:
                    return
                self._backend += 1
                self._trim()
            yield frame

    def next_line(self) -> np.ndarray:
        with self._lock:
            frame = self._get(self._pair)
            if frame is None:
                raise LVCDError(f"the backend produced more frames than the {self._pair} lineart frames given.")
            self._pair += 1
            self._trim()
        return frame


def _postprocess(opts: ColorizeOptions, reference_rgb: np.ndarray, polarity: str, keep_lines: bool = False):
    """Per-frame finishing steps (palette snap, original lines on top) shared by every backend."""
    steps = []
    if opts.snap:
        from .lineart.palette import PaletteSnapper

        snapper = PaletteSnapper.from_reference(reference_rgb)
        steps.append(lambda out, line: snapper.snap(out, line))
    if keep_lines:
        from .lineart import composite_lines

        steps.append(lambda out, line: composite_lines(out, line, polarity=polarity))

    def run(out: np.ndarray, line: np.ndarray) -> np.ndarray:
        for step in steps:
            out = step(out, line)
        return out

    return run


def colorize_frames(
    frames: Iterable[np.ndarray],
    reference: np.ndarray | str | os.PathLike,
    *,
    num_frames: int | None = None,
    backend=None,
    checkpoint_dir: str | os.PathLike | None = None,
    extra_references=None,
    **options,
) -> Iterator[np.ndarray]:
    """Streaming API: colour an iterable of lineart frames (uint8 HxWx3, frame 0 is the one `reference` colours) and
    yield exactly one coloured uint8 RGB frame per input frame, in order, as soon as each is ready.

    `extra_references`: more references used together with `reference` by every frame (issue 15), each an image
    (path or uint8 array) or a mapping {image, mask?, target_mask?, lineart?} (see `lvcd.backends.extra_refs`).

    `num_frames` is needed by the diffusion backend when `frames` has no len() (its window plan pads the tail).
    `backend` reuses an already loaded backend (see `make_backend`); `checkpoint_dir` makes a diffusion render
    resumable window by window.
    """
    if isinstance(backend, str):  # a backend name, as in ColorizeOptions.backend
        options["backend"], backend = backend, None
    opts = ColorizeOptions(**options)
    if num_frames is None and hasattr(frames, "__len__"):
        num_frames = len(frames)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise LVCDError("the lineart stream is empty; it needs at least one frame.")
    h, w = first.shape[:2]
    ref = reference if isinstance(reference, np.ndarray) else load_reference(
        reference, (w, h), opts.reference_fit, opts.reference_background)
    if ref.shape[:2] != (h, w):
        raise LVCDError(f"`reference` is {ref.shape[1]}x{ref.shape[0]} but the frames are {w}x{h}.")
    if backend is None:
        backend, _ = make_backend(opts)
    if backend.name == "diffusion" and num_frames is None:
        raise LVCDError("the diffusion backend needs `num_frames` for a frame iterator without len().")
    from .lineart import detect_polarity

    polarity = detect_polarity(first) if opts.polarity == "auto" else opts.polarity
    keep = opts.keep_lines if opts.keep_lines is not None else backend.name == "bucket"  # cels keep their ink
    finish = _postprocess(opts, ref, polarity, keep)
    if opts.palette:  # named colours (lvcd.deliver): paints near one become it, drawn ink kept
        from .deliver.shots import with_named_palette

        finish = with_named_palette(finish, opts.palette, backend, ref, opts.snap)

    def chained():
        yield first
        yield from it

    n = num_frames if num_frames is not None else -1
    extra = {"extra_references": extra_references} if extra_references else {}
    if not (keep or opts.snap or opts.palette):  # nothing to pair outputs with: no buffering at all
        yield from backend.colorize(ref, chained(), n, polarity=polarity, checkpoint_dir=checkpoint_dir, options=opts,
                                    **extra)
        return
    tee = _Tee(chained())
    for out in backend.colorize(ref, tee, n, polarity=polarity, checkpoint_dir=checkpoint_dir, options=opts, **extra):
        yield finish(out, tee.next_line())


@dataclass
class RenderResult:
    output: Path
    frames: int
    seconds: float
    backend: str
    sidecar: Path | None = None
    drift: dict | None = None  # lvcd.eval.drift summary: per-window colour distance to the reference palette


def model_fingerprint(model_dir: Path | None) -> dict:
    """Cheap, stable identity of a converted model: sha256 of every weight file's safetensors header + size."""
    if model_dir is None:
        return {}
    out = {}
    for f in sorted(model_dir.glob("*/*.safetensors")):
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = fh.read(min(n, 1 << 26))
        out[str(f.relative_to(model_dir))] = {"bytes": f.stat().st_size,
                                               "header_sha256": hashlib.sha256(header).hexdigest()}
    return out


def _resume_key(input, ref: np.ndarray, frames: int, opts: ColorizeOptions, backend, fingerprint: dict,
                work: Path) -> str:
    """Everything a diffusion render's latents depend on, hashed: the input's content, the reference pixels, the
    frame count, the sampling options, the device class and dtype, and the model's weights."""
    from .shots.render import _InputHashes

    hashes = _InputHashes(work / "cache" / "inputs.json")
    pipe = backend.pipe
    params = {
        "lvcd_version": __version__, "input_sha256": hashes(str(input)), "frames": frames,
        "reference_sha256": hashlib.sha256(repr(ref.shape).encode() + ref.tobytes()).hexdigest(),
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()
                    if k in ("steps", "overlap", "seed", "size", "polarity")},
        "device": pipe._execution_device.type, "dtype": str(pipe.unet.dtype), "model": fingerprint,
    }
    hashes.save()
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def colorize_video(input, reference, output, *, work: str | os.PathLike | None = None,
                   audio: str | os.PathLike | None = None, fps=None, **options) -> RenderResult:
    """Colorize a lineart video file or image sequence and write the result (same frame count, fps, size and audio).

    See `ColorizeOptions` for the options. The output is written as frames are produced to a temporary file renamed
    at the end; a failed or interrupted run leaves no output behind. With `work` (a folder), a diffusion render keeps
    every finished window's latents there: running the same command again after an interruption re-decodes those
    and samples only the windows that were not finished, giving the same frames; the checkpoints are removed once
    the output is written. The work folder is locked while the render runs (`lvcd.lock`). `audio`: None = the
    input's sound, "none" = silent, a path = the sound of that file (e.g. the colour clip the lineart came from).
    `fps`: resample a video to this constant rate (a variable-rate input otherwise keeps every frame and its time).
    """
    from .lock import WorkLock

    if work is None:
        return _colorize_video(input, reference, output, work=None, audio=audio, fps=fps, **options)
    with WorkLock(work):
        return _colorize_video(input, reference, output, work=work, audio=audio, fps=fps, **options)


def _colorize_video(input, reference, output, *, work, audio, fps=None, **options) -> RenderResult:
    from tqdm.auto import tqdm

    from .video import check_output_path, open_reader, open_writer, probe, write_sidecar
    from .video.writer import output_format

    opts = ColorizeOptions(**options)
    t0 = time.perf_counter()
    info = probe(input, fps=fps)
    check_inputs_and_output(input, info, output, reference=reference, work=work, fmt=opts.fmt,
                            polarity=opts.polarity)
    audio_from = choose_audio(audio, input if info.has_audio else None)
    check_output_path(output, overwrite=opts.overwrite, fmt=opts.fmt)
    ref = load_reference(reference, (info.width, info.height), opts.reference_fit, opts.reference_background)
    backend, model_dir = make_backend(opts, opts.size or model_size_for(info.width, info.height))
    if output_format(output, opts.fmt) == "indexed":  # palette PNGs + palette files instead of a video
        from .deliver.shots import indexed_writer_for

        open_writer = indexed_writer_for(backend, ref, opts)  # noqa: F811 (same call below, another writer)
    fingerprint = model_fingerprint(model_dir)
    ckpt = None
    if work is not None and backend.name == "diffusion":
        key = _resume_key(input, ref, info.frame_count, opts, backend, fingerprint, Path(work))
        ckpt = Path(work) / "colorize" / key[:24]
        done = SegmentStore(ckpt).finished()
        if done:
            logger.warning("resuming from %s: %d finished windows are re-decoded, not sampled again", ckpt, done)
    elif work is not None:
        logger.info("--work keeps diffusion checkpoints; the %s backend renders from the start", backend.name)
    n = info.frame_count
    written = 0
    monitor = None
    if opts.drift:
        from .eval.drift import DriftMonitor

        monitor = DriftMonitor(ref)
    with open_reader(input, fps=fps) as reader, background(reader, maxsize=8, name="lvcd-read") as frames, open_writer(
        output, info.fps, (info.width, info.height), audio_from=audio_from, crf=opts.crf,
        overwrite=opts.overwrite, fmt=opts.fmt, timestamps=info.timestamps,  # a VFR input's timing, kept
    ) as writer, tqdm(total=n, unit="frame", disable=opts.quiet, desc=f"colorize ({backend.name})") as bar:
        for frame in colorize_frames(frames, ref, num_frames=n, backend=backend, checkpoint_dir=ckpt,
                                     **{k: v for k, v in asdict(opts).items() if k != "backend"}):
            writer.write(frame)
            if monitor is not None:
                monitor.update(frame, written)
            written += 1
            bar.update()
        if written != n:
            raise LVCDError(f"{input}: expected {n} frames but colorized {written}; the output was not kept.")
    seconds = time.perf_counter() - t0
    side = {
        "lvcd_version": __version__,
        "input": str(input),
        "reference": str(reference),
        "output": str(output),
        "frames": written,
        "fps": str(info.fps),
        "size": [info.width, info.height],
        "backend": backend.name,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()},
        "model": str(model_dir) if model_dir else None,
        "model_files": fingerprint,
        "seconds": round(seconds, 3),
        "timing": timing_record(info),
    }
    drift = None
    if monitor is not None:
        from .eval.drift import format_drift

        drift = side["colour_drift"] = monitor.summary()
        if drift["over_threshold"]:
            logger.warning("%s: %s", output, format_drift(drift))
    if backend.name == "bucket" and (conf := backend.confidence()) is not None:
        from .backends.bucket_confidence import format_line

        side["bucket_confidence"] = conf
        (logger.warning if conf["frames_to_check"] else logger.info)("%s: %s", output, format_line(conf))
    sidecar = write_sidecar(output, side)
    if ckpt is not None:
        import shutil

        shutil.rmtree(ckpt, ignore_errors=True)  # the output is complete: its checkpoints are no longer needed
    return RenderResult(Path(output), written, seconds, backend.name, sidecar, drift)


def timing_record(info) -> dict:
    """The sidecar's `timing`: constant rate, or (variable frame rate) output frame i = input frame i at its
    timestamp, every frame kept."""
    if info.timestamps is None:
        return {"variable_frame_rate": bool(info.is_vfr), "fps": str(info.fps),
                "resampled": bool(info.is_vfr or info.source_frame_count != info.frame_count)}
    return {"variable_frame_rate": True, "average_fps": str(info.fps), "mapping": "output frame i = input frame i",
            "timestamps_s": [str(t) for t in info.timestamps]}


def check_inputs_and_output(input, info, output, *, reference=None, work=None, fmt=None, polarity="auto") -> None:
    """Before any work: the output must not replace an input or lie in the work folder (`lvcd.outputs`), and a
    colour clip given as the lineart is refused with the fix (skipped when the polarity is stated explicitly)."""
    check_output(output, inputs=[input] + ([reference] if reference is not None else []), work=work, fmt=fmt)
    if polarity == "auto":
        from .lineart.colour_check import check_lineart_input
        from .video import read_frames

        picks = sorted({0, min(info.frame_count, info.source_frame_count or info.frame_count) // 2})
        check_lineart_input(input, (next(read_frames(input, k, k + 1)) for k in picks), what="the lineart input")


# ---------------------------------------------------------------------------------------------------- dry run
def plan_render(input, **options) -> dict:
    """What `colorize_video` would do, without loading weights: source facts, backend, model size, window plan and
    (diffusion) a resource estimate from the real architecture counted on meta tensors."""
    from .sampling import SegmentConfig, plan_segments
    from .video import probe

    opts = ColorizeOptions(**options)
    info = probe(input)
    model_dir = None
    backend = opts.backend
    if backend != "bucket":
        model_dir = find_model(opts.model)
        if model_dir is None and backend == "auto":
            backend = "bucket"
        elif backend == "auto":
            backend = "diffusion"
    size = opts.size or model_size_for(info.width, info.height)
    plan = {
        "input": str(input), "frames": info.frame_count, "fps": str(info.fps),
        "source_size": [info.width, info.height], "audio": info.has_audio, "backend": backend,
        "model": str(model_dir) if model_dir else None,
    }
    if backend == "diffusion" or opts.backend == "diffusion":
        from . import preflight

        segs = plan_segments(info.frame_count, SegmentConfig(overlap=opts.overlap))
        device = opts.device or ("cuda" if _cuda() else "cpu")
        cost = preflight.model_cost(size[1], size[0], model_dir, opts.overlap)
        dclass = preflight.device_class(device)
        plan.update({
            "model_size": list(size), "windows": len(segs), "steps": opts.steps, "overlap": opts.overlap,
            "padded_tail_frames": (segs[-1].start + len(segs[-1].video) - info.frame_count) if segs else 0,
            "denoiser_calls": len(segs) * opts.steps,
            "tflops_per_call": round(cost.flops_per_call / 1e12, 2),
            "tflops_total": round((len(segs) * opts.steps * cost.flops_per_call
                                   + info.frame_count * cost.flops_vae_decode_per_frame) / 1e12, 1),
            "vram_estimate_gib": preflight.vram_table(cost),
            "device": device, "device_class": dclass,
            "assumed_tflops": preflight.ASSUMED_TFLOPS[dclass],
            "time_estimate_s": round(preflight.estimate_seconds(cost, info.frame_count, opts.steps, dclass), 1),
            "windows_detail": [{"index": s.index, "frames": [s.video[0], s.video[-1]], "mode": s.mode,
                                "emits": [s.emit_start, s.emit_stop - 1]} for s in segs[:5]],
        })
    return plan


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def format_plan(plan: dict) -> str:
    lines = [f"input     {plan['input']}: {plan['frames']} frames, {plan['fps']} fps, "
             f"{plan['source_size'][0]}x{plan['source_size'][1]}, audio: {'yes' if plan['audio'] else 'no'}",
             f"backend   {plan['backend']}" + (f" ({plan['model']})" if plan.get("model") else "")]
    if "windows" in plan:
        lines += [
            f"model     {plan['model_size'][0]}x{plan['model_size'][1]}, {plan['windows']} windows of 19 frames "
            f"(overlap {plan['overlap']}, {plan['padded_tail_frames']} padded tail frames), {plan['steps']} steps",
            f"compute   {plan['denoiser_calls']} denoiser calls x {plan['tflops_per_call']} TFLOP "
            f"= {plan['tflops_total']} TFLOP with decoding",
            f"time      ~{plan['time_estimate_s']} s on {plan['device']} ({plan['device_class']}, assuming "
            f"{plan['assumed_tflops']} TFLOP/s sustained)",
            "memory    predicted peak GiB (offload none / model / sequential):",
        ]
        for row in plan["vram_estimate_gib"]:
            lines.append(f"            {row['dtype']:>9}: {row['none_gib']:6.2f} / {row['model_gib']:6.2f} / "
                         f"{row['sequential_gib']:6.2f}")
        for w in plan["windows_detail"]:
            lines.append(f"window {w['index']:>3}  video frames {w['frames'][0]}..{w['frames'][1]}  mode {w['mode']:8}"
                         f"  emits {w['emits'][0]}..{w['emits'][1]}")
        if plan["windows"] > len(plan["windows_detail"]):
            lines.append(f"          ... {plan['windows'] - len(plan['windows_detail'])} more windows")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- lineart
def extract_lineart_video(input, output, *, method: str = "xdog", weights=None, binary: bool = False, crf: int = 18,
                          overwrite: bool = False, quiet: bool = False) -> int:
    """Write the lineart of a colour video / sequence (black lines on white, same frame count, fps and size)."""
    from tqdm.auto import tqdm

    from .lineart import XDoGConfig, hysteresis_mask, xdog
    from .video import check_output_path, open_reader, open_writer, probe

    info = probe(input)
    check_output(output, inputs=[input])
    check_output_path(output, overwrite=overwrite)
    if method == "informative-drawings":
        if not weights:
            raise LVCDError("--method informative-drawings needs --weights (the generator's sk_model.pth); or use "
                            "--method xdog, which needs none.")
        from .lineart.informative_drawings import InformativeDrawingsExtractor

        extract = InformativeDrawingsExtractor(weights)
    elif method == "xdog":
        cfg = XDoGConfig()
        extract = lambda frame: xdog(frame, cfg)  # noqa: E731
    else:
        raise LVCDError(f"unknown lineart method {method!r}; choose xdog or informative-drawings.")
    n = 0
    with open_reader(input) as reader, background(reader, maxsize=8, name="lvcd-read") as frames, \
            open_writer(output, info.fps, (info.width, info.height), crf=crf, overwrite=overwrite,
                        audio_from=input if info.has_audio else None,  # the clip's sound goes along
                        timestamps=info.timestamps) as writer:
        for frame in tqdm(frames, total=info.frame_count, unit="frame", disable=quiet, desc="lineart"):
            strength = extract(frame)  # float [H, W], 1 = line
            if binary:
                strength = hysteresis_mask(strength, 0.3, 0.6).astype(np.float32)
            gray = (255.0 * (1.0 - np.clip(strength, 0, 1))).round().astype(np.uint8)
            writer.write(np.repeat(gray[..., None], 3, axis=-1))
            n += 1
    return n
