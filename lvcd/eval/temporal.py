"""TC, LVCD's temporal-consistency metric, exactly as the paper's eq. 9 (Huang et al., 2024, §6.1; see
docs/lvcd-reference.md §11), and the older occlusion-masked warp-error ratio under its own name.

TC, per consecutive pair (t, t+1) of 256x256 frames in [0, 1]:

    F        = flow(I[t+1] -> I[t])                      (estimated on the *original* frames: RAFT, or OpenCV DIS)
    W(x)     = x[t] sampled at p + F(p)                  (frame t warped onto t+1, bilinear; the same W for both)
    E(x)     = ||W(x) - x[t+1]||_2 / ||x[t+1]||_2        (relative L2 warp error over the whole frame, RGB, no mask)
    TC_t     = E(generated) / E(original)

Lower is better; 1.0 means as consistent as the original animation, a flickering prediction scores above 1. The
paper names no occlusion mask, so none is used. When the original pair is static (E(original) < `TC_STATIC_EPS`,
e.g. a drawing held for two frames) eq. 9 is 0/0: the pair scores 1.0 when the prediction is static there too and is
otherwise left out (and counted in the report), never given an arbitrary large value.

`warp_error_ratio` keeps lvcd's earlier form (not the paper's; higher is better):

    M        = forward-backward consistent pixels that stay inside the frame (Ruder et al. 2016; Lai et al. 2018):
               |F_b + F_f(p + F_b)|^2 <= 0.01 (|F_b|^2 + |F_f(p + F_b)|^2) + 0.5
    WE(x)    = mean over M of |W(x) - x[t+1]|_1 (mean over RGB)              (`warp_error`)
    ratio_t  = (1 - WE(generated)) / (1 - WE(original))

Flow: RAFT when a TorchScript RAFT is given (torchvision's `raft_large` exported with `torch.jit.script`, called as
`model(img1, img2)` on [-1, 1] inputs, last flow of the returned list), else OpenCV's DIS optical flow (medium preset,
on the luma); every report names which. A shot cut breaks the pair chain: `evaluate(..., cuts=...)` skips the pair
across each cut.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ._frames import to_gray
from .frechet import load_torchscript

TC_STATIC_EPS = 1e-5  # relative L2 warp error below which a pair counts as static (eq. 9 would be 0/0)

TC_DEFINITION = (
    "LVCD eq. 9: TC_t = (||W(G_t) - G_t+1||_2 / ||G_t+1||_2) / (||W(I_t) - I_t+1||_2 / ||I_t+1||_2), G generated, "
    "I original, W warps frame t onto t+1 with the flow estimated on the original frames (the same W for both), L2 "
    "over the whole 256x256 RGB frame, no occlusion mask; lower is better, 1.0 = as consistent as the original; a "
    f"static original pair (relative warp error < {TC_STATIC_EPS:g}) scores 1.0 if the prediction is static too, "
    "else it is left out"
)
WARP_ERROR_RATIO_DEFINITION = (
    "warp_error_ratio_t = (1 - WE(pred)) / (1 - WE(gt)), WE = mean L1 (over RGB) between frame t warped to t+1 with "
    "the ground-truth flow and frame t+1, over forward-backward consistent pixels; higher is better, 1.0 = as "
    "consistent as the ground truth (lvcd's earlier form, not the paper's TC)"
)

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (src HxWx3 [0,1], dst) -> HxWx2 flow src->dst (dx, dy)


def opencv_dis_flow(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Dense flow src -> dst with OpenCV's DIS (medium preset) on the luma of float [0, 1] frames."""
    a = np.clip(np.rint(to_gray(src) * 255), 0, 255).astype(np.uint8)
    b = np.clip(np.rint(to_gray(dst) * 255), 0, 255).astype(np.uint8)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(a, b, None).astype(np.float32)


