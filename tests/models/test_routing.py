"""Several references in Reference Attention, routed by masks (lvcd/models/routing.py): layer-level numerics."""

import math

import pytest
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

from lvcd.models import FrameContext, ReferenceAttentionState, ReferenceAttnProcessor, reference_index_tables
from lvcd.models.routing import ReferenceRouting, routed_attention, token_grid

H, W = 3, 4  # token grid of the test layer
N = H * W
NV = 6  # video frames per call


def _attention(dim=16, heads=2, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    attn = Attention(query_dim=dim, heads=heads, dim_head=dim // heads, bias=False, out_bias=True)
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.4)
    return attn.to(dtype).eval()


class Layer:
    """One attention layer with a ReferenceAttnProcessor and the frame context a model forward would set."""

    def __init__(self, apply_bias=True, **kw):
        self.attn = _attention(**kw)
        self.state = ReferenceAttentionState()
        self.frames = FrameContext(num_video_frames=NV)
        self.attn.set_processor(ReferenceAttnProcessor(self.state, self.frames, apply_bias=apply_bias))

    def __call__(self, x, num_frames, mode="normal", routing=None, side=None):
        with torch.no_grad(), self.state.use(mode, overlap=2), self.state.route(routing):
            if side is not None:
                self.frames.num_frames = 1
                with routing.capture():
                    self.attn(side)
            self.frames.num_frames = num_frames
            return self.attn(x)


def _video(batch, num_frames, seed=1, dim=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch * num_frames, N, dim, generator=g, dtype=torch.float64)


def _side(batch, extra, seed=2, dim=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch * extra, N, dim, generator=g, dtype=torch.float64)


LAYOUTS = [("normal", 1 + NV), ("prevref", 3 + NV)]  # prevref: reference + 2 prev-refs, overlap 2


def test_token_grid():
    assert [token_grid((40, 72), n) for n in (2880, 720, 180, 45)] == [(40, 72), (20, 36), (10, 18), (5, 9)]
    assert token_grid((45, 80), 23 * 40) == (23, 40)
    with pytest.raises(ValueError, match="latent_size"):
        token_grid((40, 72), 100)


@pytest.mark.parametrize("mode,frames", LAYOUTS)
def test_inactive_routing_is_bit_identical(mode, frames):
    layer = Layer(dtype=torch.float32)
    x = _video(2, frames).float()
    plain = layer(x, frames, mode)
    routing = ReferenceRouting(num_extra=0)
    assert not routing.active
    torch.testing.assert_close(layer(x, frames, mode, routing), plain, rtol=0, atol=0)


@pytest.mark.parametrize("mode,frames", LAYOUTS)
@pytest.mark.parametrize("extra", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 2])
def test_k_copies_of_the_reference_equal_one_reference(mode, frames, extra, batch):
    """K identical references with the -log K prior give K = 1 (within 1e-6)."""
    layer = Layer()
    x = _video(batch, frames)
    plain = layer(x, frames, mode)
    ref = x.view(batch, frames, N, -1)[:, 0]  # the in-sequence reference frame of each video
    side = ref[:, None].expand(batch, extra, N, ref.shape[-1]).reshape(batch * extra, N, -1)
    out = layer(x, frames, mode, ReferenceRouting(num_extra=extra), side=side)
    assert (out - plain).abs().max() < 1e-6
    # the extra blocks really take part: other references move the output
    moved = layer(x, frames, mode, ReferenceRouting(num_extra=extra), side=_side(batch, extra, seed=5))
    assert (moved - plain).abs().max() > 1e-3 and torch.isfinite(moved).all()


