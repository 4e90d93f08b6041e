"""I3D Kinetics-400 clip features for FVD (Unterthiner et al., 2018), reported by LVCD §6.1.

lvcd does not re-implement I3D: it loads the TorchScript export that the PyTorch FVD implementations share
(StyleGAN-V's `i3d_torchscript.pt`, a reproduction of the TF-Hub `i3d-kinetics-400` network the reference FVD code
uses) from a user-given path and calls it as they do: `detector(videos, rescale=False, resize=False,
return_features=True)` with [B, 3, T, 224, 224] clips in [-1, 1], returning the 400-d pre-softmax features. Clips here
are the 256x256 protocol frames resized to 224x224 (bilinear). A plain state dict (e.g. piergiovanni/pytorch-i3d's
`rgb_imagenet.pt`) is refused with a message saying so, since the architecture is not bundled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .frechet import (  # noqa: F401 - FVD_CLIP_LENGTH and is_torchscript_archive are re-exported
    FVD_CLIP_LENGTH,
    WeightsUnavailableError,
    is_torchscript_archive,
    load_torchscript,
)

I3D_INPUT_SIZE = 224


class TorchScriptI3D:
    """FeatureExtractor over a TorchScript I3D: float [B, T, H, W, 3] clips in [0, 1] -> [B, dim] features."""

    name = "i3d-torchscript"

    def __init__(self, module: torch.nn.Module, device: str | torch.device = "cpu", dim: int | None = None) -> None:
        self.module = module.eval().to(device)
        self.device = torch.device(device)
        self.dim = dim or 400

    @torch.no_grad()
    def __call__(self, clips: np.ndarray) -> np.ndarray:
        clips = np.asarray(clips, np.float32)
        if clips.ndim != 5 or clips.shape[-1] != 3:
            raise ValueError(f"I3D expects [B, T, H, W, 3] clips; got shape {clips.shape}.")
        b, t, h, w, _ = clips.shape
        x = torch.from_numpy(clips).to(self.device).reshape(b * t, h, w, 3).permute(0, 3, 1, 2)  # [B*T, 3, H, W]
        x = F.interpolate(x, size=(I3D_INPUT_SIZE, I3D_INPUT_SIZE), mode="bilinear", align_corners=False)
        x = x.reshape(b, t, 3, I3D_INPUT_SIZE, I3D_INPUT_SIZE).permute(0, 2, 1, 3, 4)  # [B, 3, T, 224, 224]
        x = x * 2 - 1  # [0, 1] -> [-1, 1]
        feats = self.module(x, rescale=False, resize=False, return_features=True)
        feats = feats.float().cpu().numpy().astype(np.float64).reshape(b, -1)
        self.dim = feats.shape[1]
        return feats


def load_i3d(path: str | Path, device: str | torch.device = "cpu") -> TorchScriptI3D:
    """Load a TorchScript I3D (StyleGAN-V's `i3d_torchscript.pt`) from `path`."""
    module = load_torchscript(
        path,
        "I3D",
        "; FVD needs the TorchScript I3D `i3d_torchscript.pt` (the detector used by StyleGAN-V's FVD); download it "
        "yourself and pass its path.",
        "lvcd computes FVD only with the TorchScript I3D (`i3d_torchscript.pt`, called as detector(x, rescale=False, "
        "resize=False, return_features=True)); state dicts such as pytorch-i3d's rgb_imagenet.pt need an I3D "
        "architecture that lvcd does not bundle.",
    )
    return TorchScriptI3D(module, device=device)
