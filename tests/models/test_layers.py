"""Reference-path layers: masked temporal conv, frame-position remap, module replacement, GroupNorm coupling."""

import pytest
import torch
import torch.nn as nn
from diffusers.models.embeddings import Timesteps
from diffusers.models.resnet import TemporalResnetBlock
from diffusers.models.transformers.transformer_temporal import TransformerSpatioTemporalModel
from diffusers.models.unets.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel
from tiny_models import make_inputs, randomize_

from lvcd.models import (
    FramePositionTimesteps,
    LVCDControlNetModel,
    MaskedTemporalConv3d,
    ReferenceAttentionState,
    apply_reference_path_layers,
    install_lvcd_processors,
)


def _conv_pair(nv=14, cin=8, cout=6):
    torch.manual_seed(0)
    conv = nn.Conv3d(cin, cout, kernel_size=(3, 1, 1), padding=(1, 0, 0))
    return conv, MaskedTemporalConv3d.from_conv(conv, num_video_frames=nv)


@pytest.mark.parametrize("frames", [1, 5, 14])
def test_masked_conv_is_conv3d_without_reference_frames(frames):
    conv, masked = _conv_pair()
    x = torch.randn(2, 8, frames, 3, 4)
    assert torch.equal(masked(x), conv(x))
    assert masked.weight is conv.weight and masked.bias is conv.bias


@pytest.mark.parametrize("frames", [15, 19])
def test_masked_conv_definition_with_reference_frames(frames):
    conv, masked = _conv_pair()
    x = torch.randn(2, 8, frames, 3, 4)
    dt = frames - 14
    out = masked(x)
    # reference frames: centre tap + bias only
    ref = torch.einsum("oi,bithw->bothw", conv.weight[:, :, 1, 0, 0], x[:, :, :dt])
    ref = ref + conv.bias[None, :, None, None, None]
    torch.testing.assert_close(out[:, :, :dt], ref, rtol=1e-5, atol=1e-6)
    # video frames: the 14 frames convolved alone with zero padding
    torch.testing.assert_close(out[:, :, dt:], conv(x[:, :, dt:]), rtol=0, atol=0)
    # the official construction: a zero frame after each reference frame, conv, drop the inserted frames
    zero = torch.zeros_like(x[:, :, :1])
    parts = [t for i in range(dt) for t in (x[:, :, i : i + 1], zero)] + [x[:, :, dt:]]
    full = conv(torch.cat(parts, dim=2))
    keep = [2 * i for i in range(dt)] + list(range(2 * dt, 2 * dt + 14))
    torch.testing.assert_close(out, full[:, :, keep], rtol=1e-5, atol=1e-6)


def test_masked_conv_rejects_non_temporal_kernels():
    with pytest.raises(ValueError):
        MaskedTemporalConv3d(4, 4, kernel_size=(3, 3, 3), padding=(1, 1, 1))


@pytest.mark.parametrize("frames,batch", [(19, 2), (15, 1), (14, 2), (6, 3)])
def test_frame_position_remap(frames, batch):
    base = Timesteps(32, True, 0)
    remap = FramePositionTimesteps.from_timesteps(base, num_video_frames=14)
    positions = torch.arange(frames).repeat(batch, 1).reshape(-1)  # what TransformerSpatioTemporalModel feeds it
    dt = max(frames - 14, 0)
    expected = torch.tensor([0] * dt + list(range(frames - dt))).repeat(batch)
    assert torch.equal(remap(positions), base(expected))
    if frames == 19:
        assert expected[:19].tolist() == [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]


def test_apply_reference_path_layers_counts_and_keys(tiny_config):
    torch.manual_seed(0)
    stock = UNetSpatioTemporalConditionModel(**tiny_config)
    keys = {k: v.shape for k, v in stock.state_dict().items()}
    counts = apply_reference_path_layers(stock, num_video_frames=14)
    assert counts == {"time_proj": 16, "temporal_conv": 44}  # official: 16 transformers, 44 Conv3d_Masked
    assert {k: v.shape for k, v in stock.state_dict().items()} == keys
    assert apply_reference_path_layers(stock, 14) == counts  # idempotent
    assert all(
        isinstance(m.time_proj, FramePositionTimesteps)
        for m in stock.modules()
        if isinstance(m, TransformerSpatioTemporalModel)
    )
    assert all(
        isinstance(m.conv1, MaskedTemporalConv3d) and isinstance(m.conv2, MaskedTemporalConv3d)
        for m in stock.modules()
        if isinstance(m, TemporalResnetBlock)
    )
    controlnet = LVCDControlNetModel(
        **{k: v for k, v in tiny_config.items() if k not in ("out_channels", "up_block_types")}
    )
    assert apply_reference_path_layers(controlnet, 14) == {"time_proj": 7, "temporal_conv": 20}


class _PerFrameGroupNorm(nn.Module):
    """GroupNorm over each frame of a [B, C, T, H, W] tensor separately (no statistics shared across frames)."""

    def __init__(self, norm: nn.GroupNorm):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        b, c, t, h, w = x.shape
        y = self.norm(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))  # [B, C, T, H, W] -> [B*T, C, H, W]
        return y.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


def _video_change(unet, inputs, changed):
    state = ReferenceAttentionState()
    install_lvcd_processors(unet, state)
    with torch.no_grad(), state.use("normal"):
        a = unet(**inputs).sample
        b = unet(**changed).sample
    return (a - b)[:, 5:].abs().max().item()


def test_reference_path_reaches_video_only_through_temporal_groupnorm(tiny_unet):
    inputs = make_inputs(frames=19, h=8, w=8)
    changed = dict(inputs, sample=inputs["sample"].clone())
    # frames 1-4: reference path but not the reference frame 0 (which the video frames attend to in "normal" mode)
    changed["sample"][:, 1:5] = torch.randn_like(changed["sample"][:, 1:5])
    coupled = _video_change(tiny_unet, inputs, changed)
    assert coupled > 0  # temporal GroupNorm statistics span all T frames, as in the official code
    for block in tiny_unet.modules():
        if isinstance(block, TemporalResnetBlock):
            block.norm1 = _PerFrameGroupNorm(block.norm1)
            block.norm2 = _PerFrameGroupNorm(block.norm2)
    assert _video_change(tiny_unet, inputs, changed) == 0.0


def test_unmasked_model_would_leak(tiny_config):
    # Sanity check of the test above: plain diffusers layers (no masking) let frames 1-4 reach the video much more.
    torch.manual_seed(0)
    stock = randomize_(UNetSpatioTemporalConditionModel(**tiny_config)).eval()
    inputs = make_inputs(frames=19, h=8, w=8)
    changed = dict(inputs, sample=inputs["sample"].clone())
    changed["sample"][:, 1:5] = torch.randn_like(changed["sample"][:, 1:5])
    with torch.no_grad():
        leak = (stock(**inputs).sample - stock(**changed).sample)[:, 5:].abs().max().item()
    assert leak > 1e-2


def test_conv_shapes_survive_meta_device():
    with torch.device("meta"):
        conv = nn.Conv3d(4, 4, (3, 1, 1), padding=(1, 0, 0))
        masked = MaskedTemporalConv3d.from_conv(conv, 14)
    assert masked.weight.is_meta and masked.weight.shape == (4, 4, 3, 1, 1)
