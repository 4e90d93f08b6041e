"""The two baselines every colorization table needs beside a model: what a method must beat to have done anything.

* `repeat_keyframe`: every output frame is the coloured keyframe (a method scoring below it on PSNR/SSIM adds
  nothing but noise; its TC reflects a frozen image).
* `flow_warp_keyframe`: the keyframe carried along by dense optical flow estimated on the *lineart* (the only input a
  colorizer sees): per frame t the backward flow lineart[t] -> lineart[t-1] is chained onto the coordinates of t-1, so
  frame t samples the keyframe once at the accumulated position (no blur from repeated resampling). Flow: OpenCV DIS
  (medium preset) on the Gaussian-blurred (sigma 2 px) lineart luma, since thin lines alone give flow little texture.

Both take the lineart frames (uint8 HxWx3 or HxW) and the keyframe (uint8 HxWx3, colouring frame 0) and yield uint8
RGB frames of the keyframe's size, one per lineart frame. numpy/OpenCV only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

FLOW_BLUR_SIGMA = 2.0
FLOW_WARP_DESCRIPTION = (
    "keyframe warped along chained OpenCV DIS flow (medium preset) estimated on the lineart (blurred, sigma "
    f"{FLOW_BLUR_SIGMA:g} px), sampled once per frame from the keyframe"
)
REPEAT_DESCRIPTION = "the keyframe repeated on every frame"


def _luma_u8(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim == 3:
        f = cv2.cvtColor(np.ascontiguousarray(f[..., :3]), cv2.COLOR_RGB2GRAY)
    g = cv2.GaussianBlur(f.astype(np.float32), (0, 0), FLOW_BLUR_SIGMA)
    return np.clip(np.rint(g), 0, 255).astype(np.uint8)


def repeat_keyframe(lineart: Iterable[np.ndarray], keyframe: np.ndarray) -> Iterator[np.ndarray]:
    """The keyframe once per lineart frame."""
    key = np.asarray(keyframe, np.uint8)
    for _ in lineart:
        yield key.copy()


def flow_warp_keyframe(lineart: Iterable[np.ndarray], keyframe: np.ndarray) -> Iterator[np.ndarray]:
    """The keyframe carried along by chained flow on the lineart (see the module docstring)."""
    key = np.asarray(keyframe, np.uint8)
    h, w = key.shape[:2]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = gx.copy(), gy.copy()  # where each pixel of frame t comes from in the keyframe
    prev = None
    for t, line in enumerate(lineart):
        cur = _luma_u8(line)
        if cur.shape != (h, w):
            raise ValueError(
                f"lineart frame {t} is {cur.shape[1]}x{cur.shape[0]} but the keyframe is {w}x{h}; give them one size."
            )
        if prev is None:
            yield key.copy()
        else:
            f_b = dis.calc(cur, prev, None)  # for each pixel of t: its position in t-1
            px, py = gx + f_b[..., 0], gy + f_b[..., 1]
            map_x = cv2.remap(map_x, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            map_y = cv2.remap(map_y, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            yield cv2.remap(key, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        prev = cur