class TorchScriptRAFT:
    """Flow with a TorchScript RAFT.

    Torchvision convention: inputs [1, 3, H, W] in [-1, 1], H and W multiples of 8.
    """

    name = "raft"

    def __init__(self, module, device: str = "cpu") -> None:
        import torch

        self._torch = torch
        self.module = module.eval().to(device)
        self.device = device

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        torch = self._torch
        h, w = src.shape[:2]
        ph, pw = (-h) % 8, (-w) % 8

        def prep(x: np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).permute(2, 0, 1)[None] * 2 - 1  # [1, 3, H, W]
            return torch.nn.functional.pad(t, (0, pw, 0, ph), mode="replicate").to(self.device)

        with torch.no_grad():
            out = self.module(prep(src), prep(dst))
        flow = out[-1] if isinstance(out, list | tuple) else out  # [1, 2, H', W']
        return flow[0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy()


def load_raft(path: str | Path, device: str = "cpu") -> TorchScriptRAFT:
    """Load a TorchScript RAFT from `path` (see the module docstring for the calling convention)."""

    module = load_torchscript(
        path,
        "RAFT",
        ".",
        "lvcd runs RAFT only as TorchScript, e.g. `torch.jit.script(torchvision.models.optical_flow.raft_large("
        "weights='C_T_SKHT_V2')).save(path)`; the RAFT architecture is not bundled, so a bare state dict cannot be "
        "used.",
    )
    return TorchScriptRAFT(module, device=device)


def _sample(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """img sampled at p + flow(p) (bilinear, border replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = gx + flow[..., 0], gy + flow[..., 1]
    out = cv2.remap(img.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out if out.ndim == img.ndim else out[..., None]


def flow_pair(flow_fn: FlowFn, gt_t: np.ndarray, gt_t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(backward flow t+1 -> t, forward flow t -> t+1) estimated on the original frames."""
    return flow_fn(gt_t1, gt_t), flow_fn(gt_t, gt_t1)


def occlusion_mask(f_b: np.ndarray, f_f: np.ndarray) -> np.ndarray:
    """Pixels of frame t+1 whose backward flow is forward-backward consistent and whose source lies in the frame."""
    f_f_at = _sample(f_f, f_b)  # forward flow at the matched position in t
    fb_sum = np.sum((f_b + f_f_at) ** 2, axis=-1)
    fb_mag = np.sum(f_b**2, axis=-1) + np.sum(f_f_at**2, axis=-1)
    consistent = fb_sum <= 0.01 * fb_mag + 0.5
    h, w = f_b.shape[:2]
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    x, y = gx + f_b[..., 0], gy + f_b[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return consistent & inside


def warp_with_mask(flow_fn: FlowFn, gt_t: np.ndarray, gt_t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow (t+1 -> t) from the ground truth and the occlusion-valid mask on frame t+1."""
    f_b, f_f = flow_pair(flow_fn, gt_t, gt_t1)
    return f_b, occlusion_mask(f_b, f_f)


def warp_error(x_t: np.ndarray, x_t1: np.ndarray, flow_b: np.ndarray, mask: np.ndarray) -> float:
    """Mean L1 (over RGB) between x_t warped onto t+1 and x_t1, over the valid mask (0 if no pixel is valid)."""
    warped = _sample(x_t, flow_b)
    err = np.abs(warped.astype(np.float64) - x_t1).mean(axis=-1)
    n = int(mask.sum())
    return float(err[mask].sum() / n) if n else 0.0


def relative_warp_error(x_t: np.ndarray, x_t1: np.ndarray, flow_b: np.ndarray) -> float:
    """||W(x_t) - x_t1||_2 / ||x_t1||_2 over the whole frame (eq. 9's building block); 0 for an all-black x_t1 that
    the warp reproduces exactly, inf when it does not."""
    diff = _sample(x_t, flow_b).astype(np.float64) - x_t1
    num = float(np.sqrt(np.sum(diff**2)))
    den = float(np.sqrt(np.sum(np.asarray(x_t1, np.float64) ** 2)))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def tc_from_errors(e_pred: float, e_gt: float) -> float:
    """Eq. 9 from the two relative warp errors; NaN for a static original pair the prediction does not keep static."""
    if e_gt < TC_STATIC_EPS:
        return 1.0 if e_pred < TC_STATIC_EPS else float("nan")
    return e_pred / e_gt


def temporal_consistency(
    pred_t: np.ndarray, pred_t1: np.ndarray, gt_t: np.ndarray, gt_t1: np.ndarray, flow_fn: FlowFn = opencv_dis_flow
) -> tuple[float, float, float]:
    """(TC_t, E(pred), E(gt)) per LVCD eq. 9 for one consecutive pair of float [0, 1] frames of equal size."""
    flow_b = flow_fn(gt_t1, gt_t)
    e_pred = relative_warp_error(pred_t, pred_t1, flow_b)
    e_gt = relative_warp_error(gt_t, gt_t1, flow_b)
    return tc_from_errors(e_pred, e_gt), e_pred, e_gt


def warp_error_ratio(
    pred_t: np.ndarray, pred_t1: np.ndarray, gt_t: np.ndarray, gt_t1: np.ndarray, flow_fn: FlowFn = opencv_dis_flow
) -> tuple[float, float, float]:
    """(ratio_t, WE(pred), WE(gt)): lvcd's earlier occlusion-masked L1 form (`WARP_ERROR_RATIO_DEFINITION`)."""
    flow_b, mask = warp_with_mask(flow_fn, gt_t, gt_t1)
    we_pred = warp_error(pred_t, pred_t1, flow_b, mask)
    we_gt = warp_error(gt_t, gt_t1, flow_b, mask)
    return float((1.0 - we_pred) / max(1.0 - we_gt, 1e-12)), we_pred, we_gt
