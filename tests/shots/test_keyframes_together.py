"""Several keyframes used together (issue 11, item 3): a bucket shot with several `references` is rendered as ONE
shot whose frames match against all its keyframes; its key covers every keyframe; `--only <shot>.f<frame>` selects
the whole shot; `colorize_frames(..., keyframes=...)`; `lvcd colorize -r A --reference-frame 0 -r B ...`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from shots_synth import make_clip, write_sequence

from lvcd.api import LVCDError, colorize_frames
from lvcd.shots.manifest import load_manifest
from lvcd.shots.plan import format_plans
from lvcd.shots.render import plan_shots, read_png, render_shots

RED, BLUE, GREEN = (220, 40, 40), (40, 70, 220), (40, 190, 60)


def _flat_key(lineart: np.ndarray, colour) -> np.ndarray:
    """A keyframe painting every enclosed region of `lineart` one flat colour (lines stay black)."""
    out = np.zeros_like(lineart)
    out[lineart[..., 0] > 128] = colour
    return out


def _dominant(frame: np.ndarray) -> tuple[int, int, int]:
    px = frame.reshape(-1, 3)
    px = px[px.max(1) > 60]
    colours, counts = np.unique(px, axis=0, return_counts=True)
    return tuple(int(c) for c in colours[counts.argmax()])


@pytest.fixture
def clip(tmp_path):
    """One 30-frame shot of moving shapes; `manifest({frame: colour})` writes flat keyframes and a manifest."""
    frames, _ = make_clip([dict(kind="shapes", n=30, seed=3)], size=(128, 72))
    write_sequence(frames, tmp_path / "line")
    (tmp_path / "refs").mkdir()

    def manifest(keys: dict[int, tuple], name="shots.yaml") -> Path:
        refs = []
        for f, colour in keys.items():
            p = tmp_path / "refs" / f"{f:04d}.png"
            cv2.imwrite(str(p), cv2.cvtColor(_flat_key(frames[f], colour), cv2.COLOR_RGB2BGR))
            refs.append({"frame": f, "image": f"refs/{p.name}"})
        defaults = {"backend": "bucket", "fmt": "png"}
        data = {
            "input": "line",
            "output": "out",
            "defaults": defaults,
            "shots": [{"name": "clip", "start": 0, "end": 30, "references": refs}],
        }
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return frames, manifest


def test_bucket_plans_one_shot_keyed_by_every_keyframe(clip):
    frames, manifest = clip
    path = manifest({15: BLUE, 0: RED})
    assert [s.name for s in load_manifest(path).shots] == ["clip.f0", "clip.f15"]  # parsing is unchanged
    m, _, plans = plan_shots(path)
    assert [(p.shot.name, p.shot.start, p.shot.end, p.backend) for p in plans] == [("clip", 0, 30, "bucket")]
    assert [f for f, _ in plans[0].shot.keyframes] == [0, 15] and [s.name for s in m.shots] == ["clip"]
    assert [q.name for q in plans[0].passes] == ["forward"]
    assert [k["frame"] for k in plans[0].params["keyframes"]] == [0, 15]
    assert "0+15" in format_plans(plans).splitlines()[1]  # the dry run names every keyframe
    key = plans[0].key
    assert [p.shot.name for p in plan_shots(path, only=["clip.f15"])[2]] == ["clip"]  # a sub-shot's name: all of it
    manifest({15: GREEN, 0: RED})  # another image for the second keyframe: another key
    assert plan_shots(path)[2][0].key != key


def test_batch_renders_the_shot_with_its_keyframes_together(clip):
    frames, manifest = clip
    path = manifest({15: BLUE, 0: RED})
    res = render_shots(path, progress=False)
    assert [(s.name, s.start, s.end, s.status) for s in res.shots] == [("clip", 0, 30, "rendered")]
    out = sorted(res.output.glob("*.png"))
    assert len(out) == 30
    colours = [_dominant(read_png(p)) for p in out]
    assert colours[0] == RED and colours[15] == BLUE  # each keyframe's own frame in its paints
    assert colours[1] == RED and colours[14] == BLUE and colours[29] == BLUE  # the nearest keyframe wins
    conf = res.shots[0].confidence  # per-frame confidence in the stamp, on global frame numbers
    assert conf["frames"] == 30 and len(conf["low_confidence_share"]) == 30
    # the same frames as the API with both keyframes
    red = _flat_key(frames[0], RED)
    api = list(colorize_frames(frames, red, backend="bucket", keyframes=[(15, _flat_key(frames[15], BLUE))]))
    assert all(np.array_equal(read_png(p), a) for p, a in zip(out, api))


def test_first_keyframe_mid_shot_colours_backward_from_it(clip):
    frames, manifest = clip
    res = render_shots(manifest({5: RED, 15: BLUE}), progress=False)
    assert [(s.name, s.start, s.end) for s in res.shots] == [("clip", 0, 30)]
    got = {i: read_png(res.work / "shots" / "clip" / f"{i:06d}.png") for i in range(30)}
    # frames 4..0: the backward pass from keyframe 5 alone (frames 5, 4, ..., 0; its first output dropped)
    bwd = list(colorize_frames(frames[5::-1], _flat_key(frames[5], RED), backend="bucket"))
    assert all(np.array_equal(got[5 - j], f) for j, f in enumerate(bwd) if j)
    assert _dominant(got[5]) == RED and _dominant(got[15]) == BLUE


def test_api_keyframes_errors(clip):
    frames, _ = clip
    red = _flat_key(frames[0], RED)
    with pytest.raises(LVCDError, match=r"keyframes\[1\]: frame 3 already has a keyframe"):
        list(colorize_frames(frames, None, backend="bucket", keyframes=[(3, red), (3, red)]))
    with pytest.raises(LVCDError, match="past the end"):
        list(colorize_frames(frames, red, backend="bucket", keyframes=[(30, red)]))
    with pytest.raises(LVCDError, match="frame index must be an int"):
        list(colorize_frames(frames, red, backend="bucket", keyframes=[(-1, red)]))

    class OneReference:
        name = "diffusion"

    with pytest.raises(LVCDError, match="need the bucket backend"):
        list(colorize_frames(frames, red, backend=OneReference(), keyframes=[(15, red)]))


def test_cli_reference_pairs(clip, tmp_path, capsys, caplog):
    from lvcd.cli import main

    frames, _ = clip
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(a), cv2.cvtColor(_flat_key(frames[0], RED), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(b), cv2.cvtColor(_flat_key(frames[29], BLUE), cv2.COLOR_RGB2BGR))
    line, out = str(tmp_path / "line"), tmp_path / "out"
    assert (
        main(
            [
                "colorize",
                line,
                "-r",
                str(a),
                "--reference-frame",
                "0",
                "-r",
                str(b),
                "--reference-frame",
                "29",
                "-o",
                str(out),
                "--backend",
                "bucket",
            ]
        )
        == 0
    )
    got = sorted(out.glob("frame_*.png"))
    assert len(got) == 30 and _dominant(read_png(got[0])) == RED and _dominant(read_png(got[29])) == BLUE
    err = capsys.readouterr().err + caplog.text  # printed when all frames are confident, else logged
    assert "bucket confidence" in err and "colour drift" not in err
    base = ["colorize", line, "-o", str(tmp_path / "o2"), "--backend", "bucket", "--quiet", "-r", str(a), "-r", str(b)]
    assert main(base + ["--reference-frame", "0"]) == 2
    assert "--reference is given 2 times and --reference-frame 1 times" in capsys.readouterr().err
    assert main(base + ["--reference-frame", "0", "--reference-frame", "external"]) == 2
    assert "--reference-frame external (for --reference" in capsys.readouterr().err
    assert main(base + ["--reference-frame", "3", "--reference-frame", "3"]) == 2
    assert "--reference-frame 3 is given twice" in capsys.readouterr().err
    assert (
        main(
            base[:4]
            + [
                "--backend",
                "diffusion",
                "--quiet",
                "-r",
                str(a),
                "-r",
                str(b),
                "--reference-frame",
                "0",
                "--reference-frame",
                "9",
            ]
        )
        == 2
    )
    assert "used together by the bucket backend only" in capsys.readouterr().err


def test_non_cel_lineart_warps_each_keyframe_over_its_own_stretch():
    """Shaded frames whose extracted lines do not close (warp mode): the second keyframe colours its own frames (here
    painted in swapped channels, so the first keyframe's colours cannot pass for it)."""
    from lvcd.lineart.xdog import extract_lineart

    h, w, n = 72, 120, 6
    yy, xx = np.mgrid[0:h, 0 : w + 4 * n].astype(np.float32)
    world = (
        np.stack(
            [
                128 + 90 * np.sin(xx / 13.0) * np.cos(yy / 19.0),
                120 + 60 * np.cos(xx / 9.0 + yy / 23.0),
                140 + 80 * np.sin((xx + yy) / 27.0),
            ],
            -1,
        )
        .clip(0, 255)
        .astype(np.uint8)
    )
    colour = [np.ascontiguousarray(world[:, 4 * t : 4 * t + w]) for t in range(n)]
    lines = [np.repeat((255 * (1 - extract_lineart(c).strength)).astype(np.uint8)[..., None], 3, 2) for c in colour]
    second = np.ascontiguousarray(colour[4][..., ::-1])
    out = list(colorize_frames(lines, colour[0], backend="bucket", keep_lines=False, keyframes=[(4, second)]))
    assert len(out) == n
    assert cv2.PSNR(out[4], second) > 30 and cv2.PSNR(out[5], colour[5][..., ::-1].copy()) > 18
    assert cv2.PSNR(out[1], colour[1]) > 18 and cv2.PSNR(out[1], colour[1]) > cv2.PSNR(out[1], colour[1][..., ::-1])
