"""Still images and image sequences: natural-order folder listing, printf patterns, `read_image`.

A sequence is either a folder of PNG/JPG/TIFF/WebP/BMP files read in natural order (`f2.png` before `f10.png`; hidden
files and other extensions ignored) or a printf pattern such as `shots/frame_%04d.png` (contiguous numbers from the
lowest one found). Images are decoded with OpenCV (`IMREAD_UNCHANGED`, so 16-bit and alpha survive), Pillow as a
fallback. Conversions to the uint8 RGB frames that cross `lvcd.video`'s boundary:

* 16-bit -> 8-bit with rounding (`x * 255 / 65535`); float images are taken as 0..1;
* grayscale -> three equal channels;
* alpha -> composited over white (transparent lineart becomes black-on-white paper). Callers that need the alpha
  itself (lineart polarity detection) use `read_image(path, mode="RGBA")`.

EXIF orientation is not applied (animation frames do not carry it). Not here: polarity detection (`lvcd.lineart`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
from pathlib import Path

import numpy as np

from .errors import VideoReadError

__all__ = [
    "IMAGE_EXTENSIONS",
    "allow_gaps",
    "gaps_allowed",
    "is_pattern",
    "list_sequence",
    "natural_key",
    "read_image",
    "to_rgb",
    "to_rgba",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
_SAME_KIND = {".jpeg": ".jpg", ".tiff": ".tif"}  # spellings of one format, allowed to mix in a folder
_PRINTF = re.compile(r"%(0?)(\d*)d")
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")  # prefix, frame number, suffix (extension included)
_ALLOW_GAPS = contextvars.ContextVar("lvcd_allow_gaps", default=False)


@contextlib.contextmanager
def allow_gaps(allow: bool = True):
    """Within this block, a sequence with holes in its numbering is read as the frames that are there (with a
    warning) instead of being refused. The CLI's `--allow-gaps`; for the API: `with allow_gaps(): ...`."""
    token = _ALLOW_GAPS.set(bool(allow))
    try:
        yield
    finally:
        _ALLOW_GAPS.reset(token)


def gaps_allowed() -> bool:
    return _ALLOW_GAPS.get()


def _ranges(numbers: list[int], width: int) -> str:
    """[5, 11, 12, 13] -> "0005, 0011-0013" (at most 12 ranges, then a count)."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = [f"{a:0{width}d}" if a == b else f"{a:0{width}d}-{b:0{width}d}" for a, b in runs[:12]]
    if len(runs) > 12:
        text.append(f"... ({len(runs) - 12} more ranges)")
    return ", ".join(text)


def _check_gaps(src: Path, numbers: list[int], width: int, what: str) -> None:
    """Refuse (or, under `allow_gaps`, warn about) holes in a sequence's frame numbers."""
    lo, hi = numbers[0], numbers[-1]
    if hi - lo + 1 == len(numbers):
        return
    have = set(numbers)
    missing = [n for n in range(lo, hi + 1) if n not in have]
    listed = _ranges(missing, width)
    if gaps_allowed():
        logger.warning(
            "%s %s: %d frame numbers are missing (%s); --allow-gaps: rendering the %d frames that are "
            "there, one after the other (the output has %d frames, the gaps closed up)",
            what,
            src,
            len(missing),
            listed,
            len(numbers),
            len(numbers),
        )
        return
    from .errors import VideoReadError

    raise VideoReadError(
        f"{what} {src} has gaps in its numbering: {len(missing)} of {hi - lo + 1} frames are missing ({listed}). "
        f"Re-export the missing frames, or pass --allow-gaps to render the {len(numbers)} frames that are there "
        "(the output then has the gaps closed up, so its timing differs from the numbering)."
    )


def natural_key(name: str) -> list:
    """Sort key putting `frame2` before `frame10` (digit runs compare as numbers, the rest case-insensitively)."""
    return [(0, int(tok), tok) if tok.isdigit() else (1, tok.lower(), tok) for tok in re.split(r"(\d+)", name) if tok]


