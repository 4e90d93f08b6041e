"""Resumable batch rendering of a shot manifest: every shot an independent task, then one assembled video.

`render_shots(manifest_or_path, **overrides)` (CLI: `lvcd batch shots.yaml`) renders each shot of a manifest into
the work folder and assembles the final video in frame order with the inputs' audio (one input: copied as is;
several: each one's sound over its frames, joined in order and re-encoded to AAC, see `assemble_video`). A shot is a
pure function of its manifest entry, the model and the inputs, so shots can be rendered in any order, in separate
runs (`only=`), or on separate machines sharing the work folder.

Work folder layout (default: `<manifest>.work/` beside the manifest, or the manifest's `work:`)::

    shots/<name>/000123.png    the finished shot's frames, named by *global* frame number: lossless RGB PNG, so
                               assembly never re-encodes a lossy intermediate (PNG encoding is deterministic)
    shots/<name>.json          the done stamp: the hash of everything the shot depends on, written last
    shots/<name>.state/        while a shot renders: its hash, one `<pass>.done` per finished pass, and
                               `ckpt/<pass>/` per-window latent checkpoints of the diffusion backend
    cache/inputs.json          content hashes of the inputs, keyed by path, size and mtime (so they are hashed once)

Resume rules: a shot whose stamp matches its current hash and whose frames are all present is skipped; a shot with a
state folder of the same hash continues (finished passes are skipped, an unfinished diffusion pass restarts after its
last checkpointed window, the bucket backend re-runs the pass, which is cheap and deterministic); anything else is
discarded and re-rendered. Every file is written to a temporary name and renamed, so a kill at any instant leaves
either the old file or the new one. The hash is `lvcd.resume.render_key` (the same key `colorize --work` uses)
over: the shot's name, frames and reference frame; the sha256 of the reference image (and its lineart image); the
sha256 of the inputs it reads; the options that change pixels (`lvcd.options.PIXEL_FIELDS`, seed = the shot seed,
the resolved backend); the model's weight-file fingerprint; the passes; the lvcd version.

Seeds: a shot's seed is `shot_seed(seed, name)` (shot.py: sha256 of "<seed>/<name>", 32 bits) from the manifest's
(or the override's) `seed`, so a shot renders the same whatever else is in the manifest; a shot's own
`options: {seed: N}` is used as is (handy to reproduce an `lvcd colorize --seed N` render exactly).

Reference anywhere in the shot (`reference_frame` k): the *forward* pass colours k..end-1; when k > start a
*backward* pass colours k, k-1, ..., start (frames read in chunks from the end, never the whole shot) and drops its
first output, so frame k is produced once, by the forward pass. An *external* reference (design sheet, another shot's
frame) gets a lineart (`reference_lineart`: an image or a global frame number; default: XDoG lines of the reference,
drawn in the shot's polarity), which is prepended as frame 0 of one pass and its output dropped.

Deliberately not here: cut detection (detect.py), manifest parsing (manifest.py), planning (plan.py), assembly
(assemble.py), locking between machines that render the same shot at the same time (split the work with `only=`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..options import RenderOptions
from ..outputs import up_to_date
from ..version import __version__
from ..video.writer import sidecar_path
from .assemble import assemble_video
from .manifest import load_manifest
from .plan import Pass, ShotPlan, default_work_dir, plan_passes, plan_shots, split_overrides
from .shot import Manifest, ManifestError
from .source import EpisodeSource, read_png
from .worker import BatchResult, ShotResult, _Backends, render_shot, stamped_confidence, stamped_drift

logger = logging.getLogger("lvcd")

__all__ = [
    "BatchResult",
    "EpisodeSource",
    "Pass",
    "ShotResult",
    "plan_passes",
    "plan_shots",
    "read_png",
    "render_shot",
    "render_shots",
]


def render_shots(
    manifest_or_path: Manifest | str | os.PathLike | Mapping,
    *,
    work: str | os.PathLike | None = None,
    only: Sequence[str] | None = None,
    output: str | os.PathLike | None = None,
    assemble: bool = True,
    progress: bool | None = None,
    executor: str = "local",
    executor_options: Mapping | None = None,
    audio: str | os.PathLike | None = None,
    allow_outside_paths: bool = False,
    **overrides,
) -> BatchResult:
    """Render every shot of a manifest (or the shots named in `only`) into the work folder, then assemble the final
    video (`output`, else the manifest's `output`) with the inputs' audio (see `assemble_video`). Resumable: see
    the module docstring.

    `overrides` are lvcd.options.RenderOptions fields; they win over the manifest's defaults and every shot's options
    (`seed` is then the base seed shots derive theirs from). Nothing renders unless the whole manifest is valid and
    every selected shot has a reference. With `only`, nothing is assembled.

    `executor`: "local" (this process), "ray" (a Ray cluster, `executor_options` are lvcd.distributed.ray_executor's)
    or "none" (render nothing, assemble shots already rendered); see lvcd.distributed.

    Safety: the work folder is locked for the run (`lvcd.lock`); what the manifest (not the caller) names to write,
    its `output` and `work`, must lie inside the manifest's folder unless `allow_outside_paths`; the output may not
    be an input or lie inside the work folder. `audio`: None = the manifest's `audio:`, else the inputs' sound;
    "none" = silent; a path = that file's sound. A finished batch whose assembled output already matches is left
    alone (`BatchResult.unchanged`).
    """
    from ..lock import WorkLock
    from ..outputs import check_output, confine

    try:
        m = load_manifest(manifest_or_path)
    except ManifestError as e:
        raise ManifestError(e.problems, e.source, note="Nothing was rendered.") from None
    if work is None and m.work is not None:
        confine(m.work, m.base_dir, "work", allow_outside=allow_outside_paths)
    if output is None and m.output is not None and assemble and not only:
        confine(m.output, m.base_dir, "output", allow_outside=allow_outside_paths)
    work_dir = Path(work) if work is not None else default_work_dir(m)
    out_path = Path(output) if output is not None else m.output
    if out_path is not None and assemble and not only:
        fmt = overrides.get("fmt") or m.defaults.get("fmt")
        check_output(out_path, inputs=[i.path for i in m.inputs], work=work_dir, fmt=fmt)
    audio = audio if audio is not None else m.audio
    if audio is not None:
        from ..video.audio import choose_audio

        choose_audio(audio, None)  # a missing or silent --audio file fails now, not after the render
    runner = None
    if executor != "local":  # before the lock: an executor that cannot run here leaves no work folder behind
        from ..distributed import make_executor

        runner = make_executor(executor, **(executor_options or {}))
    with WorkLock(work_dir):
        return _render_shots(
            m,
            work=work_dir,
            only=only,
            output=out_path,
            assemble=assemble,
            progress=progress,
            runner=runner,
            audio=audio,
            manifest_src=manifest_or_path,
            **overrides,
        )


def _render_shots(
    m: Manifest, *, work: Path, only, output, assemble: bool, progress, runner, audio, manifest_src, **overrides
) -> BatchResult:
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    m, work_dir, plans = plan_shots(m, work=work, only=only, **overrides)
    opts = RenderOptions.of({**m.defaults, **split_overrides(overrides)})
    show = not opts.quiet if progress is None else progress
    out_path = Path(output) if output is not None else m.output
    do_assemble = assemble and not only and out_path is not None
    side = _assembly_record(m, plans, out_path, audio, opts) if do_assemble else None
    result = BatchResult(work_dir)
    if (
        do_assemble and not opts.overwrite and all(p.status == "done" for p in plans) and up_to_date(out_path, side)
    ):  # a finished batch run again: nothing to render, nothing to write
        result.shots = [
            ShotResult(
                p.shot.name,
                p.shot.start,
                p.shot.end,
                p.seed,
                "up to date",
                p.folder,
                0.0,
                p.key,
                stamped_confidence(p),
            )
            for p in plans
        ]
        result.output, result.unchanged = out_path, True
        result.sidecar = sidecar_path(out_path)
        result.seconds = time.perf_counter() - t0
        return result
    if do_assemble:
        from ..video import check_output_path

        check_output_path(out_path, overwrite=opts.overwrite, fmt=opts.fmt)  # fail now
        if opts.fmt == "indexed":
            from ..deliver.shots import check_indexed

            for p in plans:
                check_indexed(p.backend, p.options.snap)
    elif assemble and not only and out_path is None:
        logger.warning("no `output` in the manifest and none given: rendering the shots only (nothing assembled)")
    source = EpisodeSource(m)
    backends = _Backends()
    todo = sum(p.shot.frames for p in plans if p.status != "done")
    logger.info(
        "%d shots: %d up to date, %d to resume, %d to render (%d frames); work folder %s",
        len(plans),
        sum(p.status == "done" for p in plans),
        sum(p.status == "partial" for p in plans),
        sum(p.status == "todo" for p in plans),
        todo,
        work_dir,
    )
    if runner is not None:  # renders elsewhere; raises lvcd.distributed.ShotsFailed (nothing assembled) on failures
        result.shots = runner.render(manifest_src, m, work_dir, plans, overrides, progress=show)
    with tqdm(
        total=todo, unit="frame", desc="all shots", disable=not show or runner is not None, position=0
    ) as overall:
        for p in plans if runner is None else ():
            ts = time.perf_counter()
            if p.status == "done":
                status = "up to date"
            else:
                with tqdm(
                    total=p.shot.frames,
                    unit="frame",
                    desc=f"shot {p.shot.name}",
                    disable=not show,
                    position=1,
                    leave=False,
                ) as bar:

                    def tick(bar=bar):
                        bar.update()
                        overall.update()

                    status = render_shot(p, source, backends, m.size, tick)
            conf = stamped_confidence(p)
            result.shots.append(
                ShotResult(
                    p.shot.name,
                    p.shot.start,
                    p.shot.end,
                    p.seed,
                    status,
                    p.folder,
                    time.perf_counter() - ts,
                    p.key,
                    conf,
                )
            )
            logger.info("shot %s: %s (%d frames, seed %d)", p.shot.name, status, p.shot.frames, p.seed)
            if conf and conf["frames_to_check"]:
                from ..backends.bucket_confidence import format_line

                logger.warning("shot %s: %s", p.shot.name, format_line(conf))
            drift = stamped_drift(p)
            if drift and drift.get("over_threshold"):
                from ..eval.drift import format_drift

                logger.warning("shot %s: %s", p.shot.name, format_drift(drift))
    if do_assemble:
        if len(plans) != len(m.shots):  # pragma: no cover - `only` is excluded above
            raise ManifestError(["internal: not every shot was planned"], m.path)
        result.output = assemble_video(
            m,
            plans,
            out_path,
            source=source,
            crf=opts.crf,
            fmt=opts.fmt,
            overwrite=opts.overwrite,
            progress=show,
            work=work_dir,
            audio=audio,
            layers=opts.layers,
        )
        from ..video import write_sidecar

        result.sidecar = write_sidecar(out_path, _assembly_record(m, plans, out_path, audio, opts))
    result.seconds = time.perf_counter() - t0
    return result


def _assembly_record(m: Manifest, plans: Sequence[ShotPlan], out_path: Path, audio, opts: RenderOptions) -> dict:
    """The assembled video's sidecar: everything its pixels and sound depend on (so a re-run can tell that the
    output is already this)."""
    return {
        "lvcd_version": __version__,
        "manifest": str(m.path) if m.path else None,
        "inputs": [i.path for i in m.inputs],
        "output": str(out_path),
        "frames": m.frame_count,
        "fps": str(m.fps),
        "size": list(m.size),
        "gaps": [list(g) for g in m.gaps()],
        "audio": str(audio) if audio is not None else None,
        "encode": {"crf": opts.crf, "fmt": opts.fmt},
        "shots": [
            {
                "name": p.shot.name,
                "start": p.shot.start,
                "end": p.shot.end,
                "seed": p.seed,
                "backend": p.backend,
                "key": p.key,
                "colour_drift": stamped_drift(p),
            }
            for p in plans
        ],
    }
