"""LVCD attention processors: Reference Attention (spatial `attn1`) and masked temporal self-attention.

Reference Attention (LVCD paper Sec. 4.2; lvcd-reference.md 2.4 and 3.7). Every spatial self-attention
(`transformer_blocks.N.attn1` of a `TransformerSpatioTemporalModel`) attends, for frame t, to the token-concatenation
of the keys/values of two frames `[idx0[t], idx1[t]]` (2N keys, the layer's own projections, default SDPA scale). The
index tables depend on the sampling mode held by one `ReferenceAttentionState` shared by all processors of a pipeline:

* `"off"` / `"normal"` (segment 0, and the un-hooked module used in training): reference-path frames t < dt attend to
  themselves (`[t, t]`, which is plain self-attention), video frames to `[t, 0]` (themselves + the reference frame).
* `"prevref"` (segments >= 1; dt = 1 + overlap reference-path frames: the reference and `overlap` prev-reference
  frames): reference-path frames `[t, t]`; the `overlap` overlap frames `[t, t - overlap]` (themselves + their own
  version from the previous segment) with the prev-reference logits raised by ln(10); the new frames
  `[t - (overlap - 1), 0]`, i.e. *no* self keys (the official code hard-codes an offset of 3 for overlap 4).

With T <= num_video_frames there is no reference path and every mode is plain self-attention.

`MaskedTemporalAttnProcessor` (temporal `attn1`, input `[B*N, T, C]`): reference-path frames attend only to themselves,
video frames only to the video frames.

`install_lvcd_processors` selects the layers by module name, as diffusers does (`AttentionMixin.attn_processors`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from einops import rearrange, repeat

from .layers import FrameContext
from .routing import ReferenceRouting, routed_attention

REFERENCE_MODES = ("off", "normal", "prevref")
PREVREF_AMPLIFY = 10.0  # official `refattn_amplify`: x10 attention weight on the prev-ref keys of the overlap frames

_SPATIAL_ATTN1 = re.compile(r"(^|\.)transformer_blocks\.\d+\.attn1\.processor$")
_TEMPORAL_ATTN1 = re.compile(r"(^|\.)temporal_transformer_blocks\.\d+\.attn1\.processor$")


@dataclass
class ReferenceAttentionState:
    """Sampling-time mode of every `ReferenceAttnProcessor` of a pipeline (UNet and ControlNet share one object).

    `mode`: "off" | "normal" | "prevref" (see the module docstring); `overlap`: overlap / prev-reference frames of a
    segment (4 in the official notebook); `amplify`: attention-weight factor on the prev-reference keys of the overlap
    frames in "prevref" mode (added to their logits as ln(amplify)).
    """

    mode: str = "off"
    overlap: int = 4
    amplify: float = PREVREF_AMPLIFY
    routing: ReferenceRouting | None = None

    def __post_init__(self):
        self._check(self.mode, self.overlap)

    @staticmethod
    def _check(mode: str, overlap: int):
        if mode not in REFERENCE_MODES:
            raise ValueError(f"Reference attention mode must be one of {REFERENCE_MODES}, got {mode!r}.")
        if overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {overlap}.")

    @contextmanager
    def use(self, mode: str, overlap: int | None = None) -> Iterator[ReferenceAttentionState]:
        """Set `mode` (and `overlap`) for the duration of a `with` block, restoring the previous values after it."""
        overlap = self.overlap if overlap is None else overlap
        self._check(mode, overlap)
        saved = self.mode, self.overlap
        self.mode, self.overlap = mode, overlap
        try:
            yield self
        finally:
            self.mode, self.overlap = saved

    @contextmanager
    def route(self, routing: ReferenceRouting | None) -> Iterator[ReferenceAttentionState]:
        """Use `routing` (extra references and masks, see `routing.py`) for the duration of a `with` block."""
        saved, self.routing = self.routing, routing
        try:
            yield self
        finally:
            self.routing = saved


@lru_cache(maxsize=64)
def _tables(num_frames: int, num_ref_frames: int, mode: str, overlap: int):
    if mode not in REFERENCE_MODES:
        raise ValueError(f"Reference attention mode must be one of {REFERENCE_MODES}, got {mode!r}.")
    if not 0 <= num_ref_frames <= num_frames:
        raise ValueError(f"num_ref_frames must be in [0, num_frames={num_frames}], got {num_ref_frames}.")
    dt = num_ref_frames
    if dt == 0:  # no reference path: plain self-attention in every mode
        return tuple(range(num_frames)), tuple(range(num_frames)), (False,) * num_frames
    if mode in ("off", "normal"):
        idx0 = tuple(range(num_frames))
        idx1 = tuple(t if t < dt else 0 for t in range(num_frames))
        return idx0, idx1, (False,) * num_frames
    # prevref: frames [dt - overlap, dt) are the prev-reference frames, [dt, dt + overlap) the overlap frames
    if overlap < 1 or dt < overlap + 1 or num_frames < dt + overlap:
        raise ValueError(
            f"'prevref' needs overlap >= 1, a reference frame before the {overlap} prev-reference frames and the "
            f"{overlap} overlap frames in the video path (got num_frames={num_frames}, num_ref_frames={dt})."
        )
    idx0, idx1, biased = [], [], []
    for t in range(num_frames):
        if t < dt:  # reference path: self
            idx0.append(t), idx1.append(t), biased.append(False)
        elif t < dt + overlap:  # overlap frame: self + its prev-reference frame, amplified
            idx0.append(t), idx1.append(t - overlap), biased.append(True)
        else:  # new frame: a shifted frame (official olap = overlap - 1) + the reference, no self keys
            idx0.append(t - (overlap - 1)), idx1.append(0), biased.append(False)
    return tuple(idx0), tuple(idx1), tuple(biased)


def reference_index_tables(
    num_frames: int, num_ref_frames: int, mode: str, overlap: int = 4
) -> tuple[list[int], list[int], list[bool]]:
    """Key frames of Reference Attention for one T-frame call: `(idx0, idx1, biased)`.

    Frame t attends to the tokens of frames `idx0[t]` then `idx1[t]`; `biased[t]` marks the frames whose second-half
    logits get +ln(amplify) (prevref overlap frames). `num_ref_frames` is dt = T - num_video_frames.
    """
    idx0, idx1, biased = _tables(num_frames, num_ref_frames, mode, overlap)
    return list(idx0), list(idx1), list(biased)


@lru_cache(maxsize=64)
def _frame_runs(num_frames: int, num_ref_frames: int, mode: str, overlap: int, biased_ok: bool, routed: bool = False):
    """Consecutive runs of frames that share one attention call: `(start, stop, kind)`, kind in self / pair / biased
    / routed (with `routed`: the video frames whose second key frame is the reference, see `routing.py`)."""
    idx0, idx1, biased = _tables(num_frames, num_ref_frames, mode, overlap)
    kinds = [
        "biased"
        if (b and biased_ok)
        else "self"
        if i0 == i1 == t
        else "routed"
        if (routed and t >= num_ref_frames and i1 == 0)
        else "pair"
        for t, (i0, i1, b) in enumerate(zip(idx0, idx1, biased))
    ]
    runs, start = [], 0
    for t in range(1, num_frames + 1):
        if t == num_frames or kinds[t] != kinds[start]:
            runs.append((start, t, kinds[start]))
            start = t
    return tuple(runs), idx0, idx1


def _index(x: torch.Tensor, frames: tuple[int, ...]) -> torch.Tensor:
    """x[:, frames] for x [B, T, N, C]; a view when `frames` is one contiguous range or one repeated frame."""
    first, n = frames[0], len(frames)
    if frames == tuple(range(first, first + n)):
        return x[:, first : first + n]
    if all(f == first for f in frames):
        return repeat(x[:, first], "b n c -> b t n c", t=n)  # an expanded view, no copy
    return x[:, list(frames)]


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return rearrange(x, "b t l (h d) -> (b t) h l d", h=heads)


def _check_plain_self_attention(
    proc, attn: Attention, hidden_states, encoder_hidden_states, attention_mask, where: str, layout: str
) -> None:
    """The LVCD processors only serve unmasked self-attention on 3-D tokens (the layers they are installed on)."""
    name = type(proc).__name__
    if encoder_hidden_states is not None or attention_mask is not None:
        raise ValueError(f"{name} is for self-attention without a mask (a {where}).")
    if hidden_states.ndim != 3 or attn.spatial_norm is not None or attn.group_norm is not None:
        raise ValueError(f"{name} expects {layout} input and no spatial/group norm.")


def _project_out(attn: Attention, out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """The tail every diffusers processor shares: output projection, dropout, residual, rescale."""
    out = attn.to_out[0](out)
    out = attn.to_out[1](out)
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor


class ReferenceAttnProcessor:
    """Reference Attention for a spatial self-attention `attn1`, input `[B*T, N, C]` (B videos of T frames).

    Frames are grouped into consecutive runs that share one SDPA call: plain self-attention (reference path), a
    two-frame key set (2N keys, no mask: flash-eligible) and, in "prevref" mode, the overlap frames whose second-half
    logits get +ln(amplify) through a broadcast `[1, 1, 1, 2N]` bias (never a `[T, 1, N, 2N]` tensor).
    """

    def __init__(self, state: ReferenceAttentionState, frames: FrameContext, apply_bias: bool = True):
        self.state = state
        self.frames = frames
        self.apply_bias = apply_bias

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args,
        **kwargs,
    ) -> torch.Tensor:
        _check_plain_self_attention(
            self, attn, hidden_states, encoder_hidden_states, attention_mask, "spatial attn1", "[B*T, N, C]"
        )
        residual = hidden_states
        num_frames = self.frames.num_frames
        num_ref = self.frames.num_reference_frames
        mode, overlap = self.state.mode, self.state.overlap
        routing = self.state.routing
        capture = routing is not None and routing.phase == "capture"
        if num_ref == 0 and mode == "prevref" and not capture:
            raise ValueError(f"'prevref' mode needs reference-path frames; this call has T={num_frames}.")
        batch_frames, seq_len, _ = hidden_states.shape
        if batch_frames % num_frames:
            raise ValueError(f"Batch of {batch_frames} frames is not a multiple of the call's T={num_frames}.")
        batch_size = batch_frames // num_frames

        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        heads = attn.heads
        if capture:  # the side batch of extra references (any mode: it has no video frames)
            if num_ref:
                raise ValueError(
                    "The side batch of extra references runs reference-path-only frames, one frame per call "
                    f"(T = 1); got T={num_frames} with {num_ref} reference-path frames."
                )
            routing.store(self, key, value)  # then computed exactly like a reference-path frame: self-attention
        route = routing is not None and routing.phase == "route" and routing.active

        if num_ref == 0:
            # plain self-attention ([t, t] keys twice is the same softmax)
            q, k, v = (rearrange(x, "bt n (h d) -> bt h n d", h=heads) for x in (query, key, value))
            if attn.norm_q is not None:
                q = attn.norm_q(q)
            if attn.norm_k is not None:
                k = attn.norm_k(k)
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
            out = rearrange(out, "bt h n d -> bt n (h d)")
        else:
            runs, idx0, idx1 = _frame_runs(num_frames, num_ref, mode, overlap, self.apply_bias, route)
            query, key, value = (rearrange(x, "(b t) n c -> b t n c", t=num_frames) for x in (query, key, value))
            outs = []
            for start, stop, kind in runs:
                if kind == "routed":
                    outs.append(self._routed(attn, routing, query, key, value, start, stop, idx0[start:stop], num_ref))
                    continue
                q = _heads(query[:, start:stop], heads)
                if kind == "self":
                    k, v = key[:, start:stop], value[:, start:stop]  # [B, Tg, N, C]
                else:
                    i0, i1 = idx0[start:stop], idx1[start:stop]
                    # per frame the token-concatenation of two frames: [B, Tg, 2N, C]
                    k = torch.cat([_index(key, i0), _index(key, i1)], dim=2)
                    v = torch.cat([_index(value, i0), _index(value, i1)], dim=2)
                k, v = _heads(k, heads), _heads(v, heads)
                if attn.norm_q is not None:
                    q = attn.norm_q(q)
                if attn.norm_k is not None:
                    k = attn.norm_k(k)
                mask = None
                if kind == "biased":
                    # +ln(amplify) on the second N keys, broadcast over frames, heads and queries: [1, 1, 1, 2N]
                    mask = torch.zeros(1, 1, 1, 2 * seq_len, dtype=q.dtype, device=q.device)
                    mask[..., seq_len:] = math.log(self.state.amplify)
                o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
                outs.append(rearrange(o, "(b t) h n d -> b t n (h d)", b=batch_size))
            out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)  # the runs, in frame order: [B, T, N, C]
            out = rearrange(out, "b t n c -> (b t) n c")

        return _project_out(attn, out.to(query.dtype), residual)

    def _routed(
        self,
        attn: Attention,
        routing: ReferenceRouting,
        query,
        key,
        value,
        start: int,
        stop: int,
        first: tuple[int, ...],
        num_ref: int,
    ) -> torch.Tensor:
        """Frames [start, stop) over [own/shifted frame, reference, extra references] (`routing.py`): [B, Tg, N, C].

        The reference and the extra references stay one frame each, broadcast over the frames (no per-frame copy)."""
        heads = attn.heads
        batch, num_frames, seq_len, _ = query.shape

        def split(x):
            return rearrange(x, "b t n (h d) -> b t h n d", h=heads)

        q = split(query[:, start:stop])
        keys = [(split(_index(key, first)), split(_index(value, first))), (split(key[:, :1]), split(value[:, :1]))]
        extra_bias = []
        if routing.num_extra:
            ek, ev = routing.extra_kv(self)  # [B', num_extra, N', C]
            if ek.shape[0] not in (1, batch) or ek.shape[2:] != key.shape[2:]:
                raise ValueError(
                    f"The extra references' keys {tuple(ek.shape)} do not fit this call ({batch} videos of "
                    f"{seq_len} tokens x {key.shape[-1]} channels): the side batch must match the frames' size."
                )
            for j in range(routing.num_extra):
                keys.append((split(ek[:, j : j + 1]), split(ev[:, j : j + 1])))
                extra_bias.append(routing.key_bias(j + 1, seq_len, q.device))
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            keys = [(attn.norm_k(k), v) for k, v in keys]
        nv = num_frames - num_ref
        video = range(start - num_ref, stop - num_ref)
        blocks = [(*keys[0], None, None)]  # own/shifted frame: never masked
        for j, (k, v) in enumerate(keys[1:]):
            key_bias = extra_bias[j - 1] if j else None
            blocks.append((k, v, key_bias, routing.query_bias(j, video, nv, seq_len, q.device)))
        out = routed_attention(q, blocks, routing.chunk_elements)
        return rearrange(out, "b t h n d -> b t n (h d)").to(query.dtype)


class MaskedTemporalAttnProcessor:
    """Temporal self-attention `attn1` with the reference path isolated; input `[B*N, T, C]` (frames as tokens).

    Equivalent to SDPA with the boolean mask "reference-path frames attend only to themselves, video frames only to
    the video frames". It is computed exactly that way without a mask: a frame attending to itself alone gets its own
    value (softmax of one logit is 1), and the video frames run an unmasked SDPA among themselves (flash-eligible).
    """

    def __init__(self, num_video_frames: int):
        self.num_video_frames = num_video_frames

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args,
        **kwargs,
    ) -> torch.Tensor:
        _check_plain_self_attention(
            self, attn, hidden_states, encoder_hidden_states, attention_mask, "temporal attn1", "[B*N, T, C]"
        )
        residual = hidden_states
        num_frames = hidden_states.shape[1]
        num_ref = max(num_frames - self.num_video_frames, 0)
        heads = attn.heads

        video = hidden_states[:, num_ref:]  # [B*N, nv, C]
        query = attn.to_q(video)
        key = attn.to_k(video)
        value = attn.to_v(hidden_states)  # [B*N, T, C]
        q, k, v = (rearrange(x, "bn t (h d) -> bn h t d", h=heads) for x in (query, key, value[:, num_ref:]))
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
        out = rearrange(out, "bn h t d -> bn t (h d)")  # the video frames: [B*N, nv, C]
        if num_ref:
            out = torch.cat([value[:, :num_ref].to(out.dtype), out], dim=1)  # reference path: own value -> [B*N, T, C]

        return _project_out(attn, out.to(query.dtype), residual)


def install_lvcd_processors(
    model: torch.nn.Module,
    state: ReferenceAttentionState,
    bias_excluded: tuple[str, ...] = ("up_blocks.3.",),
) -> dict[str, object]:
    """Put `ReferenceAttnProcessor` on every spatial `attn1` and `MaskedTemporalAttnProcessor` on every temporal
    `attn1` of an LVCD model (`LVCDUNetModel` / `LVCDControlNetModel`); every other processor is kept.

    Layers whose name starts with one of `bias_excluded` never get the prev-reference bias (the official code skips the
    UNet's `output_blocks.9-11` = diffusers `up_blocks.3`; every ControlNet layer gets it: pass `()`).
    Returns the full processor dict that was set.
    """
    frames = getattr(model, "frame_context", None)
    if not isinstance(frames, FrameContext):
        raise TypeError(
            f"{type(model).__name__} has no `frame_context`; install LVCD processors on LVCDUNetModel or "
            "LVCDControlNetModel."
        )
    processors = dict(model.attn_processors)
    for name in processors:
        if _TEMPORAL_ATTN1.search(name):
            processors[name] = MaskedTemporalAttnProcessor(frames.num_video_frames)
        elif _SPATIAL_ATTN1.search(name):
            apply_bias = not name.startswith(tuple(bias_excluded))
            processors[name] = ReferenceAttnProcessor(state, frames, apply_bias=apply_bias)
    model.set_attn_processor(dict(processors))
    return processors


def missing_lvcd_processors(model: torch.nn.Module) -> list[str]:
    """Names of the `attn1` layers of an LVCD model that do not carry their LVCD processor (empty when intact)."""
    out = []
    for name, proc in model.attn_processors.items():
        if _TEMPORAL_ATTN1.search(name) and not isinstance(proc, MaskedTemporalAttnProcessor):
            out.append(name)
        elif _SPATIAL_ATTN1.search(name) and not isinstance(proc, ReferenceAttnProcessor):
            out.append(name)
    return out
