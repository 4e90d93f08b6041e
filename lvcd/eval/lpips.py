"""LPIPS (Zhang et al., 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), v0.1, the
perceptual metric of LVCD §6.1, re-implemented in torch without torchvision.

Network: AlexNet (or VGG16) `features` tapped after each ReLU block, channel-normalised, squared difference, the
learned 1x1 "lin" heads, spatial mean, summed over the five taps. Input frames in [0, 1] are mapped to [-1, 1] and
through LPIPS' scaling layer, exactly as `lpips.LPIPS(net=..., version='0.1')(in0, in1, normalize=True)`.

Weights are never downloaded. `load_lpips(path)` reads them from a user-given path in the formats of the reference
code: the `lpips` package's `weights/v0.1/alex.pth` (keys `lin{0..4}.model.1.weight`) plus torchvision's AlexNet
checkpoint (`alexnet-owt-7be5be79.pth`, keys `features.{0,3,6,8,10}.weight/bias`), given as one file holding both,
two files, or a folder holding both; a whole `lpips.LPIPS` state dict (`net.slice*.N.*` keys) also loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .frechet import WeightsUnavailableError, is_torchscript_archive

# AlexNet / VGG16 `features` layouts as in torchvision (same module indices, hence the same state-dict keys).
_ALEX_CFG = [  # (index, kind, args)
    (0, "conv", (3, 64, 11, 4, 2)), (1, "relu", ()), (2, "pool", (3, 2)),
    (3, "conv", (64, 192, 5, 1, 2)), (4, "relu", ()), (5, "pool", (3, 2)),
    (6, "conv", (192, 384, 3, 1, 1)), (7, "relu", ()),
    (8, "conv", (384, 256, 3, 1, 1)), (9, "relu", ()),
    (10, "conv", (256, 256, 3, 1, 1)), (11, "relu", ()),
]  # fmt: skip
_ALEX_TAPS = (1, 4, 7, 9, 11)  # lpips.pretrained_networks.alexnet slices end after these ReLUs
_ALEX_CHNS = (64, 192, 384, 256, 256)

_VGG_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
_VGG_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
_VGG_CHNS = (64, 128, 256, 512, 512)


def _vgg_cfg() -> list[tuple[int, str, tuple]]:
    cfg, idx, c_in = [], 0, 3
    for v in _VGG_PLAN:
        if v == "M":
            cfg.append((idx, "pool", (2, 2)))
            idx += 1
        else:
            cfg += [(idx, "conv", (c_in, v, 3, 1, 1)), (idx + 1, "relu", ())]
            idx, c_in = idx + 2, v
    return cfg


class _Features(nn.Module):
    """torchvision-compatible `features` stack returning the activations at `taps`."""

    def __init__(self, cfg: list[tuple[int, str, tuple]], taps: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for idx, kind, args in cfg:
            assert idx == len(layers)
            if kind == "conv":
                c_in, c_out, k, s, p = args
                layers.append(nn.Conv2d(c_in, c_out, k, stride=s, padding=p))
            elif kind == "relu":
                layers.append(nn.ReLU(inplace=False))
            else:
                layers.append(nn.MaxPool2d(kernel_size=args[0], stride=args[1]))
        self.layers = nn.Sequential(*layers)
        self.taps = taps

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.taps:
                outs.append(x)
            if i == self.taps[-1]:
                break
        return outs


class LPIPS(nn.Module):
    """LPIPS v0.1 distance; `forward(pred, gt)` takes [B, 3, H, W] tensors in [0, 1] and returns [B] distances."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in ("alex", "vgg"):
            raise ValueError(f"`net` must be 'alex' or 'vgg'; got {net!r}.")
        self.net_type = net
        if net == "alex":
            self.features, chns = _Features(_ALEX_CFG, _ALEX_TAPS), _ALEX_CHNS
        else:
            self.features, chns = _Features(_vgg_cfg(), _VGG_TAPS), _VGG_CHNS
        # lpips.ScalingLayer: ImageNet statistics expressed for inputs in [-1, 1]
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in chns)  # lpips NetLinLayer (dropout is off)

    @staticmethod
    def _normalize(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
        return feat / (torch.sqrt(torch.sum(feat**2, dim=1, keepdim=True)) + eps)

    @torch.no_grad()
    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        x0 = ((2 * pred - 1) - self.shift) / self.scale  # [0,1] -> [-1,1] -> scaling layer
        x1 = ((2 * gt - 1) - self.shift) / self.scale
        total = torch.zeros(pred.shape[0], device=pred.device, dtype=pred.dtype)
        for f0, f1, lin in zip(self.features(x0), self.features(x1), self.lins):
            diff = (self._normalize(f0) - self._normalize(f1)) ** 2  # [B, C, h, w]
            total = total + lin(diff).mean(dim=(1, 2, 3))  # [B, 1, h, w] -> spatial mean -> [B]
        return total

    def distance(self, pred: np.ndarray, gt: np.ndarray) -> float:
        """LPIPS between two HxWx3 float frames in [0, 1]."""
        device = self.shift.device
        t0 = torch.from_numpy(np.ascontiguousarray(pred, np.float32)).permute(2, 0, 1)[None].to(device)
        t1 = torch.from_numpy(np.ascontiguousarray(gt, np.float32)).permute(2, 0, 1)[None].to(device)
        return float(self(t0, t1)[0])

    # ---------------------------------------------------------------------------------------------- weight loading
    def load_reference_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load keys in the reference formats (see the module docstring); raise naming what is missing."""
        mapped: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            k = key.removeprefix("module.")
            parts = k.split(".")
            if len(parts) == 4 and parts[0].startswith("lin") and parts[1] == "model" and parts[0][3:].isdigit():
                mapped[f"lins.{int(parts[0][3:])}.weight"] = value  # lin{k}.model.1.weight (lpips)
            elif len(parts) == 3 and parts[0] == "features" and parts[1].isdigit():
                mapped[f"features.layers.{parts[1]}.{parts[2]}"] = value  # torchvision alexnet/vgg16
            elif len(parts) == 4 and parts[0] == "net" and parts[1].startswith("slice") and parts[2].isdigit():
                mapped[f"features.layers.{parts[2]}.{parts[3]}"] = value  # whole lpips.LPIPS: net.sliceK.N.weight
        own = self.state_dict()
        wanted = set(own)
        missing = sorted(wanted - set(mapped))
        if missing:
            lin_missing = [m for m in missing if m.startswith("lins.")]
            feat_missing = [m for m in missing if m.startswith("features.")]
            hints = []
            if lin_missing:
                hints.append(
                    f"the LPIPS linear heads (`lin0..lin4.model.1.weight`, the lpips package's {self.net_type}.pth)"
                )
            if feat_missing:
                hints.append(
                    "the backbone (`features.N.weight/bias`, torchvision's "
                    + ("alexnet-owt-7be5be79.pth" if self.net_type == "alex" else "vgg16-397923af.pth")
                    + ")"
                )
            raise WeightsUnavailableError(
                f"LPIPS-{self.net_type} weights are incomplete: missing {len(missing)} tensors "
                f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}). Provide {' and '.join(hints)}: one "
                "file holding both, or a folder holding the two .pth files."
            )
        for k, v in own.items():
            if mapped[k].shape != v.shape:
                raise WeightsUnavailableError(
                    f"LPIPS-{self.net_type} tensor `{k}` has shape {tuple(mapped[k].shape)} in the file but the "
                    f"network needs {tuple(v.shape)}; is this the {'AlexNet' if self.net_type == 'alex' else 'VGG16'} "
                    "checkpoint?"
                )
        self.load_state_dict({k: mapped[k] for k in wanted}, strict=True)


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    if is_torchscript_archive(path):
        raise WeightsUnavailableError(
            f"{path} is a TorchScript archive; LPIPS needs the state dicts (.pth) named above."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsUnavailableError(f"cannot read {path} as a torch state dict ({type(e).__name__}: {e}).") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsUnavailableError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors.")
    return obj


def load_lpips(
    path: str | Path | list[str | Path], net: str | None = None, device: str | torch.device = "cpu"
) -> LPIPS:
    """Build LPIPS and load weights from `path`: a file, a list of files, or a folder of .pth/.pt/.bin files.

    `net` ('alex' or 'vgg') is inferred from the linear heads' channel counts when not given.
    """
    paths = [Path(p) for p in path] if isinstance(path, list | tuple) else [Path(path)]
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise WeightsUnavailableError(f"LPIPS weights path {p} does not exist.")
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix in (".pth", ".pt", ".bin") and f.is_file())
            if not found:
                raise WeightsUnavailableError(f"folder {p} holds no .pth/.pt/.bin files with LPIPS weights.")
            files += found
        else:
            files.append(p)
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(_torch_load(f))
    if net is None:
        lin0 = next((v for k, v in state.items() if k.endswith("lin0.model.1.weight")), None)
        lin1 = next((v for k, v in state.items() if k.endswith("lin1.model.1.weight")), None)
        net = "vgg" if lin1 is not None and lin1.shape[1] == 128 else "alex"
        if lin0 is None:
            net = "alex"
    model = LPIPS(net)
    model.load_reference_state_dict(state)
    return model.eval().to(device)
