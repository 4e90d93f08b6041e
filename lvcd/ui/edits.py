"""Editing a shot manifest from the page: keyframe uploads, keyframe removal and per-shot options.

Each change validates the whole changed manifest with the CLI's validator before anything is written, then replaces
the file atomically (`KeyframeEdits._write`). Uploads are checked three ways before they are stored: the client's
file name must be a plain name with an image extension, the size under the limit, and the content the format the
extension says. Stored keyframes are only ever added (a replaced keyframe's file stays: it is the artist's work).
`Project` (lvcd.ui.project) mixes this in; `self.load`, `self.lock`, `self.base`, `self.path` come from there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
from pathlib import Path

from ._shots import Manifest, ManifestError, load_manifest, manifest_text, relative_to

MAX_UPLOAD_BYTES = 20 << 20
IMAGE_TYPES = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}  # extension -> the Pillow format its content must have
KEYFRAME_DIR = "keyframes"
_BAD_NAME = re.compile(r"[\x00-\x1f/\\]")


class UIError(Exception):
    """A request the page cannot carry out: `status` is the HTTP status, the message says what and how to fix it."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.status, self.message, self.problems = status, message, problems or []


def _manifest_error(e: ManifestError, what: str) -> UIError:
    return UIError(422, f"{what}: the manifest would not be valid; nothing was changed.", e.problems)


