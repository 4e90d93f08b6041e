"""Shot cuts for `lvcd eval --shots` and checks on the output paths an evaluation will write.

`cuts_from(spec)`: a shot manifest (`lvcd shots` output, YAML) or a comma-separated list of frame numbers -> the
sorted frame indices that start a new shot, so TC's pair chain restarts there. In a manifest every shot start and
every shot end that is not the clip's first frame or its end is a cut; the sub-shots of a shot with several keyframes
are one shot (no cut between them).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cuts_from(spec: str | os.PathLike) -> list[int]:
    """Frame indices that start a new shot, from a manifest path or a list like '24,57'."""
    text = os.fspath(spec).strip()
    if text.lower().endswith((".yaml", ".yml")) or Path(text).is_file():
        return _manifest_cuts(Path(text))
    try:
        cuts = sorted({int(tok) for tok in text.replace(" ", "").split(",") if tok})
    except ValueError:
        raise ValueError(
            f"`--shots` {text!r} is neither a manifest file nor a list of frame numbers; pass the YAML written by "
            "`lvcd shots` or the frames that start each shot, e.g. 24,57."
        ) from None
    if any(c < 0 for c in cuts):
        raise ValueError(f"`--shots` frame numbers must be >= 0; got {text!r}.")
    return [c for c in cuts if c > 0]


def _manifest_cuts(path: Path) -> list[int]:
    if not path.is_file():
        raise FileNotFoundError(f"`--shots` {path} does not exist; pass the manifest written by `lvcd shots`.")
    from lvcd.shots.manifest import load_manifest

    manifest = load_manifest(path, check_files=False)
    shots = manifest.shots  # sorted by start
    cuts: set[int] = set()
    for i, shot in enumerate(shots):
        prev = shots[i - 1] if i else None
        continues = (
            prev is not None and shot.parent is not None and shot.parent == prev.parent and prev.end == shot.start
        )
        if not continues:
            cuts.add(shot.start)
        if i + 1 == len(shots) or shots[i + 1].start != shot.end:  # a gap (uncoloured frames) or the end follows
            cuts.add(shot.end)
    return sorted(c for c in cuts if 0 < c < manifest.frame_count)


def check_writable(path: str | os.PathLike, flag: str) -> Path:
    """Fail now, before any frame is scored, when `path` cannot be written (missing folder, a folder in the way,
    read-only or full disk); leaves nothing behind."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"`{flag}` {p} is a folder; give a file name, e.g. {p / 'report'}.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"`{flag}` {p}: the folder {parent} does not exist; create it first or pick another.")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{p.name}.check-", delete=True) as fh:
            fh.write(b"x")
            fh.flush()
    except OSError as e:
        raise OSError(
            e.errno, f"`{flag}` {p}: cannot write in {parent} ({e.strerror}); choose a writable location"
        ) from None
    if p.exists() and not os.access(p, os.W_OK):
        raise PermissionError(f"`{flag}` {p} exists and is not writable; choose another file or fix its permissions.")
    return p
