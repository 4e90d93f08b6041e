"""lvcd.outputs and the writer's --overwrite: only what lvcd wrote is replaced; outputs never replace inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from safety_clips import lineart_frames, lineart_video, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.outputs import OutputError, atomic_write_text, check_output, confine, publish_folder, up_to_date  # noqa: E402
from lvcd.video import open_writer, read_image  # noqa: E402


def _write_folder(out: Path, frames, overwrite=False):
    with open_writer(out, 24, (frames[0].shape[1], frames[0].shape[0]), fmt="png", overwrite=overwrite) as w:
        for f in frames:
            w.write(f)


def test_overwrite_folder_keeps_foreign_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work")
    (out / "notes").mkdir()
    (out / "notes" / "n.txt").write_text("more")
    frames = lineart_frames(6)
    _write_folder(out, frames, overwrite=True)
    _write_folder(out, frames[:3], overwrite=True)  # a shorter render: stale frames of the longer one go too
    assert (out / "thesis.txt").read_text() == "years of work" and (out / "notes" / "n.txt").read_text() == "more"
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{i:06d}.png" for i in range(3)]
    assert np.array_equal(read_image(out / "frame_000002.png"), frames[2])


def test_cli_overwrite_folder_keeps_foreign_files(tmp_path):
    src = lineart_video(tmp_path / "line.mp4", 6)
    out = tmp_path / "victim"
    out.mkdir()
    (out / "thesis.txt").write_text("keep me")
    assert main(["lineart", str(src), "-o", str(out), "--overwrite", "--quiet"]) == 0
    assert (out / "thesis.txt").read_text() == "keep me" and len(list(out.glob("frame_*.png"))) == 6


def test_output_equal_to_input_refused(tmp_path, capsys):
    src = lineart_video(tmp_path / "line.mp4", 6)
    before = src.read_bytes()
    assert main(["lineart", str(src), "-o", str(src), "--overwrite", "--quiet"]) == 2
    assert "is an input of this run" in capsys.readouterr().err and src.read_bytes() == before
    ref = write_png(tmp_path / "ref.png", lineart_frames(1)[0])
    assert (
        main(
            [
                "colorize",
                str(src),
                "-r",
                str(ref),
                "-o",
                str(tmp_path / "." / "line.mp4"),
                "--overwrite",
                "--backend",
                "bucket",
                "--quiet",
            ]
        )
        == 2
    )
    assert src.read_bytes() == before


def test_output_over_input_frames_refused(tmp_path):
    seq = tmp_path / "seq"
    for i, f in enumerate(lineart_frames(3)):
        write_png(seq / f"frame_{i:06d}.png", f)
    with pytest.raises(OutputError, match="input"):
        check_output(seq, inputs=[seq])  # the same folder
    with pytest.raises(OutputError, match="into the input folder"):
        check_output(seq / "frame_%06d.png", inputs=[seq])  # a pattern over its frames
    with pytest.raises(OutputError, match="would replace"):
        check_output(tmp_path / "x.mp4", inputs=[tmp_path / "x.mp4.json"])  # the sidecar of the output
    check_output(tmp_path / "colour.mp4", inputs=[seq])  # fine


def test_output_inside_work_folder_refused(tmp_path):
    with pytest.raises(OutputError, match="inside the work folder"):
        check_output(tmp_path / "work" / "out.mp4", work=tmp_path / "work")
    with pytest.raises(OutputError, match="inside the output folder"):
        check_output(tmp_path / "out", work=tmp_path / "out" / "work")
    check_output(tmp_path / "out.mp4", work=tmp_path / "work")


def test_confine(tmp_path):
    base = tmp_path / "project"
    base.mkdir()
    assert confine(base / "out.mp4", base, "output") == base / "out.mp4"
    with pytest.raises(OutputError, match="outside the manifest's folder.*--allow-outside-paths"):
        confine(base / ".." / "victim", base, "output")
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(OutputError):
        confine(base / ".." / "link" / "x.mp4", base, "output")  # through a symlink: still outside
    assert confine(tmp_path / "elsewhere", base, "work", allow_outside=True) == tmp_path / "elsewhere"


def test_atomic_write_and_up_to_date(tmp_path):
    p = atomic_write_text(tmp_path / "a.json", '{"x": 1}')
    assert p.read_text() == '{"x": 1}' and [q.name for q in tmp_path.iterdir()] == ["a.json"]
    out = tmp_path / "v.mp4"
    out.write_bytes(b"video")
    (tmp_path / "v.mp4.json").write_text('{"shots": [{"key": "k1"}], "frames": 3}')
    assert up_to_date(out, {"shots": [{"key": "k1"}], "frames": 3})
    assert not up_to_date(out, {"shots": [{"key": "k2"}], "frames": 3})
    assert not up_to_date(tmp_path / "missing.mp4", {"frames": 3})


def _finished(tmp_path: Path, names: dict) -> Path:
    tmp = tmp_path / ".out.partial-x"
    tmp.mkdir()
    for name, text in names.items():
        (tmp / name).write_text(text)
    return tmp


def test_publish_folder_replaces_only_owned_entries(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    for name, text in {"a.own": "old a", "c.own": "old c", "mine.txt": "user"}.items():
        (dest / name).write_text(text)
    tmp = _finished(tmp_path, {"a.own": "new a", "b.own": "new b"})
    owned = lambda n: n.endswith(".own")  # noqa: E731
    with pytest.raises(FileExistsError, match="a.own, c.own"):  # without overwrite nothing moves
        publish_folder(tmp, dest, owned=owned)
    assert sorted(p.name for p in dest.iterdir()) == ["a.own", "c.own", "mine.txt"] and tmp.is_dir()
    assert publish_folder(tmp, dest, owned=owned, overwrite=True) == dest
    assert {p.name: p.read_text() for p in dest.iterdir()} == {"a.own": "new a", "b.own": "new b", "mine.txt": "user"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the temporary and the old entries are gone


def test_publish_folder_undoes_a_failed_move_and_never_replaces_foreign_files(tmp_path, monkeypatch):
    import os

    import lvcd.outputs as outputs

    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a.own").write_text("old a")
    (dest / "b.txt").write_text("user")
    owned = lambda n: n.endswith(".own")  # noqa: E731
    tmp = _finished(tmp_path, {"a.own": "new a", "b.txt": "not mine to replace"})
    with pytest.raises(FileExistsError, match="b.txt"):
        publish_folder(tmp, dest, owned=owned, overwrite=True)
    assert (dest / "b.txt").read_text() == "user" and (dest / "a.own").read_text() == "old a"
    (tmp / "b.txt").unlink()
    (tmp / "z.own").write_text("new z")
    real = os.replace

    def fail_on_z(src, dst):
        if Path(src).name == "z.own":
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", fail_on_z)
    with pytest.raises(OSError, match="No space"):
        publish_folder(tmp, dest, owned=owned, overwrite=True)
    assert {p.name: p.read_text() for p in dest.iterdir()} == {"a.own": "old a", "b.txt": "user"}
    assert sorted(p.name for p in tmp.iterdir()) == ["a.own", "z.own"] and (tmp / "a.own").read_text() == "new a"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.partial-x", "out"]  # no aside folder left
