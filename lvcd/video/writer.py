"""Atomic streaming writers: `open_writer(path, fps, size)` -> `FrameWriter`, and `write_sidecar`.

Formats, by extension (or `fmt=`):

========  ==============================================================================================
.mp4      H.264 (libx264, CRF `crf`, preset `preset`), yuv420p; `+faststart` so playback starts before download
.mkv      the same in Matroska
.mov      ProRes 422 HQ (`prores_ks`, 10-bit 4:2:2; 4444 for an odd width): the editing intermediate
folder/   PNG frames `frame_000000.png`, ... (a path without extension, or an existing folder); lossless
%d.png    PNG frames named by a printf pattern, e.g. `out/frame_%04d.png` (numbers from `start_number`, default 0)
========  ==============================================================================================

Frames are written as they come, through one ffmpeg process we own (argument list, no shell, stderr kept for the
error message, killed on abort). For yuv420p the RGB -> YUV step runs here in OpenCV (`rgb_to_i420`: BT.601,
limited range, tagged so in the file, box-filtered chroma) and ffmpeg receives I420: half the bytes through the pipe,
the matrix under our control, as sharp as swscale, and no costlier (bench_video_io.py: ~5.3 CPU ms a 576x320 frame
either way, x264-medium dominates; the writer runs at ~1x ffmpeg's own speed). H.264 4:2:0 cannot code an odd
width or height (its crop unit is 2 pixels), so an odd size is written as 4:4:4 (High 4:4:4 profile, exact size;
some browsers and QuickTime cannot play it; a warning says so): the requested WxH always comes back exactly.

The rate is exact (`-framerate 24000/1001`). Audio: when `audio_from` (a video, or an audio-only file such as a
track built by `lvcd.video.audio`) has an audio stream it is copied (no re-encode) into the finished video, cut to
the video's duration; a codec the container cannot hold (Vorbis in MP4) (or PCM in MP4, which players refuse) is
re-encoded to AAC with a warning. Image sequences carry no audio.

Atomic: everything goes to hidden temporary names in the destination folder (`.out.mp4.partial-PID@HOST~XXXX.mp4`,
or a `.out.partial-PID@HOST~XXXX` folder) and is renamed into place by `close()`; an exception, Ctrl-C or SIGTERM
inside the `with` block, or `abort()`, kills ffmpeg and deletes the temporaries, so a finished-looking output only
ever appears complete. A run killed outright (SIGKILL, power loss) cannot clean up: the next writer of the same
output removes those leftovers (`remove_stale_partials`: its own naming only, and only when the pid in the name is
gone from this host). An existing output is replaced only with `overwrite=True`, and then only what lvcd writes is
replaced: the file, or in a folder the files of its frame pattern (`frame_000000.png`, ...); other files in the
folder are left alone. The temporary names, the leftover cleanup and the publishing of a finished folder are
`lvcd.outputs`' (shared with the indexed writer and `lvcd convert`); formats, pre-checks and sidecar paths are
`output_paths.py`'s, variable-frame-rate timing `retime.py`'s.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..outputs import atomic_write_text, partial_prefix, publish_folder, remove_path, remove_stale_partials, usual_mode
from . import _ffmpeg
from .errors import VideoReadError, VideoWriteError
from .images import pattern_regex
from .output_paths import (
    FOLDER_FRAME_NAME,
    SUPPORTED_OUTPUTS,
    check_output_path,
    output_format,
    resolve_format,
    sidecar_path,
    writable_dir,
)
from .probe import as_fps, probe
from .retime import check_timestamps, last_step, retime

__all__ = [
    "FOLDER_FRAME_NAME",
    "SUPPORTED_OUTPUTS",
    "FrameWriter",
    "check_output_path",
    "open_writer",
    "output_format",
    "remove_stale_partials",
    "sidecar_path",
    "write_sidecar",
]

logger = logging.getLogger(__name__)

DEFAULT_CODEC = {"mp4": "libx264", "mkv": "libx264", "mov": "prores_ks", "png": "png"}
MUXER = {"mp4": "mp4", "mkv": "matroska", "mov": "mov"}
PRORES_PROFILE = "3"  # prores_ks: 0 proxy, 1 LT, 2 standard, 3 HQ, 4 4444, 5 4444 XQ
PRORES_4444_PROFILE = "4"
# audio ffmpeg would copy but players do not play: PCM in MP4 (QuickTime and browsers refuse it)
REENCODE_AUDIO = {"mp4": ("pcm_",)}
AUDIO_FALLBACK = ["-c:a", "aac", "-b:a", "192k"]  # when the source codec cannot go into the container
X264_FAMILY = ("libx264", "libx265")


def write_sidecar(path: str | os.PathLike, data: dict) -> Path:
    """Write `data` as pretty JSON next to an output (`sidecar_path`), or to `path` itself if it ends in .json;
    atomically (temporary file + rename). Fractions, paths and numpy scalars are written as strings / numbers."""
    target = Path(path) if str(path).endswith(".json") else sidecar_path(path)
    writable_dir(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(target, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj):
    if isinstance(obj, (Fraction, Path)):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"write_sidecar: {type(obj).__name__} is not JSON-serialisable ({obj!r}); convert it first.")


# ---------------------------------------------------------------------------------------------------- writer
# BT.601 chroma, full range (OpenCV's YCrCb) -> limited range (16..240): (c - 128) * 224 / 255 + 128
_CHROMA_TO_LIMITED = np.clip(np.round(128 + (np.arange(256) - 128) * 224 / 255), 0, 255).astype(np.uint8)


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB (even H, W) -> [H*3/2, W] I420, BT.601 limited range, chroma = the 2x2 box average.

    OpenCV's own RGB->I420 point-samples the chroma (aliasing on colour edges, ~3 dB worse on a gradient), so only
    its luma is kept; the chroma comes from the area-downsampled image. Luma and chroma are linear in RGB, so the
    chroma of the average colour is the average chroma.
    """
    import cv2

    h, w = rgb.shape[:2]
    out = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # [H*3/2, W]: Y rows, then point-sampled U, V (replaced)
    small = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # [H/2, W/2, 3] box average
    ycrcb = cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb)  # [H/2, W/2, (Y, Cr, Cb)] full range
    flat = out.reshape(-1)  # planes: Y [H*W], U [H*W/4], V [H*W/4]
    n, q = h * w, h * w // 4
    flat[n : n + q] = cv2.LUT(ycrcb[:, :, 2], _CHROMA_TO_LIMITED).reshape(-1)
    flat[n + q :] = cv2.LUT(ycrcb[:, :, 1], _CHROMA_TO_LIMITED).reshape(-1)
    return out