def _resize_log(mask, hw):
    m = mask if mask.ndim == 3 else mask[None]
    if tuple(m.shape[-2:]) != hw:
        m = F.avg_pool2d(m[:, None], (m.shape[-2] // hw[0], m.shape[-1] // hw[1]))[:, 0]
    return torch.log(m).flatten(1).double()


def _naive_routed(layer, x, side, frames, mode, target, source, num_extra, batch):
    """The dense formulation: per routed frame keys [own/shifted, ref_1, ref_2..] concatenated, a full
    [B, T, N, N * (1 + K)] additive bias, one softmax (float64)."""
    attn = layer.attn
    dt = frames - NV
    idx0, idx1, biased = reference_index_tables(frames, dt, mode, overlap=2)
    c = x.shape[-1]
    h = attn.heads
    q, k, v = (f(x).view(batch, frames, N, c) for f in (attn.to_q, attn.to_k, attn.to_v))
    ek, ev = (f(side).view(batch, num_extra, N, c) for f in (attn.to_k, attn.to_v))
    kk = 1 + num_extra
    outs = {}
    for t in range(dt, frames):
        if biased[t] or idx1[t] != 0:
            continue
        keys = torch.cat([k[:, idx0[t]], k[:, 0]] + [ek[:, j] for j in range(num_extra)], dim=1)  # [B, (1+K)N, C]
        vals = torch.cat([v[:, idx0[t]], v[:, 0]] + [ev[:, j] for j in range(num_extra)], dim=1)
        bias = torch.zeros(N, (1 + kk) * N, dtype=torch.float64)
        for j in range(kk):
            cols = slice((1 + j) * N, (2 + j) * N)
            if target is not None and target[j] is not None:
                logm = _resize_log(target[j], (H, W))
                bias[:, cols] += logm[t - dt if logm.shape[0] > 1 else 0][:, None]
            else:
                bias[:, cols] -= math.log(kk)
            if j and source is not None and source[j - 1] is not None:
                bias[:, cols] += _resize_log(source[j - 1], (H, W))[0][None, :]

        def split(y):
            return y.reshape(batch, -1, h, c // h).transpose(1, 2)

        logits = split(q[:, t]) @ split(keys).transpose(-1, -2) / math.sqrt(c // h) + bias
        o = torch.softmax(logits, dim=-1) @ split(vals)
        outs[t] = attn.to_out[0](o.transpose(1, 2).reshape(batch, N, c))
    return outs


def _masks(seed, frames_axis):
    g = torch.Generator().manual_seed(seed)
    soft = (
        torch.rand(NV, 2 * H, 2 * W, generator=g, dtype=torch.float64)
        if frames_axis
        else torch.rand(2 * H, 2 * W, generator=g, dtype=torch.float64)
    )
    return soft


@pytest.mark.parametrize("mode,frames", LAYOUTS)
@pytest.mark.parametrize("case", ["prior", "soft", "hard", "source", "primary_masked"])
def test_log_sum_exp_equals_concat_softmax(mode, frames, case):
    batch, extra = 2, 2
    layer = Layer()
    x, side = _video(batch, frames), _side(batch, extra)
    target = source = None
    if case == "soft":
        target = [None, _masks(3, True), _masks(4, False)]
    elif case == "hard":
        a = (_masks(3, True) > 0.5).double()
        target = [a, 1 - a, None]
    elif case == "source":
        source = [_masks(5, False), (_masks(6, False) > 0.3).double()]
        target = [None, None, _masks(7, True)]
    elif case == "primary_masked":
        target = [torch.zeros(H, W, dtype=torch.float64).index_fill_(1, torch.tensor([0, 1]), 1.0), None, None]
    routing = ReferenceRouting(
        extra, target_masks=target, source_masks=source, latent_size=(H, W), chunk_elements=7
    )  # tiny tiles: several query chunks per block
    out = layer(x, frames, mode, routing, side=side).view(batch, frames, N, -1)
    plain = layer(x, frames, mode).view(batch, frames, N, -1)
    naive = _naive_routed(layer, x, side, frames, mode, target, source, extra, batch)
    assert naive, "no routed frame"
    for t in range(frames):
        if t in naive:
            assert (out[:, t] - naive[t]).abs().max() < 1e-6, t
        else:  # reference path and the amplified prev-ref overlap frames are untouched
            torch.testing.assert_close(out[:, t], plain[:, t], rtol=0, atol=0)
    if mode == "prevref":
        assert set(naive) == set(range(frames - NV + 2, frames))


@pytest.mark.parametrize("mode,frames", LAYOUTS)
def test_hard_routing_isolates_queries(mode, frames):
    """Queries routed to ref_1 only are unchanged (exactly) when ref_2 is replaced; the others do change."""
    batch = 2
    layer = Layer(dtype=torch.float32)
    x = _video(batch, frames).float()
    to_first = torch.zeros(NV, H, W)
    to_first[:, :, : W // 2] = 1
    to_first[1::2, 0, :] = 1  # vary by frame
    routing_args = dict(target_masks=[to_first, 1 - to_first], latent_size=(H, W))
    a = layer(x, frames, mode, ReferenceRouting(1, **routing_args), side=_side(batch, 1, seed=7).float())
    b = layer(x, frames, mode, ReferenceRouting(1, **routing_args), side=_side(batch, 1, seed=8).float() * 3)
    a, b = a.view(batch, frames, N, -1), b.view(batch, frames, N, -1)
    dt = frames - NV
    routed = [t for t in range(dt, frames) if reference_index_tables(frames, dt, mode, 2)[1][t] == 0]
    for t in routed:
        first = to_first[t - dt].flatten().bool()
        assert torch.equal(a[:, t, first], b[:, t, first])
        assert (a[:, t, ~first] - b[:, t, ~first]).abs().amax() > 1e-3
    for t in set(range(frames)) - set(routed):
        assert torch.equal(a[:, t], b[:, t])


@pytest.mark.parametrize("mode,frames", LAYOUTS)
def test_no_nan_when_masks_exclude_every_reference(mode, frames):
    """A query no reference may colour attends to its own/shifted block alone (never an all -inf row)."""
    batch = 1
    layer = Layer()
    x, side = _video(batch, frames), _side(batch, 2)
    none = torch.zeros(H, W, dtype=torch.float64)
    none[0] = 1  # only the first token row may take colour (from the primary); everything else is excluded
    routing = ReferenceRouting(
        2,
        target_masks=[none, torch.zeros(H, W, dtype=torch.float64), None],
        source_masks=[None, torch.zeros(H, W, dtype=torch.float64)],
        latent_size=(H, W),
    )
    # the third reference is unmasked on the query side but its source mask selects nothing: an empty block
    out = layer(x, frames, mode, routing, side=side).view(batch, frames, N, -1)
    assert torch.isfinite(out).all()
    attn = layer.attn
    dt = frames - NV
    idx0, idx1, _ = reference_index_tables(frames, dt, mode, 2)
    c = x.shape[-1]
    xv = x.view(batch, frames, N, c)
    for t in range(dt, frames):
        if idx1[t] != 0:
            continue

        def split(y):
            return y.reshape(batch, -1, attn.heads, c // attn.heads).transpose(1, 2)

        own = F.scaled_dot_product_attention(
            split(attn.to_q(xv[:, t])), split(attn.to_k(xv[:, idx0[t]])), split(attn.to_v(xv[:, idx0[t]]))
        )
        own = attn.to_out[0](own.transpose(1, 2).reshape(batch, N, c))
        assert (out[:, t, W:] - own[:, W:]).abs().max() < 1e-9


def test_routed_attention_empty_first_rows_and_chunks_agree():
    torch.manual_seed(0)
    q = torch.randn(2, 3, 2, 10, 4, dtype=torch.float64)
    blocks = [
        (
            torch.randn(2, 3, 2, 10, 4, dtype=torch.float64),
            torch.randn(2, 3, 2, 10, 4, dtype=torch.float64),
            None,
            None,
        )
    ]
    for _ in range(3):
        blocks.append(
            (
                torch.randn(2, 1, 2, 10, 4, dtype=torch.float64),
                torch.randn(2, 1, 2, 10, 4, dtype=torch.float64),
                torch.randn(10, dtype=torch.float64),
                torch.randn(1, 3, 1, 10, dtype=torch.float64),
            )
        )
    whole = routed_attention(q, blocks, chunk_elements=1 << 30)
    tiled = routed_attention(q, blocks, chunk_elements=1)
    assert (whole - tiled).abs().max() < 1e-12


def test_capture_is_required_and_checked():
    layer = Layer()
    x = _video(1, 1 + NV)
    with pytest.raises(RuntimeError, match="capture"):
        layer(x, 1 + NV, routing=ReferenceRouting(1))
    with pytest.raises(ValueError, match="multiple"):
        layer(x, 1 + NV, routing=ReferenceRouting(2), side=_side(1, 3)[:3])
    with pytest.raises(ValueError, match="latent_size"):
        layer(x, 1 + NV, routing=ReferenceRouting(1, target_masks=[None, torch.ones(H, W)]), side=_side(1, 1))
    with pytest.raises(ValueError, match="video frames"):
        layer(
            x,
            1 + NV,
            routing=ReferenceRouting(1, target_masks=[None, torch.ones(NV + 1, H, W)], latent_size=(H, W)),
            side=_side(1, 1),
        )


def test_routing_validation():
    with pytest.raises(ValueError, match="2 entries"):
        ReferenceRouting(1, target_masks=[None])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ReferenceRouting(1, target_masks=[None, torch.full((2, 2), 2.0)])
    with pytest.raises(ValueError, match="source mask of reference 2"):
        ReferenceRouting(1, source_masks=[torch.ones(3, 2, 2)])
