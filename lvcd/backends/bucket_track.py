"""Where each pixel of the current frame lies in a keyframe: the geometry half of the paint-bucket matcher.

Colours are never chained from frame to frame here; positions are. For every keyframe already passed, a map `chain`
(flow resolution, float32 [h, w, 2], keyframe coordinates of each current pixel) is carried: composed with the flow to
the previous frame, then re-anchored on the keyframe's own lines by a residual flow between this frame and the
keyframe warped by the map. A wrong position shows as an outline that does not land on keyframe lines (the matcher
scores that), so a mistake lowers confidence instead of being copied forward; and the residual flow pulls the map
back onto the keyframe each frame, so position errors do not pile up over a long shot.

Pixels the chain cannot follow (a character entering from outside the frame, a part revealed from behind another)
are re-identified as a whole (`reidentify`): the cluster of undecided regions is searched for in the keyframe's
distance-to-line image (normalised cross-correlation over every position, masked to the cluster), and the shift is
kept only when the cluster's outline then lands on keyframe lines. Memory is one map per keyframe: constant in shot
length. No torch.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage as ndi

INVALID = -1e4  # chain value for a pixel that left the frame (or never had a keyframe position)


def grid(h: int, w: int) -> np.ndarray:
    """float32 [h, w, 2] identity map (x, y)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.stack([gx, gy], -1)


def compose(chain: np.ndarray, flow: np.ndarray, g: np.ndarray) -> np.ndarray:
    """chain_new(x) = chain(x + flow(x)): `flow` maps this frame into the frame `chain` belongs to."""
    m = g + flow
    return cv2.remap(
        chain, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(INVALID, INVALID)
    )


