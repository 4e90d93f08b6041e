"""Operating-system errors as messages a user can act on: `describe(err)` names the path and the fix.

Python's own text (`[Errno 28] No space left on device`) names neither the file nor what to do. The CLI passes every
OSError through `describe`; code that writes a file wraps the write in `writing(path)` so an error raised without a
file name (a failed `write()` or `fsync()` on an open file) still carries the path it was writing.
"""

from __future__ import annotations

import contextlib
import errno
import os

__all__ = ["describe", "writing"]

# errno -> (what happened, what to do); `{path}` is the file or folder
_FIXES = {
    errno.ENOSPC: ("the disk is full", "free space on that disk, or write the output / --work folder to another disk"),
    errno.EDQUOT: ("your disk quota is used up", "free space within your quota, or write to another disk"),
    errno.EROFS: ("the file system is read-only", "write the output / --work folder to a writable disk"),
    errno.EACCES: ("permission denied", "choose a path you can write to, or fix the permissions of its folder"),
    errno.EPERM: ("operation not permitted", "choose a path you own, or fix its permissions"),
    errno.ENOENT: ("it does not exist", "check the path (relative paths start at the current folder)"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.EISDIR: ("it is a folder, not a file", "give a file name inside it"),
    errno.EEXIST: ("it already exists", "choose another name, or pass --overwrite where that is what you want"),
    errno.ENAMETOOLONG: ("the name is too long for the file system", "use a shorter name or a shallower folder"),
    errno.EMFILE: ("too many files are open", "raise the limit (`ulimit -n 4096`) and run again"),
    errno.ENFILE: ("the system has too many files open", "close other programs and run again"),
    errno.EIO: ("the disk reported an input/output error", "check the disk (dmesg); copy the data elsewhere"),
    errno.EXDEV: ("the move crosses file systems", "keep the output and its work folder on one disk"),
    errno.ELOOP: ("the path has a symbolic-link loop", "check the links along the path"),
    errno.ENOMEM: ("the system is out of memory", "close other programs or use smaller settings"),
}


def describe(err: OSError) -> str:
    """One line: what failed, on which path, why, and the fix. Errors that already carry our own message (raised
    with a text and no errno) are returned as they are."""
    if err.errno is None or err.errno not in _FIXES:
        if err.errno is not None and err.filename is not None:
            return f"{err.filename}: {err.strerror or err}"
        return str(err)
    what, fix = _FIXES[err.errno]
    path = err.filename if err.filename is not None else None
    if path is not None and err.filename2 is not None:
        path = f"{err.filename} -> {err.filename2}"
    where = f"{path}: " if path is not None else ""
    return f"{where}{what} ({os.strerror(err.errno)}); {fix}."


@contextlib.contextmanager
def writing(path: str | os.PathLike):
    """Inside this block, an OSError that names no file is given `path` as its file name (then re-raised)."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno is not None:
            e.filename = os.fspath(path)
        raise
