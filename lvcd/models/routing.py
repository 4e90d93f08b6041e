"""Several references at once in Reference Attention, routed by masks (training-free; issue 15).

LVCD's Reference Attention has no reference-specific weights: a video frame's spatial `attn1` attends to the tokens of
[its own (or shifted) frame, the reference frame] through the layer's own projections. More references are more key
blocks. For a routed frame and query token q the keys are the blocks

    [self/prev, ref_1, ref_2, ..., ref_K]

(ref_1 = the in-sequence primary reference, ref_2..ref_K = the extra references, whose keys/values come from a side
batch captured by the same layer) and the attention is ONE softmax over all of them, with a per-query, per-block
additive bias beta_b(q):

* the self/prev block: 0, never masked (so a row is never all -inf, and no NaN);
* a reference without a target mask: -log K (K copies of one reference weigh exactly like that reference alone);
* a reference with a target mask m_j (values in [0, 1], resized to the layer's token grid by area): log m_j(q), i.e.
  log of a soft mask and -inf where a hard mask is 0 (that reference then contributes exactly nothing to q).

A reference's *source* mask (the part of the reference image to use) is a key-side bias log s_j(k) inside its block.

The softmax over the concatenation is never built: each block is attended on its own (a query chunk at a time, so the
score tile is bounded by `chunk_elements`), giving an output o_b and a log-normaliser lse_b, and the blocks are folded
with log-sum-exp: out = sum_b exp(lse_b + beta_b - L) o_b, L = logsumexp_b(lse_b + beta_b). This equals the softmax
over the concatenated keys with the dense [T, N, N*(1+K)] bias, without that bias (the official dense K = 1 bias is
already 1.26 GB per call at full size). Memory grows with K only by the extra references' keys/values.

Frames that are routed: the video frames whose second block is the reference (every video frame in "normal" mode, the
new frames in "prevref" mode). Reference-path frames and the prev-reference overlap frames (with LVCD's +ln 10
amplification) are left exactly as they are. With no extra reference and no mask nothing is routed at all, so K = 1
stays bit-identical to plain LVCD.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F

ROUTING_PHASES = ("route", "capture")
DEFAULT_CHUNK_ELEMENTS = 1 << 22  # score elements per tile on the CPU (16 MB in float32)
CUDA_CHUNK_ELEMENTS = 1 << 26  # on CUDA fewer, larger tiles (256 MB): kernel launches, not memory, bound the time


def default_chunk_elements(device) -> int:
    """Score-tile size of `routed_attention` on `device`."""
    return CUDA_CHUNK_ELEMENTS if torch.device(device).type == "cuda" else DEFAULT_CHUNK_ELEMENTS


def token_grid(latent_size: tuple[int, int], num_tokens: int) -> tuple[int, int]:
    """The (h, w) token grid of a UNet level with `num_tokens` tokens for a model input of `latent_size` (H, W).

    Every SVD UNet / ControlNet downsampling halves a side rounding up (3x3 conv, stride 2, padding 1).
    """
    h, w = latent_size
    for _ in range(8):
        if h * w == num_tokens:
            return h, w
        if h == 1 and w == 1:
            break
        h, w = -(-h // 2), -(-w // 2)
    raise ValueError(
        f"A layer with {num_tokens} tokens is not a level of a {latent_size[0]}x{latent_size[1]} latent grid: "
        "set ReferenceRouting.latent_size to the (H, W) of the latents the model is called on."
    )


def _as_mask(mask, what: str) -> torch.Tensor | None:
    if mask is None:
        return None
    m = torch.as_tensor(mask)
    if m.dtype == torch.bool:
        m = m.float()
    if not torch.is_floating_point(m):
        raise TypeError(f"{what}: a mask must be boolean or floating point in [0, 1], got {m.dtype}.")
    if m.ndim not in (2, 3):
        raise ValueError(f"{what}: a mask must be [H, W] or [frames, H, W], got shape {tuple(m.shape)}.")
    m = m.float()
    if not bool(torch.isfinite(m).all()) or float(m.min()) < 0 or float(m.max()) > 1:
        raise ValueError(f"{what}: mask values must lie in [0, 1].")
    return m


class ReferenceRouting:
    """Extra references and masks for the `ReferenceAttnProcessor`s of one model pair (set on their shared state).

    `num_extra`: the extra references ref_2..ref_K (K = 1 + num_extra). `target_masks`: None or a list of K entries
    (index 0 = the primary, in-sequence reference; 1.. = the extra references), each None (unmasked: bias -log K), an
    [H, W] mask used by every video frame, or a [num_video_frames, H, W] mask for the video frames of the call.
    `source_masks`: None or `num_extra` entries, None or [H, W] over the extra reference's own grid.
    `latent_size`: (H, W) of the latents the model is called on (needed to resize masks to each layer's token grid).
    `chunk_elements`: score elements per tile of `routed_attention` (None: 4 Mi on the CPU, 64 Mi on CUDA).

    The extra references' keys/values are captured per layer: run the models once on the side batch inside
    `with routing.capture():` (input `[B * num_extra, 1, ...]`, one reference-path-only frame per extra reference,
    video by video), then call them on the main frames; every processor uses what it captured itself.
    """

    def __init__(
        self,
        num_extra: int,
        target_masks: Sequence | None = None,
        source_masks: Sequence | None = None,
        latent_size: tuple[int, int] | None = None,
        chunk_elements: int | None = None,
    ):
        if num_extra < 0:
            raise ValueError(f"num_extra must be >= 0, got {num_extra}.")
        self.num_extra = int(num_extra)
        k = self.num_references
        if target_masks is not None and len(target_masks) != k:
            raise ValueError(f"target_masks needs {k} entries (primary reference first), got {len(target_masks)}.")
        if source_masks is not None and len(source_masks) != num_extra:
            raise ValueError(
                f"source_masks needs {num_extra} entries (one per extra reference), got {len(source_masks)}."
            )
        self.target_masks = [
            _as_mask(m, f"target mask of reference {j + 1}") for j, m in enumerate(target_masks or [None] * k)
        ]
        self.source_masks = [
            _as_mask(m, f"source mask of reference {j + 2}") for j, m in enumerate(source_masks or [None] * num_extra)
        ]
        for j, m in enumerate(self.source_masks):
            if m is not None and m.ndim != 2:
                raise ValueError(f"source mask of reference {j + 2}: expected [H, W], got {tuple(m.shape)}.")
        if latent_size is not None:
            latent_size = (int(latent_size[0]), int(latent_size[1]))
        self.latent_size = latent_size
        if chunk_elements is not None and chunk_elements < 1:
            raise ValueError(f"chunk_elements must be >= 1, got {chunk_elements}.")
        self.chunk_elements = chunk_elements  # None: by device (`default_chunk_elements`)
        self.phase = "route"
        self._kv: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._resized: dict[tuple, torch.Tensor] = {}

    @property
    def num_references(self) -> int:
        """K: the primary reference plus the extra ones."""
        return 1 + self.num_extra

    @property
    def active(self) -> bool:
        """Whether anything is routed (K > 1 or a mask); inactive routing leaves Reference Attention untouched."""
        return self.num_extra > 0 or any(m is not None for m in self.target_masks)

    # ---------------------------------------------------------------------------------------------- side batch K/V

    @contextmanager
    def capture(self) -> Iterator[ReferenceRouting]:
        """Within the block the processors store the keys/values of the side batch (and compute it as plain,
        reference-path self-attention). Previously captured keys/values are dropped first."""
        self._kv.clear()
        saved, self.phase = self.phase, "capture"
        try:
            yield self
        finally:
            self.phase = saved

    def clear(self) -> None:
        """Forget the captured keys/values (they belong to one denoising step)."""
        self._kv.clear()

    def store(self, owner: object, key: torch.Tensor, value: torch.Tensor) -> None:
        """Keep a layer's side-batch keys/values, `[B * num_extra, N, C]` -> `[B, num_extra, N, C]`."""
        if self.num_extra == 0:
            raise ValueError("There is no extra reference to capture (num_extra=0).")
        if key.shape[0] % self.num_extra:
            raise ValueError(
                f"The side batch has {key.shape[0]} frames, not a multiple of the {self.num_extra} extra references."
            )
        b = key.shape[0] // self.num_extra
        self._kv[id(owner)] = (
            key.reshape(b, self.num_extra, *key.shape[1:]),
            value.reshape(b, self.num_extra, *value.shape[1:]),
        )

    def captured(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The keys/values captured so far, one `[B, num_extra, N, C]` pair per layer."""
        return list(self._kv.values())

    def extra_kv(self, owner: object) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return self._kv[id(owner)]
        except KeyError:
            raise RuntimeError(
                f"No extra-reference keys/values were captured for this layer ({self.num_extra} extra references): "
                "run the models on the side batch inside `with routing.capture():` before the routed call."
            ) from None

    # ---------------------------------------------------------------------------------------------- biases

    def _resized_mask(self, kind: str, j: int, mask: torch.Tensor, hw: tuple[int, int], device) -> torch.Tensor:
        key = (kind, j, hw, str(device))
        out = self._resized.get(key)
        if out is None:
            m = mask if mask.ndim == 3 else mask[None]
            if tuple(m.shape[-2:]) != hw:
                m = F.interpolate(m[:, None], size=hw, mode="area")[:, 0]
            out = torch.log(m.clamp_min(0)).flatten(1).to(device)  # [F, h*w], -inf where the mask is 0
            self._resized[key] = out
        return out

    def _grid(self, num_tokens: int) -> tuple[int, int]:
        if self.latent_size is None:
            raise ValueError("Masked routing needs ReferenceRouting.latent_size, the (H, W) of the model's latents.")
        return token_grid(self.latent_size, num_tokens)

    def query_bias(self, j: int, video_frames: Sequence[int], num_video_frames: int, num_tokens: int, device):
        """beta of reference j (0 = primary) for the given video frames: a float, or `[1, Tg, 1, N]` (log mask)."""
        mask = self.target_masks[j]
        if mask is None:
            return -math.log(self.num_references)
        if mask.ndim == 3 and mask.shape[0] != num_video_frames:
            raise ValueError(
                f"The target mask of reference {j + 1} has {mask.shape[0]} frames; this call has {num_video_frames} "
                "video frames (pass the masks of the call's frames, or one [H, W] mask)."
            )
        logm = self._resized_mask("target", j, mask, self._grid(num_tokens), device)
        rows = logm[list(video_frames)] if logm.shape[0] > 1 else logm.expand(len(video_frames), -1)
        return rows[None, :, None, :]

    def key_bias(self, j: int, num_tokens: int, device) -> torch.Tensor | None:
        """Key-side bias of extra reference j (1-based among all references, so j >= 1): `[N]` or None."""
        mask = self.source_masks[j - 1]
        if mask is None:
            return None
        return self._resized_mask("source", j, mask, self._grid(num_tokens), device)[0]


def routed_attention(
    query: torch.Tensor,
    blocks: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | float | None]],
    chunk_elements: int | None = None,
) -> torch.Tensor:
    """One softmax over the concatenated key blocks with a per-query, per-block bias, folded by log-sum-exp.

    `query`: `[B, T, h, n, d]`. `blocks`: `(key, value, key_bias, query_bias)` per block: key/value
    `[B|1, T|1, h, m, d]` (broadcast, never copied per frame); `key_bias` None or `[m]` (added to that block's
    logits); `query_bias` None, a float, or `[B|1, T|1, 1, n]` (added to every logit of the block for that query;
    -inf removes the block). The first block must be unmasked (finite bias) so that no row is empty. Scale 1/sqrt(d)
    (as SDPA). Returns `[B, T, h, n, d]` in float32 (float64 for float64 input); the score tile per block holds at
    most about `chunk_elements` elements.
    """
    b, t, h, n, d = query.shape
    if chunk_elements is None:
        chunk_elements = default_chunk_elements(query.device)
    scale = 1.0 / math.sqrt(d)
    widest = max(k.shape[-2] for k, _, _, _ in blocks)
    rows = max(1, min(n, chunk_elements // max(b * t * h * widest, 1)))
    acc_dtype = torch.promote_types(query.dtype, torch.float32)  # scores, normalisers and sums never in half
    keys = [(k.transpose(-1, -2), v.to(acc_dtype), kb, qb) for k, v, kb, qb in blocks]
    out = torch.empty(b, t, h, n, d, dtype=acc_dtype, device=query.device)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        qc = query[..., start:stop, :] * scale
        acc = lse_acc = None
        for kt, v, kb, qb in keys:
            s = torch.matmul(qc, kt).to(acc_dtype)  # [B, T, h, c, m]
            if kb is not None:
                s = s + kb
            top = s.amax(dim=-1, keepdim=True)  # [B, T, h, c, 1]; -inf where the block's keys are all masked
            top = torch.where(torch.isfinite(top), top, 0.0)
            s = s.sub_(top).exp_()  # one pass over the tile: exp(s - max)
            total = s.sum(dim=-1)  # [B, T, h, c]; 0 where all masked
            o = torch.matmul(s, v) / total.clamp_min(torch.finfo(acc_dtype).tiny)[..., None]
            lse = top[..., 0] + torch.log(total)  # log-normaliser of the block, -inf where all masked
            del s
            if qb is not None:
                lse = lse + (qb[..., start:stop] if torch.is_tensor(qb) else qb)
            if acc is None:
                acc, lse_acc = o, lse
                continue
            new = torch.logaddexp(lse_acc, lse)
            safe = torch.where(torch.isfinite(new), new, 0.0)
            acc = acc * torch.exp(lse_acc - safe)[..., None] + o * torch.exp(lse - safe)[..., None]
            lse_acc = new
        out[..., start:stop, :] = acc
    return out
