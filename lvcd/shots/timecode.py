"""Times in a shot manifest: frame numbers, SMPTE non-drop timecodes, clock times and seconds, to and from frames."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

_SMPTE = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})([:;])(\d{1,3})$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*s$")


def parse_time(value: Any, fps: Fraction | float) -> int:
    """A frame number from an int (frames), a float (seconds), "123" (frames), "HH:MM:SS:FF" (SMPTE non-drop, FF at
    the nominal integer rate), "HH:MM:SS.sss" / "MM:SS" (clock time) or "2.5s" (seconds). Raises ValueError."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a frame number or a timecode, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected seconds, got {value!r}")
        return round(value * float(fps))
    text = str(value).strip()
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    m = _SMPTE.match(text)
    if m:
        h, mi, s, sep, ff = m.groups()
        if sep == ";":
            raise ValueError(
                f"drop-frame timecode {text!r} is not supported; write the frame number or a non-drop timecode (':')"
            )
        nominal = round(float(fps))
        if int(ff) >= nominal or int(mi) >= 60 or int(s) >= 60:
            raise ValueError(f"timecode {text!r} is out of range at {float(fps):g} fps (frames 0-{nominal - 1})")
        return ((int(h) * 60 + int(mi)) * 60 + int(s)) * nominal + int(ff)
    m = _CLOCK.match(text) or None
    if m:
        h, mi, s = m.groups()
        seconds = (int(h or 0) * 60 + int(mi)) * 60 + float(s)
        return round(seconds * float(fps))
    m = _SECONDS.match(text)
    if m:
        return round(float(m.group(1)) * float(fps))
    raise ValueError(
        f'cannot read {text!r} as a time; use a frame number (120), a timecode ("00:00:05:00"), or seconds (5.0 or'
        ' "5s")'
    )


def format_timecode(frame: int, fps: Fraction | float) -> str:
    """SMPTE non-drop HH:MM:SS:FF of a frame number at the nominal integer rate (for comments and messages)."""
    nominal = max(1, round(float(fps)))
    s, ff = divmod(frame, nominal)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}"


def looks_like_time(text: str) -> bool:
    """Would `text` read as a time (so a YAML writer must quote it)?"""
    t = text.strip()
    return bool(re.fullmatch(r"[-+]?\d+", t) or _SMPTE.match(t) or _CLOCK.match(t) or _SECONDS.match(t))
