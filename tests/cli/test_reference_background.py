"""A reference exported with transparent paper: refused with the fix, or flattened with --reference-background."""

from test_colorize_cmd import lineart_frames, write_clip

from lvcd.cli import main


def test_transparent_reference_is_refused_or_flattened_on_request(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from lvcd.video import open_reader

    frames = lineart_frames(4)
    src = write_clip(tmp_path / "in.mp4", frames)
    rgba = np.dstack([frames[0], np.full(frames[0].shape[:2], 255, np.uint8)])
    rgba[frames[0].min(-1) > 128] = (0, 0, 0, 0)  # paper transparent (as exported cels often are)
    rgba[20:40, 30:60] = (200, 40, 40, 255)  # one painted patch
    Image.fromarray(rgba).save(tmp_path / "cel.png")
    args = ["colorize", str(src), "-r", str(tmp_path / "cel.png"), "--backend", "bucket", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "a.mp4")]) == 2
    assert "--reference-background" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "b.mp4"), "--reference-background", "#5a7896"]) == 0
    with open_reader(tmp_path / "b.mp4") as r:
        first = next(iter(r))
    assert (np.abs(first[2, 2].astype(int) - (0x5A, 0x78, 0x96)) <= 6).all()  # paper painted the given colour
    assert main([*args, "-o", str(tmp_path / "c.mp4"), "--reference-background", "mauve"]) == 2
    assert "#rrggbb" in capsys.readouterr().err
