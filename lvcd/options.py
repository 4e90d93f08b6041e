"""The options of a render, stated once: names, defaults, valid values, CLI flags and help, grouped by concern.

`RenderOptions` composes four groups: `RuntimeOptions` (which model, on which device: backend, model, device, dtype,
offload, attention, compile), `SamplingOptions` (steps, overlap, seed, size, decode_chunk), `LookOptions` (polarity,
keep_lines, bucket_mode, pinholes, snap, reference_fit, reference_background, palette) and `OutputOptions` (crf, fmt,
layers, overwrite, quiet, drift). Every field is checked once, in its group's `__post_init__`, with an error that
names the CLI flag and the valid values.
The public API takes these as flat keyword options (`colorize_video(..., steps=25)`); `RenderOptions.of(**flat)`
builds the object and inside the package only the object travels. The CLI generates its flags from `FIELDS`
(`lvcd.cli.options`), the shot manifest validates its `defaults:` / `options:` with the same object, and
`PIXEL_FIELDS` is the one list of the options that change the rendered frames (what resume keys and shot stamps
hash).

Imports nothing heavier than the standard library: `lvcd --help` and manifest validation stay fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import LVCDError

SIZE_MULTIPLE = 64  # latent side must be divisible by 8 (three 2x downsamplings of the /8 latent)
VIDEO_FRAMES = 14  # the released model's video path (SVD img2vid); a window is 1 + overlap + 14 frames
DECODE_OVERLAP = 3  # frames shared by consecutive temporal-decoder calls (official `decoding_olap`)
# No CUDA-graph modes ("reduce-overhead", "max-autotune"): the model loop runs in its own thread, where
# cudagraph trees assert (pytorch#123177), and the ControlNet's outputs feed the UNet, a chain of two graphed
# functions that cudagraph trees refuse (pytorch#160281).
COMPILE_MODES = ("off", "default", "max-autotune-no-cudagraphs")
BACKENDS = ("auto", "diffusion", "bucket")
OFFLOADS = ("none", "model", "sequential")
ATTENTIONS = ("sdpa", "xformers")
DTYPES = ("bf16", "fp16", "fp32")
DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}  # accepted from the Python API
POLARITIES = ("auto", "black-on-white", "white-on-black", "alpha")
REFERENCE_FITS = ("error", "stretch", "crop", "pad")
BUCKET_MODES = ("auto", "flat", "warp")  # the bucket backend: flat fills, a dense-flow warp, or by the lineart
FORMATS = ("mp4", "mkv", "mov", "png", "indexed")  # indexed: palette PNGs + palette files (lvcd.deliver)
CRF_RANGE = (0, 51)  # x264's quality scale
SEED_RANGE = (-(1 << 63), (1 << 64) - 1)  # what torch.Generator.manual_seed accepts


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    choices: tuple | None = None,
    pixels: bool = False,
    episode: bool = False,
    default_text: str | None = None,
    metavar: str | None = None,
    negate: bool = False,
    switch: bool = False,
) -> Any:
    """A dataclass field with its CLI description.

    `flag`: the CLI spelling (default: --name-with-dashes); `pixels`: the option changes the rendered frames;
    `episode`: it concerns the whole output video (a manifest sets it in `defaults:`, never per shot);
    `default_text`: how the help states a default that is decided at run time; `negate`: a `--no-...` switch that
    turns a default-on option off; `switch`: an on/off option whose default (None) is decided at run time, given as
    `--name` / `--no-name` (`help` is the pair's help: "on help|off help")."""
    meta = {
        "help": help,
        "flag": flag,
        "choices": choices,
        "pixels": pixels,
        "episode": episode,
        "default_text": default_text,
        "metavar": metavar,
        "negate": negate,
        "switch": switch,
    }
    return field(default=default, metadata=meta)


class OptionError(LVCDError):
    """A bad option value; the message names the CLI flag (`option`: the field name, for other spellings)."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option

    def naming_field(self) -> str:
        """The message with the flag replaced by the field name, as a manifest writes it (`size` for --size)."""
        text = str(self).replace(f"{flag_of(self.option)} (`{self.option}`)", f"`{self.option}`", 1)
        return text if text != str(self) else text.replace(flag_of(self.option), f"`{self.option}`", 1)


def flag_of(name: str) -> str:
    """The CLI flag of an option field (as errors name it)."""
    return FIELDS[name].metadata["flag"] or "--" + name.replace("_", "-")


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise OptionError(
            name, f"{flag_of(name)} (`{name}`) must be one of {', '.join(map(str, choices))} (got {value!r})."
        )


def _check_int(name: str, value, lo: int | None = None, hi: int | None = None, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(name, f"{flag_of(name)} must be a whole number (got {value!r}).")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = (
            f"between {lo} and {hi}"
            if lo is not None and hi is not None
            else f">= {lo}"
            if lo is not None
            else f"<= {hi}"
        )
        raise OptionError(name, f"{flag_of(name)} must be {rng} (got {value}){why}.")


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise OptionError(name, f"{flag_of(name)} is a switch: true or false (got {value!r}).")


def _check_text(name: str, value, optional: bool = True) -> None:
    if (value is None and optional) or (isinstance(value, str) and value.strip()):
        return
    raise OptionError(name, f"{flag_of(name)} must be a non-empty text (got {value!r}).")


@dataclass(frozen=True)
class RuntimeOptions:
    """Which model runs, and on which device."""

    backend: str = option(
        "auto",
        "auto: diffusion when a converted model is found, else the weight-free bucket",
        choices=BACKENDS,
        pixels=True,
    )
    model: str | None = option(
        None, "pipeline folder from `lvcd convert`", default_text="$LVCD_MODEL, then the data dir"
    )
    device: str | None = option(None, "cuda, cuda:1, cpu", pixels=True, default_text="cuda if available")
    dtype: str | None = option(
        None, "weights and activations dtype", choices=DTYPES, pixels=True, default_text="bf16 on CUDA, fp32 on CPU"
    )
    offload: str = option("none", "CPU offload tier (lower VRAM, slower)", choices=OFFLOADS)
    attention: str = option("sdpa", "attention kernel (xformers: CUDA only)", choices=ATTENTIONS, pixels=True)
    compile: str = option(
        "off",
        "torch.compile the UNet and ControlNet (fewer kernel launches; the first windows compile)",
        choices=COMPILE_MODES,
        pixels=True,
    )

    def __post_init__(self):
        _check_choice("backend", self.backend, BACKENDS)
        if self.model is not None:
            object.__setattr__(self, "model", str(self.model))  # a Path is welcome; the sidecar stores text
        _check_text("model", self.model)
        _check_text("device", self.device)
        if self.dtype is not None:
            _check_choice("dtype", DTYPE_ALIASES.get(self.dtype, self.dtype), DTYPES)
        _check_choice("offload", self.offload, OFFLOADS)
        _check_choice("attention", self.attention, ATTENTIONS)
        _check_choice("compile", self.compile, COMPILE_MODES)


@dataclass(frozen=True)
class SamplingOptions:
    """How the diffusion backend samples (the bucket backend ignores these)."""

    steps: int = option(25, "Euler steps per window (the released model uses 25)", pixels=True)
    overlap: int = option(4, "frames shared by consecutive windows (as released)", pixels=True)
    seed: int = option(1234, "noise seed (the official notebook's)", pixels=True)
    size: tuple[int, int] | None = option(
        None,
        f"model resolution WxH, multiples of {SIZE_MULTIPLE}",
        pixels=True,
        default_text="~576x320 area at the source aspect",
        metavar="WxH",
    )
    decode_chunk: int = option(10, "latents per temporal VAE decoder call (as released)", pixels=True)

    def __post_init__(self):
        _check_int("steps", self.steps, 1, None, "; the released model uses 25")
        _check_int(
            "overlap",
            self.overlap,
            0,
            VIDEO_FRAMES - 1,
            f": the frames shared by consecutive windows of the {VIDEO_FRAMES}-frame video path; "
            "the released model uses 4",
        )
        _check_int("seed", self.seed, *SEED_RANGE)
        _check_int(
            "decode_chunk",
            self.decode_chunk,
            DECODE_OVERLAP + 2,
            None,
            f": each decoder call holds the reference latent and repeats the last {DECODE_OVERLAP} frames "
            "of the previous one; the released value is 10",
        )
        if self.size is not None:
            object.__setattr__(self, "size", parse_size(self.size))


@dataclass(frozen=True)
class LookOptions:
    """How the lineart is read and the colours finished (any backend)."""

    polarity: str = option("auto", "lineart polarity", choices=POLARITIES, pixels=True, default_text="detected")
    keep_lines: bool | None = option(
        None,
        "draw the original lines over the colours|paint only, no lines on top",
        pixels=True,
        switch=True,
        default_text="on for the bucket backend (cels keep their ink), off for diffusion",
    )
    bucket_mode: str = option(
        "auto",
        "bucket backend: flat fills, a dense-flow warp of the keyframe, or auto (warp "
        "when the lineart is not cel lineart)",
        choices=BUCKET_MODES,
        pixels=True,
    )
    pinholes: int = option(
        0,
        "bucket backend: close pinholes through strokes (the pen lifted for up to N-1 px) along the stroke, so a "
        "thin part whose outline has one (an ear rim) stays its own region; 5 for 2-4 px gaps, 0 = off",
        pixels=True,
        metavar="N",
    )
    snap: bool = option(False, "snap flat regions to the reference's palette", pixels=True)
    reference_fit: str = option(
        "error", "what to do with a reference of another aspect ratio", choices=REFERENCE_FITS, pixels=True
    )
    reference_background: str | None = option(
        None,
        "flatten a reference with transparent pixels onto this colour (white, black, #rrggbb, r,g,b)",
        pixels=True,
        metavar="COLOUR",
        default_text="refuse transparent references",
    )
    palette: dict | None = option(
        None,
        "named colours (.gpl/.aco/palette.json): flat colours near one snap to it, "
        "and it names the indexed palette's entries (manifests: `palette:`)",
        pixels=True,
        metavar="FILE",
        default_text="none",
    )

    def __post_init__(self):
        _check_choice("polarity", self.polarity, POLARITIES)
        if self.keep_lines is not None:
            _check_bool("keep_lines", self.keep_lines)
        _check_choice("bucket_mode", self.bucket_mode, BUCKET_MODES)
        _check_int("pinholes", self.pinholes, 0, None, "; 0 turns it off, 5 closes 2-4 px gaps")
        if self.pinholes == 1:
            raise OptionError("pinholes", f"{flag_of('pinholes')} must be 0 (off) or >= 2 px (got 1).")
        _check_bool("snap", self.snap)
        _check_choice("reference_fit", self.reference_fit, REFERENCE_FITS)
        if self.reference_background is not None:
            try:
                parse_colour(self.reference_background)
            except LVCDError as e:
                raise OptionError("reference_background", f"{flag_of('reference_background')}: {e}") from None
        if self.palette is not None:
            from .deliver.paints import parse_named_palette

            parse_named_palette(self.palette)


@dataclass(frozen=True)
class OutputOptions:
    """How the result is written and reported."""

    crf: int = option(18, "x264 quality for mp4/mkv, lower is better (18: visually lossless)", episode=True)
    fmt: str | None = option(
        None,
        "output container; indexed: palette PNGs + palette.json/.gpl/.aco in a folder",
        flag="--format",
        choices=FORMATS,
        episode=True,
        default_text="from the output extension",
    )
    layers: bool = option(
        False, "with --format indexed: per-palette-entry alpha-mask PNG sequences and a lines layer", episode=True
    )
    overwrite: bool = option(False, "replace an existing output", episode=True)
    quiet: bool = option(False, "no progress bar", episode=True)
    drift: bool = option(
        True, "skip the per-window colour-drift measurement (sidecar `colour_drift`)", flag="--no-drift", negate=True
    )

    def __post_init__(self):
        _check_int("crf", self.crf, *CRF_RANGE, " (x264's scale; 18 is visually lossless)")
        if self.fmt is not None:
            _check_choice("fmt", self.fmt, FORMATS)
        for name in ("layers", "overwrite", "quiet", "drift"):
            _check_bool(name, getattr(self, name))


GROUPS = {"runtime": RuntimeOptions, "sampling": SamplingOptions, "look": LookOptions, "output": OutputOptions}
FIELDS: dict[str, dataclasses.Field] = {f.name: f for cls in GROUPS.values() for f in dataclasses.fields(cls)}
GROUP_OF = {f.name: g for g, cls in GROUPS.items() for f in dataclasses.fields(cls)}
OPTION_NAMES = tuple(FIELDS)
PIXEL_FIELDS = tuple(n for n, f in FIELDS.items() if f.metadata["pixels"])  # change the rendered frames
EPISODE_FIELDS = tuple(n for n, f in FIELDS.items() if f.metadata["episode"])  # concern the whole output video
DEFAULTS = {n: f.default for n, f in FIELDS.items()}


@dataclass(frozen=True)
class RenderOptions:
    """Every option of one render, by concern. Read a field flat (`opts.steps`) or by group (`opts.sampling`)."""

    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    look: LookOptions = field(default_factory=LookOptions)
    output: OutputOptions = field(default_factory=OutputOptions)

    @classmethod
    def of(cls, options: RenderOptions | Mapping | None = None, /, **kwargs) -> RenderOptions:
        """Build from flat keyword options (`steps=25, size=(576, 320)`), or an existing object plus changes. Unknown
        names raise TypeError with the closest valid name."""
        base = options.as_dict() if isinstance(options, RenderOptions) else dict(options or {})
        base.update(kwargs)
        check_names(base, "option")
        parts = {g: {} for g in GROUPS}
        for k, v in base.items():
            parts[GROUP_OF[k]][k] = v
        return cls(**{g: GROUPS[g](**kw) for g, kw in parts.items()})

    def __getattr__(self, name: str):
        group = GROUP_OF.get(name)
        if group is None:
            raise AttributeError(f"RenderOptions has no option {name!r}")
        return getattr(object.__getattribute__(self, group), name)

    def replace(self, **changes) -> RenderOptions:
        return RenderOptions.of(self, **changes)

    def as_dict(self) -> dict:
        """Flat {name: value}, every option (the sidecar's `options`; sizes as lists for JSON: see `jsonable`)."""
        return {n: getattr(getattr(self, GROUP_OF[n]), n) for n in OPTION_NAMES}

    def pixel_options(self) -> dict:
        """The options that change the rendered frames, JSON-ready (what render keys hash)."""
        return jsonable({n: getattr(self, n) for n in PIXEL_FIELDS})


def ColorizeOptions(**options) -> RenderOptions:  # noqa: N802 - the public name of the flat constructor
    """`RenderOptions` from flat keyword options (the name the Python API has always used)."""
    return RenderOptions.of(**options)


def jsonable(options: Mapping) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}


def check_names(options: Mapping, what: str = "option") -> None:
    bad = [k for k in options if k not in FIELDS]
    if bad:
        hints = [
            f"`{k}`" + (f" (did you mean `{m[0]}`?)" if (m := difflib.get_close_matches(k, OPTION_NAMES, 1)) else "")
            for k in bad
        ]
        raise TypeError(f"unknown {what}(s) {', '.join(hints)}; the options are: {', '.join(OPTION_NAMES)}.")


def parse_size(value) -> tuple[int, int]:
    """ "576x320", (576, 320) or [576, 320] -> (W, H), positive multiples of SIZE_MULTIPLE."""
    try:
        w, h = (int(x) for x in (value.lower().split("x") if isinstance(value, str) else value))
    except (TypeError, ValueError, AttributeError):
        raise OptionError("size", f"--size must look like 576x320 (got {value!r}).") from None
    if w % SIZE_MULTIPLE or h % SIZE_MULTIPLE or w <= 0 or h <= 0:
        raise OptionError("size", f"--size {w}x{h} must be positive multiples of {SIZE_MULTIPLE} (e.g. 576x320).")
    return w, h


_NAMED_COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0)}


def parse_colour(value: str) -> tuple[int, int, int]:
    """ "white", "black", "#rrggbb" or "r,g,b" -> an RGB triple."""
    v = str(value).strip().lower()
    if v in _NAMED_COLOURS:
        return _NAMED_COLOURS[v]
    if re.fullmatch(r"#[0-9a-f]{6}", v):
        return tuple(int(v[i : i + 2], 16) for i in (1, 3, 5))
    try:
        rgb = tuple(int(x) for x in v.split(","))
        if len(rgb) == 3 and all(0 <= c <= 255 for c in rgb):
            return rgb
    except ValueError:
        pass
    raise LVCDError(f"colour {value!r} is not white, black, #rrggbb or r,g,b (0-255).")


def keeps_lines(options: RenderOptions, backend: str) -> bool:
    """Whether the original lines are drawn over the colours: `keep_lines` when given, else yes for the bucket
    backend (cels keep their ink) and no for diffusion."""
    return options.keep_lines if options.keep_lines is not None else backend == "bucket"
