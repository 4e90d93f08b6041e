"""Where the deliverables meet a render: which paints a shot's output is made of, the manifest palette's snap step,
and the indexed writer for `colorize_video` (indexed assembly of a manifest's shots, `lvcd batch --format indexed`,
is `lvcd.shots.indexed`, built on these).

A shot's paints are those of the colours its output is made of:

* `--snap` (any backend): the keyframe's flat colours as `lvcd.lineart.palette.extract_palette` finds them (what
  `PaletteSnapper` snaps every region to);
* the paint-bucket backend: its keyframe paints, one per keyframe region (`BucketColorizer.prepare_reference`);
* the diffusion backend without `--snap`: no palette (its colours are not flat); `--format indexed` refuses it.

Several shots in one indexed output share one palette: the shots' palettes merged in shot order (`merge_palettes`),
so a named manifest entry has one index in the whole episode. Frames in no shot (the lineart itself) add a "paper"
entry (#ffffff) when no paint is white. No torch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from .indexed import IndexedWriter
from .paints import NamedSnap, Palette, build_palette, parse_named_palette

logger = logging.getLogger("lvcd")

INDEXED = "indexed"


class IndexedFormatError(ValueError):
    """`--format indexed` asked of a render whose colours are not flat."""


def check_indexed(backend_name: str, snap: bool) -> None:
    """Refuse `--format indexed` for output that is not made of palette colours, before anything renders."""
    if backend_name == "diffusion" and not snap:
        raise IndexedFormatError(
            "--format indexed needs flat palette colours, which the diffusion backend's output is not; add --snap "
            "(snap every region to the keyframe's palette) or use --backend bucket."
        )


def shot_paints(backend, reference_rgb: np.ndarray, snap: bool, first_lineart: np.ndarray | None = None) -> np.ndarray:
    """uint8 [K, 3]: the paints a shot's output is made of (see the module docstring). For the bucket backend the
    paints of `backend.colorizer` once it has read the keyframe, else of the keyframe read with `first_lineart`."""
    if snap:
        from ..lineart.palette import extract_palette

        return extract_palette(reference_rgb)
    name = getattr(backend, "name", backend)
    check_indexed(name, snap)
    colorizer = getattr(backend, "colorizer", None)
    if getattr(colorizer, "palette", None) is not None and first_lineart is None:
        return np.asarray(colorizer.palette, np.uint8)
    if first_lineart is None:
        raise ValueError("shot_paints: the bucket backend has not read its keyframe yet; pass `first_lineart`.")
    from ..backends.bucket import BucketColorizer

    probe = BucketColorizer(getattr(colorizer, "config", None))
    probe.prepare_reference(reference_rgb, first_lineart)
    return np.asarray(probe.palette, np.uint8)


def with_named_palette(finish, named_option: Mapping | None, backend, reference_rgb: np.ndarray, snap: bool):
    """`finish(out, line)` (lvcd.api's per-frame steps) followed by the `palette:` option's snap: keyframe paints near
    a named colour become that colour, ink drawn over them (--keep-lines) recomposed over the new paint. Unchanged
    when there is no named colour, or when the output is not flat (the diffusion backend without --snap: a warning)."""
    named = parse_named_palette(named_option)
    if not named:
        return finish
    if getattr(backend, "name", backend) == "diffusion" and not snap:
        logger.warning(
            "`palette`: the diffusion backend's colours are not flat, so the named palette is not applied;"
            " add --snap to snap them to the keyframe's palette and then to the named colours"
        )
        return finish
    state: dict = {}

    def run(out: np.ndarray, line: np.ndarray) -> np.ndarray:
        out = finish(out, line)
        if "snap" not in state:  # the bucket backend knows its paints once it has read the keyframe
            state["snap"] = NamedSnap(shot_paints(backend, reference_rgb, snap), named)
        return state["snap"](out)

    return run


def indexed_writer_for(backend, reference_rgb: np.ndarray, options):
    """An `open_writer`-compatible factory for `colorize_video` whose output format is indexed (checked here,
    before anything renders): the palette is the shot's paints (known once the backend has read the keyframe) with
    the options' named colours. Audio and x264 quality do not apply to PNG frames."""
    check_indexed(backend.name, options.snap)
    named = parse_named_palette(getattr(options, "palette", None))

    def palette() -> Palette:
        return build_palette(shot_paints(backend, reference_rgb, options.snap), named)

    def open_writer(
        output, fps, size, *, overwrite: bool = False, audio_from=None, crf=None, fmt=None, **_
    ) -> IndexedWriter:
        if audio_from is not None:
            logger.info("%s: PNG frames carry no audio; the audio of %s is not written.", output, audio_from)
        return IndexedWriter(
            output, fps, size, palette=palette, overwrite=overwrite, layers=bool(getattr(options, "layers", False))
        )

    return open_writer
