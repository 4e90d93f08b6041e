"""TC, LVCD's temporal-consistency metric (Huang et al., 2024, §6.1, eq. 9): warp errors between consecutive frames,
with the optical flow estimated on the ground truth.

What lvcd computes, per consecutive pair (t, t+1) of 256x256 frames in [0, 1]:

    F_b, F_f   = flow(gt[t+1] -> gt[t]), flow(gt[t] -> gt[t+1])                   (estimated on the ground truth)
    W(x)       = x[t] sampled at p + F_b(p)                                       (frame t warped onto t+1)
    M          = forward-backward consistent pixels that stay inside the frame     (occlusion-valid mask)
    WE(x)      = sum_p M(p) |W(x)(p) - x[t+1](p)|_1,mean over RGB / sum_p M(p)    (warp error, Lai et al. 2018 with L1)
    TC_t       = (1 - WE(pred)) / (1 - WE(gt))

so a prediction identical to the ground truth scores exactly 1.0, flicker lowers it, and the ground truth's own warp
residual (flow error, lighting changes) is factored out. The occlusion test is the forward-backward check of Ruder et
al. (2016) used by Lai et al. (2018, "Learning Blind Video Temporal Consistency"): |F_b + F_f(p + F_b)|^2 <=
0.01 (|F_b|^2 + |F_f(p + F_b)|^2) + 0.5.

Provenance: the exact text of LVCD's eq. 9 could not be retrieved while writing this module; the form above reproduces
the properties the paper states (flow from the ground truth, warp errors, 1.0 for a perfect prediction) and is labelled
`TC_DEFINITION` in every report. The prediction's own warp error `WE(pred)` is reported alongside (lower is better).

Every consecutive pair is scored, a shot cut included (its warp error spikes in the plot): evaluate shots separately
for numbers comparable with the paper's single-shot clips.

Flow: RAFT when a TorchScript RAFT is given (torchvision's `raft_large` exported with `torch.jit.script`, called as
`model(img1, img2)` on [-1, 1] inputs, last flow of the returned list), else OpenCV's DIS optical flow (medium preset),
and the report says which.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ._frames import to_gray
from .frechet import load_torchscript

TC_DEFINITION = (
    "TC_t = (1 - WE(pred_t->t+1)) / (1 - WE(gt_t->t+1)); WE = mean L1 (over RGB) between frame t warped to t+1 with "
    "the ground-truth flow and frame t+1, over forward-backward consistent pixels; 1.0 = as consistent as the ground "
    "truth"
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
        path, "RAFT", ".",
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


def warp_with_mask(flow_fn: FlowFn, gt_t: np.ndarray, gt_t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow (t+1 -> t) from the ground truth and the occlusion-valid mask on frame t+1."""
    f_b = flow_fn(gt_t1, gt_t)  # for p in t+1: where it was in t
    f_f = flow_fn(gt_t, gt_t1)
    f_f_at = _sample(f_f, f_b)  # forward flow at the matched position in t
    fb_sum = np.sum((f_b + f_f_at) ** 2, axis=-1)
    fb_mag = np.sum(f_b**2, axis=-1) + np.sum(f_f_at**2, axis=-1)
    consistent = fb_sum <= 0.01 * fb_mag + 0.5
    h, w = f_b.shape[:2]
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    x, y = gx + f_b[..., 0], gy + f_b[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return f_b, consistent & inside


def warp_error(x_t: np.ndarray, x_t1: np.ndarray, flow_b: np.ndarray, mask: np.ndarray) -> float:
    """Mean L1 (over RGB) between x_t warped onto t+1 and x_t1, over the valid mask (0 if no pixel is valid)."""
    warped = _sample(x_t, flow_b)
    err = np.abs(warped.astype(np.float64) - x_t1).mean(axis=-1)
    n = int(mask.sum())
    return float(err[mask].sum() / n) if n else 0.0


def temporal_consistency(
    pred_t: np.ndarray, pred_t1: np.ndarray, gt_t: np.ndarray, gt_t1: np.ndarray, flow_fn: FlowFn = opencv_dis_flow
) -> tuple[float, float, float]:
    """(TC_t, WE(pred), WE(gt)) for one consecutive pair of float [0, 1] frames of equal size."""
    flow_b, mask = warp_with_mask(flow_fn, gt_t, gt_t1)
    we_pred = warp_error(pred_t, pred_t1, flow_b, mask)
    we_gt = warp_error(gt_t, gt_t1, flow_b, mask)
    tc = (1.0 - we_pred) / max(1.0 - we_gt, 1e-12)
    return float(tc), we_pred, we_gt
