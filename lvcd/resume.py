"""What makes a render resumable and its result identifiable: per-window checkpoints (`SegmentStore`), cached content
hashes of the inputs (`InputHashes`), the one render key that both `colorize --work` and the shot stamps of
`lvcd batch` use (`render_params` + `render_key`; `checkpoint_folder` for `colorize --work`), atomic file writes, and
the sidecar record of a finished render (`sidecar_record`, `timing_record`).

Imported by `lvcd.api` and `lvcd.shots`; imports nothing above itself (safetensors/torch only inside
`SegmentStore`'s methods, the window carry as a plain dict of tensors that the pipeline turns back into its type).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .options import RenderOptions
from .version import __version__


# ---------------------------------------------------------------------------------------------------- atomic files
def atomic_write_bytes(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write `data` to a temporary name beside `path` unique to this process, then rename: a kill leaves the old file
    or the new one (`lvcd.outputs.atomic_write_bytes`)."""
    from .outputs import atomic_write_bytes as write

    write(path, data, fsync=fsync)


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode(), fsync=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_pixels(rgb: np.ndarray) -> str:
    """Content hash of an in-memory image (shape included)."""
    return hashlib.sha256(repr(rgb.shape).encode() + np.ascontiguousarray(rgb).tobytes()).hexdigest()


class InputHashes:
    """Content hashes of input files / sequences, cached in the work folder by (path, size, mtime)."""

    def __init__(self, cache_file: Path):
        self.file = Path(cache_file)
        try:
            self.cache = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.cache = {}
        self.dirty = False

    def _files(self, path: str) -> list[Path]:
        p = Path(path)
        if p.is_file():
            return [p]
        from .video import list_sequence

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
            h.update(f.name.encode() + b"\0" + bytes.fromhex(sha256_file(f)))
        digest = h.hexdigest()
        self.cache[str(Path(path).resolve())] = {"sig": sig, "sha256": digest}
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.file, self.cache)
            self.dirty = False


# ---------------------------------------------------------------------------------------------------- render key
def render_params(
    options: RenderOptions, *, backend: str, model: dict, inputs: list[dict], reference_sha256: str | None, **extra
) -> dict:
    """Everything a render's pixels depend on: the lvcd version, the inputs' content, the reference, the options that
    change pixels (`lvcd.options.PIXEL_FIELDS`, with the resolved `backend`), the model's weight fingerprint, and
    what the caller adds (`extra`: frame count, shot range and passes, the loaded device and dtype, ...)."""
    return {
        "lvcd_version": __version__,
        "inputs": inputs,
        "reference_sha256": reference_sha256,
        "options": {**options.pixel_options(), "backend": backend},
        "model": model,
        **extra,
    }


def extra_reference_hashes(extra_references, hash_path=None) -> list[dict]:
    """What the extra references (issue 15) add to `render_params`: per reference and field, the content hash of the
    file, sequence or array (`hash_path(path)`, default: an `InputHashes` without a cache). Empty for none, so the
    one-reference keys stay what they were."""
    hash_path = hash_path or InputHashes(Path(os.devnull))
    out = []
    for item in extra_references or []:
        if hasattr(item, "as_dict"):
            item = item.as_dict()
        elif not isinstance(item, dict):
            item = {"image": item}
        row = {}
        for k in sorted(item):
            v = getattr(item[k], "source", item[k])  # a MaskFrames: its source
            if v is not None:
                row[k] = sha256_pixels(np.asarray(v)) if isinstance(v, np.ndarray) else hash_path(str(v))
        out.append(row)
    return out