class FrameWriter:
    """Write uint8 HxWx3 RGB frames to a video file or PNG sequence, atomically. Use `open_writer(...)`.

    `write(frame)` streams one frame to ffmpeg; `close()` finishes, muxes the audio and renames into place
    (returns the output path); `abort()` discards everything. As a context manager it closes on success and aborts
    on any exception (KeyboardInterrupt included).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: Fraction | int | str,
        size: tuple[int, int],
        *,
        audio_from: str | os.PathLike | None = None,
        crf: int = 18,
        preset: str = "medium",
        codec: str | None = None,
        fmt: str | None = None,
        overwrite: bool = False,
        pix_fmt: str | None = None,
        start_number: int = 0,
        timestamps=None,
    ):
        self._done, self._proc, self._temps, self._created_dirs = True, None, [], []  # (until set up)
        self.timestamps = check_timestamps(timestamps)
        self.path = Path(path)
        self.fps = as_fps(fps)
        self.size = _check_size(size)
        if not (isinstance(crf, (int, np.integer)) and 0 <= crf <= 51):
            raise ValueError(
                f"`crf` must be an integer 0..51 (lower is better quality; 18 is visually lossless), got {crf!r}."
            )
        self.format, self.layout = resolve_format(self.path, fmt)
        if self.format not in DEFAULT_CODEC:
            raise ValueError(
                f"{self.path}: format {self.format!r} is written by lvcd.deliver.IndexedWriter, not open_writer."
            )
        check_output_path(self.path, overwrite=overwrite, fmt=fmt)
        self.overwrite = overwrite
        self.codec = codec or DEFAULT_CODEC[self.format]
        self.crf, self.preset, self.start_number = int(crf), preset, int(start_number)
        self.frames_written = 0
        self._audio = self._audio_source(audio_from)
        w, h = self.size
        self.pix_fmt = pix_fmt or self._default_pix_fmt(w, h)
        # OpenCV's BT.601 I420 when the target is 8-bit 4:2:0 at an even size; ffmpeg converts rgb24 otherwise
        self._feed_i420 = self.pix_fmt == "yuv420p" and w % 2 == 0 and h % 2 == 0
        self._stderr = tempfile.TemporaryFile()
        self._done = False
        try:
            try:
                remove_stale_partials(self.path)
                self._make_parent()
                self._target = self._make_temp()
            except PermissionError as e:
                raise PermissionError(
                    f"cannot write into {self.path.parent} ({e.strerror or e}); choose an output "
                    "path in a folder you can write to."
                ) from None
            self._proc = _ffmpeg.spawn(self._encode_args(), self._stderr)
        except BaseException:
            self.abort()
            raise

    # ------------------------------------------------------------------------------------------------ setup
    def _default_pix_fmt(self, w: int, h: int) -> str:
        if self.codec == "prores_ks":  # 4:2:2 HQ; 4444 for an odd width (prores_ks garbles the last chroma column)
            return "yuv444p10le" if w % 2 else "yuv422p10le"
        if self.codec == "png":
            return "rgb24"
        if w % 2 or h % 2:
            logger.warning(
                "%s: %dx%d has an odd side, which H.264 4:2:0 cannot code; writing 4:4:4 (High 4:4:4) to "
                "keep the exact size. Some browsers and QuickTime cannot play it: use an even size, .mov "
                "(ProRes) or PNG frames for those.",
                self.path,
                w,
                h,
            )
            return "yuv444p"
        return "yuv420p"

    def _audio_source(self, audio_from) -> Path | None:
        if audio_from is None:
            return None
        if self.format == "png":
            logger.info("%s: PNG frames carry no audio; the audio of %s is not written.", self.path, audio_from)
            return None
        try:
            info = probe(audio_from)
        except (OSError, VideoReadError) as e:
            only = _audio_only(audio_from)  # an audio file (e.g. a track lvcd.video.audio built) is fine too
            if only is not None:
                self._audio_codec = only.codec
                return Path(audio_from)
            raise ValueError(
                f"`audio_from` {audio_from} cannot be read ({e}); pass the input video or None."
            ) from None
        if info.kind != "video" or not info.has_audio:
            logger.info("%s has no audio stream; %s is written without sound.", audio_from, self.path)
            return None
        self._audio_codec = info.audio_codec
        return Path(info.path)

    def _make_parent(self) -> None:
        folder = self.path.parent  # (a folder output is created by renaming the finished temporary folder)
        missing = []
        p = folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        folder.mkdir(parents=True, exist_ok=True)
        self._created_dirs = missing  # innermost first: removed again by abort() if still empty

    def _make_temp(self) -> Path:
        if self.layout == "file":
            return self._temp_file()
        tmp = Path(tempfile.mkdtemp(prefix=partial_prefix(self.path.name), dir=self.path.parent))
        usual_mode(tmp, directory=True)
        self._temps.append(tmp)
        return tmp

    def _temp_file(self) -> Path:
        """A new hidden temporary beside the output (`lvcd.outputs.partial_prefix`), removed by `abort()`."""
        fd, tmp = tempfile.mkstemp(
            prefix=partial_prefix(self.path.name), suffix=self.path.suffix or ".tmp", dir=self.path.parent
        )
        os.close(fd)
        usual_mode(tmp)
        self._temps.append(Path(tmp))
        return Path(tmp)

    def _encode_args(self) -> list[str]:
        w, h = self.size
        rate = f"{self.fps.numerator}/{self.fps.denominator}"
        args = [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p" if self._feed_i420 else "rgb24",
            "-s",
            f"{w}x{h}",
            "-framerate",
            rate,
        ]
        if self._feed_i420:
            args += ["-colorspace", "smpte170m", "-color_range", "tv"]
        args += ["-i", "pipe:0", "-map", "0:v:0", "-an", "-c:v", self.codec, "-pix_fmt", self.pix_fmt]
        if self.format == "png":
            name = FOLDER_FRAME_NAME if self.layout == "folder" else self.path.name
            return args + ["-start_number", str(self.start_number), "-f", "image2", str(self._target / name)]
        if self.codec in X264_FAMILY:
            args += ["-preset", self.preset, "-crf", str(self.crf)]
            if self.timestamps is not None:  # decode order = display order, so packet i is frame i when retimed
                args += ["-bf", "0"]
        elif self.codec == "prores_ks":
            profile = PRORES_4444_PROFILE if self.pix_fmt.startswith("yuv444") else PRORES_PROFILE
            args += ["-profile:v", profile, "-vendor", "apl0"]
        if self.pix_fmt.startswith("yuv"):
            args += ["-colorspace", "smpte170m", "-color_range", "tv"]  # the matrix the conversion used
        if self.format in ("mp4", "mov") and self._audio is None:
            args += ["-movflags", "+faststart"]
        return args + ["-f", MUXER[self.format], str(self._target)]

    # ------------------------------------------------------------------------------------------------ writing
    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 HxWx3 RGB frame of the writer's size."""
        if self._done or self._proc is None:
            raise RuntimeError(f"the writer of {self.path} is closed; open a new one with open_writer().")
        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (h, w, 3):
            got = f"{frame.dtype} {tuple(frame.shape)}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(
                f"frame {self.frames_written} for {self.path} must be a uint8 array of shape "
                f"({h}, {w}, 3) (HxWx3 RGB at the writer's size {w}x{h}); got {got}. Resize/crop "
                "back to the source size and convert with "
                "np.clip(x * 255, 0, 255).round().astype(np.uint8)."
            )
        if self._feed_i420:
            data = rgb_to_i420(frame)
        else:
            data = np.ascontiguousarray(frame)
        try:
            self._proc.stdin.write(memoryview(data).cast("B"))
        except (BrokenPipeError, OSError) as e:
            rc = self._proc.poll()
            message = _ffmpeg.read_tail(self._stderr)
            self.abort()
            raise VideoWriteError(
                f"writing {self.path} failed at frame {self.frames_written}: ffmpeg stopped "
                f"(exit status {rc}, {e.__class__.__name__}):\n{message}"
            ) from None
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file(s), add the audio, rename into place. Returns the output path. Idempotent."""
        if self._done:
            return self.path
        if self.frames_written == 0:
            self.abort()
            raise ValueError(
                f"no frames were written to {self.path}, so nothing was saved; check that the input has frames."
            )
        try:
            proc, self._proc = self._proc, None
            try:
                proc.stdin.close()
            except OSError:
                pass
            rc = proc.wait()
            if rc != 0:
                raise VideoWriteError(
                    f"encoding {self.path} failed (ffmpeg exit status {rc}):\n{_ffmpeg.read_tail(self._stderr)}"
                )
            if self.layout == "file":
                final_tmp = self._target
                if self.timestamps is not None:
                    final_tmp = self._retime(final_tmp)
                if self._audio is not None:
                    final_tmp = self._mux_audio(final_tmp)
                os.replace(final_tmp, self.path)
            else:
                self._commit_frames()
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._temps.clear()
        self._stderr.close()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete every temporary; the output path is left as it was. Idempotent."""
        _ffmpeg.kill(self._proc)
        self._proc = None
        for t in self._temps:
            remove_path(t)
        self._temps.clear()
        for d in self._created_dirs:  # innermost first
            try:
                d.rmdir()
            except OSError:
                break
        self._created_dirs = []
        self._done = True
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):  # pragma: no cover - a writer dropped without close(): discard, never half-publish
        try:
            if not self._done:
                self.abort()
        except Exception:
            pass

    # ------------------------------------------------------------------------------------------------ finishing
    def _mux_audio(self, video_tmp: Path) -> Path:
        """Second pass: video stream-copied, audio copied (AAC if it cannot go in the container), cut to length."""
        muxed = self._temp_file()
        seconds = math.ceil(self._seconds() * 1_000_000) / 1_000_000  # whole frames, >= video
        base = [
            "-i",
            str(video_tmp),
            "-t",
            f"{seconds:.6f}",
            "-i",
            str(self._audio),
            "-map",
            "0:v:0",
            "-map",
            "1:a",
            "-c:v",
            "copy",
        ]
        tail = (["-movflags", "+faststart"] if self.format in ("mp4", "mov") else []) + [
            "-f",
            MUXER[self.format],
            str(muxed),
        ]
        codec = getattr(self, "_audio_codec", None) or ""
        reason = None
        if codec.startswith(REENCODE_AUDIO.get(self.format, ())):
            reason = f"{codec} in {self.format.upper()} does not play in common players"
        else:
            try:
                _ffmpeg.run(
                    base + ["-c:a", "copy"] + tail, what=f"copying the audio of {self._audio} into {self.path}"
                )
            except VideoWriteError as e:
                reason = str(e).splitlines()[-1].strip()
        if reason is not None:
            logger.warning(
                "%s: the %s audio of %s cannot be copied into %s as is; re-encoding it to AAC (%s)",
                self.path,
                codec,
                self._audio,
                self.format.upper(),
                reason,
            )
            _ffmpeg.run(base + AUDIO_FALLBACK + tail, what=f"re-encoding the audio of {self._audio} for {self.path}")
        remove_path(video_tmp)
        return muxed

    def _seconds(self) -> Fraction:
        """The video's duration: frames / fps, or (variable rate) the last timestamp plus one frame."""
        if self.timestamps is None:
            return Fraction(self.frames_written) / self.fps
        return self.timestamps[-1] + last_step(self.timestamps, self.fps)

    def _retime(self, video_tmp: Path) -> Path:
        """Give packet i the presentation time `timestamps[i]` (`lvcd.video.retime.retime`): a variable-frame-rate
        input's timing, frame for frame. The encoder ran without B-frames, so packets come in display order."""
        if len(self.timestamps) != self.frames_written:
            raise ValueError(
                f"{self.path}: {len(self.timestamps)} timestamps were given for {self.frames_written} "
                "frames; give one timestamp per frame written."
            )
        out_path = self._temp_file()
        faststart = self.format in ("mp4", "mov") and self._audio is None
        retime(
            video_tmp,
            out_path,
            self.timestamps,
            self.fps,
            muxer=MUXER[self.format],
            faststart=faststart,
            what=self.path,
        )
        remove_path(video_tmp)
        return out_path

    def _commit_frames(self) -> None:
        """Publish the PNG frames: a new folder is renamed into place; in an existing folder (or a pattern's folder)
        only the frames of this output's pattern are replaced, the user's own files stay (`publish_folder`)."""
        folder = self.layout == "folder"
        name = FOLDER_FRAME_NAME if folder else self.path.name
        rx = pattern_regex(name)

        def owned(entry: str) -> bool:  # names that format back exactly: `%04d` does not own `frame_12.png`
            m = rx.match(entry)
            return m is not None and name % int(m.group(1)) == entry

        publish_folder(self._target, self.path if folder else self.path.parent, owned=owned, overwrite=self.overwrite)


