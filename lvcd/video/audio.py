"""Audio tracks built from pieces of several files: `build_audio_track(pieces, dest)`, `temporary_audio_track`.

An episode split across several input videos is assembled as one video; its sound is the concatenation of a
*piece* of each input's audio per stretch of output, in output order. A piece is `(path, start, duration)` in
seconds of that file (`AudioPiece`); `path=None`, or a file without an audio stream (an image sequence, a silent
video), contributes silence of that duration, so everything after it stays in sync with the pictures.

How the track is made (one ffmpeg process we own, see `_ffmpeg`):

* every piece is read with an input `-ss start` (ffmpeg's accurate seek: decoded and trimmed to the sample), its
  timestamps honoured (`aresample=async=1:first_pts=0`: audio that starts late in the file, or has a hole, is
  filled with silence rather than pulled forward), converted to one sample rate and channel layout, padded with
  silence if the file's audio ends early (`apad`), and cut to an exact number of samples (`atrim=end_sample`);
* sample counts come from the *cumulative* exact times (Fractions: frame / fps), so rounding never accumulates: the
  piece that covers output seconds [T0, T1) holds round(T1 * rate) - round(T0 * rate) samples;
* the pieces are concatenated and encoded once, to AAC (`AAC_ARGS`, 192 kb/s) in an MP4 audio file (.m4a) by
  default: AAC is what MP4 and MOV players expect (PCM in MP4 does not play, Opus/Vorbis there are poorly
  supported), MKV holds it as well, and `open_writer(..., audio_from=track)` then stream-copies it as is (no second
  encode). Sample rate: the first audio input's (48 kHz if AAC cannot code it); channels: the most any input has.

Contiguous pieces of the same file are merged first (a shot list cut at every shot still reads each file once).
Atomic: the track is written to a hidden temporary name beside `dest` and renamed into place; on any failure (or
Ctrl-C) the temporary is deleted and `dest` is left as it was. No torch here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from . import _ffmpeg
from .errors import VideoReadError, VideoWriteError
from .images import is_pattern

__all__ = [
    "AAC_ARGS",
    "NO_AUDIO",
    "AudioPiece",
    "AudioStreamInfo",
    "audio_stream_info",
    "build_audio_track",
    "choose_audio",
    "temporary_audio_track",
]

logger = logging.getLogger(__name__)

AAC_ARGS = ["-c:a", "aac", "-b:a", "192k"]  # the codec of a built track (the writer's own re-encode fallback too)
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
DEFAULT_RATE = 48000
MAX_CHANNELS = 8  # AAC (ffmpeg's encoder) codes up to 7.1
LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
MUXERS = {".m4a": "mp4", ".mp4": "mp4", ".mov": "mov", ".mka": "matroska", ".mkv": "matroska"}
READ_MARGIN = 1.0  # seconds read past a piece's end (it is then cut to the sample; `apad` covers a short file)
MERGE_TOLERANCE = Fraction(1, 1_000_000)  # pieces closer than this (seconds) are contiguous


@dataclass(frozen=True)
class AudioPiece:
    """`duration` seconds of the audio of `path` from `start` seconds (None: silence). Seconds as Fraction/float."""

    path: str | None
    start: Fraction
    duration: Fraction


@dataclass(frozen=True)
class AudioStreamInfo:
    """The first audio stream of a file."""

    codec: str
    sample_rate: int
    channels: int
    has_video: bool


def audio_stream_info(path: str | os.PathLike) -> AudioStreamInfo | None:
    """The first audio stream of `path` (PyAV, no decoding), or None when it has none (a silent video, an image, a
    folder or printf pattern of frames). Raises FileNotFoundError, or VideoReadError for a file PyAV cannot open."""
    import av

    p = Path(path)
    if is_pattern(p) or p.is_dir():
        return None
    if not p.exists():
        raise FileNotFoundError(
            f"{p} does not exist; its audio cannot be read. Check the path (or pass None for silence)."
        )
    try:
        with av.open(str(p), metadata_errors="ignore") as c:
            if not c.streams.audio:
                return None
            a = c.streams.audio[0]
            ctx = a.codec_context
            channels = int(getattr(ctx, "channels", 0) or len(getattr(ctx.layout, "channels", ())) or 0)
            return AudioStreamInfo(ctx.name, int(ctx.sample_rate or 0), channels, bool(c.streams.video))
    except av.FFmpegError as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise VideoReadError(
            f"{p}: its audio cannot be read ({reason}); re-export the file, or remove its sound "
            "(ffmpeg -i IN -an -c copy OUT) to use silence instead."
        ) from None


def _as_seconds(value, what: str) -> Fraction:
    try:
        s = Fraction(value) if not isinstance(value, float) else Fraction(value).limit_denominator(10**9)
    except (TypeError, ValueError):
        raise ValueError(f"audio piece {what} must be a number of seconds (got {value!r}).") from None
    if s < 0:
        raise ValueError(f"audio piece {what} must be >= 0 seconds (got {value!r}).")
    return s


def _pieces(pieces: Iterable) -> list[AudioPiece]:
    """Validated pieces, empty ones dropped, contiguous pieces of one file merged."""
    out: list[AudioPiece] = []
    for raw in pieces:
        path, start, duration = (raw.path, raw.start, raw.duration) if isinstance(raw, AudioPiece) else raw
        piece = AudioPiece(
            None if path is None else str(path), _as_seconds(start, "start"), _as_seconds(duration, "duration")
        )
        if piece.duration == 0:
            continue
        if (
            out
            and out[-1].path == piece.path
            and (piece.path is None or abs(out[-1].start + out[-1].duration - piece.start) <= MERGE_TOLERANCE)
        ):
            prev = out.pop()
            piece = AudioPiece(prev.path, prev.start, prev.duration + piece.duration)
        out.append(piece)
    return out


def _usual_mode(path: Path) -> None:
    """mkstemp files are private (0600); give the finished track the permissions a plain `open()` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _seconds_arg(s: Fraction) -> str:
    return f"{float(s):.6f}"


