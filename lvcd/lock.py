"""A lock on a work folder: `with WorkLock(folder): ...` so two lvcd runs never share one work folder at once.

The lock is a file `<folder>/.lvcd.lock` created with O_EXCL; it holds the owner's pid, host, process start time and
command line as JSON. A second run finds it and refuses with a message naming the owner (`WorkLockedError`). A lock
left by a run that died (SIGKILL, power loss) is *stale*: its host is this host and its pid is gone (or now belongs
to a process started at another time); it is taken over, atomically (the stale file is renamed away first, so two
runs breaking it at once cannot both win). A lock from another host is never broken automatically: the message says
how to remove it by hand once that run is known to be gone.

`pid_alive(pid, host, started)` is shared with the writers' leftover cleanup (`lvcd.video.writer`), which uses the
pid and host embedded in temporary names in the same way. Nothing here imports the rest of lvcd.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

__all__ = ["LOCK_NAME", "WorkLock", "WorkLockedError", "owner_tag", "pid_alive", "process_start"]

LOCK_NAME = ".lvcd.lock"


class WorkLockedError(RuntimeError):
    """The work folder is held by another live lvcd run (or by one on another host)."""


def _host() -> str:
    return socket.gethostname() or "localhost"


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot, from /proc), or None where /proc has none. Tells a
    live owner from an unrelated process that later got the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state is field 3, starttime field 22
    return fields[19] if len(fields) > 19 else None


def _host_tag(host: str | None = None) -> str:
    """The host name as it can appear inside a file name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in (host or _host()))


def pid_alive(pid: int, host: str | None = None, started: str | None = None) -> bool:
    """True unless we can tell that process `pid` on `host` is gone. Another host: assumed alive (we cannot look)."""
    if host is not None and host not in (_host(), _host_tag()):
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    if started is not None:
        now = process_start(pid)
        if now is not None and now != started:
            return False  # the pid was reused by a newer process
    return True


def owner_tag() -> str:
    """`<pid>@<host>`: embedded in temporary file names so a later run can tell whose leftovers they are."""
    return f"{os.getpid()}@{_host_tag()}"


class WorkLock:
    """Exclusive use of `folder` by this process. Re-entrant within the process (a nested acquire is a no-op)."""

    _held: dict[str, int] = {}  # resolved lock path -> nesting depth, for this process

    def __init__(self, folder: str | os.PathLike, what: str = "work folder"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what

    def _info(self) -> dict:
        return {
            "pid": os.getpid(),
            "host": _host(),
            "started": process_start(os.getpid()),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv)[:300],
        }

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable / half-written: treated as stale only if old, see acquire()

    def acquire(self) -> WorkLock:
        key = str(self.path.resolve())
        if self._held.get(key):
            self._held[key] += 1
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = self._read()
                if owner is None:
                    continue  # released between our open and our read: try again
                if not self._stale(owner):
                    raise WorkLockedError(self._busy_message(owner)) from None
                self._break()
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._info(), f)
            self._held[key] = 1
            return self
        raise WorkLockedError(
            f"could not lock the {self.what} {self.folder}: its lock file {self.path} keeps "
            "changing; is another lvcd run starting at the same time? Try again."
        )

    def _stale(self, owner: dict) -> bool:
        if not owner:  # unreadable: a crash while writing it; stale once it is a minute old
            try:
                return time.time() - self.path.stat().st_mtime > 60
            except FileNotFoundError:
                return True
        try:
            pid = int(owner.get("pid", -1))
        except (TypeError, ValueError):
            return True
        return not pid_alive(pid, owner.get("host"), owner.get("started"))

    def _break(self) -> None:
        aside = self.path.with_name(f"{LOCK_NAME}.stale-{owner_tag()}")
        try:
            os.replace(self.path, aside)  # atomic: of two runs breaking the same stale lock, one renames it
        except FileNotFoundError:
            return
        aside.unlink(missing_ok=True)

    def _busy_message(self, owner: dict) -> str:
        who = f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}"
        since = f" since {owner['since']}" if owner.get("since") else ""
        cmd = f" ({owner['command']})" if owner.get("command") else ""
        fix = (
            "wait for it to finish, or use another --work folder"
            if owner.get("host") in (None, _host())
            else f"if that run is gone, delete {self.path} by hand"
        )
        return (
            f"the {self.what} {self.folder} is in use by another lvcd run: {who}{since}{cmd}. Two runs on one "
            f"{self.what} would overwrite each other's files; {fix}."
        )

    def release(self) -> None:
        key = str(self.path.resolve())
        depth = self._held.get(key, 0)
        if depth > 1:
            self._held[key] = depth - 1
            return
        self._held.pop(key, None)
        owner = self._read()
        if owner and owner.get("pid") == os.getpid() and owner.get("host") == _host():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> WorkLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
