"""Step 6 of `LVCDPipeline`: the official chunked temporal VAE decoding, streamed (a mixin of the pipeline class).

Chunks of `decode_chunk` latents (10 as released) with the reference latent prepended as an anchor and 3 frames of
overlap (`lvcd.sampling.plan_decode_chunks`); only the latents a chunk still needs are held. Moved out of
`pipeline_lvcd.py` unchanged, to keep that file readable top to bottom.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from einops import rearrange

from ..sampling import plan_decode_chunks


class TemporalDecodeMixin:
    """`decode_latents_stream` / `_decode` for a pipeline with `vae`, `conditioning` and `_execution_device`."""

    @torch.no_grad()
    def decode_latents_stream(
        self,
        latents: Iterable[torch.Tensor],
        num_frames: int,
        chunk: int | None = None,
        overlap: int | None = None,
        as_uint8: bool = False,
    ) -> Iterator[torch.Tensor]:
        """Official chunked temporal decoding (reference latent prepended, 3 frames overlap) over a stream of final
        latents [n, 4, h, w] in frame order; yields decoded frames in order, on the CPU: float [m, 3, H, W] in [0, 1],
        or with `as_uint8` uint8 [m, H, W, 3] rounded on the device (4x less to copy back; the same values as
        rounding the float output on the CPU). `chunk` / `overlap` default to `self.conditioning`'s (10 / 3)."""
        c = self.conditioning
        chunk = c.decode_chunk if chunk is None else chunk
        overlap = c.decode_overlap if overlap is None else overlap
        chunks = plan_decode_chunks(num_frames, chunk, overlap, anchor=1)
        buf: dict[int, torch.Tensor] = {}  # latents not yet decoded (plus the anchor, index 0)
        have = 0
        it = iter(latents)
        for k, ch in enumerate(chunks):
            while have <= max(ch.latent_indices):
                block = next(it)
                for j in range(block.shape[0]):
                    buf[have] = block[j]
                    have += 1
            lat = torch.stack([buf[i] for i in ch.latent_indices])  # [len, 4, h, w]
            frames = self._decode(lat)[ch.keep_from :]  # [m, 3, H, W] in [0, 1], on the execution device
            if as_uint8:
                frames = rearrange((frames * 255.0).round().to(torch.uint8), "m c h w -> m h w c")
            yield frames.cpu()
            keep_from = min(chunks[k + 1].latent_indices[1:]) if k + 1 < len(chunks) else have
            for i in [i for i in buf if 0 < i < keep_from]:
                del buf[i]

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Temporal VAE decode of [n, 4, h, w] scaled latents -> float32 [n, 3, H, W] in [0, 1] on the device."""
        vae = self.vae
        needs_upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        dtype = torch.float32 if needs_upcast else vae.dtype
        if needs_upcast:
            vae.to(torch.float32)
        z = (latents / vae.config.scaling_factor).to(device=self._execution_device, dtype=dtype)
        frames = vae.decode(z, num_frames=z.shape[0]).sample.float()
        if needs_upcast:
            vae.to(torch.float16)
        return (frames.clamp(-1, 1) + 1.0) / 2.0  # official clamp to [-1, 1], then (x + 1) / 2