def build_audio_track(
    pieces: Iterable,
    dest: str | os.PathLike,
    *,
    codec_args: list[str] | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> Path | None:
    """Concatenate `pieces` ((path, start_seconds, duration_seconds) tuples or AudioPiece; path None = silence) into
    one audio file `dest`, atomically; see the module docstring. Returns `dest`, or None (and writes nothing) when no
    piece has audio: a track of pure silence is not worth a stream.

    `codec_args`: the encoder (default `AAC_ARGS`); the container follows `dest`'s extension (.m4a, .mka, ...).
    `sample_rate` / `channels`: override the ones taken from the inputs.
    Raises FileNotFoundError / VideoReadError naming an input whose audio cannot be read, ValueError for a bad piece,
    VideoWriteError when ffmpeg fails (its stderr tail included).
    """
    dest = Path(dest)
    items = _pieces(pieces)
    infos: dict[str, AudioStreamInfo | None] = {}
    for piece in items:
        if piece.path is not None and piece.path not in infos:
            infos[piece.path] = audio_stream_info(piece.path)
    sources = {p: i for p, i in infos.items() if i is not None}
    if not sources:
        return None
    first = next(iter(sources.values()))
    rate = int(sample_rate or (first.sample_rate if first.sample_rate in AAC_RATES else DEFAULT_RATE))
    nch = int(channels or min(MAX_CHANNELS, max(max(i.channels for i in sources.values()), 1)))
    layout = LAYOUTS.get(nch)
    if layout is None:
        raise ValueError(f"audio with {nch} channels cannot be built; pass channels=1..{MAX_CHANNELS}.")
    muxer = MUXERS.get(dest.suffix.lower())
    if muxer is None:
        raise ValueError(f"audio track {dest}: unknown extension {dest.suffix!r}; use one of {', '.join(MUXERS)}.")

    args: list[str] = []
    chains: list[str] = []
    labels: list[str] = []
    t0 = Fraction(0)
    n_inputs = 0
    fmt = f"aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts={layout}"
    for k, piece in enumerate(items):
        t1 = t0 + piece.duration
        samples = round(t1 * rate) - round(t0 * rate)  # cumulative rounding: no drift over many pieces
        t0 = t1
        if samples <= 0:
            continue
        cut = f"atrim=end_sample={samples},asetpts=N/SR/TB"
        if piece.path is not None and sources.get(piece.path) is not None:
            args += [
                "-ss",
                _seconds_arg(piece.start),
                "-t",
                _seconds_arg(piece.duration + Fraction(READ_MARGIN)),
                "-i",
                piece.path,
            ]
            chains.append(f"[{n_inputs}:a:0]aresample=async=1:first_pts=0,{fmt},apad,{cut}[p{k}]")
            n_inputs += 1
        else:
            chains.append(f"anullsrc=r={rate}:cl={layout},{fmt},{cut}[p{k}]")
        labels.append(f"[p{k}]")
    if not labels:
        return None
    graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=0:a=1[out]"
    names = ", ".join(dict.fromkeys(str(p) for p in sources))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.partial-", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        out = ["-filter_complex", graph, "-map", "[out]", *(codec_args or AAC_ARGS), "-ar", str(rate)]
        if muxer in ("mp4", "mov"):
            out += ["-movflags", "+faststart"]
        _ffmpeg.run(
            args + out + ["-f", muxer, str(tmp_path)], what=f"building the audio track {dest.name} from {names}"
        )
        _usual_mode(tmp_path)
        os.replace(tmp_path, dest)
    except BaseException as e:
        tmp_path.unlink(missing_ok=True)
        if isinstance(e, VideoWriteError):
            raise VideoWriteError(
                f"{e}\nCheck that these inputs play with sound, or remove the sound of a damaged one"
                " (ffmpeg -i IN -an -c copy OUT) so that it counts as silence."
            ) from None
        raise
    logger.debug("audio track %s: %d pieces from %s, %d Hz %s", dest, len(labels), names, rate, layout)
    return dest


@contextlib.contextmanager
def temporary_audio_track(
    pieces: Iterable, folder: str | os.PathLike | None = None, *, suffix: str = ".m4a", **kwargs
) -> Iterator[Path | None]:
    """`build_audio_track` into a hidden temporary file in `folder` (default: the system's temporary folder), yielded
    and deleted when the block ends (whatever happens). Yields None when no piece has audio."""
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".lvcd-audio-", suffix=suffix, dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        yield build_audio_track(pieces, path, **kwargs)
    finally:
        path.unlink(missing_ok=True)


NO_AUDIO = "none"  # `--audio none`: write no sound


def choose_audio(audio: str | os.PathLike | None, default: str | os.PathLike | None) -> str | None:
    """The file whose sound goes into an output: `audio` None -> `default` (the input, when it has sound);
    "none" -> None (silent); a path -> that file, which must exist and hold an audio stream (a video or an audio
    file; checked now, before any rendering). Raises FileNotFoundError / ValueError naming the file and the fix."""
    if audio is None:
        return None if default is None else os.fspath(default)
    if str(audio).strip().lower() == NO_AUDIO:
        return None
    path = Path(audio)
    if not path.is_file():
        raise FileNotFoundError(
            f"--audio {audio}: no such file; give the video or audio file whose sound the output "
            f"should carry, or `--audio {NO_AUDIO}` for none."
        )
    try:
        info = audio_stream_info(path)
    except (OSError, VideoReadError) as e:
        raise ValueError(f"--audio {audio}: cannot be read ({e}); give a video or audio file.") from None
    if info is None:
        raise ValueError(
            f"--audio {audio} has no audio stream; give the colour clip or sound file the lineart was "
            f"made from, or `--audio {NO_AUDIO}`."
        )
    return os.fspath(path)
