"""Optional learned lineart extractor: the informative-drawings generator (Chan, Durand, Isola, "Learning to generate
line drawings that convey geometry and semantics", CVPR 2022; https://github.com/carolineec/informative-drawings).

LVCD extracted its training and test sketches with this network as packaged by ControlNet's "lineart" annotator:
`Generator(3, 1, 3)` (3 input channels, 1 output channel, 3 residual blocks), RGB input in [0, 1], output in [0, 1]
with 1 = paper, which ControlNet then inverts to white lines on black. This file re-implements that architecture with
the same module names, so the released state dicts (ControlNet annotator `sk_model.pth` / `sk_model2.pth`, or
informative-drawings `netG_A_latest.pth`) load with `strict=True`, and wraps it as a lineart extractor.

No weights are bundled or downloaded: the user passes a file they have. The module is imported only when asked for
(the rest of `lvcd.lineart` never imports torch). Deliberately not here: training, the geometry/CLIP losses, and the
depth branch of the original repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover - torch is a dependency of lvcd, but be explicit about why it is needed
    raise ImportError(
        "lvcd.lineart.informative_drawings needs PyTorch (pip install torch). The classical XDoG extractor "
        "(lvcd.lineart.xdog) works without it."
    ) from e


class ResidualBlock(nn.Module):
    """conv3x3 -> IN -> ReLU -> conv3x3 -> IN, reflection padding, identity skip (CycleGAN-style)."""

    def __init__(self, features: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(features, features, 3),
            nn.InstanceNorm2d(features),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(features, features, 3),
            nn.InstanceNorm2d(features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class Generator(nn.Module):
    """The informative-drawings generator. Module names (`model0` ... `model4`) match the released checkpoints."""

    def __init__(self, input_nc: int = 3, output_nc: int = 1, n_residual_blocks: int = 3, sigmoid: bool = True):
        super().__init__()
        # [B, in, H, W] -> [B, 64, H, W]
        self.model0 = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(input_nc, 64, 7), nn.InstanceNorm2d(64), nn.ReLU(inplace=True)
        )
        # two stride-2 convs: [B, 64, H, W] -> [B, 256, H/4, W/4]
        down, feats = [], 64
        for _ in range(2):
            down += [
                nn.Conv2d(feats, feats * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(feats * 2),
                nn.ReLU(inplace=True),
            ]
            feats *= 2
        self.model1 = nn.Sequential(*down)
        self.model2 = nn.Sequential(*[ResidualBlock(feats) for _ in range(n_residual_blocks)])
        # two stride-2 transposed convs: [B, 256, H/4, W/4] -> [B, 64, H, W]
        up = []
        for _ in range(2):
            up += [
                nn.ConvTranspose2d(feats, feats // 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(feats // 2),
                nn.ReLU(inplace=True),
            ]
            feats //= 2
        self.model3 = nn.Sequential(*up)
        # [B, 64, H, W] -> [B, out, H, W] in [0, 1] (1 = paper)
        head = [nn.ReflectionPad2d(3), nn.Conv2d(64, output_nc, 7)]
        if sigmoid:
            head.append(nn.Sigmoid())
        self.model4 = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model4(self.model3(self.model2(self.model1(self.model0(x)))))


@dataclass
class InformativeDrawingsConfig:
    n_residual_blocks: int = 3  # LVCD / ControlNet "lineart" uses Generator(3, 1, 3); the original repo trains 3
    multiple: int = 8  # input padded to a multiple of this (two stride-2 downsamplings + reflection padding)
    device: str = "cpu"  # the user picks the device; CPU works (slowly) everywhere
    dtype: str = "float32"  # InstanceNorm in fp16 is unstable on CPU; use bf16/fp16 on GPU if needed


def load_generator(weights: str | os.PathLike | dict, config: InformativeDrawingsConfig | None = None) -> Generator:
    """A `Generator` with user-supplied weights: a path to a `.pth`/`.pt`/`.safetensors` state dict, or the dict.

    `module.`-prefixed keys (checkpoints saved from DataParallel) are accepted.
    """
    cfg = config or InformativeDrawingsConfig()
    if isinstance(weights, dict):
        state = weights
    else:
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"informative-drawings weights not found at {path!r}. lvcd bundles none: pass the path of a "
                "Generator(3, 1, 3) state dict you have (e.g. ControlNet's annotator sk_model.pth)."
            )
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = Generator(3, 1, cfg.n_residual_blocks)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"the state dict does not fit Generator(3, 1, {cfg.n_residual_blocks}): missing {sorted(missing)[:4]}, "
            f"unexpected {sorted(unexpected)[:4]}. Check `n_residual_blocks` (3 for the LVCD/ControlNet lineart "
            "model) and that the file is an informative-drawings generator."
        )
    return model.to(device=cfg.device, dtype=getattr(torch, cfg.dtype)).eval()


class InformativeDrawingsExtractor:
    """Colour frame -> line strength (float32 [H, W] in [0, 1], 1 = line), like `lvcd.lineart.xdog.xdog`."""

    def __init__(self, weights: str | os.PathLike | dict | Generator, config: InformativeDrawingsConfig | None = None):
        self.config = config or InformativeDrawingsConfig()
        self.model = weights if isinstance(weights, Generator) else load_generator(weights, self.config)

    @torch.no_grad()
    def __call__(self, image_rgb: np.ndarray) -> np.ndarray:
        img = np.asarray(image_rgb)
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
            raise ValueError(f"`image_rgb` must be uint8 [H, W, 3] (got {img.dtype} {img.shape}).")
        if img.shape[2] == 4:  # transparent = paper
            a = img[..., 3:4].astype(np.float32) / 255.0
            img = np.round(img[..., :3] * a + 255.0 * (1.0 - a)).astype(np.uint8)
        h, w = img.shape[:2]
        m = self.config.multiple
        ph, pw = (-h) % m, (-w) % m
        param = next(self.model.parameters())
        x = torch.from_numpy(np.ascontiguousarray(img)).to(param.device, param.dtype)
        x = x.permute(2, 0, 1)[None] / 255.0  # [H, W, 3] -> [1, 3, H, W] in [0, 1]
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        paper = self.model(x)[0, 0, :h, :w]  # [H, W], 1 = paper
        return (1.0 - paper).clamp(0.0, 1.0).float().cpu().numpy()
