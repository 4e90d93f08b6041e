"""Loaders for the FID Inception (pytorch-fid state-dict keys, random weights), the TorchScript I3D (FVD) and the
TorchScript RAFT (TC flow), each on small random or scripted stand-ins; without weights the metrics are unavailable."""

import numpy as np
import pytest
import torch

from lvcd.eval import FeatureExtractor, WeightsUnavailableError, evaluate
from lvcd.eval.i3d import load_i3d
from lvcd.eval.inception import FIDInceptionV3, load_inception
from lvcd.eval.temporal import load_raft


class FakeI3D(torch.nn.Module):
    """Stands in for i3d_torchscript.pt.

    Records what it is fed as 6 'features' (min, max, C, T, H, W) + colour mean.
    """

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True):
        b = x.shape[0]
        stats = torch.tensor([float(x.shape[1]), float(x.shape[2]), float(x.shape[3]), float(x.shape[4])])
        return torch.cat([x.amin(dim=(1, 2, 3, 4))[:, None], x.amax(dim=(1, 2, 3, 4))[:, None],
                          stats.expand(b, 4), x.mean(dim=(2, 3, 4))], dim=1)  # fmt: skip


class FakeRAFT(torch.nn.Module):
    """Stands in for a scripted torchvision RAFT: returns a list of zero flows at the padded input size."""

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> list[torch.Tensor]:
        flow = torch.zeros(image1.shape[0], 2, image1.shape[2], image1.shape[3])
        return [flow + 1.0, flow]


def test_inception_keys_follow_pytorch_fid_checkpoint():
    keys = FIDInceptionV3().state_dict()
    # names of torchvision's Inception3(num_classes=1008, aux_logits=False), as in pt_inception-2015-12-05-6726825d.pth
    for k in ("Conv2d_1a_3x3.conv.weight", "Conv2d_4a_3x3.bn.running_var", "Mixed_5b.branch5x5_2.conv.weight",
              "Mixed_6a.branch3x3dbl_3.bn.bias", "Mixed_6e.branch7x7dbl_5.conv.weight",
              "Mixed_7a.branch7x7x3_4.bn.weight", "Mixed_7c.branch3x3dbl_3b.bn.running_mean", "fc.bias"):  # fmt: skip
        assert k in keys, k
    assert tuple(keys["fc.weight"].shape) == (1008, 2048)
    assert tuple(keys["Mixed_5b.branch_pool.conv.weight"].shape) == (32, 192, 1, 1)
    assert tuple(keys["Mixed_6b.branch7x7_1.conv.weight"].shape) == (128, 768, 1, 1)
    assert not any(k.startswith("AuxLogits") for k in keys)


def test_inception_loads_random_checkpoint_and_extracts_2048_features(tmp_path):
    torch.manual_seed(0)
    src = FIDInceptionV3().eval()
    for m in src.modules():  # non-trivial BatchNorm statistics so a mis-loaded buffer would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {f"module.{k}": v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["AuxLogits.fc.weight"] = torch.zeros(3, 3)  # torchvision checkpoints carry the aux head; it is dropped
    torch.save(state, tmp_path / "pt_inception.pth")
    model = load_inception(tmp_path / "pt_inception.pth")
    x = np.random.default_rng(0).random((2, 64, 64, 3)).astype(np.float32)
    feats = model(x)
    assert feats.shape == (2, 2048)
    np.testing.assert_allclose(feats, src(x), rtol=1e-5, atol=1e-6)


def test_inception_wrong_checkpoints_teach(tmp_path):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsUnavailableError, match="pt_inception"):
        load_inception(tmp_path / "other.pth")
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_inception(tmp_path / "nope.pth")


