"""SIGTERM is handled like Ctrl-C (message, exit 143, no temporaries); a SIGKILLed run's leftovers are removed by
the next run of the same output (issue 10)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import REPO, colour_reference, lineart_frames, lineart_video, write_png  # noqa: E402


def _start(tmp_path, out):
    src = tmp_path / "line.mp4"
    if not src.exists():
        lineart_video(src, 400)
        write_png(tmp_path / "ref.png", colour_reference(lineart_frames(1)[0]))
    cmd = [
        sys.executable,
        "-m",
        "lvcd",
        "colorize",
        str(src),
        "-r",
        str(tmp_path / "ref.png"),
        "-o",
        str(out),
        "--backend",
        "bucket",
        "--no-drift",
    ]
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def _wait_for_partial(proc, folder: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not _partials(folder):
        assert proc.poll() is None, f"the render ended before it could be signalled: {proc.stderr.read()}"
        assert time.monotonic() < end, "no partial output appeared"
        time.sleep(0.02)


def test_sigterm_exits_143_with_a_message_and_no_leftovers(tmp_path):
    out = tmp_path / "out" / "colour.mp4"
    out.parent.mkdir()
    proc = _start(tmp_path, out)
    _wait_for_partial(proc, out.parent)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "lvcd: terminated (SIGTERM)" in err and "Traceback" not in err
    assert _partials(out.parent) == [] and not out.exists()


def test_next_run_removes_leftovers_of_a_killed_run(tmp_path):
    out = tmp_path / "out" / "colour.mp4"
    out.parent.mkdir()
    proc = _start(tmp_path, out)
    _wait_for_partial(proc, out.parent)
    proc.kill()
    proc.communicate(timeout=60)
    left = _partials(out.parent)
    assert left and all(f"partial-{proc.pid}@" in n for n in left)  # SIGKILL: nothing could clean up
    (out.parent / ".other.mp4.partial-1@elsewhere~x.mp4").write_bytes(b"not ours")  # another output's: kept
    proc = _start(tmp_path, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.exists() and _partials(out.parent) == [".other.mp4.partial-1@elsewhere~x.mp4"]


def test_stale_partials_of_live_runs_are_kept(tmp_path):
    from lvcd.lock import owner_tag
    from lvcd.video.writer import remove_stale_partials

    mine = tmp_path / f".c.mp4.partial-{owner_tag()}~abc.mp4"  # this process is alive
    mine.write_bytes(b"x")
    assert remove_stale_partials(tmp_path / "c.mp4") == [] and mine.exists()


def test_a_progress_bar_half_built_when_the_signal_landed_frees_without_a_traceback(monkeypatch):
    """SIGTERM inside tqdm.__init__ leaves a bar without attributes; freeing it must not print a traceback after
    "lvcd: terminated" (a flaky failure of the test above). Other unraisable errors still reach Python's hook."""
    from tqdm import tqdm

    from lvcd.cli import _drop_half_built_bar_errors

    seen = []
    monkeypatch.setattr(sys, "__unraisablehook__", seen.append)
    monkeypatch.setattr(sys, "unraisablehook", _drop_half_built_bar_errors)
    bar = tqdm.__new__(tqdm)  # what a signal raised inside tqdm.__init__ leaves behind: `disable` set, `pos` not
    bar.disable = False
    del bar
    gc.collect()

    class Other:
        def __del__(self):
            raise AttributeError("not a progress bar")

    other = Other()
    del other
    gc.collect()
    assert [type(u.exc_value) for u in seen] == [AttributeError]
    assert "Other.__del__" in seen[0].object.__qualname__


def _main_running(monkeypatch, run):
    """lvcd.cli.main() with one subcommand whose body is `run(args)`."""
    import argparse

    import lvcd.cli as cli

    def build_parser():
        parser = argparse.ArgumentParser(prog="lvcd")
        parser.set_defaults(command="colorize", _run=run, work=None, input="x.mp4")
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    return cli.main([])


class _SignalledWhileFreed:
    """Sends this process `signum` from its finalizer and keeps running there, so the handler's exception is raised
    inside `__del__` (what a SIGTERM landing while the GC frees a `subprocess.Popen` does)."""

    def __init__(self, signum):
        self.signum = signum

    def __del__(self):
        os.kill(os.getpid(), self.signum)
        for _ in range(100_000):  # the handler runs between these bytecodes
            pass


def test_sigterm_swallowed_by_a_finalizer_still_stops_the_run(monkeypatch, capsys):
    """Python cannot raise out of `__del__`: the flaky CI failure of the test above saw 'Exception ignored in:
    Popen.__del__ ... Terminated', then the render went on to the end and exited 0."""
    finished = []

    def run(args):
        obj = _SignalledWhileFreed(signal.SIGTERM)
        del obj
        end = time.monotonic() + 10
        while time.monotonic() < end:
            time.sleep(0.005)
        finished.append(True)
        return 0

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGALRM), sys.unraisablehook
    assert _main_running(monkeypatch, run) == 143
    assert not finished
    err = capsys.readouterr().err
    assert "lvcd: terminated (SIGTERM)" in err and "Exception ignored" not in err
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGALRM), sys.unraisablehook) == before


def test_other_errors_in_finalizers_still_reach_the_previous_hook(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    class Broken:
        def __del__(self):
            raise OSError("not an interrupt")

    def run(args):
        obj = Broken()
        del obj
        return 0

    assert _main_running(monkeypatch, run) == 0
    assert [type(u.exc_value) for u in seen] == [OSError]
