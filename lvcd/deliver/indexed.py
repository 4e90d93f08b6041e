"""`--format indexed`: a folder of palette PNGs (mode "P") plus the palette files, and `--layers`.

Output folder layout::

    out/frame_000000.png ...    8-bit palette PNG: every pixel an index into the palette (PLTE chunk = the palette,
                                so any viewer shows the colours; a paint program recolours by editing one entry)
    out/palette.json            index, RGB, hex, name, kind (line / named / keyframe / paper), pixel count; shots
    out/palette.gpl             GIMP / Krita palette, entries in index order
    out/palette.aco             Photoshop swatches (version 1 + 2, names), entries in index order
    out/layers/000_line/...     (--layers) per palette entry an RGBA PNG sequence: the entry's colour, alpha = the
    out/layers/003_hair/...     pixels whose paint (beneath any ink) is that entry; every layer has every frame
    out/layers/lines/...        the ink: line colour, alpha = its anti-aliased coverage (the paints + this layer
                                composite back to the --keep-lines output within 1 level per channel)

Why PNG sequences and not one layered file per frame: every compositor and paint program reads PNG sequences with
alpha (Krita's "Import animation frames", GIMP, After Effects, Nuke, Harmony, OpenToonz). The layered formats each
reach only part of that list: a Photoshop-layered TIFF keeps its layers in Photoshop's private tag (reported opened
with layers by Photoshop and Krita, flattened by GIMP and others), a multi-page TIFF's pages open as layers in GIMP
but as pages or a single image elsewhere, and a multi-part OpenEXR needs an OpenEXR library here and holds float
channels, several times the bytes of a flat-colour PNG. Neither Krita nor GIMP could be run on this machine to
measure them, so the format every one of them reads is the one written.

Written atomically like lvcd.video's writers: everything goes to a hidden temporary folder beside the output,
renamed into place by `close()`; an exception or `abort()` removes it. No torch.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..outputs import partial_prefix, publish_folder, remove_stale_partials, usual_mode
from ..video.output_paths import check_output_path
from .paints import Palette, to_indices
from .swatches import PALETTE_FILES, write_palette_files

logger = logging.getLogger("lvcd")

FRAME_NAME = "frame_{:06d}.png"  # as lvcd.video.writer's PNG folders
_FRAME_RE = re.compile(r"^frame_\d{6}\.png$")
LAYERS_DIR = "layers"
LINES_LAYER = "lines"


def _safe(name: str) -> str:
    s = re.sub(r"[^0-9A-Za-z._-]+", "_", name).strip("._")
    return s or "entry"


def layer_name(index: int, name: str) -> str:
    return f"{index:03d}_{_safe(name.lstrip('#'))}"


def encode_indexed_png(indices: np.ndarray, palette: Palette) -> bytes:
    """An 8-bit palette PNG of uint8 [H, W] indices with exactly len(palette) PLTE entries."""
    import io

    from PIL import Image

    h, w = indices.shape
    im = Image.frombytes("P", (w, h), np.ascontiguousarray(indices, np.uint8).tobytes())
    im.putpalette(palette.colours.tobytes(), rawmode="RGB")
    buf = io.BytesIO()
    im.save(buf, format="PNG")  # PLTE = exactly the palette; <= 16 entries are packed 4 bits a pixel (valid PNG)
    return buf.getvalue()


def read_indexed_png(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(indices uint8 [H, W], palette uint8 [K, 3]) of a palette PNG."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode != "P":
            raise ValueError(
                f"{path} is a {im.mode} image, not an indexed (palette) PNG; pass a folder written by "
                "`lvcd colorize --format indexed`."
            )
        idx = np.asarray(im).copy()
        pal = np.array(im.getpalette(rawmode="RGB"), np.uint8).reshape(-1, 3)
    return idx, pal


def _rgba_png(rgb, alpha: np.ndarray) -> bytes:
    import cv2

    h, w = alpha.shape
    bgra = np.empty((h, w, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2] = rgb[2], rgb[1], rgb[0]
    bgra[..., 3] = alpha
    ok, buf = cv2.imencode(".png", bgra)
    if not ok:  # pragma: no cover
        raise OSError("could not encode a layer PNG")
    return buf.tobytes()


class IndexedWriter:
    """Write RGB frames as palette PNGs (see the module docstring). `palette` may be a callable returning the
    Palette, resolved at the first frame (the paint-bucket backend knows its paints once the keyframe is read).

    >>> with IndexedWriter("out/shot", 24, (576, 320), palette=pal, layers=True) as w:
    ...     for frame in frames:
    ...         w.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps,
        size: tuple[int, int],
        *,
        palette,
        overwrite: bool = False,
        layers: bool = False,
        name: str | None = None,
        extra: dict | None = None,
        start_number: int = 0,
    ):
        self.path = Path(path)
        check_output_path(self.path, overwrite=overwrite, fmt="indexed")
        self.fps = Fraction(str(fps)) if not isinstance(fps, Fraction) else fps
        self.size = (int(size[0]), int(size[1]))
        self._palette = palette
        self.palette: Palette | None = palette if isinstance(palette, Palette) else None
        self.overwrite, self.layers = overwrite, layers
        self.name = name or self.path.name
        self.extra = dict(extra or {})
        self.number = int(start_number)
        self.frames_written = 0
        self.foreign = 0
        self.counts: np.ndarray | None = None
        self._layer_frames: dict[str, set[int]] = {}
        self._numbers: list[int] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self.path)  # what a killed run left (its own naming only, its pid gone)
        self._tmp = Path(tempfile.mkdtemp(prefix=partial_prefix(self.path.name), dir=self.path.parent))
        self._done = False

    # ------------------------------------------------------------------------------------------------ writing
    def write(self, frame: np.ndarray, number: int | None = None) -> None:
        """Append one uint8 [H, W, 3] RGB frame (`number`: its frame number in the file name; default: next)."""
        if self._done:
            raise RuntimeError(f"the indexed writer of {self.path} is closed.")
        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (h, w, 3):
            got = f"{frame.dtype} {tuple(frame.shape)}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"frame {self.frames_written} for {self.path} must be uint8 ({h}, {w}, 3); got {got}.")
        if self.palette is None:
            self.palette = self._palette()
            logger.info(
                "%s: indexed palette of %d entries (%s)", self.path, len(self.palette), ", ".join(self.palette.names)
            )
        pal = self.palette
        if self.counts is None:
            self.counts = np.zeros(len(pal), np.int64)
        n = self.number if number is None else int(number)
        idx, under, alpha, foreign = to_indices(frame, pal, fill=self.layers)
        self.foreign += foreign
        self.counts += np.bincount(idx.ravel(), minlength=len(pal))
        (self._tmp / FRAME_NAME.format(n)).write_bytes(encode_indexed_png(idx, pal))
        if self.layers:
            self._write_layers(n, under, alpha)
        self._numbers.append(n)
        self.number = n + 1
        self.frames_written += 1

    def _write_layers(self, n: int, under: np.ndarray, alpha: np.ndarray) -> None:
        pal = self.palette
        root = self._tmp / LAYERS_DIR
        for k in np.unique(under).tolist():
            sub = layer_name(k, pal.names[k])
            (root / sub).mkdir(parents=True, exist_ok=True)
            mask = np.where(under == k, 255, 0).astype(np.uint8)
            (root / sub / FRAME_NAME.format(n)).write_bytes(_rgba_png(pal.colours[k].tolist(), mask))
            self._layer_frames.setdefault(sub, set()).add(n)
        ink = np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8)
        (root / LINES_LAYER).mkdir(parents=True, exist_ok=True)
        (root / LINES_LAYER / FRAME_NAME.format(n)).write_bytes(_rgba_png(pal.colours[pal.line_index].tolist(), ink))

    # ------------------------------------------------------------------------------------------------ finishing
    def close(self) -> Path:
        if self._done:
            return self.path
        try:
            if self.frames_written == 0:
                raise ValueError(f"no frames were written to {self.path}, so nothing was saved.")
            if self.layers:  # every layer gets every frame: transparent where the entry is absent
                w, h = self.size
                empty = _rgba_png([0, 0, 0], np.zeros((h, w), np.uint8))
                for sub, have in self._layer_frames.items():
                    for n in self._numbers:
                        if n not in have:
                            (self._tmp / LAYERS_DIR / sub / FRAME_NAME.format(n)).write_bytes(empty)
            if self.foreign:
                logger.warning(
                    "%s: %d pixels were not a palette colour or a blend of one with the line colour; "
                    "they were given the closest entry",
                    self.path,
                    self.foreign,
                )
            write_palette_files(
                self._tmp,
                self.palette,
                self.counts.tolist(),
                self.name,
                fps=str(self.fps),
                size=list(self.size),
                frames=self.frames_written,
                first_frame=min(self._numbers),
                **self.extra,
            )
            self._commit()
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.path

    def _commit(self) -> None:
        # --overwrite replaces what an indexed render writes (frames, palette files, layers), never the rest of the
        # folder: the old render's entries go aside, the new ones move in, then the old ones are deleted
        usual_mode(self._tmp, directory=True)
        publish_folder(
            self._tmp,
            self.path,
            overwrite=self.overwrite,
            owned=lambda n: bool(_FRAME_RE.match(n)) or n in PALETTE_FILES or n == LAYERS_DIR,
        )

    def abort(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._done = True

    def __enter__(self) -> IndexedWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def indexed_frames(folder: str | os.PathLike) -> list[Path]:
    """The frame files of an indexed render, in frame order."""
    p = Path(folder)
    if not p.is_dir():
        raise FileNotFoundError(f"{p} is not a folder; pass the folder `lvcd colorize --format indexed` wrote.")
    files = sorted(f for f in p.glob("frame_*.png") if f.is_file())
    if not files:
        raise FileNotFoundError(f"{p} holds no frame_*.png; pass the folder `lvcd colorize --format indexed` wrote.")
    return files
