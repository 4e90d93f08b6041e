"""`lvcd colorize --extra-reference IMAGE [--extra-reference-mask M] [--extra-target-mask T]` (issue 15)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_colorize_cmd import lineart_frames, reference_for

from lvcd.cli import main

N = 6


def _sequence(folder: Path, frames) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{i:04d}.png")
    return folder / "frame_%04d.png"


@pytest.fixture
def clip(tmp_path):
    frames = lineart_frames(N)
    src = _sequence(tmp_path / "line", frames)
    ref = reference_for(frames, tmp_path / "ref.png")
    sheet = frames[3].copy()
    sheet[(sheet == 255).all(-1)] = (40, 200, 60)
    Image.fromarray(sheet).save(tmp_path / "sheet.png")
    left = np.zeros(frames[0].shape[:2], np.uint8)
    left[:, : left.shape[1] // 2] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    return tmp_path, src, ref


def test_extra_references_with_masks_render_every_frame(clip):
    tmp, src, ref = clip
    out = tmp / "out" / "c_%04d.png"
    assert (
        main(
            [
                "colorize",
                str(src),
                "-r",
                str(ref),
                "-o",
                str(out),
                "--backend",
                "bucket",
                "--quiet",
                "--extra-reference",
                str(tmp / "sheet.png"),
                "--extra-target-mask",
                str(tmp / "left.png"),
                "--extra-reference",
                str(tmp / "sheet.png"),
                "--extra-reference-mask",
                "-",
                "--extra-reference-mask",
                str(tmp / "left.png"),
            ]
        )
        == 0
    )
    assert len(list((tmp / "out").glob("c_*.png"))) == N


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--extra-reference-mask", "m.png"],
            "--extra-reference-mask is given 1 time(s) but --extra-reference only 0",
        ),
        (["--extra-reference", "missing.png"], "--extra-reference missing.png: no such file"),
        (
            ["--extra-reference", "{tmp}/sheet.png", "--extra-target-mask", "{tmp}/line"],  # 6 masks: fine
            None,
        ),
        (
            ["--extra-reference", "{tmp}/sheet.png", "--extra-target-mask", "{tmp}/three"],
            "--extra-reference #1: `extra_references[0].target_mask`",
        ),
        (
            ["--extra-reference", "{tmp}/sheet.png", "--extra-reference-mask", "{tmp}/small.png"],
            "`extra_references[0].mask`",
        ),
    ],
)
def test_flag_errors_exit_2_naming_the_flag(clip, capsys, args, needle):
    tmp, src, ref = clip
    _sequence(tmp / "three", lineart_frames(3))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp / "small.png")
    args = [a.format(tmp=tmp) for a in args]
    rc = main(
        [
            "colorize",
            str(src),
            "-r",
            str(ref),
            "-o",
            str(tmp / "o" / "c_%04d.png"),
            "--backend",
            "bucket",
            "--quiet",
            *args,
        ]
    )
    if needle is None:
        assert rc == 0 and len(list((tmp / "o").glob("c_*.png"))) == N
        return
    assert rc == 2 and needle in capsys.readouterr().err
    assert not (tmp / "o").exists()


def test_dry_run_counts_k_and_refuses_when_k_does_not_fit(clip, capsys, monkeypatch, tiny_pipeline_dir):
    from lvcd import preflight

    tmp, src, ref = clip
    base = [
        "colorize",
        str(src),
        "-r",
        str(ref),
        "-o",
        str(tmp / "o.mp4"),
        "--dry-run",
        "--backend",
        "diffusion",
        "--model",
        str(tiny_pipeline_dir),
        "--device",
        "cuda",
        "--size",
        "128x64",
    ]
    monkeypatch.setattr(preflight, "cuda_free_memory", lambda device="cuda": None)  # no GPU to compare with
    assert main(base) == 0
    plain = capsys.readouterr().out
    extra = ["--extra-reference", str(tmp / "sheet.png")] * 2
    assert main(base + extra) == 0
    text = capsys.readouterr().out
    assert "3 references used together" in text and "3 references" not in plain

    def gib(out):  # predicted peak, float32 with every network resident
        return float(out.split("float32:")[1].split()[0])

    assert gib(text) > gib(plain)
    # a GPU with room for the render and one extra reference, not two
    cost = preflight.model_cost(64, 128, tiny_pipeline_dir, extra_references=True)
    room = preflight.peak_bytes(cost, preflight.torch.bfloat16, 1)["none"] + preflight.SAFETY_MARGIN_BYTES
    monkeypatch.setattr(preflight, "cuda_free_memory", lambda device="cuda": (int(room), 80 * preflight.GIB))
    assert main(base + extra) == 2
    err = capsys.readouterr().err
    assert "not enough GPU memory for 3 references" in err and "at most 1 extra reference(s) fit" in err
