"""Where lvcd may write: checks run before any work, so a mistyped path never costs a user a file.

* `check_output(output, inputs=..., work=...)`: an output that would replace or mix with an input (the same file,
  the input's folder, a pattern matching its frames) or that lies inside the work folder (lvcd's scratch space,
  cleared on resume) is refused. (`--overwrite` itself only ever replaces what lvcd writes: the file, or in a
  folder only the files of its frame pattern and its sidecar; see `lvcd.video.writer`.)
* `confine(path, base, ...)`: a path a *manifest* asks lvcd to write (`output`, `work`) must stay inside the
  manifest's folder, unless the command line names it or says `--allow-outside-paths`: a shared manifest must
  not be able to delete or overwrite anything elsewhere. What a manifest reads may live anywhere.
* `atomic_write_bytes` / `atomic_write_text`: temporary name unique to the process, fsync, rename; an OSError
  carries the path (see `lvcd.oserrors`), and nothing half-written is left behind.
* Temporaries of whole outputs (the video writers, the indexed writer, `lvcd convert`): hidden siblings named
  `.NAME.partial-PID@HOST~XXXX` (`partial_prefix`), so the next run can remove a dead run's leftovers
  (`remove_stale_partials`); `publish_folder` moves a finished temporary folder into place, replacing only the
  entries the writer owns (`--overwrite` never deletes what lvcd did not write).
* `up_to_date(output, record)`: is an assembled output already the result of exactly these shots?
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .lock import owner_tag, pid_alive
from .oserrors import writing

__all__ = [
    "OutputError",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output",
    "confine",
    "partial_prefix",
    "publish_folder",
    "remove_path",
    "remove_stale_partials",
    "up_to_date",
    "usual_mode",
    "written_paths",
]

logger = logging.getLogger(__name__)

_TAGGED = re.compile(r"(?:partial|old)-(\d+)@([A-Za-z0-9_-]+)~")  # the owner in a temporary name (`partial_prefix`)
UNTAGGED_STALE_SECONDS = 3600  # leftovers of older lvcd versions (no owner in the name): stale after an idle hour


class OutputError(ValueError):
    """An output path that would destroy or mix with something lvcd did not write."""


def _real(p: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.fspath(p))))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def written_paths(output: str | os.PathLike, fmt: str | None = None):
    """(layout, files-or-None, folder, matcher): what writing `output` creates. `matcher(path)` says whether a
    resolved path is one of the files the output writes (its frames, its sidecar)."""
    from .video.images import pattern_regex
    from .video.output_paths import FOLDER_FRAME_NAME, resolve_format, sidecar_path

    out = Path(output)
    _, layout = resolve_format(out, fmt)
    side = _real(sidecar_path(out))
    if layout == "file":
        target = _real(out)
        return layout, target.parent, lambda p: p in (target, side)
    folder = _real(out) if layout == "folder" else _real(out.parent)
    rx = pattern_regex(FOLDER_FRAME_NAME if layout == "folder" else out.name)
    return layout, folder, lambda p: p == side or (p.parent == folder and bool(rx.match(p.name)))


def _input_files(src: str | os.PathLike) -> tuple[list[Path], Path | None]:
    """(files, folder-or-None) of an input: a video/image file, a frame folder or a printf pattern."""
    from .video.images import IMAGE_EXTENSIONS, is_pattern, pattern_files

    s = Path(src)
    if is_pattern(s):
        return [_real(p) for p in pattern_files(s).values()], _real(s.parent)
    if s.is_dir():
        with os.scandir(s) as it:
            files = [_real(e.path) for e in it if e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS]
        return files, _real(s)
    return [_real(s)], None


def check_output(
    output: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    work: str | os.PathLike | None = None,
    fmt: str | None = None,
) -> None:
    """Refuse an `output` that resolves to one of `inputs` (file, folder or pattern) or lies in the `work` folder.
    Raises OutputError naming both paths and the fix; does nothing else (existence is `check_output_path`'s job)."""
    layout, folder, claims = written_paths(output, fmt)
    out_real = _real(output)
    for src in inputs:
        if src is None:
            continue
        files, in_folder = _input_files(src)
        same_folder = layout != "file" and in_folder is not None and folder == in_folder
        hit = None if same_folder else next((f for f in files if claims(f)), None)
        if hit is not None or same_folder:
            what = f"would replace {hit}" if hit is not None else f"would write frames into the input folder {src}"
            raise OutputError(
                f"output {output} {what}, which is an input of this run; write the output somewhere "
                "else (e.g. -o colour.mp4 or -o colour_frames/)."
            )
    if work is not None:
        w = _real(work)
        if _inside(out_real, w) or (layout != "file" and _inside(folder, w)):
            raise OutputError(
                f"output {output} is inside the work folder {work}, which lvcd clears and rewrites "
                "(checkpoints, per-shot frames); write the output outside it, or choose another "
                "--work folder."
            )
        if layout == "folder" and _inside(w, out_real):
            raise OutputError(f"the work folder {work} is inside the output folder {output}; keep them apart.")


def confine(path: str | os.PathLike, base: str | os.PathLike, what: str, *, allow_outside: bool = False) -> Path:
    """`path` (a manifest's `output` or `work`) if it resolves inside `base` (the manifest's folder), else
    OutputError. With `allow_outside` (the command line named the path, or `--allow-outside-paths`) any path."""
    p = Path(path)
    if allow_outside:
        return p
    if not _inside(_real(p), _real(base)):
        raise OutputError(
            f"the manifest's `{what}` {path} is outside the manifest's folder {base}; a manifest may "
            "only write inside its own folder (so a shared manifest cannot overwrite files elsewhere). "
            f"Give the path on the command line instead (e.g. --{'output' if what == 'output' else what}"
            f" {path}), or pass --allow-outside-paths if you trust this manifest."
        )
    return p


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write `data` to `path` via `.NAME.<pid>@<host>.tmp` + rename: concurrent writers never share a temporary
    name, a failure (a full disk) leaves `path` as it was and no temporary behind, and the error names `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{owner_tag()}.tmp")
    try:
        with writing(path), open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def up_to_date(output: str | os.PathLike, record: Mapping) -> bool:
    """True when `output` exists and its sidecar records exactly `record`'s values (e.g. the shots' keys, the
    inputs, the frame count): re-assembling would write the same video, so there is nothing to do."""
    from .video.output_paths import sidecar_path

    out = Path(output)
    side = sidecar_path(out)
    if not (out.exists() and side.is_file()):
        return False
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(
        json.loads(json.dumps(data.get(k), default=str)) == json.loads(json.dumps(v, default=str))
        for k, v in record.items()
    )


# ---------------------------------------------------------------------------------------------------- temporaries
def partial_prefix(name: str) -> str:
    """Hidden temporary name prefix of output `name`, carrying this process's pid and host."""
    return f".{name.replace('%', '')}.partial-{owner_tag()}~"


def usual_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Temporary files are created private (0600); give the final output the permissions a plain `open()` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)


def remove_path(p: Path) -> None:
    """Delete a file or a folder tree, best effort (cleanup of temporaries)."""
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    except OSError:  # pragma: no cover - best effort cleanup
        pass


def remove_stale_partials(output: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that dead runs left for `output` (`.NAME.partial-PID@HOST~*` and `.NAME.old-...`,
    files or folders, whose pid no longer runs on this host; untagged ones idle for an hour). Never touches another
    name or a live run's files. Returns what was removed."""
    out = Path(output)
    stem = f".{out.name.replace('%', '')}."
    removed = []
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return removed
    for e in entries:
        if not e.name.startswith(stem) or not (e.name[len(stem) :].startswith(("partial-", "old-"))):
            continue
        m = _TAGGED.match(e.name[len(stem) :])
        if m:
            stale = not pid_alive(int(m.group(1)), m.group(2))
        else:
            try:
                stale = time.time() - e.stat(follow_symlinks=False).st_mtime > UNTAGGED_STALE_SECONDS
            except OSError:
                stale = False
        if stale:
            remove_path(Path(e.path))
            removed.append(Path(e.path))
    if removed:
        logger.info(
            "removed %d leftover temporary file(s) of an interrupted run: %s",
            len(removed),
            ", ".join(p.name for p in removed),
        )
    return removed


def publish_folder(
    tmp: str | os.PathLike, dest: str | os.PathLike, *, owned: Callable[[str], bool], overwrite: bool = False
) -> Path:
    """Move the finished temporary folder `tmp` (on the same file system, e.g. `partial_prefix`) into place at `dest`.

    `dest` missing: `tmp` is renamed to it. `dest` an existing folder: only the entries `owned(name)` claims (what
    this writer writes) are replaced: the old ones go aside into a hidden `.NAME.old-PID@HOST~XXXX` folder, the new
    ones move in, then the old ones are deleted; everything else in `dest` stays. Without `overwrite` an owned entry
    already in `dest` (it appeared while the work ran) raises FileExistsError. On any failure the entries moved so
    far go back where they were (`tmp` is left to the caller). Returns `dest`.
    """
    tmp, dest = Path(tmp), Path(dest)
    if not dest.exists():
        os.replace(tmp, dest)
        return dest
    with os.scandir(dest) as it:
        old = sorted(e.name for e in it if owned(e.name))
    new = sorted(os.listdir(tmp))
    if old and not overwrite:
        raise FileExistsError(
            f"{dest} now holds {', '.join(old[:3])}{' ...' if len(old) > 3 else ''} (written while "
            "this run worked); pass --overwrite to replace them, or choose another output path."
        )
    clash = [n for n in new if n not in old and os.path.lexists(dest / n)]
    if clash:
        raise FileExistsError(
            f"{dest} holds {', '.join(clash[:3])}, which lvcd did not write and would replace; move "
            "it away or choose another output path."
        )
    aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-{owner_tag()}~", dir=tmp.parent))
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in old:
            os.replace(dest / name, aside / name)
            moved_old.append(name)
        for name in new:
            os.replace(tmp / name, dest / name)
            moved_new.append(name)
    except BaseException:
        for src, dst, names in ((dest, tmp, moved_new), (aside, dest, moved_old)):  # undo, newest first
            for name in reversed(names):
                try:
                    os.replace(src / name, dst / name)
                except OSError:  # pragma: no cover - best effort: the error below says what failed
                    pass
        remove_path(aside)
        raise
    os.rmdir(tmp)
    remove_path(aside)
    return dest
