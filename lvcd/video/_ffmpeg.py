"""The ffmpeg binary: where it is, how it is started, how its failures are reported.

We own every subprocess we start: argument lists (never a shell), `-nostdin` (ffmpeg otherwise reads the terminal),
stderr to a temporary file (a pipe nobody drains can deadlock the encoder) whose tail goes into our errors, and a kill
on close. The binary is the one imageio-ffmpeg ships (it honours `IMAGEIO_FFMPEG_EXE`), else `ffmpeg` on PATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from typing import IO

from .errors import VideoWriteError

F_SETPIPE_SZ = 1031  # Linux fcntl: grow a pipe so one 576x320 RGB frame fits in one write (fewer context switches)
PIPE_SIZE = 1 << 20  # the default /proc/sys/fs/pipe-max-size
STDERR_TAIL_LINES = 15


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (imageio-ffmpeg's, honouring `IMAGEIO_FFMPEG_EXE`; else PATH)."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        exe = shutil.which("ffmpeg")
        if exe:
            return exe
    raise FileNotFoundError(
        "ffmpeg was not found: install the `imageio-ffmpeg` package (`pip install imageio-ffmpeg`, it ships a "
        "binary) or put ffmpeg on PATH, or set IMAGEIO_FFMPEG_EXE to its path."
    )


def base_args() -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]


def tail(text: str | bytes, lines: int = STDERR_TAIL_LINES) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    kept = [ln for ln in text.strip().splitlines() if ln.strip()][-lines:]
    return "\n".join("    " + ln for ln in kept) if kept else "    (ffmpeg printed nothing)"


def read_tail(f: IO[bytes]) -> str:
    f.seek(0)
    return tail(f.read()[-16384:])


def grow_pipe(fileobj) -> None:
    """Best effort: enlarge a pipe's kernel buffer (Linux only; harmless elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import fcntl

        fcntl.fcntl(fileobj.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
    except (OSError, ValueError, ImportError):
        pass


def run(args: list[str], *, what: str) -> None:
    """Run ffmpeg to completion (`args` after the common flags); raise `VideoWriteError` with its stderr tail."""
    proc = subprocess.run(
        base_args() + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    if proc.returncode != 0:
        raise VideoWriteError(f"{what} failed (ffmpeg exit status {proc.returncode}):\n{tail(proc.stderr)}")


def spawn(args: list[str], stderr: IO[bytes]) -> subprocess.Popen:
    """Start ffmpeg reading frames from our pipe. It gets its own session, so a Ctrl-C in the terminal reaches only
    Python, which then decides what happens to the half-written file (see `FrameWriter.abort`)."""
    proc = subprocess.Popen(
        base_args() + args,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=os.name == "posix",
    )
    grow_pipe(proc.stdin)
    return proc


def kill(proc: subprocess.Popen | None) -> None:
    """Stop a process we started and reap it (no zombies, no orphan encoder writing on)."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.kill()
    try:
        if proc.stdin:
            proc.stdin.close()
    except OSError:  # BrokenPipeError flushing what the dead process never read
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a killed process that does not die
        pass
