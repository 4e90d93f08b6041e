"""Extra references for the backends (issue 15): from what the API, the manifest or the CLI gives (paths or arrays) to
what each backend takes.

* diffusion: `lvcd.pipelines.ExtraReference` objects at the model size (image and lineart letterboxed like the
  frames; target masks pooled to the latent grid frame by frame, so a long shot holds [N, H/8, W/8] floats);
* bucket: `RoutedBucketColorizer`, the paint-bucket colorizer with the extra references as more keyframes to match
  against, placed off-frame before frame 0 (indices -2, -3, ...; the primary reference keeps -1), their lineart the
  given one or the bucket's own XDoG extraction. A target mask restricts which regions may take that keyframe's
  paints: its votes for a region are weighted by the share of the region inside the mask, previous-frame votes for a
  paint by the largest share among the keyframes that have it, and a re-identified cluster is searched for only in
  the keyframes allowed there (see `RoutedBucketColorizer`).

An item is a mapping (or `lvcd.shots.extra_refs.ExtraReferenceSpec`) with `image` and optional `mask`,
`target_mask` and `lineart`; each value a path or an array (`target_mask`: [N, H, W] / [H, W] array, a mask video,
image sequence or single image, or a `lvcd.video.masks.MaskFrames`). Images of another size than the frames are
resized to the frame size (masks nearest-neighbour), the way `--reference-fit stretch` treats the keyframe.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Mapping

import cv2
import numpy as np

from ..video.masks import MaskFrames, read_mask
from .bucket import BucketColorizer
from .bucket_confidence import reference_shares
from .bucket_keyframes import colorize_shot

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
            raise ValueError(
                f"extra_references[{i}] must be an image (path or array) or a mapping with `image` "
                f"(and optional mask, target_mask, lineart); got {type(item).__name__}"
            )
        bad = sorted(set(item) - set(ITEM_KEYS))
        if bad:
            raise ValueError(
                f"extra_references[{i}]: unknown key(s) {', '.join(map(repr, bad))}; valid: {', '.join(ITEM_KEYS)}"
            )
        out.append({k: item.get(k) for k in ITEM_KEYS})
    return out


def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    if (arr.shape[1], arr.shape[0]) == tuple(size):
        return arr
    return cv2.resize(arr, tuple(size), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


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
    if isinstance(value, np.ndarray):
        m = value
        if m.ndim != 2:
            raise ValueError(f"{what}: expected an [H, W] mask, got shape {m.shape}")
        if m.dtype == bool:
            m = m.astype(np.uint8) * 255
        elif np.issubdtype(m.dtype, np.floating):
            m = np.clip(np.round(m * 255), 0, 255).astype(np.uint8)
        return _resize(np.ascontiguousarray(m, dtype=np.uint8), size, nearest=True)
    return read_mask(str(value), tuple(size))


def target_frames(value, num_frames: int, what: str) -> MaskFrames | None:
    """The target mask of each of the call's `num_frames` frames (None: no target mask), checked for length."""
    if value is None:
        return None
    masks = value if isinstance(value, MaskFrames) else MaskFrames(value)
    if isinstance(value, np.ndarray) and value.ndim not in (2, 3):
        raise ValueError(f"{what}: expected an [H, W] or [frames, H, W] mask, got shape {value.shape}")
    if (
        masks.frames is None
        and masks.source_frames is not None
        and num_frames >= 0
        and masks.source_frames != num_frames
    ):
        raise ValueError(
            f"{what} has {masks.source_frames} frames; the shot has {num_frames} (give one mask per "
            "frame, or one image for every frame)"
        )
    return masks


def _lines(item: dict, rgb: np.ndarray, frame_size: tuple[int, int], polarity: str, what: str) -> np.ndarray:
    """Line strength float32 [H, W] (1 = line) of an extra reference: its lineart, or XDoG of its image."""
    from ..lineart import line_strength, xdog

    if item["lineart"] is None:
        return xdog(rgb)
    return line_strength(load_rgb(item["lineart"], frame_size, f"{what}.lineart"), polarity).astype(np.float32)


