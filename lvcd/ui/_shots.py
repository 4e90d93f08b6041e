"""The few lvcd.shots names the page uses, in one place (lvcd.shots is being split into smaller modules; this keeps
the page working against either layout). Nothing here re-implements the manifest: reading, validating and the
manifest text all come from lvcd.shots."""

from __future__ import annotations

from ..shots import Manifest, ManifestError, Shot, load_manifest, render_shots
from ..shots.manifest import read_yaml
from ..shots.together import join_keyframes

try:  # new layout
    from ..shots.interchange import manifest_text, relative_to
except ImportError:  # pragma: no cover - depends on which lvcd.shots layout is installed
    from ..shots.manifest import manifest_text, relative_to

try:
    from ..shots.timecode import format_timecode
except ImportError:  # pragma: no cover
    from ..shots.manifest import format_timecode

try:
    from ..shots.plan import default_work_dir
except ImportError:  # pragma: no cover
    from ..shots.render import default_work_dir

try:
    from ..shots.plan import PNG_NAME
except ImportError:  # pragma: no cover
    from ..shots.render import PNG_NAME

__all__ = [
    "Manifest",
    "ManifestError",
    "Shot",
    "load_manifest",
    "render_shots",
    "read_yaml",
    "manifest_text",
    "relative_to",
    "format_timecode",
    "default_work_dir",
    "PNG_NAME",
    "join_keyframes",
    "keyframes_of",
]


def keyframes_of(shot: Shot) -> list:
    """(frame, image) of every keyframe of `shot`: all of them for a bucket shot whose keyframes are used together
    (`lvcd.shots.together`), else its one reference (frame None: external)."""
    return list(shot.keyframes) or ([(shot.reference_frame, shot.reference)] if shot.reference is not None else [])
