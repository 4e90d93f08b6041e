"""Batch rendering: passes around a mid-shot reference, external references, resume, equality with `lvcd colorize`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lvcd.api import ColorizeOptions, colorize_frames, make_backend
from lvcd.shots.manifest import load_manifest
from lvcd.shots.render import EpisodeSource, plan_passes, plan_shots, read_png, render_shots
from lvcd.shots.shot import Shot, shot_seed


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _bucket():
    return make_backend(ColorizeOptions(backend="bucket"))[0]


def _shot_frames(work: Path, name: str) -> dict[int, np.ndarray]:
    return {int(p.stem): read_png(p) for p in sorted((work / "shots" / name).glob("*.png"))}


@pytest.mark.parametrize("start,end,k", [(0, 1, 0), (0, 10, 0), (10, 22, 16), (10, 22, 21), (5, 9, None)])
def test_passes_output_every_frame_once(start, end, k):
    shot = Shot("s", start, end, Path("r.png"), k)
    produced = [g for p in plan_passes(shot) for g in p.outputs() if g is not None]
    assert sorted(produced) == list(range(start, end)) and len(produced) == end - start
    for p in plan_passes(shot):
        assert p.num_frames == len(p.outputs())


def test_backward_pass_starts_at_the_reference_frame():
    fwd, bwd = plan_passes(Shot("s", 10, 22, Path("r.png"), 16))
    assert list(fwd.frames) == list(range(16, 22)) and fwd.outputs() == list(range(16, 22))
    assert list(bwd.frames) == [16, 15, 14, 13, 12, 11, 10] and bwd.outputs() == [None, 15, 14, 13, 12, 11, 10]


def test_reversed_reads_in_chunks(episode):
    src = EpisodeSource(load_manifest(episode.manifest()))
    for chunk in (1, 3, 64):
        got = list(src.read_reversed(3, 11, chunk=chunk))
        assert len(got) == 8
        assert all(np.array_equal(g, episode.frames[i]) for g, i in zip(got, range(10, 2, -1), strict=True))


def test_reference_in_the_middle_of_a_shot(episode):
    path = episode.manifest()
    res = render_shots(path, only=["b"])
    assert [s.status for s in res.shots] == ["rendered"] and res.output is None
    frames = _shot_frames(res.work, "b")
    assert sorted(frames) == list(range(10, 22))  # total count exact: 12 frames, none duplicated or missing
    ref = _rgb(episode.root / "refs" / "0016.png")
    seed = shot_seed(1234, "b")
    fwd = list(colorize_frames(episode.frames[16:22], ref, backend=_bucket(), seed=seed))
    bwd = list(colorize_frames(episode.frames[16:9:-1], ref, backend=_bucket(), seed=seed))
    for i, f in zip(range(16, 22), fwd, strict=True):
        assert np.array_equal(frames[i], f)
    for i, f in zip(range(16, 9, -1), bwd, strict=True):
        if i != 16:  # the reference frame comes from the forward pass
            assert np.array_equal(frames[i], f), i
    assert np.array_equal(frames[16], fwd[0])


@pytest.mark.parametrize("lineart", ["frame", "xdog", "image"])
def test_external_reference(episode, lineart):
    shot = {"name": "ext", "start": 22, "end": 30, "reference": episode.ref(0), "reference_frame": "external"}
    if lineart == "frame":
        shot["reference_lineart"] = 0
    elif lineart == "image":
        cv2.imwrite(str(episode.root / "refs" / "lines0.png"), cv2.cvtColor(episode.frames[0], cv2.COLOR_RGB2BGR))
        shot["reference_lineart"] = "refs/lines0.png"
    res = render_shots(episode.manifest([shot]), assemble=False)
    frames = _shot_frames(res.work, "ext")
    assert sorted(frames) == list(range(22, 30))
    if lineart != "xdog":  # the reference's own lineart prepended as frame 0, its output dropped
        ref = _rgb(episode.root / "refs" / "0000.png")
        expect = list(
            colorize_frames(
                [episode.frames[0], *episode.frames[22:30]], ref, backend=_bucket(), polarity="black-on-white"
            )
        )[1:]
        assert all(np.array_equal(frames[22 + i], e) for i, e in enumerate(expect))


def test_resume_skips_done_shots_and_rerenders_changed_ones(episode):
    path = episode.manifest()
    first = render_shots(path)
    assert [s.status for s in first.shots] == ["rendered"] * 3
    out = sorted(first.output.iterdir()) if first.output.is_dir() else []
    assert len([p for p in out if p.suffix == ".png"]) == 30
    before = {p.name: p.read_bytes() for p in out}
    second = render_shots(path, overwrite=True)
    assert [s.status for s in second.shots] == ["up to date"] * 3
    assert {p.name: p.read_bytes() for p in sorted(second.output.iterdir())} == before
    # a new keyframe for shot c: only c re-renders
    cv2.imwrite(str(episode.root / "refs" / "0022.png"), np.full((72, 128, 3), (40, 200, 90), np.uint8))
    third = render_shots(path, overwrite=True)
    assert [s.status for s in third.shots] == ["up to date", "up to date", "rendered"]
    # an option that changes pixels re-renders everything; one that does not (crf) does not
    assert [s.status for s in render_shots(path, overwrite=True, crf=30).shots] == ["up to date"] * 3
    assert [s.status for s in render_shots(path, overwrite=True, keep_lines=True).shots] == ["rendered"] * 3


def test_partial_state_resumes(episode):
    path = episode.manifest()
    plans = plan_shots(path)[2]
    # a run killed after b's forward pass: state folder with the key and the forward marker, some frames written
    render_shots(path, only=["b"])
    b = next(p for p in plans if p.shot.name == "b")
    stamp = json.loads(b.stamp.read_text())
    b.stamp.unlink()
    b.state.mkdir()
    (b.state / "key").write_text(stamp["key"])
    (b.state / "forward.done").write_text("")
    for f in list(b.folder.glob("*.png"))[:3]:
        f.unlink()
    (b.folder / ".000011.png.tmp").write_bytes(b"half a png")
    plans = plan_shots(path, only=["b"])[2]
    assert plans[0].status == "partial"
    again = render_shots(path, only=["b"])
    assert again.shots[0].status == "resumed" and not (b.folder / ".000011.png.tmp").exists()
    assert len(list(b.folder.glob("*.png"))) == 12 and not b.state.exists()


def test_gaps_are_assembled_as_lineart(episode):
    shots = episode.default_shots()[:1] + episode.default_shots()[2:]  # frames 10-21 in no shot
    res = render_shots(episode.manifest(shots))
    out = sorted(res.output.glob("*.png"))
    assert len(out) == 30
    assert np.array_equal(_rgb(out[15]), episode.frames[15])
    assert np.array_equal(_rgb(out[3]), _shot_frames(res.work, "a")[3])


def test_manifest_render_equals_colorize_one_by_one(episode, tmp_path):
    """Each shot rendered by `lvcd batch` equals the same shot cut out and coloured by `lvcd colorize`."""
    from lvcd.cli import main

    path = episode.manifest(
        [
            {"name": "a", "start": 0, "end": 10, "reference": episode.ref(0)},
            {"name": "b", "start": 10, "end": 22, "reference": episode.ref(10)},
            {"name": "c", "start": 22, "end": 30, "reference": episode.ref(22)},
        ]
    )
    res = render_shots(path, assemble=False)
    from shots_synth import write_sequence

    for s in res.shots:
        clip = write_sequence(episode.frames[s.start : s.end], tmp_path / "cut" / s.name)
        out = tmp_path / "single" / s.name
        rc = main(
            [
                "colorize",
                str(clip),
                "--reference",
                str(episode.root / "refs" / f"{s.start:04d}.png"),
                "-o",
                str(out),
                "--backend",
                "bucket",
                "--format",
                "png",
                "--seed",
                str(s.seed),
                "--quiet",
            ]
        )
        assert rc == 0
        single = [_rgb(p) for p in sorted(Path(out).glob("*.png"))]
        batch = _shot_frames(res.work, s.name)
        assert len(single) == s.end - s.start == len(batch)
        assert all(np.array_equal(a, batch[s.start + i]) for i, a in enumerate(single)), s.name


def test_overrides_validated_and_only_names_checked(episode):
    path = episode.manifest()
    with pytest.raises(TypeError, match="did you mean `steps`"):
        render_shots(path, stepz=3)
    with pytest.raises(ValueError, match="no shot named 'd'"):
        render_shots(path, only=["d"])


def test_seeds_derive_from_manifest_seed_and_name(episode):
    shots = episode.default_shots()
    shots[2]["options"] = {"seed": 99}
    path = episode.manifest(shots, defaults={"backend": "bucket", "seed": 7})
    _, _, plans = plan_shots(path)
    assert [p.seed for p in plans] == [shot_seed(7, "a"), shot_seed(7, "b"), 99]
    _, _, plans = plan_shots(path, seed=8)  # an override re-derives every shot, the explicit one too
    assert [p.seed for p in plans] == [shot_seed(8, "a"), shot_seed(8, "b"), shot_seed(8, "c")]
    assert list(itertools.chain.from_iterable([p.options.seed] for p in plans)) == [p.seed for p in plans]


def test_video_input_keeps_its_audio_and_reads_backwards_exactly(tmp_path):
    """An H.264 input with sound: the backward pass seeks the video in chunks; the assembled video has every frame
    and the input's audio."""
    import subprocess
    from fractions import Fraction

    import yaml
    from shots_synth import colour_reference, make_clip

    from lvcd.video import open_writer, probe, read_frames
    from lvcd.video._ffmpeg import ffmpeg_exe

    frames, _ = make_clip([{"kind": "shapes", "n": 20, "seed": 1}, {"kind": "twos", "n": 16, "seed": 4}], (128, 72))
    silent = tmp_path / "silent.mp4"
    with open_writer(silent, Fraction(24), (128, 72)) as w:
        for f in frames:
            w.write(f)
    clip = tmp_path / "line.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(silent),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-shortest",
            str(clip),
        ],
        check=True,
    )
    assert probe(clip).has_audio
    decoded = list(read_frames(clip))
    for k in (5, 27):
        ref = colour_reference(decoded[k], seed=k)
        cv2.imwrite(str(tmp_path / f"ref{k}.png"), cv2.cvtColor(ref, cv2.COLOR_RGB2BGR))
    (tmp_path / "shots.yaml").write_text(
        yaml.safe_dump(
            {
                "input": "line.mp4",
                "output": "out.mp4",
                "defaults": {"backend": "bucket"},
                "shots": [
                    {"name": "a", "start": 0, "end": 20, "reference": "ref5.png", "reference_frame": 5},
                    {"name": "b", "start": 20, "end": 36, "reference": "ref27.png", "reference_frame": 27},
                ],
            }
        )
    )
    res = render_shots(tmp_path / "shots.yaml", progress=False)
    info = probe(res.output)
    assert info.frame_count == 36 and info.has_audio and info.fps == 24
    # the backward pass (frames 27..20, read backwards in chunks) saw exactly the frames a forward read sees
    ref = _rgb(tmp_path / "ref27.png")
    bwd = list(colorize_frames(decoded[27:19:-1], ref, backend=_bucket(), seed=shot_seed(1234, "b")))
    got = _shot_frames(res.work, "b")
    assert all(np.array_equal(got[27 - i], f) for i, f in enumerate(bwd) if i)


def test_shots_share_one_loaded_backend(episode):
    """One loaded backend for every shot with the same load options (per-shot seed/steps go per call)."""
    from lvcd.shots.render import _Backends

    shots = episode.default_shots()
    shots[1]["options"] = {"steps": 3}
    plans = plan_shots(episode.manifest(shots))[2]
    backends = _Backends()
    got = [backends.get(p) for p in plans]
    assert len(backends.loaded) == 1 and got[0] is got[1] is got[2]
