"""Extra references for the backends (issue 15): from what the API, the manifest or the CLI gives (paths or arrays) to
what each backend takes.

* diffusion: `lvcd.pipelines.ExtraReference` objects at the model size (image and lineart letterboxed like the frames,
  target masks streamed frame by frame and pooled to the latent grid, so a long shot holds [N, H/8, W/8] floats);
* bucket: more keyframes for `BucketColorizer.colorize_keyframes`, placed off-frame before frame 0 (indices -2, -3,
  ...; the primary reference keeps -1); their lineart is the given one or the bucket's own XDoG extraction.

An item is a mapping (or `lvcd.shots.extra_refs.ExtraReferenceSpec`) with `image` and optional `mask`,
`target_mask` and `lineart`; each value a path or an array (`target_mask`: [N, H, W] / [H, W] array, or a mask video,
image sequence or single image). Images of another size than the frames are resized to the frame size (masks with
nearest-neighbour), the way `--reference-fit stretch` treats the keyframe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

logger = logging.getLogger("lvcd")

ITEM_KEYS = ("image", "mask", "target_mask", "lineart")


def as_items(extra_references) -> list[dict]:
    """Normalise API / manifest / CLI extra references to dicts with the four keys (missing ones None)."""
    out = []
    for i, item in enumerate(extra_references or []):
        if hasattr(item, "as_dict"):
            item = item.as_dict()
        elif isinstance(item, (str, os.PathLike, np.ndarray)):
            item = {"image": item}
        if not isinstance(item, Mapping) or item.get("image") is None:
            raise ValueError(f"extra_references[{i}] must be an image (path or array) or a mapping with `image` "
                             f"(and optional mask, target_mask, lineart); got {type(item).__name__}")
        bad = sorted(set(item) - set(ITEM_KEYS))
        if bad:
            raise ValueError(f"extra_references[{i}]: unknown key(s) {', '.join(map(repr, bad))}; valid: "
                             f"{', '.join(ITEM_KEYS)}")
        out.append({k: item.get(k) for k in ITEM_KEYS})
    return out


def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    from PIL import Image

    if (arr.shape[1], arr.shape[0]) == tuple(size):
        return arr
    im = Image.fromarray(arr)
    return np.asarray(im.resize(tuple(size), Image.NEAREST if nearest else Image.LANCZOS))


def load_rgb(value, size: tuple[int, int], what: str) -> np.ndarray:
    """uint8 RGB [H, W, 3] at `size` (W, H) from a path or an array (alpha composited over white)."""
    from ..video import read_image
    from ..video.images import to_rgb

    arr = np.asarray(value) if isinstance(value, np.ndarray) else read_image(str(value))
    if arr.dtype != np.uint8:
        raise ValueError(f"{what}: expected a uint8 image, got {arr.dtype}")
    return _resize(to_rgb(arr, what), size, nearest=False)


def load_mask(value, size: tuple[int, int], what: str) -> np.ndarray:
    """uint8 [H, W] mask at `size` (255 = selected) from a path or a bool / uint8 / float array."""
    from ..video.masks import read_mask

    if isinstance(value, np.ndarray):
        m = value
        if m.dtype == bool:
            m = m.astype(np.uint8) * 255
        elif np.issubdtype(m.dtype, np.floating):
            m = np.clip(np.round(m * 255), 0, 255).astype(np.uint8)
        if m.ndim != 2:
            raise ValueError(f"{what}: expected an [H, W] mask, got shape {m.shape}")
        return _resize(m.astype(np.uint8), size, nearest=True)
    return read_mask(str(value), tuple(size))


def _target_frames(value, num_frames: int, size: tuple[int, int], what: str) -> Iterable[np.ndarray]:
    if isinstance(value, np.ndarray):
        m = value if value.ndim == 3 else value[None]
        if m.shape[0] not in (1, num_frames):
            raise ValueError(f"{what} has {m.shape[0]} frames; the shot has {num_frames} (or give one [H, W] mask)")
        return (load_mask(m[min(t, m.shape[0] - 1)], size, what) for t in range(num_frames))
    from ..video.masks import target_mask_frames

    return target_mask_frames(str(value), num_frames, tuple(size))


def diffusion_extra_references(extra_references, frame_size: tuple[int, int], num_frames: int, polarity: str,
                               fit_image: Callable[[np.ndarray], np.ndarray],
                               fit_lines: Callable[[np.ndarray], np.ndarray],
                               fit_mask: Callable[[np.ndarray], np.ndarray], latent: tuple[int, int]) -> list:
    """`lvcd.pipelines.ExtraReference`s at the model size. `fit_image` / `fit_lines` / `fit_mask` bring a frame-size
    image (uint8 RGB), line strength (float [H, W], 1 = line) or mask (float [H, W]) to the model size (the render's
    letterbox); `latent` is the (h, w) latent grid the target masks are pooled to."""
    import torch
    import torch.nn.functional as F

    from ..lineart import line_strength, xdog
    from ..pipelines import ExtraReference

    out = []
    for i, item in enumerate(as_items(extra_references)):
        what = f"extra_references[{i}]"
        rgb = load_rgb(item["image"], frame_size, f"{what}.image")
        if item["lineart"] is not None:
            lines = line_strength(load_rgb(item["lineart"], frame_size, f"{what}.lineart"), polarity)
        else:
            lines = xdog(rgb)  # XDoG strength, 1 = line
        image = torch.from_numpy(fit_image(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        sketch = torch.from_numpy(np.ascontiguousarray(fit_lines(np.asarray(lines, np.float32))))[None]
        mask = None
        if item["mask"] is not None:
            mask = torch.from_numpy(fit_mask(load_mask(item["mask"], frame_size, f"{what}.mask") / 255.0))
        target = None
        if item["target_mask"] is not None:
            rows = []
            for m in _target_frames(item["target_mask"], num_frames, frame_size, f"{what}.target_mask"):
                t = torch.from_numpy(np.asarray(fit_mask(m / 255.0), np.float32))
                rows.append(F.adaptive_avg_pool2d(t[None, None], latent)[0, 0])
            target = torch.stack(rows)
        out.append(ExtraReference(image, sketch, mask=None if mask is None else mask.float(), target_mask=target))
    return out


def bucket_keyframes(reference_rgb: np.ndarray, reference_lineart, extra_references,
                     frame_size: tuple[int, int]) -> list[tuple]:
    """Keyframes for `BucketColorizer.colorize_keyframes`: the primary reference at -1 (as `colorize` places it),
    then every extra reference at -2, -3, ... (off-frame, before frame 0) with its lineart or None (XDoG)."""
    keys = [(-1, reference_rgb, reference_lineart)]
    for i, item in enumerate(as_items(extra_references)):
        what = f"extra_references[{i}]"
        rgb = load_rgb(item["image"], frame_size, f"{what}.image")
        lineart = load_rgb(item["lineart"], frame_size, f"{what}.lineart") if item["lineart"] is not None else None
        if item["mask"] is not None:  # only the selected part: the rest painted white (no paint to give)
            sel = load_mask(item["mask"], frame_size, f"{what}.mask") > 127
            rgb = np.where(sel[..., None], rgb, np.uint8(255))
        if item["target_mask"] is not None:
            logger.warning("%s: the bucket backend does not restrict a reference's paints to a target mask yet; "
                           "`target_mask` is ignored there (the diffusion backend honours it).", what)
        keys.append((-2 - i, rgb, lineart))
    return keys


def count(extra_references: Sequence | None) -> int:
    return len(extra_references or [])