def _audio_only(path):
    """The audio stream of a file that has audio and no video stream (an audio track), else None."""
    from .audio import audio_stream_info

    try:
        info = audio_stream_info(path)
    except (OSError, VideoReadError):
        return None
    return info if info is not None and not info.has_video else None


def _check_size(size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
        ok = w > 0 and h > 0 and all(float(v) == int(v) for v in size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"`size` must be (width, height) in pixels, e.g. (641, 359); got {size!r}.")
    return w, h


def open_writer(
    path: str | os.PathLike,
    fps: Fraction | int | str,
    size: tuple[int, int],
    *,
    audio_from: str | os.PathLike | None = None,
    crf: int = 18,
    preset: str = "medium",
    codec: str | None = None,
    fmt: str | None = None,
    overwrite: bool = False,
    pix_fmt: str | None = None,
    start_number: int = 0,
    timestamps=None,
) -> FrameWriter:
    """Open an atomic writer for uint8 HxWx3 RGB frames of `size` = (width, height) at the exact rate `fps`.

    `path`: .mp4 / .mkv (H.264), .mov (ProRes 422 HQ), a folder or a printf pattern `out/frame_%06d.png` (PNG).
    `audio_from`: a video whose audio is copied in, cut to the video's length. `crf`/`preset`: x264 quality/speed.
    `codec`/`pix_fmt`: override the encoder (e.g. `codec="libx265"`). `fmt`: force a format ("mp4", "mkv", "mov",
    "png") whatever the extension. `timestamps`: one presentation time (seconds) per frame, for a variable-rate
    output that keeps an input's timing (`probe(input).timestamps`; PNG frames carry none). Raises
    FileExistsError (exists, no `overwrite`), PermissionError, ValueError.
    """
    return FrameWriter(
        path,
        fps,
        size,
        audio_from=audio_from,
        crf=crf,
        preset=preset,
        codec=codec,
        fmt=fmt,
        overwrite=overwrite,
        pix_fmt=pix_fmt,
        start_number=start_number,
        timestamps=timestamps,
    )
