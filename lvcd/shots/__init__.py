"""Shots: cut detection on lineart, shot manifests with per-shot reference keyframes, resumable batch rendering.

* `detect.py`: `detect_shots(inputs)` / `detect_cuts(frames)` with `LineartDetector` (a PySceneDetect detector over
  line maps) and PySceneDetect's own detectors for comparison.
* `shot.py`: the data (`Manifest`, `Shot`, `InputInfo`, `ManifestError`, `shot_seed`); `timecode.py`: times to
  frames; `manifest.py`: the YAML manifest (schema in configs/manifest.schema.md) parsed and validated
  (`load_manifest`), with `keyframes.py` for a shot's references; `interchange.py`: CSV / OpenTimelineIO import and
  the manifest text `lvcd shots` writes.
* `plan.py`: passes, effective options, seeds, render keys and status of each shot (`plan_shots`, the dry run);
  `source.py`: the inputs as one frame axis and the shot PNGs; `render.py`: `render_shots(manifest_or_path,
  **overrides)` (`lvcd batch`), resumable; `assemble.py`: the final video with the inputs' audio.

Planning needs no torch; rendering imports it only through the diffusion backend.
"""

from .manifest import load_manifest
from .plan import Pass, plan_passes, plan_shots
from .render import BatchResult, ShotResult, render_shots
from .shot import Manifest, ManifestError, Shot, shot_seed
from .timecode import parse_time

_DETECT = ("DetectConfig", "DetectedShots", "LineartDetector", "detect_cuts", "detect_shots", "cuts_to_ranges")

__all__ = [
    "Manifest",
    "ManifestError",
    "Shot",
    "load_manifest",
    "parse_time",
    "shot_seed",
    "BatchResult",
    "Pass",
    "ShotResult",
    "plan_passes",
    "plan_shots",
    "render_shots",
    *_DETECT,
]


def __getattr__(name: str):
    # detect.py imports PySceneDetect (~0.3 s); `lvcd batch` never needs it.
    if name in _DETECT:
        from . import detect

        return getattr(detect, name)
    raise AttributeError(f"module 'lvcd.shots' has no attribute {name!r}")
