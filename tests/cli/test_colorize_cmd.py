"""`lvcd colorize` end to end on generated clips (issue 3): exact frame counts, fps, size, audio, sequences, and bad
inputs that teach and leave nothing behind."""

import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvcd.cli import main
from lvcd.video import open_reader, probe

FFMPEG = __import__("imageio_ffmpeg").get_ffmpeg_exe()


def lineart_frames(n, w=96, h=64):
    import cv2

    out = []
    for i in range(n):
        f = np.full((h, w, 3), 255, np.uint8)
        cv2.circle(f, (15 + (i * 2) % (w - 30), h // 2), 10, (0, 0, 0), 2)
        cv2.rectangle(f, (w - 35, 6), (w - 8, 24 + i % 8), (0, 0, 0), 2)
        out.append(f)
    return out


def write_clip(path: Path, frames, fps="25", audio=False):
    h, w = frames[0].shape[:2]
    cmd = [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", fps, "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-shortest", "-c:a", "aac"]
    pad = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"] if (w % 2 or h % 2) else []
    cmd += ["-c:v", "libx264", "-crf", "1", "-pix_fmt", "yuv444p", *([] if not pad else []), str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def reference_for(frames, path: Path):
    ref = frames[0].copy()
    ref[(ref == 255).all(-1)] = (90, 160, 220)
    Image.fromarray(ref).save(path)
    return path


def run(*args):
    return main(["colorize", *map(str, args), "--quiet"])


@pytest.mark.parametrize("n", [1, 2, 13, 14, 15, 16, 24, 25, 26, 100])
def test_diffusion_any_length_gives_exactly_n_frames(tmp_path, tiny_args, n):
    frames = lineart_frames(n)
    src = write_clip(tmp_path / "in.mp4", frames)
    out = tmp_path / "out.mp4"
    assert run(src, "--reference", reference_for(frames, tmp_path / "ref.png"), "-o", out, *tiny_args) == 0
    info = probe(out)
    assert info.frame_count == n and (info.width, info.height) == (96, 64)
    assert sum(1 for _ in open_reader(out)) == n
    assert (tmp_path / "out.mp4.json").is_file()


@pytest.mark.parametrize("fps", ["24000/1001", "25"])
def test_fps_is_preserved_exactly_and_audio_is_kept(tmp_path, fps):
    frames = lineart_frames(30)
    src = write_clip(tmp_path / "in.mp4", frames, fps=fps, audio=True)
    out = tmp_path / "out.mp4"
    assert run(src, "--reference", reference_for(frames, tmp_path / "r.png"), "-o", out, "--backend", "bucket") == 0
    a, b = probe(src), probe(out)
    assert b.fps == Fraction(fps) and b.frame_count == 30
    assert b.has_audio
    assert abs(b.duration - a.duration) <= 1.5 / float(b.fps)


def test_odd_size_is_restored_exactly_with_diffusion(tmp_path, tiny_args):
    frames = lineart_frames(3, w=641, h=359)
    seq = tmp_path / "seq"
    seq.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(seq / f"f_{i + 1}.png")
    out = tmp_path / "out"
    assert (
        run(seq, "--reference", reference_for(frames, tmp_path / "r.png"), "-o", out, "--format", "png", *tiny_args)
        == 0
    )
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    assert all(Image.open(p).size == (641, 359) for p in pngs)


def test_image_sequence_in_and_out_bucket(tmp_path):
    frames = lineart_frames(12)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / f"frame_{i:04d}.png")
    out = tmp_path / "colored" / "c_%04d.png"
    assert (
        run(
            tmp_path / "frame_%04d.png",
            "--reference",
            reference_for(frames, tmp_path / "r.png"),
            "-o",
            out,
            "--backend",
            "bucket",
        )
        == 0
    )
    got = sorted((tmp_path / "colored").glob("c_*.png"))
    assert len(got) == 12
    first = np.asarray(Image.open(got[0]))
    assert (first == (90, 160, 220)).all(-1).mean() > 0.5  # the reference colour was painted


def test_dry_run_prints_the_plan_without_weights(tmp_path, capsys, tiny_pipeline_dir):
    frames = lineart_frames(40)
    src = write_clip(tmp_path / "in.mp4", frames)
    assert (
        main(
            [
                "colorize",
                str(src),
                "-r",
                "x.png",
                "-o",
                str(tmp_path / "o.mp4"),
                "--dry-run",
                "--backend",
                "diffusion",
                "--model",
                str(tiny_pipeline_dir),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "windows of 19 frames" in text and "TFLOP" in text and "GiB" in text
    assert not (tmp_path / "o.mp4").exists()
    assert (
        main(
            [
                "colorize",
                str(src),
                "-r",
                "x.png",
                "-o",
                str(tmp_path / "o.mp4"),
                "--dry-run",
                "--overlap",
                "2",
                "--backend",
                "diffusion",
                "--model",
                str(tiny_pipeline_dir),
            ]
        )
        == 0
    )
    assert "windows of 17 frames (overlap 2" in capsys.readouterr().out  # the real window: 1 + 2 + 14


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--overlap", "20", "--overlap must be between 0 and 13 (got 20)"),
        ("--decode-chunk", "2", "--decode-chunk must be >= 5 (got 2)"),
        ("--crf", "60", "--crf must be between 0 and 51 (got 60)"),
        ("--steps", "0", "--steps must be >= 1 (got 0)"),
    ],
)
def test_bad_option_values_exit_2_before_anything_is_read_or_loaded(
    tmp_path, capsys, monkeypatch, flag, value, needle
):
    from lvcd.backends import diffusion

    def no_loading(*a, **k):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(diffusion, "load_pipeline", no_loading)
    for cmd in (
        ["colorize", str(tmp_path / "in.mp4"), "--reference", "k.png", "-o", str(tmp_path / "o.mp4")],
        ["batch", str(tmp_path / "shots.yaml")],
    ):
        assert main([*cmd, flag, value]) == 2
        err = capsys.readouterr().err
        assert needle in err and "does not exist" not in err  # the option, before the missing input


# ------------------------------------------------------------------------------------------------ bad inputs
def assert_fails(capsys, args, *needles, out=None):
    code = main(["colorize", *map(str, args), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0, err
    for n in needles:
        assert n.lower() in err.lower(), err
    if out is not None:
        parent = Path(out).parent
        assert not Path(out).exists()
        left = [p for p in parent.iterdir() if "partial" in p.name or p.name.startswith(".")]
        assert not left, list(parent.iterdir())
    return err


@pytest.fixture
def clip(tmp_path):
    frames = lineart_frames(6)
    return write_clip(tmp_path / "in.mp4", frames), reference_for(frames, tmp_path / "ref.png")


def test_missing_input(tmp_path, capsys, clip):
    out = tmp_path / "o.mp4"
    assert_fails(capsys, [tmp_path / "nope.mp4", "-r", clip[1], "-o", out], "nope.mp4", out=out)


def test_not_a_video(tmp_path, capsys, clip):
    bad = tmp_path / "bad.mp4"
    bad.write_text("hello")
    out = tmp_path / "o.mp4"
    assert_fails(capsys, [bad, "-r", clip[1], "-o", out], "bad.mp4", out=out)


def test_zero_frames(tmp_path, capsys, clip):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "o.mp4"
    assert_fails(capsys, [empty, "-r", clip[1], "-o", out], "empty", out=out)


def test_truncated_file(tmp_path, capsys):
    frames = lineart_frames(60)
    src = write_clip(tmp_path / "full.mp4", frames)
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "o.mp4"
    ref = reference_for(frames, tmp_path / "r.png")
    assert_fails(capsys, [cut, "-r", ref, "-o", out, "--backend", "bucket"], "cut.mp4", out=out)


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing", "does not exist"),
        ("unreadable", "not a readable image"),
        ("rgba", "transparent"),
        ("gray", "grayscale"),
        ("aspect", "aspect"),
    ],
)
def test_bad_reference(tmp_path, capsys, clip, kind, needle):
    ref = tmp_path / f"{kind}.png"
    if kind == "unreadable":
        ref.write_text("x")
    elif kind == "rgba":
        Image.fromarray(np.zeros((64, 96, 4), np.uint8)).save(ref)
    elif kind == "gray":  # the lineart passed as the reference
        Image.fromarray(lineart_frames(1)[0]).save(ref)
    elif kind == "aspect":
        Image.fromarray(np.dstack([np.full((64, 200), c, np.uint8) for c in (10, 200, 30)])).save(ref)
    out = tmp_path / "o.mp4"
    assert_fails(capsys, [clip[0], "-r", ref, "-o", out, "--backend", "bucket"], needle, ref.name, out=out)


def test_output_exists_without_overwrite(tmp_path, capsys, clip):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    assert_fails(capsys, [clip[0], "-r", clip[1], "-o", out, "--backend", "bucket"], "--overwrite")
    assert out.read_bytes() == b"keep me"
    assert run(clip[0], "-r", clip[1], "-o", out, "--backend", "bucket", "--overwrite") == 0
    assert probe(out).frame_count == 6


def test_unwritable_output_directory(tmp_path, capsys, clip):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): permissions are not enforced")
        assert_fails(capsys, [clip[0], "-r", clip[1], "-o", ro / "o.mp4", "--backend", "bucket"], str(ro))
    finally:
        ro.chmod(0o700)


def test_output_under_a_file_is_refused(tmp_path, capsys, clip):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert_fails(capsys, [clip[0], "-r", clip[1], "-o", blocker / "o.mp4", "--backend", "bucket"], "afile")


def test_unknown_extension(tmp_path, capsys, clip):
    out = tmp_path / "o.xyz"
    assert_fails(capsys, [clip[0], "-r", clip[1], "-o", out, "--backend", "bucket"], ".xyz", out=out)


def test_variable_frame_rate_keeps_every_frame_and_its_time(tmp_path, capsys, caplog):
    import av

    frames = lineart_frames(20)
    src = tmp_path / "vfr.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.time_base = Fraction(1, 1000)
        t = 0
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            t += 40 if i % 2 else 80
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    ref = reference_for(frames, tmp_path / "r.png")
    out = tmp_path / "o.mp4"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        code = run(src, "-r", ref, "-o", out, "--backend", "bucket")
    err = capsys.readouterr().err
    assert code == 0
    said = [str(x.message) for x in w] + [r.getMessage() for r in caplog.records] + [err]
    assert any("variable frame rate" in m for m in said), said
    back = probe(out)  # issue 10: no drawing dropped or doubled; the output carries the input's timing
    assert back.frame_count == 20 and back.is_vfr and back.timestamps == probe(src).timestamps


def test_subprocess_exit_status_and_message(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lvcd",
            "colorize",
            str(tmp_path / "missing.mp4"),
            "-r",
            "r.png",
            "-o",
            str(tmp_path / "o.mp4"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "missing.mp4" in r.stderr and "Traceback" not in r.stderr


def test_colorize_a_shot_manifest_renders_every_shot_from_its_keyframe(tmp_path, capsys):
    """The README's main job: the bundled two-shot sample through `lvcd colorize shots.yaml`."""
    from lvcd.api import __file__ as api_file

    manifest = Path(api_file).parent / "data" / "sample" / "shots.yaml"
    out = tmp_path / "sample"
    assert (
        main(
            ["colorize", str(manifest), "--work", str(tmp_path / "work"), "-o", str(out), "--format", "png", "--quiet"]
        )
        == 0
    )
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 48
    gt = Path(api_file).parent / "data" / "sample" / "gt"
    for k in (10, 35):  # one frame of each shot: painted from that shot's own keyframe
        a, b = np.asarray(Image.open(pngs[k]).convert("RGB")), np.asarray(Image.open(sorted(gt.glob("*.png"))[k]))
        assert (a == b[..., :3]).all(-1).mean() > 0.9
    assert main(["colorize", str(manifest), "-r", "x.png", "-o", str(tmp_path / "o.mp4")]) == 2
    assert "drop --reference" in capsys.readouterr().err
