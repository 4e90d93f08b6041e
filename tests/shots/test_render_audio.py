"""`lvcd batch` with an episode split across several input videos: the assembled video carries their sound, in
output order and in sync (each shot's frames with the audio of its input over the same frames); one input is still
stream-copied."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from shots_synth import colour_reference, make_clip

from lvcd.shots.render import render_shots
from lvcd.video import VideoWriteError, open_writer, probe, read_frames
from lvcd.video._ffmpeg import ffmpeg_exe

SIZE = (128, 72)
FPS = 24
# input B: 1000 Hz for its first second, 2000 Hz after; where that switch lands in the output tells the timing
SWITCH = "sin(2*PI*if(lt(t\\,1)\\,1000\\,2000)*t)"


def clip(path: Path, spec: list[dict], tone: str | None, layout: str = "mono") -> Path:
    """Generated lineart at 24 fps as H.264, with an `aevalsrc` sound exactly as long as the video (or none)."""
    frames, _ = make_clip(spec, SIZE)
    silent = path if tone is None else path.with_name("silent-" + path.name)
    with open_writer(silent, Fraction(FPS), SIZE, preset="ultrafast") as w:
        for f in frames:
            w.write(f)
    if tone is not None:
        seconds = len(frames) / FPS
        subprocess.run(
            [
                ffmpeg_exe(),
                "-v",
                "error",
                "-y",
                "-i",
                str(silent),
                "-f",
                "lavfi",
                "-t",
                f"{seconds:.6f}",
                "-i",
                f"aevalsrc={tone}:s=48000:c={layout}",
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                str(path),
            ],
            check=True,
        )
        silent.unlink()
    return path


def refs(tmp_path: Path, inputs: list[Path], frames: dict[str, int]) -> dict[str, str]:
    """Coloured keyframes: name -> global frame number of the concatenated inputs."""
    decoded = [f for p in inputs for f in read_frames(p)]
    out = {}
    for name, k in frames.items():
        cv2.imwrite(
            str(tmp_path / f"ref{k}.png"), cv2.cvtColor(colour_reference(decoded[k], seed=k), cv2.COLOR_RGB2BGR)
        )
        out[name] = f"ref{k}.png"
    return out


def two_part_episode(
    tmp_path: Path, tone_a: str | None, tone_b: str | None, output: str = "out.mp4", defaults: dict | None = None
) -> Path:
    """Input A: 24 frames (1 s), input B: 48 frames (2 s). Shots: a 0-20; b 20-30 (across the two files); c 30-72
    (starts at frame 6 of B, reference mid-shot so a backward pass runs)."""
    a = clip(tmp_path / "part1.mp4", [{"kind": "shapes", "n": 24, "seed": 1}], tone_a)
    b = clip(
        tmp_path / "part2.mp4",
        [{"kind": "twos", "n": 18, "seed": 4}, {"kind": "pan", "n": 30, "seed": 2}],
        tone_b,
        layout="stereo",
    )
    r = refs(tmp_path, [a, b], {"a": 0, "b": 24, "c": 40})
    m = tmp_path / "shots.yaml"
    m.write_text(
        yaml.safe_dump(
            {
                "input": ["part1.mp4", "part2.mp4"],
                "output": output,
                "defaults": {"backend": "bucket", **(defaults or {})},
                "shots": [
                    {"name": "a", "start": 0, "end": 20, "reference": r["a"]},
                    {"name": "b", "start": 20, "end": 30, "reference": r["b"], "reference_frame": 24},
                    {"name": "c", "start": 30, "end": 72, "reference": r["c"], "reference_frame": 40},
                ],
            }
        )
    )
    return m


def decode_mono(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        parts = []
        for f in c.decode(s):
            arr = f.to_ndarray()
            n = len(f.layout.channels)
            parts.append(arr.reshape(n, -1).mean(0) if f.format.is_planar else arr.reshape(-1, n).mean(1))
        return np.concatenate(parts).astype(np.float64), s.sample_rate


def audio_seconds(path: Path) -> float:
    """The audio stream's duration as the container states it (edit lists / priming accounted for)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        if s.duration:
            return float(s.duration * s.time_base)
        pkts = [p for p in c.demux(s) if p.size]  # Matroska: from the packets
        return float((pkts[-1].pts + pkts[-1].duration - pkts[0].pts) * s.time_base)


def dominant(x: np.ndarray, rate: int, a: float, b: float) -> tuple[float, float]:
    """(dominant frequency, RMS) over seconds [a, b)."""
    w = x[int(a * rate) : int(b * rate)]
    spec = np.abs(np.fft.rfft(w * np.hanning(len(w))))
    return float(np.fft.rfftfreq(len(w), 1 / rate)[spec.argmax()]), float(np.sqrt(np.mean(w**2)))