class PoolFeatures:
    """A cheap FeatureExtractor (FID's protocol): 4x4 average-pooled colours, 48 dimensions."""

    name, dim = "pool4", 48

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        b, h, w, _ = batch.shape
        return batch.reshape(b, 4, h // 4, 4, w // 4, 3).mean(axis=(2, 4)).reshape(b, -1)


def test_fid_in_evaluate_streams_features_and_moves_with_colour_shift(clip):
    frames, _ = clip
    assert isinstance(PoolFeatures(), FeatureExtractor)
    same = evaluate(frames, frames, weights={"inception": PoolFeatures()}, batch_size=3)
    shifted = [np.clip(f.astype(int) - 60, 0, 255).astype(np.uint8) for f in frames]
    worse = evaluate(shifted, frames, weights={"inception": PoolFeatures()}, batch_size=3)
    assert same.dataset["fid"] == pytest.approx(0.0, abs=1e-6)
    assert worse.dataset["fid"] > 0.1
    assert "fid" not in same.unavailable
    assert "fid" in evaluate(frames[:2], frames[:2]).unavailable


def test_i3d_torchscript_loader_feeds_minus_one_one_clips(tmp_path):
    torch.jit.script(FakeI3D()).save(str(tmp_path / "i3d_torchscript.pt"))
    i3d = load_i3d(tmp_path / "i3d_torchscript.pt")
    clips = np.zeros((2, 16, 64, 64, 3), np.float32)
    clips[1] = 1.0
    feats = i3d(clips)
    assert feats.shape == (2, 9)
    assert feats[0, 1] == pytest.approx(-1.0, abs=1e-6) and feats[1, 0] == pytest.approx(
        1.0, abs=1e-6
    )  # [0,1]->[-1,1]
    np.testing.assert_array_equal(feats[0, 2:6], [3, 16, 224, 224])  # [B, 3, T, 224, 224]


def test_i3d_state_dict_is_refused_with_reason(tmp_path):
    torch.save({"Conv3d_1a_7x7.conv3d.weight": torch.zeros(1)}, tmp_path / "rgb_imagenet.pt")
    with pytest.raises(WeightsUnavailableError, match="TorchScript"):
        load_i3d(tmp_path / "rgb_imagenet.pt")


def test_fvd_in_evaluate_needs_two_clips(tmp_path, clip):
    torch.jit.script(FakeI3D()).save(str(tmp_path / "i3d.pt"))
    frames, _ = clip
    long_gt = frames * 4  # 32 frames -> 2 clips of 16
    shifted = [np.clip(f.astype(int) + 40, 0, 255).astype(np.uint8) for f in long_gt]
    same = evaluate(long_gt, long_gt, weights={"i3d": tmp_path / "i3d.pt"})
    worse = evaluate(shifted, long_gt, weights={"i3d": tmp_path / "i3d.pt"})
    assert same.dataset["fvd"] == pytest.approx(0.0, abs=1e-6)
    assert worse.dataset["fvd"] > same.dataset["fvd"]
    short = evaluate(frames, frames, weights={"i3d": tmp_path / "i3d.pt"})
    assert "fvd" in short.unavailable and "2 clips" in short.unavailable["fvd"]


def test_raft_torchscript_is_used_for_tc_and_labelled(tmp_path, clip):
    torch.jit.script(FakeRAFT()).save(str(tmp_path / "raft.pt"))
    raft = load_raft(tmp_path / "raft.pt")
    src = np.random.default_rng(0).random((30, 41, 3))
    flow = raft(src, src)
    assert flow.shape == (30, 41, 2) and np.all(flow == 0)  # last flow of the list, cropped back from the padding
    frames, _ = clip
    report = evaluate(frames[:3], frames[:3], weights={"raft": tmp_path / "raft.pt"})
    assert report.meta["tc_flow"].startswith("RAFT")
    assert report.per_frame["tc"][1:] == [1.0, 1.0]
    assert "OpenCV" in evaluate(frames[:3], frames[:3]).meta["tc_flow"]
    torch.save({"fnet.conv1.weight": torch.zeros(1)}, tmp_path / "raft-things.pth")
    with pytest.raises(WeightsUnavailableError, match="TorchScript"):
        load_raft(tmp_path / "raft-things.pth")


def test_unknown_weight_key_teaches(clip):
    frames, _ = clip
    with pytest.raises(ValueError, match="unknown `weights` keys"):
        evaluate(frames[:2], frames[:2], weights={"clip": "x"})


def test_informative_drawings_weights_become_edmds_extractor(tmp_path, clip):
    from lvcd.lineart.informative_drawings import Generator

    torch.manual_seed(0)
    path = tmp_path / "sk_model.pth"
    torch.save(Generator(3, 1, 3).state_dict(), path)
    frames, _ = clip
    report = evaluate(frames[:2], frames[:2], weights={"lineart": str(path)})
    assert (
        report.meta["edmd_output_lineart"].startswith("informative-drawings")
        and str(path) in (report.meta["edmd_output_lineart"])
    )
    assert report.per_frame["edmd"] == [0.0, 0.0]  # same extractor on output and ground truth
    plain = evaluate(frames[:2], frames[:2])
    assert (
        plain.meta["edmd_output_lineart"].startswith("XDoG")
        and "no informative-drawings" in (plain.meta["edmd_output_lineart"])
    )


def test_ready_line_extractor_is_used(clip):
    frames, _ = clip

    class NoLines:
        name = "no lines at all"

        def __call__(self, frame):
            return np.zeros(frame.shape[:2], bool)

    lines = np.zeros((96, 128), np.uint8)  # every pixel a line (dark) -> reference distance map 0
    r = evaluate(frames[:1], frames[:1], [lines + 0], weights={"lineart": NoLines()}, lineart_polarity="dark",
                 segments=False)  # fmt: skip
    assert r.meta["edmd_output_lineart"] == "no lines at all"
    assert r.per_frame["edmd"][0] == pytest.approx(np.hypot(256, 256))  # no output line: the diagonal everywhere