def render_key(params: dict) -> str:
    """The one hash of `render_params`: equal keys, equal frames."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------- windows
class SegmentStore:
    """Per-window checkpoints of a diffusion render: `seg_00000.safetensors` holds that window's emitted latents and
    the carry the next window needs. Written atomically (temp file + rename); read back in order on resume. The
    pipeline's `stream(store=...)` drives it."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def save(self, res) -> None:
        """Checkpoint one window (`res`: the pipeline's SegmentResult)."""
        from safetensors.torch import save_file

        tensors = {"latents": res.latents.detach().cpu().clone()}
        if res.carry is not None:  # clones: views of one window's latents may not share storage in safetensors
            tensors.update({f"carry.{k}": v.detach().cpu().clone() for k, v in res.carry.state_dict().items()})
        path = self._path(res.segment)
        from .lock import owner_tag

        tmp = path.with_name(f".{path.name}.{owner_tag()}.partial")  # unique per process
        save_file(tensors, str(tmp))
        os.replace(tmp, path)

    def finished(self) -> int:
        """How many windows are checkpointed (consecutive from window 0, as `load` reads them)."""
        k = 0
        while self._path(k).is_file():
            k += 1
        return k

    def load(self) -> tuple[list, dict | None]:
        """-> (latent blocks of the finished windows in order, the last one's carry as a state dict, or None if it was
        the last window)."""
        from safetensors.torch import load_file

        blocks, carry = [], None
        for k in range(self.finished()):
            sd = load_file(str(self._path(k)))
            blocks.append(sd["latents"])
            carry = {key[len("carry.") :]: v for key, v in sd.items() if key.startswith("carry.")} or None
        return blocks, carry

    def _path(self, segment: int) -> Path:
        return self.folder / f"seg_{segment:05d}.safetensors"


# ---------------------------------------------------------------------------------------------------- sidecar
def sidecar_record(
    *,
    input,
    reference,
    output,
    frames: int,
    fps,
    size: tuple[int, int],
    backend: str,
    options: RenderOptions,
    model_dir: Path | None,
    fingerprint: dict,
    seconds: float,
) -> dict:
    """The JSON written beside a `colorize_video` output: what was rendered, how, with which model."""
    from .options import jsonable

    return {
        "lvcd_version": __version__,
        "input": str(input),
        "reference": str(reference),
        "output": str(output),
        "frames": frames,
        "fps": str(fps),
        "size": list(size),
        "backend": backend,
        "options": jsonable(options.as_dict()),
        "model": str(model_dir) if model_dir else None,
        "model_files": fingerprint,
        "seconds": round(seconds, 3),
    }


def timing_record(info) -> dict:
    """The sidecar's `timing` (from `lvcd.video.probe`'s `VideoInfo`): constant rate, or (variable frame rate)
    output frame i = input frame i at its timestamp, every frame kept."""
    if info.timestamps is None:
        return {
            "variable_frame_rate": bool(info.is_vfr),
            "fps": str(info.fps),
            "resampled": bool(info.is_vfr or info.source_frame_count != info.frame_count),
        }
    return {
        "variable_frame_rate": True,
        "average_fps": str(info.fps),
        "mapping": "output frame i = input frame i",
        "timestamps_s": [str(t) for t in info.timestamps],
    }


def checkpoint_folder(
    work: Path,
    input,
    reference: np.ndarray,
    frames: int,
    options: RenderOptions,
    *,
    backend: str,
    fingerprint: dict,
    device: str,
    dtype: str,
    extra_references=None,
) -> Path:
    """`work/colorize/<key>`: the window checkpoints of a `colorize --work` render, keyed by everything its latents
    depend on (`render_params`: input content, reference pixels, pixel options, model; plus the frame count and the
    loaded device class and dtype; the extra references' content when there are some). The input hashes are cached
    in `work/cache/inputs.json`."""
    hashes = InputHashes(work / "cache" / "inputs.json")
    extra = {"extra_references": extra_reference_hashes(extra_references, hashes)} if extra_references else {}
    params = render_params(
        options,
        backend=backend,
        model=fingerprint,
        inputs=[{"sha256": hashes(str(input))}],
        reference_sha256=sha256_pixels(reference),
        frames=frames,
        device=device,
        dtype=dtype,
        **extra,
    )
    hashes.save()
    return work / "colorize" / render_key(params)[:24]
