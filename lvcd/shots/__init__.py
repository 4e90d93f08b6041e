"""Shots: cut detection on lineart, shot manifests with per-shot reference keyframes, resumable batch rendering.

* `detect.py`: `detect_shots(inputs)` / `detect_cuts(frames)` with `LineartDetector` (a PySceneDetect detector over
  line maps) and PySceneDetect's own detectors for comparison.
* `manifest.py`: the YAML manifest (schema in configs/manifest.schema.md): `load_manifest`, `ManifestError`,
  CSV / OpenTimelineIO import, `shot_seed`.
* `render.py`: `render_shots(manifest_or_path, **overrides)` (`lvcd batch`): per-shot renders in a work folder,
  forward/backward passes around a mid-shot reference, resume, assembly with the input's audio.

Planning needs no torch; rendering imports it only through the diffusion backend.
"""
from .manifest import Manifest, ManifestError, Shot, load_manifest, parse_time, shot_seed
from .render import BatchResult, Pass, ShotResult, plan_passes, plan_shots, render_shots

_DETECT = ("DetectConfig", "DetectedShots", "LineartDetector", "detect_cuts", "detect_shots", "cuts_to_ranges")

__all__ = ["Manifest", "ManifestError", "Shot", "load_manifest", "parse_time", "shot_seed", "BatchResult", "Pass",
           "ShotResult", "plan_passes", "plan_shots", "render_shots", *_DETECT]


def __getattr__(name: str):
    # detect.py imports PySceneDetect (~0.3 s); `lvcd batch` never needs it.
    if name in _DETECT:
        from . import detect

        return getattr(detect, name)
    raise AttributeError(f"module 'lvcd.shots' has no attribute {name!r}")