def leftovers(*folders: Path) -> list[str]:
    return sorted(str(p) for f in folders for p in f.rglob("*") if ".partial-" in p.name or "lvcd-audio" in p.name)


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov"])
def test_several_inputs_carry_their_audio_in_sync(tmp_path, ext):
    m = two_part_episode(tmp_path, "sin(2*PI*440*t)", SWITCH, output=f"out.{ext}")
    res = render_shots(m, progress=False)
    info = probe(res.output)
    assert info.frame_count == 72 and info.fps == FPS and info.has_audio and info.audio_codec == "aac"
    video_seconds = 72 / FPS
    assert abs(audio_seconds(res.output) - video_seconds) <= 0.025  # within one audio frame
    x, rate = decode_mono(res.output)
    assert abs(len(x) / rate - video_seconds) <= 0.025
    assert abs(dominant(x, rate, 0.1, 0.9)[0] - 440) < 5  # part 1: input A
    assert abs(dominant(x, rate, 1.1, 1.9)[0] - 1000) < 5  # part 2: input B ...
    assert abs(dominant(x, rate, 2.1, 2.9)[0] - 2000) < 5  # ... at B's own timing: its switch at B's 1 s = 2 s out
    assert abs(dominant(x, rate, 1.975, 1.995)[0] - 1000) < 60 and abs(dominant(x, rate, 2.005, 2.025)[0] - 2000) < 60
    assert leftovers(tmp_path) == []


def test_an_input_without_audio_is_silence_of_its_length(tmp_path):
    m = two_part_episode(tmp_path, None, SWITCH)
    res = render_shots(m, progress=False)
    assert probe(res.output).has_audio
    assert abs(audio_seconds(res.output) - 3.0) <= 0.025
    x, rate = decode_mono(res.output)
    assert dominant(x, rate, 0.05, 0.95)[1] < 1e-3  # part 1: silence
    assert abs(dominant(x, rate, 1.1, 1.9)[0] - 1000) < 5 and abs(dominant(x, rate, 2.1, 2.9)[0] - 2000) < 5


def test_no_input_with_audio_means_no_audio_stream(tmp_path):
    res = render_shots(two_part_episode(tmp_path, None, None), progress=False)
    info = probe(res.output)
    assert info.frame_count == 72 and not info.has_audio
    assert leftovers(tmp_path) == []


def test_png_output_of_several_inputs_writes_no_audio(tmp_path):
    res = render_shots(
        two_part_episode(tmp_path, "sin(2*PI*440*t)", SWITCH, output="frames", defaults={"fmt": "png"}), progress=False
    )
    assert len(list(res.output.glob("*.png"))) == 72 and leftovers(tmp_path) == []


def test_a_failed_audio_build_leaves_no_output_and_no_temporaries(tmp_path, monkeypatch):
    from lvcd.video import audio as audio_mod

    m = two_part_episode(tmp_path, "sin(2*PI*440*t)", SWITCH)

    def failing(args, *, what):
        Path(args[-1]).write_bytes(b"half")
        raise VideoWriteError(f"{what} failed (ffmpeg exit status 1):\n    boom")

    monkeypatch.setattr(audio_mod._ffmpeg, "run", failing)
    with pytest.raises(VideoWriteError, match=r"part1\.mp4, .*part2\.mp4(.|\n)*boom"):
        render_shots(m, progress=False)
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []
    monkeypatch.undo()
    res = render_shots(m, progress=False)  # the shots are done: only the assembly runs again
    assert [s.status for s in res.shots] == ["up to date"] * 3 and probe(res.output).has_audio


def test_one_input_is_still_stream_copied(tmp_path):
    """A single input's audio packets go into the output unchanged (no re-encode)."""
    import av

    a = clip(tmp_path / "line.mp4", [{"kind": "shapes", "n": 24, "seed": 1}], "sin(2*PI*440*t)")
    r = refs(tmp_path, [a], {"a": 0})
    m = tmp_path / "shots.yaml"
    m.write_text(
        yaml.safe_dump(
            {
                "input": "line.mp4",
                "output": "out.mp4",
                "defaults": {"backend": "bucket"},
                "shots": [{"name": "a", "start": 0, "end": 24, "reference": r["a"]}],
            }
        )
    )
    res = render_shots(m, progress=False)

    def packets(p):
        with av.open(str(p)) as c:
            return [bytes(k) for k in c.demux(c.streams.audio[0]) if k.size]

    src, out = packets(a), packets(res.output)
    assert len(out) >= len(src) - 1 and out == src[: len(out)]
