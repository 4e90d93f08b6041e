"""LPIPS loads tiny random weights saved in the reference key formats (the lpips package's alex.pth / vgg.pth heads,
torchvision's alexnet / vgg16 `features`, a whole `lpips.LPIPS` state dict) and computes lpips' formula."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lvcd.eval import WeightsUnavailableError, evaluate
from lvcd.eval.lpips import LPIPS, load_lpips

ALEX_CONVS = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
ALEX_LIN = (64, 192, 384, 256, 256)


def _alex_files(tmp_path, seed=0):
    """Random weights as lpips' weights/v0.1/alex.pth and torchvision's alexnet checkpoint (with its classifier)."""
    g = torch.Generator().manual_seed(seed)
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) * 0.1 for i, c in enumerate(ALEX_LIN)}
    backbone = {}
    for idx, (co, ci, k) in ALEX_CONVS.items():
        backbone[f"features.{idx}.weight"] = torch.randn(co, ci, k, k, generator=g) * (2.0 / (ci * k * k)) ** 0.5
        backbone[f"features.{idx}.bias"] = torch.randn(co, generator=g) * 0.01
    backbone["classifier.1.weight"] = torch.randn(8, 4, generator=g)  # extra keys of the full checkpoint are ignored
    torch.save(lins, tmp_path / "alex.pth")
    torch.save(backbone, tmp_path / "alexnet-owt-7be5be79.pth")
    return lins, backbone


def _reference_lpips(lins, backbone, x0, x1):
    """lpips.LPIPS(net='alex', version='0.1')(x0, x1, normalize=True), written out with torch.nn.functional."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(x):
        x = ((2 * x - 1) - shift) / scale
        out = []
        x = F.relu(F.conv2d(x, backbone["features.0.weight"], backbone["features.0.bias"], stride=4, padding=2))
        out.append(x)
        x = F.max_pool2d(x, 3, 2)
        x = F.relu(F.conv2d(x, backbone["features.3.weight"], backbone["features.3.bias"], padding=2))
        out.append(x)
        x = F.max_pool2d(x, 3, 2)
        for idx in (6, 8, 10):
            x = F.relu(F.conv2d(x, backbone[f"features.{idx}.weight"], backbone[f"features.{idx}.bias"], padding=1))
            out.append(x)
        return out

    total = 0.0
    for i, (a, b) in enumerate(zip(feats(x0), feats(x1))):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + F.conv2d((a - b) ** 2, lins[f"lin{i}.model.1.weight"]).mean((2, 3))
    return total.view(-1)


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    base = np.stack([np.sin(xx / 5.0), np.cos(yy / 4.0), np.sin((xx + yy) / 7.0)], -1) * 0.4 + 0.5
    return base, rng


def test_two_files_load_and_match_reference_formula(tmp_path, frames):
    lins, backbone = _alex_files(tmp_path)
    model = load_lpips([tmp_path / "alex.pth", tmp_path / "alexnet-owt-7be5be79.pth"])
    assert model.net_type == "alex"
    torch.testing.assert_close(model.lins[2].weight, lins["lin2.model.1.weight"])
    torch.testing.assert_close(model.features.layers[8].bias, backbone["features.8.bias"])
    base, rng = frames
    pred = np.clip(base + rng.normal(0, 0.1, base.shape), 0, 1)
    t0 = torch.from_numpy(pred).float().permute(2, 0, 1)[None]
    t1 = torch.from_numpy(base).float().permute(2, 0, 1)[None]
    expected = _reference_lpips(lins, backbone, t0, t1)
    assert model.distance(pred, base) == pytest.approx(float(expected[0]), rel=1e-5)


def test_folder_single_file_and_whole_lpips_state_dict(tmp_path, frames):
    lins, backbone = _alex_files(tmp_path)
    base, _ = frames
    pred = np.clip(base + 0.1, 0, 1)
    d_folder = load_lpips(tmp_path).distance(pred, base)
    merged = tmp_path / "merged" / "lpips_alex_full.pth"
    merged.parent.mkdir()
    torch.save({**lins, **backbone}, merged)
    assert load_lpips(merged).distance(pred, base) == pytest.approx(d_folder, rel=1e-6)
    # a whole lpips.LPIPS(net='alex').state_dict(): net.sliceK.N.* + lin*.model.1.weight + scaling_layer buffers
    slices = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
    whole = {k.replace("features.", f"net.slice{slices[int(k.split('.')[1])]}."): v
             for k, v in backbone.items() if k.startswith("features.")}  # fmt: skip
    whole.update(lins)
    whole["scaling_layer.shift"] = torch.zeros(1, 3, 1, 1)
    whole_path = tmp_path / "whole" / "lpips.pth"
    whole_path.parent.mkdir()
    torch.save(whole, whole_path)
    assert load_lpips(whole_path).distance(pred, base) == pytest.approx(d_folder, rel=1e-6)


def test_lpips_zero_for_identical_and_grows_with_noise(tmp_path, frames):
    _alex_files(tmp_path)
    model = load_lpips(tmp_path)
    base, rng = frames
    assert model.distance(base, base) == pytest.approx(0.0, abs=1e-7)
    d = [model.distance(np.clip(base + rng.normal(0, s, base.shape), 0, 1), base) for s in (0.02, 0.1, 0.3)]
    assert 0 < d[0] < d[1] < d[2]


def test_vgg_heads_are_recognised(tmp_path):
    g = torch.Generator().manual_seed(1)
    model = LPIPS("vgg")
    state = {f"features.{k.split('.')[2]}.{k.split('.')[3]}": torch.randn(v.shape, generator=g)
             for k, v in model.state_dict().items() if k.startswith("features.")}  # fmt: skip
    state.update({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g)
                  for i, c in enumerate((64, 128, 256, 512, 512))})  # fmt: skip
    torch.save(state, tmp_path / "vgg_all.pth")
    assert load_lpips(tmp_path / "vgg_all.pth").net_type == "vgg"


def test_incomplete_or_wrong_weights_teach(tmp_path):
    lins, backbone = _alex_files(tmp_path)
    with pytest.raises(WeightsUnavailableError, match="backbone"):
        load_lpips(tmp_path / "alex.pth")  # heads only
    with pytest.raises(WeightsUnavailableError, match="linear heads"):
        load_lpips(tmp_path / "alexnet-owt-7be5be79.pth")  # backbone only
    bad = dict(backbone)
    bad["features.3.weight"] = torch.zeros(5, 5, 5, 5)
    torch.save({**lins, **bad}, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailableError, match="shape"):
        load_lpips(tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_lpips(tmp_path / "missing.pth")


def test_evaluate_reports_lpips_only_with_weights(tmp_path, clip):
    frames, _ = clip
    _alex_files(tmp_path)
    without = evaluate(frames[:2], frames[:2])
    assert "lpips" not in without.per_frame and "lpips" in without.unavailable
    noisy = [np.clip(f.astype(int) + 20, 0, 255).astype(np.uint8) for f in frames[:2]]
    with_w = evaluate(noisy, frames[:2], weights={"lpips": tmp_path})
    assert "lpips" not in with_w.unavailable
    assert len(with_w.per_frame["lpips"]) == 2 and all(v > 0 for v in with_w.per_frame["lpips"])
