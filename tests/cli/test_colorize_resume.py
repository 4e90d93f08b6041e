"""`lvcd colorize VIDEO --work DIR`: a diffusion render interrupted mid-video resumes from its window checkpoints
and writes the same video as an uninterrupted run; finished checkpoints are removed."""

import pytest
from test_colorize_cmd import lineart_frames, reference_for, write_clip

from lvcd import api
from lvcd.cli import main
from lvcd.pipelines import LVCDPipeline
from lvcd.pipelines.tiny import SHORT_OVERLAP
from lvcd.video import open_reader


def count_calls(monkeypatch, fail_at=None):
    calls = {"n": 0}
    orig = LVCDPipeline._denoise

    def denoise(self, *a, **k):
        calls["n"] += 1
        if fail_at is not None and calls["n"] == fail_at:
            raise RuntimeError("power cut")
        return orig(self, *a, **k)

    monkeypatch.setattr(LVCDPipeline, "_denoise", denoise)
    return calls


def frames_of(path):
    with open_reader(path) as r:
        return [f.copy() for f in r]


def test_interrupted_render_resumes_to_the_same_video(tmp_path, tiny_args_short, monkeypatch):
    tiny_args = tiny_args_short
    frames = lineart_frames(11)  # short windows: frames 1-4, 5-7, 8-10: 3 windows
    src = write_clip(tmp_path / "in.mp4", frames)
    ref = reference_for(frames, tmp_path / "r.png")
    opts = dict(backend="diffusion", model=tiny_args[3], steps=1, size=(64, 64), overlap=SHORT_OVERLAP, quiet=True)

    calls = count_calls(monkeypatch)
    api.colorize_video(src, ref, tmp_path / "straight.mp4", **opts)
    assert calls["n"] == 3

    work = tmp_path / "work"
    monkeypatch.undo()
    count_calls(monkeypatch, fail_at=3)
    with pytest.raises(RuntimeError, match="power cut"):
        api.colorize_video(src, ref, tmp_path / "out.mp4", work=work, **opts)
    assert not (tmp_path / "out.mp4").exists()
    assert len(list((work / "colorize").glob("*/seg_*.safetensors"))) == 2  # two windows were finished

    monkeypatch.undo()
    calls = count_calls(monkeypatch)
    assert (
        main(
            [
                "colorize",
                str(src),
                "-r",
                str(ref),
                "-o",
                str(tmp_path / "out.mp4"),
                "--work",
                str(work),
                *tiny_args,
                "--quiet",
            ]
        )
        == 0
    )
    assert calls["n"] == 1  # only the unfinished window was sampled
    resumed, straight = frames_of(tmp_path / "out.mp4"), frames_of(tmp_path / "straight.mp4")
    assert len(resumed) == len(straight) == 11
    assert all((a == b).all() for a, b in zip(resumed, straight))
    assert not list((work / "colorize").iterdir())  # checkpoints removed once the output is written


def test_changed_options_do_not_reuse_checkpoints(tmp_path, tiny_args_short, monkeypatch):
    tiny_args = tiny_args_short
    frames = lineart_frames(11)  # 3 short windows
    src = write_clip(tmp_path / "in.mp4", frames)
    ref = reference_for(frames, tmp_path / "r.png")
    opts = dict(backend="diffusion", model=tiny_args[3], steps=1, size=(64, 64), overlap=SHORT_OVERLAP, quiet=True)
    work = tmp_path / "work"
    count_calls(monkeypatch, fail_at=3)
    with pytest.raises(RuntimeError):
        api.colorize_video(src, ref, tmp_path / "out.mp4", work=work, **opts)
    monkeypatch.undo()
    calls = count_calls(monkeypatch)
    api.colorize_video(src, ref, tmp_path / "out.mp4", work=work, **{**opts, "seed": 7})
    assert calls["n"] == 3  # another seed: nothing reused


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["colorize", "in.mp4", "-r", "r.png", "-o", "o.mp4", "--work", "w"],
            "resume from the window checkpoints in w",
        ),
        (["colorize", "in.mp4", "-r", "r.png", "-o", "o.mp4"], "add --work DIR"),
        (["colorize", "shots.yaml", "-o", "o.mp4"], "finished shots are kept"),
        (["batch", "shots.yaml"], "finished shots are kept"),
    ],
)
def test_ctrl_c_says_how_to_go_on(monkeypatch, capsys, argv, needle):
    import lvcd.cli.batch_cmd as batch_cmd
    import lvcd.cli.colorize_cmd as colorize_cmd

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(colorize_cmd, "run", interrupted)
    monkeypatch.setattr(batch_cmd, "run", interrupted)
    assert main(argv) == 130
    assert needle in capsys.readouterr().err


def test_a_writer_failure_mid_render_leaves_nothing_and_stops_the_threads(tmp_path, tiny_args, monkeypatch):
    import threading

    from lvcd.video import writer as writer_mod

    frames = lineart_frames(30)
    src = write_clip(tmp_path / "in.mp4", frames)
    ref = reference_for(frames, tmp_path / "r.png")
    calls = {"n": 0}
    orig = writer_mod.FrameWriter.write

    def write(self, frame):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("No space left on device")
        return orig(self, frame)

    monkeypatch.setattr(writer_mod.FrameWriter, "write", write)
    with pytest.raises(OSError, match="No space left"):
        api.colorize_video(
            src, ref, tmp_path / "out.mp4", backend="diffusion", model=tiny_args[3], steps=1, size=(64, 64), quiet=True
        )
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("out", ".out", ".partial"))]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("lvcd-")]