def is_pattern(path: str | os.PathLike) -> bool:
    """True for a printf frame pattern such as `frames/frame_%04d.png` (the `%d` must be in the file name)."""
    return bool(_PRINTF.search(Path(path).name))


def pattern_regex(pattern: str | os.PathLike) -> re.Pattern:
    """A regex matching the file names a printf pattern produces; group 1 is the frame number."""
    name = Path(pattern).name
    specs = list(_PRINTF.finditer(name))
    if len(specs) != 1:
        raise ValueError(
            f"frame pattern {pattern} must contain exactly one %d / %0Nd (got {len(specs)}); e.g. "
            "frames/frame_%04d.png"
        )
    m = specs[0]
    return re.compile(re.escape(name[: m.start()]) + r"(\d+)" + re.escape(name[m.end() :]) + r"\Z")


def pattern_files(pattern: str | os.PathLike) -> dict[int, Path]:
    """Existing files matching a printf pattern, by frame number (names must format back exactly: `%04d` does not
    match `frame_12.png`)."""
    pattern = Path(pattern)
    rx = pattern_regex(pattern)
    found: dict[int, Path] = {}
    if not pattern.parent.is_dir():
        return found
    with os.scandir(pattern.parent) as it:
        for entry in it:
            m = rx.match(entry.name)
            if m and entry.is_file() and pattern.name % int(m.group(1)) == entry.name:
                found[int(m.group(1))] = Path(entry.path)
    return found


