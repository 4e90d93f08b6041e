"""Planning a batch: which passes colour each shot, with which options and seed, on which backend, and the render key
that says whether the shot's frames in the work folder are still valid (done / partial / todo). Loads no model and
no torch; `plan_shots` is the dry run of `lvcd batch`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..backends import resolve_backend
from ..frames import load_reference
from ..model_dir import model_fingerprint
from ..options import DEFAULTS, RenderOptions, check_names
from ..resume import InputHashes, extra_reference_hashes, render_key, render_params, sha256_file
from .manifest import load_manifest
from .shot import Manifest, ManifestError, Shot, shot_seed
from .together import join_keyframes, keyframe_params

PNG_NAME = "{:06d}.png"  # frames are named by global frame number (an episode at 24 fps has < 1e6 frames)


# ---------------------------------------------------------------------------------------------------- passes
@dataclass(frozen=True)
class Pass:
    """One call of the colorizer: which global frames it reads, in which order, and which outputs it keeps."""

    name: str  # "forward" | "backward" | "external"
    start: int  # first global frame read
    stop: int  # range end (exclusive in the direction of `step`)
    step: int  # 1 forward, -1 backward
    prepend_reference: bool = False  # external reference: its lineart is frame 0 of the pass
    drop_first: bool = False  # the first output is not kept (the shared reference frame, or the prepended one)

    @property
    def frames(self) -> range:
        return range(self.start, self.stop, self.step)

    @property
    def num_frames(self) -> int:
        return len(self.frames) + int(self.prepend_reference)

    def outputs(self) -> list[int | None]:
        """Global frame number of each output in order (None = dropped)."""
        out: list[int | None] = ([None] if self.prepend_reference else []) + list(self.frames)
        if self.drop_first and not self.prepend_reference:
            out[0] = None
        return out


def plan_passes(shot: Shot) -> list[Pass]:
    """The passes that colour `shot` (see the module docstring); every frame of the shot is output exactly once."""
    if shot.external:
        return [Pass("external", shot.start, shot.end, 1, prepend_reference=True, drop_first=True)]
    k = shot.reference_frame
    passes = [Pass("forward", k, shot.end, 1)]
    if k > shot.start:
        passes.append(Pass("backward", k, shot.start - 1, -1, drop_first=True))
    return passes


# ---------------------------------------------------------------------------------------------------- planning
@dataclass
class ShotPlan:
    """Everything needed to render one shot, and the hash that identifies its result."""

    shot: Shot
    options: RenderOptions  # the shot's effective options (seed = the shot seed)
    seed: int
    backend: str  # resolved: "diffusion" | "bucket"
    model_dir: Path | None
    passes: list[Pass]
    key: str  # sha256 of `params`
    params: dict  # what the key covers (also written to the stamp, for humans)
    folder: Path  # work/shots/<name>/
    status: str = "todo"  # "done" | "partial" | "todo"

    @property
    def stamp(self) -> Path:
        return self.folder.with_name(self.folder.name + ".json")

    @property
    def state(self) -> Path:
        return self.folder.with_name(self.folder.name + ".state")

    def expected(self) -> list[Path]:
        return [self.folder / PNG_NAME.format(i) for i in range(self.shot.start, self.shot.end)]


def default_work_dir(manifest: Manifest) -> Path:
    """The manifest's `work:`, else `<manifest stem>.work` beside the manifest (`lvcd-work` in its folder for a
    manifest given as a mapping)."""
    if manifest.work is not None:
        return manifest.work
    if manifest.path is not None:
        return manifest.path.resolve().with_name(manifest.path.stem + ".work")
    return manifest.base_dir / "lvcd-work"


def effective_options(manifest: Manifest, shot: Shot, overrides: Mapping) -> tuple[RenderOptions, int]:
    """The options of `shot` (defaults < manifest defaults < shot options < overrides), its seed set to the shot
    seed, and that seed."""
    base_seed = overrides.get("seed", manifest.defaults.get("seed", DEFAULTS["seed"]))
    if "seed" in shot.options and "seed" not in overrides:
        seed = int(shot.options["seed"])  # an explicit per-shot seed is used as is
    else:
        seed = shot_seed(int(base_seed), shot.name)
    return RenderOptions.of({**manifest.defaults, **shot.options, **overrides}, seed=seed), seed


def _model_fingerprint(model_dir: Path | None, cache: dict) -> dict:
    if model_dir is None:
        return {}
    if str(model_dir) not in cache:
        cache[str(model_dir)] = model_fingerprint(model_dir)
    return cache[str(model_dir)]


def plan_shot(
    manifest: Manifest,
    shot: Shot,
    work: Path,
    overrides: Mapping,
    hashes: InputHashes,
    model_cache: dict | None = None,
) -> ShotPlan:
    """Resolve options, seed, backend and passes of `shot`, hash its dependencies and look at the work folder."""
    model_cache = {} if model_cache is None else model_cache
    opts, seed = effective_options(manifest, shot, overrides)
    backend, model_dir = resolve_backend(opts)
    model_dir = Path(model_dir).resolve() if model_dir is not None else None
    passes = plan_passes(shot)
    touched = set()
    for inp_i, inp in enumerate(manifest.inputs):
        if inp.offset < shot.end and shot.start < inp.offset + inp.frame_count:
            touched.add(inp_i)
        rl = shot.reference_lineart
        if isinstance(rl, int) and inp.offset <= rl < inp.offset + inp.frame_count:
            touched.add(inp_i)
    rl = shot.reference_lineart
    extras = shot.extra_references  # references used together: their content is part of the key
    params = render_params(
        opts,
        backend=backend,
        model=_model_fingerprint(model_dir, model_cache),
        inputs=[
            {
                "index": i,
                "offset": manifest.inputs[i].offset,
                "frames": manifest.inputs[i].frame_count,
                "sha256": hashes(manifest.inputs[i].path),
            }
            for i in sorted(touched)
        ],
        reference_sha256=sha256_file(shot.reference) if shot.reference is not None else None,
        shot={"name": shot.name, "start": shot.start, "end": shot.end, "reference_frame": shot.reference_frame},
        reference_lineart=(
            None if rl is None else {"frame": rl} if isinstance(rl, int) else {"sha256": sha256_file(rl)}
        ),
        passes=[asdict(p) for p in passes],
        **({"extra_references": extra_reference_hashes(extras, hashes)} if extras else {}),
        **keyframe_params(shot),  # keyframes used together: every one's sha256
    )
    plan = ShotPlan(
        shot, opts, seed, backend, model_dir, passes, render_key(params), params, work / "shots" / shot.name
    )
    plan.status = shot_status(plan)
    return plan


def shot_status(plan: ShotPlan) -> str:
    """ "done" (stamp matches and every frame is there), "partial" (a state folder of this key) or "todo"."""
    try:
        stamp = json.loads(plan.stamp.read_text())
    except (OSError, ValueError):
        stamp = None
    if stamp and stamp.get("key") == plan.key and all(p.is_file() for p in plan.expected()):
        return "done"
    try:
        if (plan.state / "key").read_text().strip() == plan.key:
            return "partial"
    except OSError:
        pass
    return "todo"


def split_overrides(overrides: Mapping) -> dict:
    """The options given to `render_shots` / `plan_shots`, unknown names refused, None = not given."""
    check_names(overrides, "render_shots option")
    return {k: v for k, v in overrides.items() if v is not None}


def _check_references(m: Manifest, shots: Sequence[Shot], overrides: Mapping) -> None:
    """Load every selected reference (and reference lineart image) once before anything renders, so a grey, transparent
    or wrongly shaped keyframe of the last shot fails now, not hours into the batch."""
    from ..video import read_image

    problems = []
    for shot in shots:
        opts, _ = effective_options(m, shot, overrides)
        for frame, image in shot.keyframes or [(None, shot.reference)]:
            try:
                load_reference(image, m.size, opts.reference_fit, opts.reference_background)
            except (OSError, ValueError) as e:
                field = "`reference`" if frame is None else f"`references` (the keyframe of frame {frame})"
                problems.append(f"shot {shot.name!r}: {field}: {e}")
        if isinstance(shot.reference_lineart, Path):
            try:
                read_image(shot.reference_lineart)
            except (OSError, ValueError) as e:
                problems.append(f"shot {shot.name!r}: `reference_lineart`: {e}")
    if problems:
        raise ManifestError(problems, m.path, note="Nothing was rendered.")


def plan_shots(
    manifest: Manifest | str | os.PathLike | Mapping,
    *,
    work: str | os.PathLike | None = None,
    only: Sequence[str] | None = None,
    **overrides,
) -> tuple[Manifest, Path, list[ShotPlan]]:
    """Validate the manifest and plan the selected shots (options, seeds, passes, hashes, status); loads no model."""
    try:
        overrides = split_overrides(overrides)
        m = join_keyframes(load_manifest(manifest), overrides)  # bucket: a shot's keyframes used together
        selected = m.select(only)
        m.require_references(selected)
    except ManifestError as e:
        raise ManifestError(e.problems, e.source, note="Nothing was rendered.") from None
    work_dir = Path(work) if work is not None else default_work_dir(m)
    _check_references(m, selected, overrides)
    hashes = InputHashes(work_dir / "cache" / "inputs.json")
    model_cache: dict = {}
    plans = [plan_shot(m, s, work_dir, overrides, hashes, model_cache) for s in selected]
    work_dir.mkdir(parents=True, exist_ok=True)
    hashes.save()
    return m, work_dir, plans


def format_plans(plans: Sequence[ShotPlan]) -> str:
    """The dry run's table: one row per shot (frames, reference frame, passes, seed, backend, status)."""
    refs = any(p.shot.extra_references for p in plans)  # K: the reference plus the extra ones used together
    rows = [("shot", "frames", "reference", "passes", "seed", "backend", "status") + (("refs",) if refs else ())]
    for p in plans:
        s = p.shot
        ref = "external" if s.external else str(s.reference_frame)
        if s.keyframes:  # keyframes used together
            ref = "+".join(str(f) for f, _ in s.keyframes)
        rows.append(
            (
                s.name,
                f"{s.start}-{s.end - 1} ({s.frames})",
                ref,
                "+".join(q.name for q in p.passes),
                str(p.seed),
                p.backend,
                p.status,
            )
            + ((str(1 + len(s.extra_references)),) if refs else ())
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
