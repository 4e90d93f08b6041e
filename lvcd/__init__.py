"""lvcd: colorize long lineart animation from reference keyframes.

Heavy names (torch, diffusers) are resolved on first use so that `lvcd --help`, `lvcd.video` and the weight-free
backend start fast and never import torch.
"""

from .version import __version__

_LAZY = {
    "LVCDPipeline": "lvcd.pipelines",
    "LVCDPipelineOutput": "lvcd.pipelines",
    "LVCDUNetModel": "lvcd.models",
    "LVCDControlNetModel": "lvcd.models",
    "colorize_video": "lvcd.api",
    "colorize_frames": "lvcd.api",
    "render_shots": "lvcd.shots.render",
}

# diffusers' loader looks up the base classes it knows on the component's library module (here `lvcd`) to find how
# to load a component declared as ["lvcd", "LVCDUNetModel"]; expose those bases under the same names.
_DIFFUSERS_BASES = ("ModelMixin", "DiffusionPipeline", "SchedulerMixin")

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    # diffusers' `from_pretrained` resolves model_index.json entries ["lvcd", "LVCDUNetModel"] through this.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _DIFFUSERS_BASES:
        import diffusers

        return getattr(diffusers, name)
    raise AttributeError(f"module 'lvcd' has no attribute {name!r}")
