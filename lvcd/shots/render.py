"""Resumable batch rendering of a shot manifest: every shot an independent task, then one assembled video.

`render_shots(manifest_or_path, **overrides)` (CLI: `lvcd batch shots.yaml`) renders each shot of a manifest into
the work folder and assembles the final video in frame order with the inputs' audio (one input: copied as is;
several: each one's sound over its frames, joined in order and re-encoded to AAC, see `assemble_video`). A shot is a
pure function of its manifest entry, the model and the inputs, so shots can be rendered in any order, in separate
runs (`only=`), or on separate machines sharing the work folder.

Work folder layout (default: `<manifest>.work/` beside the manifest, or the manifest's `work:`)::

    shots/<name>/000123.png    the finished shot's frames, named by *global* frame number: lossless RGB PNG, so
                               assembly never re-encodes a lossy intermediate (PNG encoding is deterministic)
    shots/<name>.json          the done stamp: the hash of everything the shot depends on, written last
    shots/<name>.state/        while a shot renders: its hash, one `<pass>.done` per finished pass, and
                               `ckpt/<pass>/` per-window latent checkpoints of the diffusion backend
    cache/inputs.json          content hashes of the inputs, keyed by path, size and mtime (so they are hashed once)

Resume rules: a shot whose stamp matches its current hash and whose frames are all present is skipped; a shot with a
state folder of the same hash continues (finished passes are skipped, an unfinished diffusion pass restarts after its
last checkpointed window, the bucket backend re-runs the pass, which is cheap and deterministic); anything else is
discarded and re-rendered. Every file is written to a temporary name and renamed, so a kill at any instant leaves
either the old file or the new one. The hash covers: the shot's name, frames and reference frame; the sha256 of the
reference image (and its lineart image); the sha256 of the inputs it reads; every option that changes pixels (not
quiet/overwrite/crf/fmt); the shot seed; the resolved backend; the model's weight-file fingerprint; the lvcd version.

Seeds: a shot's seed is `shot_seed(seed, name)` (manifest.py: sha256 of "<seed>/<name>", 32 bits) from the manifest's
(or the override's) `seed`, so a shot renders the same whatever else is in the manifest; a shot's own
`options: {seed: N}` is used as is (handy to reproduce an `lvcd colorize --seed N` render exactly).

Reference anywhere in the shot (`reference_frame` k): the *forward* pass colours k..end-1; when k > start a
*backward* pass colours k, k-1, ..., start (frames read in chunks from the end, never the whole shot) and drops its
first output, so frame k is produced once, by the forward pass. An *external* reference (design sheet, another shot's
frame) gets a lineart (`reference_lineart`: an image or a global frame number; default: XDoG lines of the reference,
drawn in the shot's polarity), which is prepended as frame 0 of one pass and its output dropped.

Deliberately not here: cut detection (detect.py), manifest parsing (manifest.py), locking between machines that
render the same shot at the same time (split the work with `only=`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..outputs import atomic_write_bytes, up_to_date
from ..version import __version__
from ..video.writer import sidecar_path
from .manifest import Manifest, ManifestError, Shot, load_manifest, option_names, shot_seed

logger = logging.getLogger("lvcd")

# options that never change a shot's pixels
NON_RENDER_OPTIONS = ("quiet", "overwrite", "crf", "fmt", "drift", "layers")
REVERSE_CHUNK_BYTES = 256 << 20  # frames held at once while reading a backward pass from the end (~40 1080p frames)
PNG_NAME = "{:06d}.png"  # frames are named by global frame number (an episode at 24 fps has < 1e6 frames)
AudioPieceSpec = tuple[str | None, Fraction, Fraction]  # (input path or None = silence, start s, duration s)


# ---------------------------------------------------------------------------------------------------- passes
@dataclass(frozen=True)
class Pass:
    """One call of the colorizer: which global frames it reads, in which order, and which outputs it keeps."""

    name: str  # "forward" | "backward" | "external"
    start: int  # first global frame read
    stop: int  # range end (exclusive in the direction of `step`)
    step: int  # 1 forward, -1 backward
    prepend_reference: bool = False  # external reference: its lineart is frame 0 of the pass
    drop_first: bool = False  # the first output is not kept (the shared reference frame, or the prepended one)

    @property
    def frames(self) -> range:
        return range(self.start, self.stop, self.step)

    @property
    def num_frames(self) -> int:
        return len(self.frames) + int(self.prepend_reference)

    def outputs(self) -> list[int | None]:
        """Global frame number of each output in order (None = dropped)."""
        out: list[int | None] = ([None] if self.prepend_reference else []) + list(self.frames)
        if self.drop_first and not self.prepend_reference:
            out[0] = None
        return out


def plan_passes(shot: Shot) -> list[Pass]:
    """The passes that colour `shot` (see the module docstring); every frame of the shot is output exactly once."""
    if shot.external:
        return [Pass("external", shot.start, shot.end, 1, prepend_reference=True, drop_first=True)]
    k = shot.reference_frame
    passes = [Pass("forward", k, shot.end, 1)]
    if k > shot.start:
        passes.append(Pass("backward", k, shot.start - 1, -1, drop_first=True))
    return passes


# ---------------------------------------------------------------------------------------------------- frames
class EpisodeSource:
    """The manifest's inputs as one frame axis: read any [start, stop) range lazily, or backwards in chunks."""

    def __init__(self, manifest: Manifest):
        self.inputs = manifest.inputs
        self.frame_count = manifest.frame_count

    def read(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames start..stop-1 in order, streamed (one decoder open per input touched)."""
        from ..video import read_frames

        if not 0 <= start <= stop <= self.frame_count:
            raise ValueError(f"frames {start}-{stop} are outside the input (0-{self.frame_count})")
        for inp in self.inputs:
            a, b = max(start, inp.offset), min(stop, inp.offset + inp.frame_count)
            if a >= b:
                continue
            n = 0
            for frame in read_frames(inp.path, a - inp.offset, b - inp.offset):
                yield frame
                n += 1
            if n != b - a:
                raise ValueError(f"{inp.path}: expected frames {a - inp.offset}-{b - inp.offset - 1} but read {n};"
                                 " the input is shorter than probed (damaged file?)")

    def read_reversed(self, start: int, stop: int, chunk: int | None = None) -> Iterator[np.ndarray]:
        """Frames stop-1 down to start: chunks read forwards from the end and reversed (at most `chunk` held)."""
        hi = stop
        while hi > start:
            if chunk is None:
                first = next(self.read(hi - 1, hi))
                chunk = max(1, REVERSE_CHUNK_BYTES // max(first.nbytes, 1))
            lo = max(start, hi - chunk)
            buf = list(self.read(lo, hi))
            while buf:
                yield buf.pop()
            hi = lo

    def frames(self, p: Pass) -> Iterator[np.ndarray]:
        if p.step == 1:
            return self.read(p.start, p.stop)
        return self.read_reversed(p.stop + 1, p.start + 1)

    def frame(self, i: int) -> np.ndarray:
        return next(self.read(i, i + 1))


# ---------------------------------------------------------------------------------------------------- atomic files
def _atomic_write_bytes(path: Path, data: bytes, fsync: bool = False) -> None:
    atomic_write_bytes(path, data, fsync=fsync)  # a temporary name unique to this process (lvcd.outputs)


def _write_json(path: Path, obj) -> None:
    _atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode(), fsync=True)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Lossless, deterministic PNG of a uint8 RGB frame, written atomically."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path.name} as PNG")
    _atomic_write_bytes(path, buf.tobytes())


def read_png(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"shot frame {path} is missing or unreadable; delete its shot's .json to re-render"
                                " it.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _InputHashes:
    """Content hashes of input files / sequences, cached in the work folder by (path, size, mtime)."""

    def __init__(self, cache_file: Path):
        self.file = cache_file
        try:
            self.cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            self.cache = {}
        self.dirty = False

    def _files(self, path: str) -> list[Path]:
        p = Path(path)
        if p.is_file():
            return [p]
        from ..video import list_sequence

        return list_sequence(p)  # a folder or a frame pattern: the frames lvcd.video reads, in its order

    def __call__(self, path: str) -> str:
        files = self._files(path)
        stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        sig = hashlib.sha256(json.dumps(stats).encode()).hexdigest()
        hit = self.cache.get(str(Path(path).resolve()))
        if hit and hit.get("sig") == sig:
            return hit["sha256"]
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode() + b"\0" + bytes.fromhex(_sha256_file(f)))
        digest = h.hexdigest()
        self.cache[str(Path(path).resolve())] = {"sig": sig, "sha256": digest}
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            _write_json(self.file, self.cache)
            self.dirty = False


# ---------------------------------------------------------------------------------------------------- planning
@dataclass
class ShotPlan:
    """Everything needed to render one shot, and the hash that identifies its result."""

    shot: Shot
    options: dict  # effective ColorizeOptions kwargs (seed = the shot seed)
    seed: int
    backend: str  # resolved: "diffusion" | "bucket"
    model_dir: Path | None
    passes: list[Pass]
    key: str  # sha256 of `params`
    params: dict  # what the key covers (also written to the stamp, for humans)
    folder: Path  # work/shots/<name>/
    status: str = "todo"  # "done" | "partial" | "todo"

    @property
    def stamp(self) -> Path:
        return self.folder.with_name(self.folder.name + ".json")

    @property
    def state(self) -> Path:
        return self.folder.with_name(self.folder.name + ".state")

    def expected(self) -> list[Path]:
        return [self.folder / PNG_NAME.format(i) for i in range(self.shot.start, self.shot.end)]


def default_work_dir(manifest: Manifest) -> Path:
    """The manifest's `work:`, else `<manifest stem>.work` beside the manifest (`lvcd-work` in its folder for a
    manifest given as a mapping)."""
    if manifest.work is not None:
        return manifest.work
    if manifest.path is not None:
        return manifest.path.resolve().with_name(manifest.path.stem + ".work")
    return manifest.base_dir / "lvcd-work"


def effective_options(manifest: Manifest, shot: Shot, overrides: Mapping) -> tuple[dict, int]:
    """ColorizeOptions kwargs for `shot` (defaults < manifest defaults < shot options < overrides) and its seed."""
    from ..api import ColorizeOptions

    base_seed = overrides.get("seed", manifest.defaults.get("seed", ColorizeOptions.seed))
    opts = {**manifest.defaults, **shot.options, **overrides}
    if "seed" in shot.options and "seed" not in overrides:
        seed = int(shot.options["seed"])  # an explicit per-shot seed is used as is
    else:
        seed = shot_seed(int(base_seed), shot.name)
    opts["seed"] = seed
    return opts, seed


def _resolve_backend(opts: Mapping) -> tuple[str, Path | None]:
    """Which backend `opts` will use, without loading it (mirrors lvcd.api.make_backend)."""
    from .. import api

    backend = opts.get("backend", "auto")
    if backend == "bucket":
        return "bucket", None
    model_dir = api.find_model(opts.get("model"))
    if model_dir is None:
        if backend == "diffusion":
            raise api.LVCDError(api.no_model_message())
        return "bucket", None
    return "diffusion", Path(model_dir).resolve()


def _model_fingerprint(model_dir: Path | None, cache: dict) -> dict:
    if model_dir is None:
        return {}
    if str(model_dir) not in cache:
        from .. import api

        cache[str(model_dir)] = api.model_fingerprint(model_dir)
    return cache[str(model_dir)]


def plan_shot(manifest: Manifest, shot: Shot, work: Path, overrides: Mapping, hashes: _InputHashes,
              model_cache: dict | None = None) -> ShotPlan:
    """Resolve options, seed, backend and passes of `shot`, hash its dependencies and look at the work folder."""
    model_cache = {} if model_cache is None else model_cache
    opts, seed = effective_options(manifest, shot, overrides)
    backend, model_dir = _resolve_backend(opts)
    passes = plan_passes(shot)
    touched = set()
    for inp_i, inp in enumerate(manifest.inputs):
        if inp.offset < shot.end and shot.start < inp.offset + inp.frame_count:
            touched.add(inp_i)
        rl = shot.reference_lineart
        if isinstance(rl, int) and inp.offset <= rl < inp.offset + inp.frame_count:
            touched.add(inp_i)
    rl = shot.reference_lineart
    params = {
        "lvcd_version": __version__,
        "shot": {"name": shot.name, "start": shot.start, "end": shot.end, "reference_frame": shot.reference_frame},
        "reference_sha256": _sha256_file(shot.reference) if shot.reference is not None else None,
        "reference_lineart": (None if rl is None else {"frame": rl} if isinstance(rl, int)
                              else {"sha256": _sha256_file(rl)}),
        "inputs": [{"index": i, "offset": manifest.inputs[i].offset, "frames": manifest.inputs[i].frame_count,
                    "sha256": hashes(manifest.inputs[i].path)} for i in sorted(touched)],
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(opts.items())
                    if k not in NON_RENDER_OPTIONS},
        "seed": seed,
        "backend": backend,
        "model": _model_fingerprint(model_dir, model_cache),
        "passes": [asdict(p) for p in passes],
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    plan = ShotPlan(shot, opts, seed, backend, model_dir, passes, key, params, work / "shots" / shot.name)
    plan.status = _status(plan)
    return plan


def _status(plan: ShotPlan) -> str:
    try:
        stamp = json.loads(plan.stamp.read_text())
    except (OSError, ValueError):
        stamp = None
    if stamp and stamp.get("key") == plan.key and all(p.is_file() for p in plan.expected()):
        return "done"
    try:
        if (plan.state / "key").read_text().strip() == plan.key:
            return "partial"
    except OSError:
        pass
    return "todo"


# ---------------------------------------------------------------------------------------------------- rendering
class _Backends:
    """Backends loaded once per distinct (backend, model, device, dtype, offload, attention, compile); the decode
    chunk is a per-call option."""

    LOAD_KEYS = ("backend", "model", "device", "dtype", "offload", "attention", "compile")

    def __init__(self):
        self.loaded: dict[tuple, object] = {}

    def get(self, plan: ShotPlan):
        from .. import api

        opts = {**plan.options, "backend": plan.backend, "model": str(plan.model_dir) if plan.model_dir else None}
        k = tuple(str(opts.get(n)) for n in self.LOAD_KEYS)
        if k not in self.loaded:
            self.loaded[k], _ = api.make_backend(api.ColorizeOptions(**opts))
        return self.loaded[k]  # colorize_frames passes this shot's own options (seed, steps, ...) per call


def _reference_rgb(plan: ShotPlan, size: tuple[int, int]) -> np.ndarray:
    from .. import api

    return api.load_reference(plan.shot.reference, size, plan.options.get("reference_fit", "error"),
                              plan.options.get("reference_background"))


def _shot_polarity(plan: ShotPlan, source: EpisodeSource) -> str:
    pol = plan.options.get("polarity", "auto")
    if pol != "auto":
        return pol
    from ..lineart.normalize import detect_polarity

    return detect_polarity(source.frame(plan.shot.start))


def reference_lineart_frame(plan: ShotPlan, ref_rgb: np.ndarray, source: EpisodeSource, polarity: str) -> np.ndarray:
    """The lineart frame that stands for an external reference: the given frame of the input, the given lineart
    image, or XDoG lines of the reference, as a uint8 RGB frame in the shot's polarity and size."""
    import cv2

    from ..lineart.normalize import normalize_lineart

    h, w = ref_rgb.shape[:2]
    rl = plan.shot.reference_lineart
    if isinstance(rl, int):
        return source.frame(rl)
    if rl is not None:
        from ..video import read_image

        arr = read_image(rl, "RGB")  # transparent areas composited over white paper
        if arr.shape[:2] != (h, w):
            arr = cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA)
        strength = normalize_lineart(arr).strength
    else:
        from ..lineart.xdog import extract_lineart

        strength = extract_lineart(ref_rgb).strength
    ink = strength if polarity == "white-on-black" else 1.0 - strength
    g = np.clip(np.round(ink * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def _run_pass(plan: ShotPlan, p: Pass, backend, ref_rgb: np.ndarray, source: EpisodeSource, polarity: str | None,
              on_frame) -> None:
    from .. import api

    frames = source.frames(p)
    if p.prepend_reference:
        first = reference_lineart_frame(plan, ref_rgb, source, polarity)

        def chained(rest=frames):
            yield first
            yield from rest

        frames = chained()
    opts = {k: v for k, v in plan.options.items() if k != "backend"}  # `backend=` below is the loaded object
    if p.prepend_reference and opts.get("polarity", "auto") == "auto":
        opts["polarity"] = polarity  # the prepended frame must not decide the shot's polarity
    outputs = p.outputs()
    ckpt = plan.state / "ckpt" / p.name
    n = 0
    for j, frame in enumerate(api.colorize_frames(frames, ref_rgb, num_frames=p.num_frames, backend=backend,
                                                  checkpoint_dir=ckpt if plan.backend == "diffusion" else None,
                                                  **opts)):
        if j >= len(outputs):
            raise RuntimeError(f"shot {plan.shot.name!r}: the {p.name} pass produced more frames than it was given")
        g = outputs[j]
        n += 1
        if g is None:
            continue
        target = plan.folder / PNG_NAME.format(g)
        if not target.is_file():  # written atomically earlier by this same key: identical bytes
            write_png(target, frame)
        on_frame()
    if n != len(outputs):
        raise RuntimeError(f"shot {plan.shot.name!r}: the {p.name} pass produced {n} frames for {len(outputs)} inputs;"
                           " the shot was not finished")


def _reset(plan: ShotPlan) -> None:
    """Discard a stale stamp, stale frames and stale state, then start a state folder for the current key."""
    plan.stamp.unlink(missing_ok=True)  # first: a kill from here on leaves no stamp that could claim "done"
    shutil.rmtree(plan.folder, ignore_errors=True)
    shutil.rmtree(plan.state, ignore_errors=True)
    plan.folder.mkdir(parents=True, exist_ok=True)
    plan.state.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(plan.state / "key", plan.key.encode())


def render_shot(plan: ShotPlan, source: EpisodeSource, backends: _Backends, size: tuple[int, int],
                on_frame=lambda: None, *, worker: str | None = None, attempt: int = 1) -> str:
    """Render one planned shot into its folder (resuming where a previous run stopped). Returns what happened:
    "up to date" | "resumed" | "rendered". Progress goes to the work folder's status file (`lvcd.status`)."""
    from ..status import StatusReporter

    reporter = StatusReporter(plan.folder.parent.parent, plan.shot.name, plan.shot.frames, worker=worker,
                              attempt=attempt)
    if plan.status == "done":
        reporter.finish()
        return "up to date"

    def tick():
        reporter.frame()
        on_frame()

    reporter.start()
    try:
        status = _render_shot(plan, source, backends, size, tick)
    except BaseException as e:
        reporter.fail(e if not isinstance(e, KeyboardInterrupt) else "interrupted")
        raise
    reporter.finish()
    return status


def _render_shot(plan: ShotPlan, source: EpisodeSource, backends: _Backends, size: tuple[int, int], on_frame) -> str:
    resumed = plan.status == "partial"
    if not resumed:
        _reset(plan)
    for tmp in plan.folder.glob(".*.tmp"):  # a frame being written when the last run was killed
        tmp.unlink(missing_ok=True)
    ref_rgb = _reference_rgb(plan, size)
    polarity = _shot_polarity(plan, source) if plan.shot.external else None
    backend = None
    for p in plan.passes:
        marker = plan.state / f"{p.name}.done"
        kept = [plan.folder / PNG_NAME.format(g) for g in p.outputs() if g is not None]
        if marker.is_file() and all(q.is_file() for q in kept):
            for _ in kept:
                on_frame()
            continue
        backend = backend or backends.get(plan)
        _run_pass(plan, p, backend, ref_rgb, source, polarity, on_frame)
        _atomic_write_bytes(marker, b"")
    missing = [q.name for q in plan.expected() if not q.is_file()]
    if missing:
        raise RuntimeError(f"shot {plan.shot.name!r}: frames {missing[:5]} were not produced; the shot is not done")
    stamp = {"key": plan.key, "frames": plan.shot.frames, "seed": plan.seed, "params": plan.params}
    if plan.options.get("drift", True):
        stamp["colour_drift"] = shot_drift(plan, ref_rgb)
    _write_json(plan.stamp, stamp)
    shutil.rmtree(plan.state, ignore_errors=True)
    return "resumed" if resumed else "rendered"


def shot_drift(plan: ShotPlan, ref_rgb: np.ndarray) -> dict:
    """Colour drift of a finished shot's frames from its reference's palette, per window of global frame numbers
    (lvcd.eval.drift), read back from the shot's PNGs so a resumed shot is measured whole."""
    from ..eval.drift import DriftMonitor

    monitor = DriftMonitor(ref_rgb)
    for g, path in zip(range(plan.shot.start, plan.shot.end), plan.expected()):
        monitor.update(read_png(path), g)
    return monitor.summary()


def stamped_drift(plan: ShotPlan) -> dict | None:
    """The drift summary recorded in a done shot's stamp (None if it was rendered with drift off)."""
    try:
        return json.loads(plan.stamp.read_text()).get("colour_drift")
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------- assembly
def _audio_source(manifest: Manifest) -> str | None:
    """One input: its path when it has sound (the writer stream-copies that audio, no re-encode), else None. Several
    inputs: None here; their audio is rebuilt from pieces by `audio_pieces` (see `assemble_video`)."""
    ins = manifest.inputs
    if len(ins) == 1:
        return ins[0].path if ins[0].has_audio else None
    return None


def audio_pieces(manifest: Manifest, timeline: Sequence[tuple[int, int, object]]) -> list[AudioPieceSpec]:
    """The sound of an assembled video made of several inputs, as pieces for `lvcd.video.audio.build_audio_track`:
    for every stretch [a, b) of global frames in output order (a shot, or frames in no shot) and every input it
    overlaps, (that input's path, or None when it has no audio, start, duration) in seconds at the input's own rate
    (its frame / fps), so the sound lines up with the frames it belonged to."""
    pieces: list[AudioPieceSpec] = []
    for a, b, _ in timeline:
        for inp in manifest.inputs:
            lo, hi = max(a, inp.offset), min(b, inp.offset + inp.frame_count)
            if lo >= hi:
                continue
            fps = Fraction(inp.fps)
            pieces.append((inp.path if inp.has_audio else None, (lo - inp.offset) / fps, (hi - lo) / fps))
    return pieces


def assemble_video(manifest: Manifest, plans: Sequence[ShotPlan], output: str | os.PathLike, *, source: EpisodeSource,
                   crf: int = 18, fmt: str | None = None, overwrite: bool = False, progress: bool = True,
                   work: str | os.PathLike | None = None, audio: str | os.PathLike | None = None,
                   layers: bool = False) -> Path:
    """Write the final video: every frame in order (shot frames from the work folder, frames in no shot as the
    lineart itself) with the inputs' sound, atomically.

    Sound: one input is stream-copied (no re-encode; the writer's `audio_from`). Several inputs: for every stretch of
    the output, the audio of the input its frames come from over the same frames ([start, end) / fps seconds of that
    input), concatenated in output order; an input without sound gives silence of the same length, so what follows
    stays in sync; no input with sound gives no audio stream. That track is re-encoded once, to AAC 192 kb/s
    (`lvcd.video.audio`), in MP4, MOV and MKV alike (what MP4/MOV players expect; MKV holds it too), built in a
    temporary file in `work` (default: the system's temporary folder) that the writer then copies in and that is
    deleted afterwards, whether the assembly succeeds or not. PNG frame outputs carry no sound.
    """
    from tqdm.auto import tqdm

    from ..video import open_writer
    from ..video.writer import output_format

    missing = [p.shot.name for p in plans if _status(p) != "done"]
    if missing:
        raise RuntimeError(f"cannot assemble: shots {missing} are not rendered")
    if output_format(output, fmt) == "indexed":  # palette PNGs with one merged palette (lvcd.deliver)
        from ..deliver.shots import assemble_indexed

        return assemble_indexed(manifest, plans, output, source=source, overwrite=overwrite, progress=progress,
                                layers=layers)
    timeline: list[tuple[int, int, ShotPlan | None]] = []
    pos = 0
    for p in sorted(plans, key=lambda p: p.shot.start):
        if p.shot.start > pos:
            timeline.append((pos, p.shot.start, None))
        timeline.append((p.shot.start, p.shot.end, p))
        pos = p.shot.end
    if pos < manifest.frame_count:
        timeline.append((pos, manifest.frame_count, None))
    chosen, audio = audio, _audio_source(manifest)
    if chosen is not None:  # `--audio FILE|none` / the manifest's `audio:` replace the inputs' sound
        from ..video.audio import choose_audio

        audio = choose_audio(chosen, None)
    with contextlib.ExitStack() as stack:
        if chosen is None and len(manifest.inputs) > 1 and any(i.has_audio for i in manifest.inputs):
            if output_format(output, fmt) != "png":  # PNG frame outputs hold no sound
                from ..video.audio import temporary_audio_track

                logger.info("joining the audio of %d inputs for %s", len(manifest.inputs), output)
                audio = stack.enter_context(temporary_audio_track(audio_pieces(manifest, timeline), folder=work))
            else:
                logger.info("%s: PNG frames carry no audio; the inputs' sound is not written.", output)
        writer = stack.enter_context(open_writer(output, manifest.fps, manifest.size, audio_from=audio, crf=crf,
                                                 overwrite=overwrite, fmt=fmt))
        bar = stack.enter_context(tqdm(total=manifest.frame_count, unit="frame", desc="assemble",
                                       disable=not progress))
        for a, b, p in timeline:
            frames = source.read(a, b) if p is None else (read_png(p.folder / PNG_NAME.format(i)) for i in range(a, b))
            for f in frames:
                writer.write(f)
                bar.update()
    return Path(output)


# ---------------------------------------------------------------------------------------------------- API
@dataclass
class ShotResult:
    name: str
    start: int
    end: int
    seed: int
    status: str  # "rendered" | "resumed" | "up to date"
    folder: Path  # PNG frames named by global frame number
    seconds: float
    key: str


@dataclass
class BatchResult:
    """What `render_shots` did: per-shot results, and the assembled video when it was written."""

    work: Path
    shots: list[ShotResult] = field(default_factory=list)
    output: Path | None = None  # None when not assembled (`only=`, `assemble=False`, or no output given)
    sidecar: Path | None = None
    seconds: float = 0.0
    unchanged: bool = False  # the assembled output was already up to date and was left as it was

    @property
    def frames(self) -> int:
        return sum(s.end - s.start for s in self.shots)


def _split_overrides(overrides: Mapping) -> dict:
    names = option_names()
    bad = [k for k in overrides if k not in names]
    if bad:
        import difflib

        hints = [f"`{k}`" + (f" (did you mean `{m[0]}`?)" if (m := difflib.get_close_matches(k, names, 1)) else "")
                 for k in bad]
        raise TypeError(f"render_shots got unknown option(s) {', '.join(hints)}; options are lvcd.api.ColorizeOptions"
                        f" fields: {', '.join(names)}.")
    return {k: v for k, v in overrides.items() if v is not None}


def _check_references(m: Manifest, shots: Sequence[Shot], overrides: Mapping) -> None:
    """Load every selected reference (and reference lineart image) once before anything renders, so a grey, transparent
    or wrongly shaped keyframe of the last shot fails now, not hours into the batch."""
    from .. import api
    from ..video import read_image

    problems = []
    for shot in shots:
        opts, _ = effective_options(m, shot, overrides)
        try:
            api.load_reference(shot.reference, m.size, opts.get("reference_fit", "error"),
                               opts.get("reference_background"))
        except (OSError, ValueError) as e:
            problems.append(f"shot {shot.name!r}: `reference`: {e}")
        if isinstance(shot.reference_lineart, Path):
            try:
                read_image(shot.reference_lineart)
            except (OSError, ValueError) as e:
                problems.append(f"shot {shot.name!r}: `reference_lineart`: {e}")
    if problems:
        raise ManifestError(problems, m.path, note="Nothing was rendered.")


def plan_shots(manifest: Manifest | str | os.PathLike | Mapping, *, work: str | os.PathLike | None = None,
               only: Sequence[str] | None = None, **overrides) -> tuple[Manifest, Path, list[ShotPlan]]:
    """Validate the manifest and plan the selected shots (options, seeds, passes, hashes, status); loads no model."""
    try:
        m = load_manifest(manifest)
        selected = m.select(only)
        m.require_references(selected)
    except ManifestError as e:
        raise ManifestError(e.problems, e.source, note="Nothing was rendered.") from None
    overrides = _split_overrides(overrides)
    work_dir = Path(work) if work is not None else default_work_dir(m)
    _check_references(m, selected, overrides)
    hashes = _InputHashes(work_dir / "cache" / "inputs.json")
    model_cache: dict = {}
    plans = [plan_shot(m, s, work_dir, overrides, hashes, model_cache) for s in selected]
    work_dir.mkdir(parents=True, exist_ok=True)
    hashes.save()
    return m, work_dir, plans


def render_shots(manifest_or_path: Manifest | str | os.PathLike | Mapping, *, work: str | os.PathLike | None = None,
                 only: Sequence[str] | None = None, output: str | os.PathLike | None = None, assemble: bool = True,
                 progress: bool | None = None, executor: str = "local", executor_options: Mapping | None = None,
                 audio: str | os.PathLike | None = None, allow_outside_paths: bool = False,
                 **overrides) -> BatchResult:
    """Render every shot of a manifest (or the shots named in `only`) into the work folder, then assemble the final
    video (`output`, else the manifest's `output`) with the inputs' audio (see `assemble_video`). Resumable: see
    the module docstring.

    `overrides` are lvcd.api.ColorizeOptions fields; they win over the manifest's defaults and every shot's options
    (`seed` is then the base seed shots derive theirs from). Nothing renders unless the whole manifest is valid and
    every selected shot has a reference. With `only`, nothing is assembled.

    `executor`: "local" (this process), "ray" (a Ray cluster, `executor_options` are lvcd.distributed.ray_executor's)
    or "none" (render nothing, assemble shots already rendered); see lvcd.distributed.

    Safety: the work folder is locked for the run (`lvcd.lock`); what the manifest (not the caller) names to write,
    its `output` and `work`, must lie inside the manifest's folder unless `allow_outside_paths`; the output may not
    be an input or lie inside the work folder. `audio`: None = the manifest's `audio:`, else the inputs' sound;
    "none" = silent; a path = that file's sound. A finished batch whose assembled output already matches is left
    alone (`BatchResult.unchanged`).
    """
    from ..lock import WorkLock
    from ..outputs import check_output, confine

    try:
        m = load_manifest(manifest_or_path)
    except ManifestError as e:
        raise ManifestError(e.problems, e.source, note="Nothing was rendered.") from None
    if work is None and m.work is not None:
        confine(m.work, m.base_dir, "work", allow_outside=allow_outside_paths)
    if output is None and m.output is not None and assemble and not only:
        confine(m.output, m.base_dir, "output", allow_outside=allow_outside_paths)
    work_dir = Path(work) if work is not None else default_work_dir(m)
    out_path = Path(output) if output is not None else m.output
    if out_path is not None and assemble and not only:
        fmt = overrides.get("fmt") or m.defaults.get("fmt")
        check_output(out_path, inputs=[i.path for i in m.inputs], work=work_dir, fmt=fmt)
    audio = audio if audio is not None else m.audio
    if audio is not None:
        from ..video.audio import choose_audio

        choose_audio(audio, None)  # a missing or silent --audio file fails now, not after the render
    runner = None
    if executor != "local":  # before the lock: an executor that cannot run here leaves no work folder behind
        from ..distributed import make_executor

        runner = make_executor(executor, **(executor_options or {}))
    with WorkLock(work_dir):
        return _render_shots(m, work=work_dir, only=only, output=out_path, assemble=assemble, progress=progress,
                             runner=runner, audio=audio, manifest_src=manifest_or_path, **overrides)


def _render_shots(m: Manifest, *, work: Path, only, output, assemble: bool, progress, runner, audio, manifest_src,
                  **overrides):
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    m, work_dir, plans = plan_shots(m, work=work, only=only, **overrides)
    opts = {**m.defaults, **_split_overrides(overrides)}
    show = not opts.get("quiet", False) if progress is None else progress
    out_path = Path(output) if output is not None else m.output
    do_assemble = assemble and not only and out_path is not None
    side = _assembly_record(m, plans, out_path, audio, opts) if do_assemble else None
    result = BatchResult(work_dir)
    if do_assemble and not opts.get("overwrite") and all(p.status == "done" for p in plans) and \
            up_to_date(out_path, side):  # a finished batch run again: nothing to render, nothing to write
        result.shots = [ShotResult(p.shot.name, p.shot.start, p.shot.end, p.seed, "up to date", p.folder, 0.0, p.key)
                        for p in plans]
        result.output, result.unchanged = out_path, True
        result.sidecar = sidecar_path(out_path)
        result.seconds = time.perf_counter() - t0
        return result
    if do_assemble:
        from ..video import check_output_path

        check_output_path(out_path, overwrite=bool(opts.get("overwrite", False)), fmt=opts.get("fmt"))  # fail now
        if opts.get("fmt") == "indexed":
            from ..deliver.shots import check_indexed

            for p in plans:
                check_indexed(p.backend, bool(p.options.get("snap", False)))
    elif assemble and not only and out_path is None:
        logger.warning("no `output` in the manifest and none given: rendering the shots only (nothing assembled)")
    source = EpisodeSource(m)
    backends = _Backends()
    todo = sum(p.shot.frames for p in plans if p.status != "done")
    logger.info("%d shots: %d up to date, %d to resume, %d to render (%d frames); work folder %s", len(plans),
                sum(p.status == "done" for p in plans), sum(p.status == "partial" for p in plans),
                sum(p.status == "todo" for p in plans), todo, work_dir)
    if runner is not None:  # renders elsewhere; raises lvcd.distributed.ShotsFailed (nothing assembled) on failures
        result.shots = runner.render(manifest_src, m, work_dir, plans, overrides, progress=show)
    with tqdm(total=todo, unit="frame", desc="all shots", disable=not show or runner is not None,
              position=0) as overall:
        for p in plans if runner is None else ():
            ts = time.perf_counter()
            if p.status == "done":
                status = "up to date"
            else:
                with tqdm(total=p.shot.frames, unit="frame", desc=f"shot {p.shot.name}", disable=not show, position=1,
                          leave=False) as bar:

                    def tick(bar=bar):
                        bar.update()
                        overall.update()

                    status = render_shot(p, source, backends, m.size, tick)
            result.shots.append(ShotResult(p.shot.name, p.shot.start, p.shot.end, p.seed, status, p.folder,
                                           time.perf_counter() - ts, p.key))
            logger.info("shot %s: %s (%d frames, seed %d)", p.shot.name, status, p.shot.frames, p.seed)
            drift = stamped_drift(p)
            if drift and drift.get("over_threshold"):
                from ..eval.drift import format_drift

                logger.warning("shot %s: %s", p.shot.name, format_drift(drift))
    if do_assemble:
        if len(plans) != len(m.shots):  # pragma: no cover - `only` is excluded above
            raise ManifestError(["internal: not every shot was planned"], m.path)
        result.output = assemble_video(m, plans, out_path, source=source, crf=int(opts.get("crf", 18)),
                                       fmt=opts.get("fmt"), overwrite=bool(opts.get("overwrite", False)),
                                       progress=show, work=work_dir, audio=audio,
                                       layers=bool(opts.get("layers", False)))
        from ..video import write_sidecar

        result.sidecar = write_sidecar(out_path, _assembly_record(m, plans, out_path, audio, opts))
    result.seconds = time.perf_counter() - t0
    return result


def _assembly_record(m: Manifest, plans: Sequence[ShotPlan], out_path: Path, audio, opts: Mapping) -> dict:
    """The assembled video's sidecar: everything its pixels and sound depend on (so a re-run can tell that the
    output is already this)."""
    return {
        "lvcd_version": __version__,
        "manifest": str(m.path) if m.path else None,
        "inputs": [i.path for i in m.inputs],
        "output": str(out_path),
        "frames": m.frame_count,
        "fps": str(m.fps),
        "size": list(m.size),
        "gaps": [list(g) for g in m.gaps()],
        "audio": str(audio) if audio is not None else None,
        "encode": {"crf": int(opts.get("crf", 18)), "fmt": opts.get("fmt")},
        "shots": [{"name": p.shot.name, "start": p.shot.start, "end": p.shot.end, "seed": p.seed,
                   "backend": p.backend, "key": p.key, "colour_drift": stamped_drift(p)} for p in plans],
    }
