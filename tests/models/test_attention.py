"""Reference Attention and masked temporal attention: index tables, processor selection, numerics."""

import math

import pytest
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from tiny_models import SVD_CONFIG

from lvcd.models import (
    FrameContext,
    LVCDControlNetModel,
    LVCDUNetModel,
    MaskedTemporalAttnProcessor,
    ReferenceAttentionState,
    ReferenceAttnProcessor,
    install_lvcd_processors,
    reference_index_tables,
)

# ------------------------------------------------------------------------------------------------ index tables


def test_index_tables_normal_segment0():
    # segment 0 of the official run: T = 19, dt = 5 (reference + 4 copies), "normal" mode
    idx0, idx1, biased = reference_index_tables(19, 5, "normal", overlap=4)
    assert idx0 == list(range(19))
    assert idx1 == [0, 1, 2, 3, 4] + [0] * 14
    assert biased == [False] * 19
    assert reference_index_tables(19, 5, "off", overlap=4) == (idx0, idx1, biased)


def test_index_tables_prevref():
    # later segments: reference 0, prev-ref 1-4, overlap 5-8 (self + prev-ref, amplified), new 9-18 (t-3, reference)
    idx0, idx1, biased = reference_index_tables(19, 5, "prevref", overlap=4)
    assert idx0 == [0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert idx1 == [0, 1, 2, 3, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert biased == [False] * 5 + [True] * 4 + [False] * 10


def test_index_tables_training_layout():
    # T = 15 (training): frame 0 attends to itself, every video frame to [self, frame 0]
    idx0, idx1, _ = reference_index_tables(15, 1, "normal", overlap=0)
    assert idx0 == list(range(15)) and idx1 == [0] * 15


def test_index_tables_without_reference_path_are_self_attention():
    for mode in ("off", "normal"):
        assert reference_index_tables(14, 0, mode) == (list(range(14)), list(range(14)), [False] * 14)


@pytest.mark.parametrize("frames,ref,overlap", [(19, 4, 4), (19, 5, 0), (7, 5, 4)])
def test_index_tables_reject_impossible_prevref_layouts(frames, ref, overlap):
    with pytest.raises(ValueError):
        reference_index_tables(frames, ref, "prevref", overlap)


def test_state_use_sets_and_restores():
    state = ReferenceAttentionState()
    assert (state.mode, state.overlap) == ("off", 4)
    with state.use("prevref", overlap=2) as s:
        assert s is state and (state.mode, state.overlap) == ("prevref", 2)
    assert (state.mode, state.overlap) == ("off", 4)
    with pytest.raises(ValueError):
        with state.use("reference"):
            pass
    with pytest.raises(ValueError):
        ReferenceAttentionState(mode="on")


# ------------------------------------------------------------------------------------------------ processor choice


def _count(processors, cls):
    return sum(isinstance(p, cls) for p in processors.values())


def test_processors_on_unet_and_controlnet(tiny_config):
    torch.manual_seed(0)
    unet = LVCDUNetModel(**tiny_config)
    controlnet = LVCDControlNetModel.from_unet(unet)
    state = ReferenceAttentionState()
    before = unet.attn_processors
    procs = install_lvcd_processors(unet, state, bias_excluded=("up_blocks.3.",))
    assert _count(procs, ReferenceAttnProcessor) == 16
    assert _count(procs, MaskedTemporalAttnProcessor) == 16
    for name, proc in unet.attn_processors.items():
        if isinstance(proc, ReferenceAttnProcessor):
            assert ".transformer_blocks." in name and name.endswith("attn1.processor")
            assert "temporal_transformer_blocks" not in name
            assert proc.state is state and proc.frames is unet.frame_context
            assert proc.apply_bias == (not name.startswith("up_blocks.3."))
        elif isinstance(proc, MaskedTemporalAttnProcessor):
            assert ".temporal_transformer_blocks." in name and name.endswith("attn1.processor")
        else:  # every other layer keeps its processor (the attn2 cross-attentions)
            assert name.endswith("attn2.processor") and type(proc) is type(before[name])
    # the official UNet hook layers 13-15 (output_blocks.9-11) are the only ones without the prev-ref bias
    spatial = {n: p for n, p in unet.attn_processors.items() if isinstance(p, ReferenceAttnProcessor)}
    no_bias = [n for n, p in spatial.items() if not p.apply_bias]
    assert no_bias == [f"up_blocks.3.attentions.{i}.transformer_blocks.0.attn1.processor" for i in range(3)]

    cprocs = install_lvcd_processors(controlnet, state, bias_excluded=())
    assert _count(cprocs, ReferenceAttnProcessor) == 7
    assert _count(cprocs, MaskedTemporalAttnProcessor) == 7
    assert all(p.apply_bias for p in cprocs.values() if isinstance(p, ReferenceAttnProcessor))


def test_install_needs_an_lvcd_model(tiny_config):
    from diffusers.models.unets.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel

    with pytest.raises(TypeError):
        install_lvcd_processors(UNetSpatioTemporalConditionModel(**tiny_config), ReferenceAttentionState())


def test_real_svd_size_on_meta_device():
    with torch.device("meta"):
        unet = LVCDUNetModel.from_config(SVD_CONFIG)
        controlnet = LVCDControlNetModel.from_unet(unet, load_weights_from_unet=False)
    # (diffusers' AlphaBlender builds its scalar mix_factor with torch.Tensor(), which ignores the default device)
    assert all(p.is_meta for n, p in unet.named_parameters() if not n.endswith("mix_factor"))
    # official numbers (lvcd-reference.md 2.6): the ControlNet has 671 tensors and 682,021,537 parameters
    assert len(controlnet.state_dict()) == 671
    assert sum(p.numel() for p in controlnet.parameters()) == 682_021_537
    state = ReferenceAttentionState()
    assert _count(install_lvcd_processors(unet, state), ReferenceAttnProcessor) == 16
    assert _count(install_lvcd_processors(controlnet, state, ()), ReferenceAttnProcessor) == 7
    # the 32 trained UNet attention layers hold 99,148,160 parameters (lvcd-reference.md 2.6)
    trained = [p for n, p in unet.named_parameters() if ".attn1." in n]
    assert len(trained) == 160 and sum(p.numel() for p in trained) == 99_148_160


# ------------------------------------------------------------------------------------------------ numerics


def _attention(dim=32, heads=2, seed=0):
    torch.manual_seed(seed)
    attn = Attention(query_dim=dim, heads=heads, dim_head=dim // heads, bias=False, out_bias=True)
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)
    return attn.eval()


def _frames(num_frames, nv=14):
    ctx = FrameContext(num_video_frames=nv)
    ctx.num_frames = num_frames
    return ctx


@pytest.mark.parametrize("frames", [1, 6, 14])
@pytest.mark.parametrize("mode", ["off", "normal"])
def test_reference_processor_without_reference_path_is_plain_attention(frames, mode):
    attn = _attention()
    x = torch.randn(2 * frames, 12, 32)  # [B*T, N, C]
    assert type(attn.processor) is AttnProcessor2_0
    with torch.no_grad():
        expected = attn(x)
        attn.set_processor(ReferenceAttnProcessor(ReferenceAttentionState(mode=mode), _frames(frames)))
        out = attn(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def _naive_reference_attention(attn, x, num_frames, num_ref, mode, overlap, amplify, apply_bias):
    """The official formulation: per frame K/V = [k[idx0[t]], k[idx1[t]]], a full [B*T, 1, N, 2N] additive bias."""
    idx0, idx1, biased = reference_index_tables(num_frames, num_ref, mode, overlap)
    bt, n, c = x.shape
    b = bt // num_frames
    q, k, v = attn.to_q(x), attn.to_k(x), attn.to_v(x)
    k, v = k.view(b, num_frames, n, c), v.view(b, num_frames, n, c)
    kk = torch.cat([k[:, idx0], k[:, idx1]], dim=2).reshape(bt, 2 * n, c)
    vv = torch.cat([v[:, idx0], v[:, idx1]], dim=2).reshape(bt, 2 * n, c)
    bias = torch.zeros(b, num_frames, 1, n, 2 * n)
    for t in range(num_frames):
        if biased[t] and apply_bias:
            bias[:, t, :, :, n:] = math.log(amplify)
    bias = bias.reshape(bt, 1, n, 2 * n)
    h = attn.heads

    def split(y):
        return y.reshape(bt, -1, h, c // h).transpose(1, 2)

    o = F.scaled_dot_product_attention(split(q), split(kk), split(vv), attn_mask=bias)
    return attn.to_out[0](o.transpose(1, 2).reshape(bt, n, c))


@pytest.mark.parametrize("mode,apply_bias", [("normal", True), ("off", True), ("prevref", True), ("prevref", False)])
@pytest.mark.parametrize("batch", [1, 2])
def test_grouped_reference_attention_equals_naive_full_bias(mode, apply_bias, batch):
    attn = _attention()
    state = ReferenceAttentionState()
    attn.set_processor(ReferenceAttnProcessor(state, _frames(19), apply_bias=apply_bias))
    x = torch.randn(batch * 19, 10, 32)
    with torch.no_grad(), state.use(mode, overlap=4):
        out = attn(x)
        ref = _naive_reference_attention(attn, x, 19, 5, mode, 4, state.amplify, apply_bias)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    if mode == "prevref":  # the bias really acts, and only on the overlap frames 5-8
        with torch.no_grad(), state.use(mode, overlap=4):
            plain = _naive_reference_attention(attn, x, 19, 5, mode, 4, state.amplify, apply_bias=False)
        diff = (out - plain).abs().reshape(batch, 19, -1).amax(dim=(0, 2))
        if apply_bias:
            assert (diff[5:9] > 1e-2).all() and (diff[:5] < 1e-5).all() and (diff[9:] < 1e-5).all()
        else:
            assert (diff < 1e-5).all()


def test_prevref_mode_needs_reference_frames():
    attn = _attention()
    state = ReferenceAttentionState(mode="prevref")
    attn.set_processor(ReferenceAttnProcessor(state, _frames(14)))
    with pytest.raises(ValueError):
        attn(torch.randn(14, 4, 32))


def test_reference_processor_needs_the_frame_count():
    attn = _attention()
    attn.set_processor(ReferenceAttnProcessor(ReferenceAttentionState(), FrameContext(14)))
    with pytest.raises(RuntimeError, match="frame count"):
        attn(torch.randn(14, 4, 32))


@pytest.mark.parametrize("frames", [6, 14, 15, 19])
def test_masked_temporal_processor_equals_boolean_mask(frames):
    attn = _attention()
    x = torch.randn(3 * 5, frames, 32)  # [B*N, T, C]
    dt = max(frames - 14, 0)
    allowed = torch.zeros(frames, frames, dtype=torch.bool)
    for i in range(frames):
        if i < dt:
            allowed[i, i] = True  # reference-path frame: only itself
        else:
            allowed[i, dt:] = True  # video frame: the video frames
    with torch.no_grad():
        q, k, v = attn.to_q(x), attn.to_k(x), attn.to_v(x)

        def split(y):
            return y.view(15, frames, 2, 16).transpose(1, 2)

        o = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=allowed)
        expected = attn.to_out[0](o.transpose(1, 2).reshape(15, frames, 32))
        plain = attn(x)
        attn.set_processor(MaskedTemporalAttnProcessor(num_video_frames=14))
        out = attn(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    if dt == 0:
        torch.testing.assert_close(out, plain, rtol=0, atol=0)
