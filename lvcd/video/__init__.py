"""Streaming video IO for lvcd: probe, read and write videos and image sequences (no torch here).

Frames cross this boundary as uint8 HxWx3 RGB numpy arrays, one at a time:

    from lvcd.video import probe, open_reader, open_writer

    info = probe("lineart.mp4")                      # exact frame_count, fps as a Fraction, size, rotation, audio
    with open_reader("lineart.mp4") as frames, open_writer("color.mp4", info.fps, info.size,
                                                           audio_from="lineart.mp4") as out:
        for frame in frames:
            out.write(colorize(frame))               # the output appears, complete, when the block ends

Modules: `probe` (VideoInfo), `reader` (PyAV decoding, OpenCV colour conversion), `writer` (one ffmpeg process per
output, atomic rename, audio passthrough), `output_paths` (formats, pre-checks, sidecar paths), `retime` (variable
frame rate timestamps), `audio`, `images` (image sequences, `read_image` with alpha), `errors`.
Lineart polarity detection lives in `lvcd.lineart`, not here.
"""

from .errors import VideoReadError, VideoTruncatedError, VideoWriteError
from .images import IMAGE_EXTENSIONS, allow_gaps, list_sequence, natural_key, read_image
from .output_paths import SUPPORTED_OUTPUTS, check_output_path, sidecar_path
from .probe import DEFAULT_SEQUENCE_FPS, VideoInfo, as_fps, probe
from .reader import FrameReader, open_reader, read_frames
from .writer import FrameWriter, open_writer, write_sidecar

__all__ = [
    "DEFAULT_SEQUENCE_FPS",
    "IMAGE_EXTENSIONS",
    "SUPPORTED_OUTPUTS",
    "FrameReader",
    "FrameWriter",
    "VideoInfo",
    "VideoReadError",
    "VideoTruncatedError",
    "VideoWriteError",
    "allow_gaps",
    "as_fps",
    "check_output_path",
    "list_sequence",
    "natural_key",
    "open_reader",
    "open_writer",
    "probe",
    "read_frames",
    "read_image",
    "sidecar_path",
    "write_sidecar",
]