def carry(mask: np.ndarray, flow: np.ndarray, g: np.ndarray) -> np.ndarray:
    """bool [h, w]: mask_new(x) = mask(x + flow(x)), nearest pixel, False from outside: a mark on a position map's
    pixels moved as `compose` moves the map."""
    m = g + flow
    out = cv2.remap(mask.view(np.uint8), m[..., 0], m[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    return out.view(bool)


def in_box(x: np.ndarray, y: np.ndarray, w: int, h: int) -> np.ndarray:
    """bool: integer points (x, y) with 0 <= x < w and 0 <= y < h, one unsigned comparison per axis (negatives wrap
    to huge)."""
    return (x.view(np.dtype(f"u{x.itemsize}")) < w) & (y.view(np.dtype(f"u{y.itemsize}")) < h)


def near_points(pts: np.ndarray, h: int, w: int) -> np.ndarray:
    """bool [h, w]: pixels within one (8-neighbour) of the points `pts` (float [m, 2] (x, y), integer-valued, inside
    the frame)."""
    img = np.zeros((h, w), np.uint8)
    img[pts[:, 1].astype(np.int64), pts[:, 0].astype(np.int64)] = 1
    return cv2.dilate(img, np.ones((3, 3), np.uint8)).view(bool)


def valid(chain: np.ndarray) -> np.ndarray:
    """bool [h, w]: positions inside the frame, -1 < x < w and -1 < y < h (one OpenCV pass: the open bounds as the
    nearest float32 values inside them). The bounds are `chain`'s own shape: pass the whole map, then subsample."""
    h, w = chain.shape[:2]
    if chain.dtype != np.float32:
        x, y = chain[..., 0], chain[..., 1]
        return (x > -1) & (y > -1) & (x < w) & (y < h)
    up, lo = np.float32(np.inf), float(np.nextafter(np.float32(-1), np.float32(0)))
    hi = (float(np.nextafter(np.float32(w), -up)), float(np.nextafter(np.float32(h), -up)))
    m = cv2.inRange(chain, (lo, lo), hi)  # 255 inside
    return np.bitwise_and(m, 1, out=m).view(bool)


def refine(chain: np.ndarray, cur_img: np.ndarray, key_img: np.ndarray, flow_fn, g: np.ndarray) -> np.ndarray:
    """Re-anchor `chain` on the keyframe: warp the keyframe's image by it, measure the residual flow from this frame to
    that warp, and compose. Pixels with no valid position keep INVALID."""
    ok = valid(chain)
    if not ok.any():
        return chain
    warped = cv2.remap(
        key_img, chain[..., 0], chain[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    res = flow_fn(cur_img, warped)
    out = compose(chain, res, g)
    bad = ~valid(out) & ok  # a residual that walks off the valid area: keep the unrefined position
    out[bad] = chain[bad]
    return out


def to_full_flow(chain: np.ndarray, g: np.ndarray, full: tuple[int, int]) -> np.ndarray:
    """Flow at full resolution (px) from the chain at flow resolution; invalid pixels point far outside the frame."""
    H, W = full
    h, w = chain.shape[:2]
    f = chain - g
    f[~valid(chain)] = INVALID
    if (h, w) == (H, W):
        return f
    out = cv2.resize(f, (W, H), interpolation=cv2.INTER_NEAREST)
    out[..., 0] *= W / w
    out[..., 1] *= H / h
    return out


def masked_ncc(image: np.ndarray, tmpl: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Masked normalised correlation of `tmpl` at every place in `image` (cv2.TM_CCOEFF_NORMED), flat windows (NaN,
    inf) scored -1; None when OpenCV cannot score it (a mask or template it refuses)."""
    try:
        res = cv2.matchTemplate(image, tmpl, cv2.TM_CCOEFF_NORMED, mask=mask)
    except cv2.error:
        return None
    return np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)


def reidentify(
    cur_img: np.ndarray,
    key_img: np.ndarray,
    mask: np.ndarray,
    min_score: float = 0.5,
    claimed: np.ndarray | None = None,
    coarse: int = 2,
) -> tuple[tuple[int, int], float] | None:
    """Best shift (dx, dy) at flow resolution taking the `mask`ed part of `cur_img` onto `key_img`, and its score
    (masked normalised correlation of distance-to-line images minus the share of the window already claimed by
    other regions); None when nothing scores `min_score`. Searched at 1/`coarse` size, then refined +-1 px."""
    if coarse > 1:
        h, w = cur_img.shape
        size = (max(8, w // coarse), max(8, h // coarse))
        small = [cv2.resize(a, size, interpolation=cv2.INTER_AREA) for a in (cur_img, key_img)]
        m = cv2.resize(mask.view(np.uint8) if mask.dtype == bool else mask, size, interpolation=cv2.INTER_NEAREST)
        cl = None if claimed is None else cv2.resize(claimed.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        r = reidentify(small[0], small[1], m > 0, min_score, cl, coarse=1)
        if r is None:
            return None
        (dx, dy), score = r
        dx, dy = dx * w / size[0], dy * h / size[1]
        ys, xs = np.nonzero(mask)
        best = None
        for ex in (-1, 0, 1):  # refine at full flow resolution by outline overlap
            for ey in (-1, 0, 1):
                sx, sy = int(round(dx + ex)), int(round(dy + ey))
                tx, ty = np.clip(xs + sx, 0, w - 1), np.clip(ys + sy, 0, h - 1)
                v = float(np.mean(np.abs(cur_img[ys, xs].astype(np.int16) - key_img[ty, tx])))
                if best is None or v < best[0]:
                    best = (v, sx, sy)
        return (best[1], best[2]), score
    ys, xs = np.nonzero(mask)
    if len(xs) < 16:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    h, w = key_img.shape
    # the cluster may be cut by the frame edge: pad the key image so a partial view can match a whole character
    px, py = x1 - x0, y1 - y0
    if px >= w or py >= h:
        return None
    tmpl = cur_img[y0:y1, x0:x1]
    m = mask[y0:y1, x0:x1].astype(np.float32)
    if float(tmpl[m > 0].std()) < 1.0:
        return None
    res = masked_ncc(key_img, tmpl, m)
    if res is None:
        return None
    if claimed is not None:  # a place another region of this frame already continues is not free
        c = cv2.boxFilter(
            claimed.astype(np.float32), -1, (int(px), int(py)), normalize=True, borderType=cv2.BORDER_CONSTANT
        )
        c = c[py // 2 : py // 2 + res.shape[0], px // 2 : px // 2 + res.shape[1]]
        res = res - c[: res.shape[0], : res.shape[1]]
    _, best, _, loc = cv2.minMaxLoc(res)
    if best < min_score:
        return None
    return (int(loc[0] - x0), int(loc[1] - y0)), float(best)


def shift_scores(cur_img: np.ndarray, key_img: np.ndarray, mask: np.ndarray, shift, coarse: int = 2, small=None):
    """(best score, best shift, score at `shift`) of the masked normalised correlation that `reidentify` searches,
    at 1/`coarse` size (shifts at flow resolution); the score at `shift` is the best within 1 coarse px of it. None
    when the cluster cannot be scored (blank, as large as the frame) or `shift` puts it partly outside the key.
    `small`: the two images already at 1/`coarse` size (`shrink`), to resize them once per frame."""
    h, w = cur_img.shape
    size = (max(8, w // coarse), max(8, h // coarse))
    a, b = small if small is not None else shrink(cur_img, key_img, coarse)
    m = cv2.resize(mask.view(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(m)
    if len(xs) < 16:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    if x1 - x0 >= size[0] or y1 - y0 >= size[1]:
        return None
    tmpl = a[y0:y1, x0:x1]
    mm = m[y0:y1, x0:x1].astype(np.float32)
    if float(tmpl[mm > 0].std()) < 1.0:
        return None
    res = masked_ncc(b, tmpl, mm)
    if res is None:
        return None
    sx, sy = size[0] / w, size[1] / h
    u, v = int(round(x0 + shift[0] * sx)), int(round(y0 + shift[1] * sy))
    if not (0 <= u < res.shape[1] and 0 <= v < res.shape[0]):
        return None
    at = float(res[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2].max())
    _, best, _, loc = cv2.minMaxLoc(res)
    return float(best), ((loc[0] - x0) / sx, (loc[1] - y0) / sy), at


def shrink(cur_img: np.ndarray, key_img: np.ndarray, coarse: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both images at 1/`coarse` size, as `shift_scores` searches them."""
    h, w = cur_img.shape
    size = (max(8, w // coarse), max(8, h // coarse))
    return tuple(cv2.resize(a, size, interpolation=cv2.INTER_AREA) for a in (cur_img, key_img))


def fill_flow(flow: np.ndarray, bad: np.ndarray, source: np.ndarray, step: int = 4) -> np.ndarray:
    """float32 [H, W, 2] `flow` with its `bad` pixels given the flow of the nearest `source` pixels (the mean over
    `source` pixels of the nearest cell, on a grid `step` times coarser, that is at least a quarter source): a roof
    revealed where a character stood in the keyframe moves as the scenery around it, not as the character the dense
    flow dragged it along with. `flow` is returned as is when no source is left."""
    H, W = bad.shape
    size = (max(1, W // step), max(1, H // step))
    s = source.astype(np.float32)
    share = cv2.resize(s, size, interpolation=cv2.INTER_AREA)
    ok = share >= 0.25
    if not ok.any():
        return flow
    cell = cv2.resize(flow * s[..., None], size, interpolation=cv2.INTER_AREA) / np.maximum(share, 1e-6)[..., None]
    _, (iy, ix) = ndi.distance_transform_edt(~ok, return_indices=True)  # nearest source cell of each cell
    ys, xs = np.nonzero(bad)
    cy = np.minimum(ys * size[1] // H, size[1] - 1)
    cx = np.minimum(xs * size[0] // W, size[0] - 1)
    out = flow.copy()
    out[ys, xs] = cell[iy[cy, cx], ix[cy, cx]]
    return out