class KeyframeEdits:
    """The manifest-changing half of `Project`."""

    # ------------------------------------------------------------------------------------------------ changes
    def _write(self, raw: dict, what: str) -> Manifest:
        """Validate `raw` with the CLI's validator, then replace the manifest atomically."""
        try:
            m = load_manifest(raw, base_dir=self.base)
        except ManifestError as e:
            raise _manifest_error(e, what) from None
        inputs = raw["input"] if isinstance(raw["input"], list) else [raw["input"]]
        text = manifest_text(
            inputs,
            self._entries(raw),
            output=raw.get("output"),
            defaults=raw.get("defaults"),
            fps=m.fps,
            header="Last changed in `lvcd ui`.",
        )
        if raw.get("work"):
            lines = text.splitlines(keepends=True)
            at = next(i for i, ln in enumerate(lines) if ln.startswith("output:")) + 1
            lines.insert(at, f"work: {json.dumps(str(raw['work']))}\n")
            text = "".join(lines)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)
        self._cache = None
        return m

    @staticmethod
    def _current_keyframes(m: Manifest, entry: dict, subs) -> list[tuple[int, str]]:
        """The entry's keyframes as (global frame, image as written); an external reference is left out."""
        from ..shots import parse_time

        if isinstance(entry.get("references"), list):
            return [(parse_time(it["frame"], m.fps), str(it["image"])) for it in entry["references"]]
        ref = entry.get("reference")
        if ref in (None, "") or not subs or subs[0].external:
            return []
        return [(subs[0].reference_frame, str(ref))]

    @staticmethod
    def _set_keyframes(entry: dict, keyframes: list[tuple[int, str]], start: int) -> None:
        """Rewrite `entry`'s keyframe fields: none -> an empty `reference:` slot, one -> `reference` (+
        `reference_frame` unless it is the first frame), several -> `references`. Other keys keep their order."""
        fields = ("reference", "reference_frame", "reference_lineart", "references")
        rest = {k: v for k, v in entry.items() if k not in fields}
        head = {k: rest.pop(k) for k in ("name", "start", "end") if k in rest}
        kf = sorted(keyframes)
        if not kf:
            refs = {"reference": None}
        elif len(kf) == 1:
            refs = {"reference": kf[0][1], **({"reference_frame": kf[0][0]} if kf[0][0] != start else {})}
        else:
            refs = {"references": [{"frame": f, "image": img} for f, img in kf]}
        entry.clear()
        entry.update({**head, **refs, **rest})

    def _frame_in_shot(self, m: Manifest, value, start: int, end: int) -> int:
        from ..shots import parse_time

        try:
            frame = parse_time(value, m.fps) if not isinstance(value, int) else value
        except ValueError as e:
            raise UIError(422, f"frame: {e}") from None
        if not start <= frame < end:
            raise UIError(
                422,
                f"frame {frame} is outside the shot (frames {start}-{end - 1}); a keyframe colours "
                "one of its shot's frames",
            )
        return frame

    def check_upload_name(self, filename: str | None) -> str:
        """The extension of an uploaded file's name, refusing names that try to be paths."""
        name = (filename or "").strip()
        if not name:
            raise UIError(400, "the upload has no file name; send the image as a file")
        if _BAD_NAME.search(name) or name in (".", "..") or ".." in name.split("."):
            raise UIError(
                400,
                f"file name {name!r} is not a plain file name (no folders, '..' or control "
                "characters); rename the file",
            )
        ext = Path(name).suffix.lower()
        if ext not in IMAGE_TYPES:
            raise UIError(415, f"{name!r} is not an image lvcd reads; use {', '.join(sorted(IMAGE_TYPES))}")
        return ext

    def set_keyframe(self, name: str, data: bytes, filename: str | None, frame=None, *, mode: str = "replace") -> dict:
        """Store an uploaded coloured keyframe beside the manifest and make it shot `name`'s keyframe at `frame`
        (default: the shot's current keyframe frame, else its first frame). `mode` "replace": the shot ends with this
        single keyframe when it had at most one; "add": an extra keyframe (the shot gets a `references` list)."""
        from PIL import Image, UnidentifiedImageError

        from .. import api

        if mode not in ("replace", "add"):
            raise UIError(400, f"mode must be replace or add (got {mode!r})")
        ext = self.check_upload_name(filename)
        if len(data) > self.max_upload:
            raise UIError(
                413,
                f"{filename!r} is {len(data) / 2**20:.1f} MB; the limit is "
                f"{self.max_upload / 2**20:.0f} MB (export the keyframe as PNG at the frame size)",
            )
        if not data:
            raise UIError(415, f"{filename!r} is empty; it is not an image")
        try:
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format
                im.verify()
        except UnidentifiedImageError:
            raise UIError(
                415,
                f"{filename!r} is not an image (its content is no format Pillow knows); export the "
                "keyframe as PNG or JPEG",
            ) from None
        except (OSError, SyntaxError, ValueError) as e:
            raise UIError(415, f"{filename!r} is a damaged image ({e}); export it again as PNG or JPEG") from None
        if fmt != IMAGE_TYPES[ext]:
            raise UIError(
                415,
                f"{filename!r} is named {ext} but holds {fmt or 'something else'}; export it again or "
                "fix the extension",
            )
        with self.lock:
            m, raw = self.load()
            raw = json.loads(json.dumps(raw))  # a private copy to change
            idx = self._entry_index(raw, name)
            entry = raw["shots"][idx]
            subs = self._subshots(m, idx)
            start, end = subs[0].start, max(s.end for s in subs)
            current = self._current_keyframes(m, entry, subs)
            if frame in (None, ""):
                frame = current[0][0] if current and mode == "replace" else start
            frame = self._frame_in_shot(m, frame, start, end)
            digest = hashlib.sha256(data).hexdigest()[:10]
            folder = self.base / KEYFRAME_DIR
            target = folder / f"{name}_f{frame:06d}_{digest}{'.jpg' if ext == '.jpeg' else ext}"
            created = not target.exists()
            if created:
                folder.mkdir(exist_ok=True)
                tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, target)
            try:
                opts = {**m.defaults, **dict(entry.get("options") or {})}
                try:
                    api.load_reference(
                        target, m.size, opts.get("reference_fit", "error"), opts.get("reference_background")
                    )
                except (OSError, ValueError) as e:
                    raise UIError(422, f"{filename}: {e}".replace(str(target), target.name)) from None
                image = relative_to(target, self.base)
                if mode == "replace" and len(current) <= 1:
                    keyframes = [(frame, image)]
                else:
                    keyframes = [(f, img) for f, img in current if f != frame] + [(frame, image)]
                self._set_keyframes(entry, keyframes, start)
                self._write(raw, f"keyframe for shot {name!r}")
            except BaseException:
                if created:
                    target.unlink(missing_ok=True)
                raise
        return {"shot": name, "frame": frame, "image": image, "stored": str(target)}

    def remove_keyframe(self, name: str, frame: int) -> dict:
        with self.lock:
            m, raw = self.load()
            raw = json.loads(json.dumps(raw))
            idx = self._entry_index(raw, name)
            entry = raw["shots"][idx]
            subs = self._subshots(m, idx)
            current = self._current_keyframes(m, entry, subs)
            if not any(f == frame for f, _ in current):
                raise UIError(404, f"shot {name!r} has no keyframe at frame {frame}")
            self._set_keyframes(entry, [(f, img) for f, img in current if f != frame], subs[0].start)
            self._write(raw, f"removing the keyframe at frame {frame} of shot {name!r}")
        return {"shot": name, "removed": frame}

    def set_options(self, name: str, changes: dict) -> dict:
        """Merge `changes` into shot `name`'s `options` (a None value removes that option); validated like any edit."""
        if not isinstance(changes, dict):
            raise UIError(400, "options must be a JSON object of option: value")
        with self.lock:
            _, raw = self.load()
            raw = json.loads(json.dumps(raw))
            entry = raw["shots"][self._entry_index(raw, name)]
            opts = dict(entry.get("options") or {})
            for k, v in changes.items():
                if v is None or v == "":
                    opts.pop(k, None)
                else:
                    opts[k] = v
            if opts:
                entry["options"] = opts
            else:
                entry.pop("options", None)
            self._write(raw, f"options of shot {name!r}")
        return {"shot": name, "options": opts}
