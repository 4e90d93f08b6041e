"""Where a video output goes: its format and layout by extension (`resolve_format`, `output_format`), the checks
made before any work (`check_output_path`: a known format, not existing unless overwriting, a folder we can write
to) and where its JSON sidecar goes (`sidecar_path`). The formats are listed in `lvcd.video.writer`.

Deliberately not here: writing (writer.py) and the temporary names / publishing of finished outputs
(`lvcd.outputs`). No torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from .images import is_pattern, pattern_files

__all__ = [
    "FOLDER_FRAME_NAME",
    "FORMATS",
    "SUPPORTED_OUTPUTS",
    "check_output_path",
    "output_format",
    "resolve_format",
    "sidecar_path",
    "writable_dir",
]

VIDEO_EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "mkv", ".mov": "mov"}
FORMATS = ("mp4", "mkv", "mov", "png")
SUPPORTED_OUTPUTS = ".mp4, .mkv, .mov (ProRes), a folder for PNG frames, or a PNG pattern like out/frame_%06d.png"
FOLDER_FRAME_NAME = "frame_%06d.png"  # frame names inside a PNG folder output


def resolve_format(path: Path, fmt: str | None) -> tuple[str, str]:
    """(format, layout) with layout "file" | "folder" | "pattern"."""
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        if fmt == "indexed":  # palette PNG folder, written by lvcd.deliver.IndexedWriter (not by FrameWriter)
            return "indexed", "folder"
        if fmt not in FORMATS:
            raise ValueError(f"`fmt` must be one of {', '.join(FORMATS)} (got {fmt!r}).")
        if fmt == "png":
            return "png", "pattern" if is_pattern(path) else "folder"
        return fmt, "file"
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return VIDEO_EXTENSIONS[suffix], "file"
    if suffix == ".png":
        if is_pattern(path):
            return "png", "pattern"
        raise ValueError(
            f"output {path}: one .png file cannot hold a video; pass a folder ({path.with_suffix('')}/) "
            f"or a pattern ({path.with_name(path.stem + '_%06d.png')})."
        )
    if is_pattern(path):
        raise ValueError(f"output {path}: frame patterns are written as PNG; end the pattern in .png.")
    if suffix == "" or str(path).endswith(os.sep) or path.is_dir():
        return "png", "folder"
    raise ValueError(f"output {path}: unknown extension {suffix!r}; supported: {SUPPORTED_OUTPUTS}.")


def output_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format an output will be written in ("mp4" | "mkv" | "mov" | "png" | "indexed"), as `open_writer`
    decides it ("indexed" only when asked by `fmt`)."""
    return resolve_format(Path(path), fmt)[0]


def writable_dir(folder: Path) -> Path:
    """Nearest existing ancestor of `folder`, checked for write access (PermissionError naming it)."""
    probe_dir = folder
    while not probe_dir.exists():
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise NotADirectoryError(
            f"cannot write into {folder}: {probe_dir} is a file, not a folder; choose another output path."
        )
    if not os.access(probe_dir, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cannot write into {probe_dir} (permission denied); choose an output path in a folder you can write to."
        )
    return probe_dir


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False, fmt: str | None = None) -> Path:
    """Validate an output before any work is done: a known format, not existing (unless `overwrite`), in a folder we
    can write to. Returns the path. Raises ValueError, FileExistsError or PermissionError with the fix."""
    out = Path(path)
    _, layout = resolve_format(out, fmt)
    exists = False
    if layout == "file":
        if out.is_dir():
            raise ValueError(
                f"output {out} is a folder; give a file name such as {out / 'colorized.mp4'}, or "
                "`fmt='png'` to write PNG frames into it."
            )
        exists = out.exists()
    elif layout == "folder":
        if out.exists() and not out.is_dir():
            raise ValueError(
                f"output {out} is a file, but a path without extension means a folder of PNG frames; "
                "give a .mp4/.mkv/.mov name or a folder path."
            )
        exists = out.is_dir() and any(not e.name.startswith(".") for e in os.scandir(out))
    else:
        exists = bool(pattern_files(out))
    if exists and not overwrite:
        what = "holds files" if layout != "file" else "exists"
        raise FileExistsError(
            f"output {out} {what}; pass --overwrite (overwrite=True) to replace it, or choose another output path."
        )
    writable_dir(out.parent if layout != "folder" else out)
    return out


def sidecar_path(output: str | os.PathLike) -> Path:
    """Where the JSON sidecar of an output goes: `clip.mp4` -> `clip.mp4.json`; folder `out/` -> `out.json` beside
    it; pattern `out/frame_%04d.png` -> `out/frame.json`."""
    out = Path(output)
    if is_pattern(out):
        stem = out.name.split("%", 1)[0].rstrip("_-. ") or "frames"
        return out.parent / f"{stem}.json"
    if out.suffix == "" or out.is_dir():
        return out.parent / f"{out.name}.json"
    return out.parent / f"{out.name}.json"
