"""lvcd.lock: one run per work folder, stale locks of dead runs taken over, other hosts' locks respected."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lvcd.lock import LOCK_NAME, WorkLock, WorkLockedError, pid_alive


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_excludes_a_second_process(tmp_path):
    with WorkLock(tmp_path):
        owner = json.loads((tmp_path / LOCK_NAME).read_text())
        assert owner["pid"] == os.getpid()
        code = (
            "import sys; from lvcd.lock import WorkLock, WorkLockedError\n"
            "try:\n    WorkLock(sys.argv[1]).acquire()\nexcept WorkLockedError as e:\n    print(e); sys.exit(3)"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        assert proc.returncode == 3, proc.stderr
        assert f"pid {os.getpid()}" in proc.stdout and "another --work folder" in proc.stdout
    assert not (tmp_path / LOCK_NAME).exists()


def test_reentrant_in_one_process(tmp_path):
    with WorkLock(tmp_path), WorkLock(tmp_path):
        pass
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_lock_is_taken_over(tmp_path):
    from lvcd.lock import _host

    pid = _dead_pid()
    assert not pid_alive(pid, _host())
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": _host()}))
    with WorkLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_lock_of_another_host_is_respected(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "render-node-7"}))
    with pytest.raises(WorkLockedError, match="render-node-7.*delete .* by hand"):
        WorkLock(tmp_path).acquire()
    assert (tmp_path / LOCK_NAME).exists()


def test_reused_pid_is_not_the_owner(tmp_path):
    from lvcd.lock import _host, process_start

    if process_start(os.getpid()) is None:
        pytest.skip("no /proc here")
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getppid(), "host": _host(), "started": "1"}))
    with WorkLock(tmp_path):  # the parent's start time is not "1": the pid was reused, the lock is stale
        pass