def diffusion_extra_references(
    extra_references, frame_size: tuple[int, int], num_frames: int, polarity: str, letterbox, latent: tuple[int, int]
) -> list:
    """`lvcd.pipelines.ExtraReference`s at the model size: images, lineart and source masks letterboxed like the
    frames (`letterbox`: `lvcd.frames.Letterbox`), target masks [N, h, w] pooled to the `latent` (h, w) grid."""
    import torch

    from ..pipelines import ExtraReference

    out = []
    x, y, w, h = letterbox.inner
    model_w, model_h = letterbox.dst
    for i, item in enumerate(as_items(extra_references)):
        what = f"extra_references[{i}]"
        rgb = load_rgb(item["image"], frame_size, f"{what}.image")
        image = torch.from_numpy(letterbox.fit(rgb, fill=255)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        lines = letterbox.fit(_lines(item, rgb, frame_size, polarity, what), fill=0.0)
        sketch = torch.from_numpy(np.ascontiguousarray(lines, dtype=np.float32))[None]  # [1, H, W]
        mask = None
        if item["mask"] is not None:
            m = letterbox.fit(load_mask(item["mask"], frame_size, f"{what}.mask"), fill=0)
            mask = torch.from_numpy(m.astype(np.float32) / 255.0)
        target = None
        masks = target_frames(item["target_mask"], num_frames, f"{what}.target_mask")
        if masks is not None:
            rows = np.zeros((len(masks), *latent), np.float32)
            canvas = np.zeros((model_h, model_w), np.float32)  # the letterbox padding takes no colours (not output)
            for t in range(len(masks)):
                canvas[y : y + h, x : x + w] = cv2.resize(masks[t], (w, h), interpolation=cv2.INTER_AREA) / 255.0
                rows[t] = cv2.resize(canvas, latent[::-1], interpolation=cv2.INTER_AREA)  # [h, w] latent grid
            target = torch.from_numpy(rows)
        out.append(ExtraReference(image, sketch, mask=mask, target_mask=target))
    return out


class RoutedBucketColorizer(BucketColorizer):
    """`BucketColorizer` with extra references as off-frame keyframes, each restricted by its target mask.

    The restriction is applied to the votes, never to the matching itself: after `_rigid_rescue` (the last step of a
    source's dense votes) keyframe j's say on region r (its alignment weight, so both its votes and its share of the
    support) is scaled by the share s_j(r) of r inside j's target mask, and previous-frame votes for paint p by the
    largest s_j(r) among the keyframes having p (unmasked keyframes: 1); a lost cluster is re-identified only in the
    keyframes with s_j >= 0.5 over it. The graph fallback for undecided regions (a guess from the neighbours, never
    confident) is left as it is. Without target masks it is exactly `BucketColorizer`.
    """

    def colorize_references(
        self,
        reference_rgb: np.ndarray,
        lineart_frames: Iterable[np.ndarray],
        extra_references,
        num_frames: int,
        keyframes=None,
    ) -> Iterator[np.ndarray]:
        """Colour `lineart_frames` from `reference_rgb` (keyframe -1 with the first frame's lineart, as `colorize`
        places it) or from `keyframes` (as `bucket_keyframes.colorize_shot` takes them), and the extra references
        (-2, -3, ...) together. The shot's own keyframe(s) come first: they settle the segmentation and the cel
        check."""
        frames = iter(lineart_frames)
        if keyframes:
            keys = sorted(((int(i), rgb, la) for i, rgb, la in keyframes), key=lambda k: k[0])
        else:
            first = next(frames)
            keys, frames = [(-1, reference_rgb, first)], itertools.chain([first], frames)
        ref = np.asarray(keys[0][1])
        size = (ref.shape[1], ref.shape[0])
        targets = {}
        own = keys[:]
        for i, item in enumerate(as_items(extra_references)):
            what = f"extra_references[{i}]"
            rgb = load_rgb(item["image"], size, f"{what}.image")
            lineart = load_rgb(item["lineart"], size, f"{what}.lineart") if item["lineart"] is not None else None
            if item["mask"] is not None:  # only the selected part: the rest painted white (no paint to give)
                sel = load_mask(item["mask"], size, f"{what}.mask") > 127
                rgb = np.where(sel[..., None], rgb, np.uint8(255))
            masks = target_frames(item["target_mask"], num_frames, f"{what}.target_mask")
            if masks is not None:
                targets[-2 - i] = masks
            keys.append((-2 - i, rgb, lineart))
        out = self.colorize_keyframes(keys, frames, targets)  # keyframes prepared: the mode is known
        inner = self.__dict__.get("_inner") or self  # a reduced working copy keeps its own statistics
        if getattr(inner, "used_mode", None) == "warp":  # dense-flow warp of the shot's own keyframes only
            logger.warning(
                "the bucket's warp mode (lineart that is not cel) does not use extra references; "
                "--bucket-mode flat matches against every keyframe"
            )
            return colorize_shot(self, reference_rgb, frames, keyframes)
        shares = [(i, reference_shares(np.asarray(rgb), inner.palette)) for i, rgb, _ in own]
        inner.key_paint_share = shares[0][1] if len(shares) == 1 else shares  # the confidence check, as colorize_shot
        return out

    def colorize_keyframes(
        self, keyframes, lineart_frames: Iterable[np.ndarray], targets=None
    ) -> Iterator[np.ndarray]:
        """`BucketColorizer.colorize_keyframes` with `targets` {keyframe index: MaskFrames} (None: nothing routed)."""
        self._targets = dict(targets or {})
        return super().colorize_keyframes(keyframes, lineart_frames)

    def work_scale(self, keyframes) -> float:
        return 1.0 if getattr(self, "_targets", None) else super().work_scale(keyframes)  # masks at full size

    # ------------------------------------------------------------------------------------------------ vote routing
    def _match(self, la, regions, cur_img, keys, prev, i):
        self._route = self._shares(regions, keys, i) if getattr(self, "_targets", None) else None
        self._keys = keys
        return super()._match(la, regions, cur_img, keys, prev, i)

    def _shares(self, regions, keys, i: int) -> tuple[dict, np.ndarray]:
        """({id(keyframe state): share of each region inside its target mask [n + 1]}, allowed [n + 1, paints])."""
        h, w = regions.labels.shape
        area = np.maximum(np.bincount(regions.labels.ravel(), minlength=regions.n + 1), 1)
        shares, allowed = {}, np.zeros((regions.n + 1, len(self.palette)), np.float32)
        for key in keys:
            s = np.ones(regions.n + 1, np.float32)
            masks = self._targets.get(key.index)
            if masks is not None:
                m = cv2.resize(masks[min(i, len(masks) - 1)], (w, h), interpolation=cv2.INTER_LINEAR)
                inside = np.bincount(regions.labels.ravel(), weights=m.ravel() / 255.0, minlength=regions.n + 1)
                s = (inside / area).astype(np.float32)
                shares[id(key.frame)] = s
            paints = np.unique(key.frame.color[1:])
            allowed[:, paints] = np.maximum(allowed[:, paints], s[:, None])
        return shares, allowed

    def _rigid_rescue(self, regions, samples, flow, src, counts, align, forbid=None, taken=None) -> None:
        super()._rigid_rescue(regions, samples, flow, src, counts, align, forbid, taken)
        route = getattr(self, "_route", None)
        if route is None:
            return
        shares, allowed = route
        if id(src) in shares:  # a masked keyframe: its say on each region (votes and weight) x the share inside
            align *= np.sqrt(shares[id(src)])
        elif not any(src is k.frame for k in self._keys):  # the previous frame: only paints allowed there
            counts *= allowed

    def _reidentify(self, regions, samples, cur_img, keys, lost, score, key_score, weight_sum, beat, i) -> np.ndarray:
        """Lost clusters are searched for only in the keyframes allowed over them (share >= 0.5)."""
        route = getattr(self, "_route", None)
        if route is None:
            return super()._reidentify(regions, samples, cur_img, keys, lost, score, key_score, weight_sum, beat, i)
        shares = route[0]
        ok = np.stack(
            [shares[id(k.frame)] >= 0.5 if id(k.frame) in shares else np.ones(regions.n + 1, bool) for k in keys]
        )  # [keys, n + 1]
        groups, taken = {}, np.zeros(regions.n + 1, bool)
        for r in np.flatnonzero(lost):
            groups.setdefault(ok[:, r].tobytes(), []).append(r)
        for flags, rows in groups.items():
            use = [k for k, f in zip(keys, np.frombuffer(flags, bool)) if f]
            sub = np.zeros_like(lost)
            sub[rows] = True
            if use:
                taken |= super()._reidentify(
                    regions, samples, cur_img, use, sub, score, key_score, weight_sum, beat, i
                )
        return taken
