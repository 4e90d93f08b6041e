"""Variable frame rate output: per-frame presentation times kept from the input (`probe(input).timestamps`).

`check_timestamps` validates them, `last_step` says how long the last frame lasts, and `retime(src, dst, ...)`
stream-copies an encoded video (PyAV remux, no re-encode), giving packet i the time `timestamps[i]`. The encoder
must run without B-frames, so that packets come in display order (`FrameWriter` passes `-bf 0` when retiming).
No torch.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

from .errors import VideoWriteError

__all__ = ["check_timestamps", "last_step", "retime"]


def check_timestamps(timestamps) -> tuple[Fraction, ...] | None:
    """Per-frame presentation times in seconds (from `probe(...).timestamps`), strictly increasing, or None."""
    if timestamps is None:
        return None
    ts = tuple(Fraction(t) for t in timestamps)
    if not ts or any(b <= a for a, b in zip(ts, ts[1:], strict=False)) or ts[0] < 0:
        raise ValueError(
            "`timestamps` must be increasing times in seconds, one per frame, starting at >= 0 "
            "(e.g. probe(input).timestamps)."
        )
    return ts


def last_step(ts: tuple[Fraction, ...], fps: Fraction) -> Fraction:
    """How long the last frame of a timed sequence lasts: the median frame duration (1/fps for one frame)."""
    if len(ts) < 2:
        return 1 / Fraction(fps)
    steps = sorted(b - a for a, b in zip(ts, ts[1:], strict=False))
    return steps[len(steps) // 2]


def retime(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    ts: tuple[Fraction, ...],
    fps: Fraction,
    *,
    muxer: str,
    faststart: bool = False,
    what: str | os.PathLike = "",
) -> None:
    """Write `src`'s video stream to `dst` (container `muxer`) with packet i at time `ts[i]` seconds; the time base
    is exact where the timestamps' common denominator allows (else 1/90000). `what` names the output in errors."""
    import av

    den = math.lcm(*{t.denominator for t in ts})
    tb = Fraction(1, den) if den <= 1 << 20 else Fraction(1, 90000)
    step = last_step(ts, fps)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=muxer, options=options) as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        s_out.time_base = tb
        i = 0
        for pkt in inp.demux(s_in):
            if not pkt.size:
                continue
            if i >= len(ts):
                raise VideoWriteError(f"{what}: the encoder produced more packets than frames")
            dur = (ts[i + 1] - ts[i]) if i + 1 < len(ts) else step
            pkt.stream = s_out
            pkt.time_base = tb
            pkt.pts = pkt.dts = round(ts[i] / tb)
            pkt.duration = max(1, round(dur / tb))
            out.mux(pkt)
            i += 1
    if i != len(ts):
        raise VideoWriteError(f"{what}: {i} packets for {len(ts)} frames while setting the timestamps")
