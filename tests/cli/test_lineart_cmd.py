"""`lvcd lineart`: colour video in, lineart video out with the same frames, fps and size."""

from fractions import Fraction

import numpy as np
from PIL import Image

from lvcd.cli import main
from lvcd.video import open_reader, open_writer, probe


def test_lineart_keeps_frames_fps_and_size(tmp_path):
    src = tmp_path / "colour.mp4"
    with open_writer(src, Fraction(24000, 1001), (97, 65)) as w:
        for i in range(9):
            f = np.full((65, 97, 3), (80, 160, 230), np.uint8)
            f[20:45, 10 + i * 3 : 40 + i * 3] = (230, 60, 40)
            w.write(f)
    out = tmp_path / "line.mp4"
    assert main(["lineart", str(src), "-o", str(out), "--quiet"]) == 0
    info = probe(out)
    assert (info.frame_count, info.fps, info.width, info.height) == (9, Fraction(24000, 1001), 97, 65)
    first = next(iter(open_reader(out)))
    assert np.median(first) > 200  # white paper
    assert first[15:50, 5:45].min() < 100  # a dark line around the red box


def test_learned_extractor_needs_weights(tmp_path, capsys):
    src = tmp_path / "s"
    src.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src / "0.png")
    assert main(["lineart", str(src), "-o", str(tmp_path / "o.mp4"), "--method", "informative-drawings"]) == 2
    assert "--weights" in capsys.readouterr().err
