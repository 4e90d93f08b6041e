"""The page's view of one shot manifest: what the JSON API reads and changes, with no web framework in it.

Every change goes through the manifest code the CLI uses: the file is read with `read_yaml`, the changed mapping is
validated by `load_manifest` *before* anything is written, the text comes from `manifest_text` (what `lvcd shots`
writes; comments of the old file are not kept) and replaces the file atomically (temporary file + `os.replace`).
Changes are serialised by one lock, and each one re-reads the file first, so edits made in a text editor between two
clicks are kept.

Uploaded keyframes are stored beside the manifest in `keyframes/`, under a name the server makes
(`<shot>_f<frame>_<sha256[:10]>.<ext>`; the client's file name is only checked, never used as a path), and are only
ever added: a replaced keyframe's old file stays on disk (it is the artist's work).

Progress comes from the work folder's status files (`lvcd.status`), so a render started with `lvcd batch` shows up
as well as one started here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..status import read_statuses
from ._shots import (
    PNG_NAME,
    Manifest,
    default_work_dir,
    format_timecode,
    join_keyframes,
    keyframes_of,
    load_manifest,
    read_yaml,
    relative_to,
)
from .edits import IMAGE_TYPES, MAX_UPLOAD_BYTES, KeyframeEdits, UIError

PREVIEW_FRAMES = 15  # the first diffusion window: the keyframe plus the 14 frames it generates (lvcd.sampling)
UI_DIR = "ui"  # under the work folder: previews
OUTPUT_ONLY = ("crf", "fmt", "overwrite", "quiet", "drift")  # options that do not change a preview's pixels


class Project(KeyframeEdits):
    """One manifest, its uploads folder and its work folder."""

    def __init__(
        self, manifest: str | os.PathLike, *, work: str | os.PathLike | None = None, max_upload: int = MAX_UPLOAD_BYTES
    ):
        self.path = Path(manifest).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(
                f"manifest {manifest} does not exist; make one with `lvcd shots INPUT -o {Path(manifest).name}`."
            )
        self.base = self.path.parent
        self.work_override = Path(work).resolve() if work is not None else None
        self.max_upload = max_upload
        self.lock = threading.RLock()  # manifest read-modify-write
        self.preview_lock = threading.Lock()
        self._cache: tuple[str, Manifest, dict] | None = None
        self._thumbs: OrderedDict[tuple, bytes] = OrderedDict()
        self._thumb_lock = threading.Lock()
        self._hashes: dict[tuple, str] = {}
        self.load()  # fail now (with the manifest's own errors) rather than on the first request

    # ------------------------------------------------------------------------------------------------ reading
    def version(self) -> str:
        """Changes whenever the manifest file does (the page polls it to refresh a second tab)."""
        try:
            st = self.path.stat()
        except OSError:
            return "missing"
        return f"{st.st_mtime_ns}-{st.st_size}"

    def load(self) -> tuple[Manifest, dict]:
        """The validated manifest and its raw mapping (cached until the file changes). Raises ManifestError."""
        with self.lock:
            v = self.version()
            if self._cache is not None and self._cache[0] == v:
                return self._cache[1], self._cache[2]
            raw = read_yaml(self.path)
            m = join_keyframes(load_manifest(self.path), {})  # bucket shots: their keyframes used together
            self._cache = (v, m, raw)
            return m, raw

    @property
    def work(self) -> Path:
        if self.work_override is not None:
            return self.work_override
        return Path(default_work_dir(self.load()[0]))

    def output_path(self, m: Manifest | None = None) -> Path:
        """The assembled video: the manifest's `output`, else `<manifest stem>_color.mp4` beside it."""
        m = m or self.load()[0]
        return Path(m.output) if m.output is not None else self.base / f"{self.path.stem}_color.mp4"

    def _entries(self, raw: dict) -> list[dict]:
        return [e if isinstance(e, dict) else {} for e in (raw.get("shots") or [])]

    def _entry_index(self, raw: dict, name: str) -> int:
        for i, e in enumerate(self._entries(raw)):
            if e.get("name", f"shot_{i + 1:03d}") == name:
                return i
        raise UIError(404, f"no shot named {name!r} in {self.path.name}")

    def _subshots(self, m: Manifest, index: int):
        return sorted((s for s in m.shots if s.index == index), key=lambda s: s.start)

    def describe(self) -> dict:
        """Everything the page shows about the manifest and its shots."""
        m, raw = self.load()
        statuses = read_statuses(self.work)
        shots = []
        for i, e in enumerate(self._entries(raw)):
            subs = self._subshots(m, i)
            if not subs:
                continue
            name = e.get("name", f"shot_{i + 1:03d}")
            start, end = subs[0].start, max(s.end for s in subs)
            keyframes = [
                {
                    "frame": f,
                    "image": relative_to(image, self.base),
                    "timecode": format_timecode(f, m.fps) if f is not None else None,
                    "external": f is None,
                }
                for s in subs
                for f, image in keyframes_of(s)
            ]
            opts = dict(e.get("options") or {})
            shots.append(
                {
                    "name": name,
                    "index": i,
                    "start": start,
                    "end": end,
                    "frames": end - start,
                    "tc_start": format_timecode(start, m.fps),
                    "tc_end": format_timecode(end, m.fps),
                    "thumbs": sorted({start, (start + end - 1) // 2, end - 1}),
                    "keyframes": keyframes,
                    "subshots": [s.name for s in subs],
                    "options": opts,
                    "backend": opts.get("backend", m.defaults.get("backend", "auto")),
                    "status": self._shot_status(subs, statuses),
                    "finished": all(self._finished(s) for s in subs),
                    "preview": self._preview_info(name),
                    "preview_mtime": self._preview_mtime(name),
                }
            )
        out = self.output_path(m)
        return {
            "manifest": str(self.path),
            "name": self.path.name,
            "version": self.version(),
            "fps": float(m.fps),
            "frame_count": m.frame_count,
            "size": list(m.size),
            "defaults": m.defaults,
            "output": str(out),
            "output_name": relative_to(out, self.base),
            "output_exists": out.is_file(),
            "work": str(self.work),
            "warnings": m.warnings,
            "shots": shots,
            "max_upload": self.max_upload,
            "image_types": sorted(IMAGE_TYPES),
        }

    # ------------------------------------------------------------------------------------------------ progress
    def _finished(self, shot) -> bool:
        folder = self.work / "shots" / shot.name
        stamp = folder.with_name(shot.name + ".json")
        return stamp.is_file() and all((folder / PNG_NAME.format(i)).is_file() for i in (shot.start, shot.end - 1))

    def _sha256(self, path: Path) -> str | None:
        try:
            st = path.stat()
        except OSError:
            return None
        key = ("sha", str(path), st.st_mtime_ns, st.st_size)
        if key not in self._hashes:
            self._hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._hashes[key]

    def _outdated(self, shot) -> bool:
        """The shot's finished render was made from another range or keyframe than the manifest now gives (a quick
        look for the page; `lvcd batch` decides from the full render key, options and model included)."""
        try:
            params = json.loads((self.work / "shots" / f"{shot.name}.json").read_text())["params"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        now = {"name": shot.name, "start": shot.start, "end": shot.end, "reference_frame": shot.reference_frame}
        if params.get("shot") != now:
            return True
        if shot.keyframes:  # keyframes used together: any of them changed
            now_keys = [{"frame": f, "sha256": self._sha256(Path(p))} for f, p in shot.keyframes]
            return params.get("keyframes") != now_keys
        return shot.reference is not None and params.get("reference_sha256") != self._sha256(Path(shot.reference))

    def _shot_status(self, subs, statuses: dict) -> dict:
        """One manifest shot's progress from its (sub-)shots' status files. A finished shot whose keyframe or range
        changed since is `outdated` (rendering it again is needed)."""
        recs = [statuses.get(s.name) for s in subs]
        total = sum(s.frames for s in subs)
        done = sum(min(int(r.get("frames_done", 0)), s.frames) for r, s in zip(recs, subs) if r)
        states = [r.get("state", "pending") if r else "pending" for r in recs]
        if "failed" in states:
            state = "failed"
        elif "running" in states:
            state = "running"
        elif all(s == "done" for s in states):
            state = "outdated" if any(self._outdated(s) for s in subs) else "done"
        elif any(s == "done" for s in states):
            state = "running" if any(r and time.time() - r.get("updated", 0) < 30 for r in recs) else "partial"
        else:
            state = "pending"
        errors = [
            f"{s.name}: {r['error']}" if len(subs) > 1 else r["error"]
            for r, s in zip(recs, subs)
            if r and r.get("error")
        ]
        started = [r["started"] for r in recs if r and r.get("started")]
        updated = max((r.get("updated", 0) for r in recs if r), default=None)
        eta = None
        busy = [(r, s) for r, s in zip(recs, subs) if r and r.get("started") and r.get("state") in ("running", "done")]
        spent = sum(r["updated"] - r["started"] for r, _ in busy)
        made = sum(int(r.get("frames_done", 0)) for r, _ in busy)
        if state == "running" and made > 0 and spent > 0:
            eta = round((total - done) * spent / made, 1)
        return {
            "state": state,
            "frames_done": done,
            "frames_total": total,
            "percent": round(100.0 * done / total, 1) if total else 0.0,
            "eta_s": eta,
            "error": "; ".join(errors) or None,
            "started": min(started) if started else None,
            "updated": updated,
        }

    def progress(self) -> dict:
        m, raw = self.load()
        statuses = read_statuses(self.work)
        shots = {}
        for i, e in enumerate(self._entries(raw)):
            subs = self._subshots(m, i)
            if subs:
                name = e.get("name", f"shot_{i + 1:03d}")
                shots[name] = {
                    **self._shot_status(subs, statuses),
                    "finished": all(self._finished(s) for s in subs),
                    "preview_mtime": self._preview_mtime(name),
                }
        return {"version": self.version(), "shots": shots}

    # ------------------------------------------------------------------------------------------------ frames
    def _read_lineart(self, m: Manifest, frame: int) -> np.ndarray:
        from ..video import read_frames

        for inp in m.inputs:
            if inp.offset <= frame < inp.offset + inp.frame_count:
                return next(read_frames(inp.path, frame - inp.offset, frame - inp.offset + 1))
        raise UIError(404, f"frame {frame} is outside the input (frames 0-{m.frame_count - 1})")

    def _colour_frame_path(self, m: Manifest, frame: int) -> Path | None:
        for s in m.shots:
            if s.start <= frame < s.end:
                p = self.work / "shots" / s.name / PNG_NAME.format(frame)
                if p.is_file():
                    return p
                parent = s.parent or s.name
                q = self.work / UI_DIR / "preview" / parent / PNG_NAME.format(frame)
                return q if q.is_file() else None
        return None

    def frame_png(self, frame: int, kind: str = "line", width: int | None = 320) -> bytes:
        """A frame as PNG bytes, scaled to `width` (None: full size): the lineart, or its colour (the finished shot's
        frame, else a preview's)."""
        from PIL import Image

        m, _ = self.load()
        if not 0 <= frame < m.frame_count:
            raise UIError(404, f"frame {frame} is outside the input (frames 0-{m.frame_count - 1})")
        if kind not in ("line", "color"):
            raise UIError(400, f"kind must be line or color (got {kind!r})")
        width = None if not width else max(16, min(int(width), 4096))
        if kind == "color":
            p = self._colour_frame_path(m, frame)
            if p is None:
                raise UIError(404, f"frame {frame} has no colour yet; preview or render its shot")
            st = p.stat()
            key = (str(p), st.st_mtime_ns, width)
        else:
            key = ("line", self.version(), frame, width)
        with self._thumb_lock:
            if key in self._thumbs:
                self._thumbs.move_to_end(key)
                return self._thumbs[key]
        if kind == "color":
            img = Image.open(p).convert("RGB")
        else:
            img = Image.fromarray(self._read_lineart(m, frame))
        if width and img.width > width:
            img = img.resize((width, max(1, round(img.height * width / img.width))), Image.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "PNG", optimize=False, compress_level=3)
        data = buf.getvalue()
        with self._thumb_lock:
            self._thumbs[key] = data
            while len(self._thumbs) > 4000:
                self._thumbs.popitem(last=False)
        return data

    def keyframe_file(self, name: str, frame: int) -> Path:
        """The image file of shot `name`'s keyframe at `frame` (only files the manifest names are ever served)."""
        m, raw = self.load()
        subs = self._subshots(m, self._entry_index(raw, name))
        for s in subs:
            for f, image in keyframes_of(s):
                if f == frame or (f is None and frame < 0):
                    return Path(image)
        raise UIError(404, f"shot {name!r} has no keyframe at frame {frame}")

    # ------------------------------------------------------------------------------------------------ preview
    def _preview_info(self, name: str) -> dict | None:
        try:
            return json.loads((self.work / UI_DIR / "preview" / name / "preview.json").read_text())
        except (OSError, ValueError):
            return None

    def _preview_mtime(self, name: str) -> int | None:
        try:
            return (self.work / UI_DIR / "preview" / name / "preview.json").stat().st_mtime_ns
        except OSError:
            return None

    @staticmethod
    def preview_backend(opts: dict) -> tuple[str, str]:
        """(backend, why): diffusion only when the shot may use it, a converted model is found and a GPU is there;
        the weight-free bucket otherwise (a CPU preview of a diffusion render would take minutes)."""
        want = opts.get("backend", "auto")
        if want == "bucket":
            return "bucket", "the shot uses the bucket backend"
        from .. import api

        if api.find_model(opts.get("model")) is None:
            return "bucket", "no converted LVCD model found"
        import torch

        if not torch.cuda.is_available():
            return "bucket", "no GPU: a CPU diffusion preview would take minutes"
        return "diffusion", "model and GPU found"

    def preview(self, name: str) -> dict:
        """Colour the first window of shot `name` (from its first keyframe forward) and keep the frames in the work
        folder (`ui/preview/<shot>/`) so every tab sees them."""
        from PIL import Image

        from .. import api

        m, raw = self.load()
        idx = self._entry_index(raw, name)
        subs = [s for s in self._subshots(m, idx) if s.reference is not None]
        if not subs:
            raise UIError(409, f"shot {name!r} has no keyframe yet; drop its coloured keyframe first")
        s = min(subs, key=lambda s: -1 if s.reference_frame is None else s.reference_frame)
        if s.external:
            raise UIError(
                409,
                f"shot {name!r} is coloured from an external reference (a design sheet); preview "
                "needs a keyframe that is a frame of the shot. Render the shot instead.",
            )
        k = s.reference_frame
        n = min(PREVIEW_FRAMES, s.end - k)
        opts = {key: v for key, v in {**m.defaults, **s.options}.items() if key not in OUTPUT_ONLY}
        backend, why = self.preview_backend(opts)
        opts["backend"] = backend
        if isinstance(opts.get("size"), list):
            opts["size"] = tuple(opts["size"])
        t0 = time.perf_counter()
        with self.preview_lock:
            try:
                ref = api.load_reference(
                    s.reference, m.size, opts.get("reference_fit", "error"), opts.get("reference_background")
                )
                frames = [self._read_lineart(m, f) for f in range(k, k + n)]
                outs = list(api.colorize_frames(frames, ref, num_frames=n, **opts))
            except (OSError, ValueError) as e:
                raise UIError(422, f"preview of shot {name!r}: {e}") from None
            folder = self.work / UI_DIR / "preview" / name
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.png"):
                old.unlink(missing_ok=True)
            for f, rgb in zip(range(k, k + n), outs):
                p = folder / PNG_NAME.format(f)
                tmp = p.with_name(f".{p.name}.tmp")
                Image.fromarray(np.asarray(rgb, np.uint8)).save(tmp, "PNG", compress_level=3)
                os.replace(tmp, p)
            info = {
                "shot": name,
                "frames": list(range(k, k + n)),
                "backend": backend,
                "why": why,
                "seconds": round(time.perf_counter() - t0, 2),
                "made": time.time(),
            }
            tmp = folder / ".preview.json.tmp"
            tmp.write_text(json.dumps(info))
            os.replace(tmp, folder / "preview.json")
        return info

    # ------------------------------------------------------------------------------------------------ downloads
    def shot_zip(self, name: str) -> tuple[bytes, str]:
        """A finished shot's frames (lossless PNG, named by global frame number) as a zip."""
        m, raw = self.load()
        subs = self._subshots(m, self._entry_index(raw, name))
        if not all(self._finished(s) for s in subs):
            raise UIError(409, f"shot {name!r} is not rendered yet; press render first")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed already
            for s in subs:
                for f in range(s.start, s.end):
                    z.write(self.work / "shots" / s.name / PNG_NAME.format(f), f"{name}/{PNG_NAME.format(f)}")
        return buf.getvalue(), f"{name}.zip"
