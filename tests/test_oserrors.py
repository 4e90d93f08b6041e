"""OS errors become messages with the path and the fix; a full disk leaves nothing half-written (issue 10)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from safety_clips import lineart_video  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.oserrors import describe, writing  # noqa: E402


def test_describe_names_path_and_fix():
    msg = describe(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out/stats.csv"))
    assert msg.startswith("/data/out/stats.csv: the disk is full") and "free space" in msg
    msg = describe(OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/ro/shots.yaml"))
    assert "/mnt/ro/shots.yaml" in msg and "read-only" in msg and "writable disk" in msg
    assert describe(FileNotFoundError("our own message")) == "our own message"
    with pytest.raises(OSError) as e, writing("/x/y.bin"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert e.value.filename == "/x/y.bin"


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MiB tmpfs filled to the last byte (root only); skipped where mounting is not allowed."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()}); see test_enospc_simulated")
    try:
        with open(mnt / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        try:  # the last partial block
            with open(mnt / "filler2", "wb") as f:
                while True:
                    f.write(b"\0" * 512)
                    f.flush()
        except OSError:
            pass
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_enospc_shots_message_and_nothing_half_written(tmp_path, full_disk, capsys):
    src = lineart_video(tmp_path / "line.mp4", 8)
    out = full_disk / "shots.yaml"
    rc = main(["shots", str(src), "-o", str(out), "--stats", str(full_disk / "stats.csv"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "the disk is full" in err and str(full_disk) in err and "Errno" not in err
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "filler2"]  # no 0-byte stats.csv, no .tmp


def test_enospc_simulated(tmp_path, monkeypatch, capsys):
    """The same path where no tmpfs can be mounted: the write itself raises ENOSPC."""
    import lvcd.outputs as outputs

    src = lineart_video(tmp_path / "line.mp4", 8)
    real_open = open

    def full_open(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        if "w" in mode and ".tmp" in str(path):
            f.close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return f

    monkeypatch.setattr(outputs, "open", full_open, raising=False)
    rc = main(["shots", str(src), "-o", str(tmp_path / "shots.yaml"), "--stats", str(tmp_path / "s.csv"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{tmp_path / 's.csv'}: the disk is full" in err
    assert not (tmp_path / "s.csv").exists() and not list(tmp_path.glob(".*tmp"))