def list_sequence(source: str | os.PathLike) -> list[Path]:
    """The frames of a folder (natural order) or of a printf pattern (contiguous numbers), as paths.

    Raises FileNotFoundError for a missing folder, VideoReadError for an empty sequence, a folder mixing image formats
    or a pattern with a gap in its numbering.
    """
    src = Path(source)
    if is_pattern(src):
        if not src.parent.is_dir():
            raise FileNotFoundError(
                f"the folder of frame pattern {src} does not exist ({src.parent}); check the path."
            )
        found = pattern_files(src)
        if not found:
            raise VideoReadError(
                f"no file matches the frame pattern {src} (zero frames); check the name and the "
                f"number of digits (%04d means frame_0001.png)."
            )
        numbers = sorted(found)
        m = _PRINTF.search(src.name)
        width = int(m.group(2)) if m and m.group(2) else 1
        _check_gaps(src, numbers, width, "frame pattern")
        return [found[n] for n in numbers]
    if not src.exists():
        raise FileNotFoundError(
            f"{src} does not exist; pass a video file, a folder of frames or a pattern like frames/frame_%04d.png."
        )
    if not src.is_dir():
        raise VideoReadError(f"{src} is not a folder of frames.")
    files = [
        Path(e.path)
        for e in os.scandir(src)
        if e.is_file() and not e.name.startswith(".") and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not files:
        raise VideoReadError(
            f"folder {src} holds no images ({', '.join(IMAGE_EXTENSIONS)}): zero frames. Point at "
            "the folder that holds the frames, or at a video file."
        )
    kinds: dict[str, int] = {}
    for f in files:
        ext = f.suffix.lower()
        kinds[_SAME_KIND.get(ext, ext)] = kinds.get(_SAME_KIND.get(ext, ext), 0) + 1
    if len(kinds) > 1:
        counts = ", ".join(f"{n} {ext}" for ext, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        raise VideoReadError(
            f"folder {src} mixes image formats ({counts}); pass a pattern that picks the frames, "
            f"e.g. {src / 'frame_%04d.png'}, or move the other files out."
        )
    files.sort(key=lambda p: natural_key(p.name))
    _check_folder_numbering(src, files)
    return files


def _check_folder_numbering(src: Path, files: list[Path]) -> None:
    """A folder whose files are all `<prefix><number><suffix>` with one prefix and suffix is a numbered sequence:
    a hole in the numbers is a lost frame (refused unless `allow_gaps`). Other naming is taken as it sorts."""
    parts = [_NUMBERED.match(f.name) for f in files]
    if len(files) < 2 or not all(parts):
        return
    if len({(m.group(1), m.group(3).lower()) for m in parts}) != 1:
        return
    numbers = sorted({int(m.group(2)) for m in parts})
    width = min(len(m.group(2)) for m in parts)
    _check_gaps(src, numbers, width, "frame folder")


def _decode(path: Path) -> np.ndarray:
    """The image as stored: HxW or HxWxC (C in 1..4, RGB(A) order), uint8 / uint16 / float."""
    import cv2

    try:
        data = np.fromfile(path, np.uint8)  # (imdecode of bytes also handles non-ASCII paths on every platform)
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise VideoReadError(f"{path} is a folder, not an image.") from None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is not None:
        if img.ndim == 3 and img.shape[2] == 3:
            img = img[:, :, ::-1]  # BGR -> RGB
        elif img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, [2, 1, 0, 3]]  # BGRA -> RGBA
        return img
    try:  # formats OpenCV was built without
        from PIL import Image, UnidentifiedImageError

        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.asarray(im).astype(np.int64).clip(0, 65535).astype(np.uint16)
            return np.asarray(im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    raise VideoReadError(
        f"{path} is not a readable image (empty, damaged or an unsupported format); re-export it as PNG."
    )


def _to_uint8(img: np.ndarray, path: Path | str) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        return (np.clip(np.nan_to_num(img), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise VideoReadError(f"{path}: unsupported sample type {img.dtype}; re-export it as 8- or 16-bit PNG.")


def to_rgba(img: np.ndarray, path: Path | str = "image") -> np.ndarray:
    """Any decoded image (gray, gray+alpha, RGB, RGBA; 8/16-bit or float) -> HxWx4 uint8 RGBA."""
    img = _to_uint8(img, path)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, c = img.shape
    out = np.empty((h, w, 4), np.uint8)
    if c in (1, 2):
        out[:, :, :3] = img[:, :, :1]
    elif c in (3, 4):
        out[:, :, :3] = img[:, :, :3]
    else:
        raise VideoReadError(f"{path}: {c} channels is not an image layout we know; re-export it as RGB(A) PNG.")
    out[:, :, 3] = img[:, :, c - 1] if c in (2, 4) else 255
    return out


def composite_over_white(rgba: np.ndarray) -> np.ndarray:
    """HxWx4 uint8 -> HxWx3 uint8, transparent pixels becoming white (exact for opaque pixels)."""
    rgb, alpha = rgba[:, :, :3], rgba[:, :, 3:]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgb)
    a = alpha.astype(np.uint16)
    return ((rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def to_rgb(img: np.ndarray, path: Path | str = "image") -> np.ndarray:
    """Any decoded image -> HxWx3 uint8 RGB (alpha composited over white)."""
    img = _to_uint8(img, path)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    if img.ndim == 2 or img.shape[2] == 1:
        g = img.reshape(img.shape[0], img.shape[1], 1)
        return np.repeat(g, 3, axis=2)
    return composite_over_white(to_rgba(img, path))


def read_image(path: str | os.PathLike, mode: str = "RGB") -> np.ndarray:
    """One image as HxWx3 (`mode="RGB"`, alpha composited over white) or HxWx4 (`mode="RGBA"`, alpha 255 where the
    file has none) uint8. Grayscale, palette, 16-bit and float images are converted."""
    if mode not in ("RGB", "RGBA"):
        raise ValueError(f"`mode` must be 'RGB' or 'RGBA' (got {mode!r}).")
    path = Path(path)
    img = _decode(path)
    return to_rgba(img, path) if mode == "RGBA" else to_rgb(img, path)
