"""lvcd.api without files: geometry, reference checks, the streaming core on both backends, resume."""

import numpy as np
import pytest
from PIL import Image

from lvcd import api, model_dir
from lvcd.api import ColorizeOptions, LVCDError, load_reference
from lvcd.backends.diffusion import DiffusionBackend
from lvcd.frames import Letterbox
from lvcd.model_dir import model_size_for
from lvcd.pipelines.tiny import SHORT_OVERLAP


def lineart_clip(n, h=48, w=80, seed=0, polarity="black-on-white"):
    """A moving circle and a box, drawn as 2-px lines."""
    import cv2

    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 255, np.uint8)
        cv2.circle(f, (10 + i % 50, h // 2), 9, (0, 0, 0), 2)
        cv2.rectangle(f, (w - 30, 5), (w - 8, 20 + i % 10), (0, 0, 0), 2)
        frames.append(f if polarity == "black-on-white" else 255 - f)
    return frames


def colour_of(frame):
    out = frame.copy()
    out[(frame == 255).all(-1)] = (200, 120, 40)
    return out


@pytest.mark.parametrize("src", [(576, 320), (641, 359), (1920, 1080), (1000, 1000), (320, 576)])
def test_model_size_is_multiple_of_64_near_the_trained_area(src):
    w, h = model_size_for(*src)
    assert w % 64 == 0 and h % 64 == 0
    assert 0.6 < (w * h) / (576 * 320) < 1.5
    assert abs(w / h - src[0] / src[1]) / (src[0] / src[1]) < 0.2


def test_letterbox_round_trip_restores_exact_size():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (359, 641, 3), dtype=np.uint8)
    lb = Letterbox((641, 359), model_size_for(641, 359))
    fitted = lb.fit(frame)
    assert fitted.shape == (model_size_for(641, 359)[1], model_size_for(641, 359)[0], 3)
    back = lb.unfit(fitted)
    assert back.shape == frame.shape
    assert np.abs(back.astype(int) - frame.astype(int)).mean() < 40  # resampled twice, same picture


def test_reference_errors_teach(tmp_path):
    with pytest.raises(FileNotFoundError, match="reference image"):
        load_reference(tmp_path / "nope.png", (64, 64))
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(LVCDError, match="not a readable image"):
        load_reference(tmp_path / "bad.png", (64, 64))
    gray = np.full((64, 64), 255, np.uint8)
    gray[::8] = 0
    Image.fromarray(gray).save(tmp_path / "gray.png")
    with pytest.raises(LVCDError, match="grayscale"):
        load_reference(tmp_path / "gray.png", (64, 64))
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0] = 200
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    with pytest.raises(LVCDError, match="transparent"):
        load_reference(tmp_path / "clear.png", (64, 64))
    col = np.zeros((64, 128, 3), np.uint8)
    col[..., 0] = 200
    Image.fromarray(col).save(tmp_path / "wide.png")
    with pytest.raises(LVCDError, match="reference-fit"):
        load_reference(tmp_path / "wide.png", (64, 64))
    assert load_reference(tmp_path / "wide.png", (64, 64), fit="crop").shape == (64, 64, 3)
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    assert load_reference(tmp_path / "opaque.png", (64, 64)).shape == (64, 64, 3)


def test_options_validate():
    with pytest.raises(LVCDError, match="size"):
        ColorizeOptions(size=(100, 64))
    with pytest.raises(LVCDError, match="backend"):
        ColorizeOptions(backend="magic")


def test_no_model_message_says_how_to_convert_and_how_to_run_without(monkeypatch, tmp_path):
    monkeypatch.setenv("LVCD_MODEL", str(tmp_path / "none"))
    monkeypatch.setattr(model_dir, "DEFAULT_MODEL_DIR", tmp_path / "none2")
    with pytest.raises(LVCDError) as e:
        api.make_backend(ColorizeOptions(backend="diffusion"))
    assert "lvcd convert" in str(e.value) and "--backend bucket" in str(e.value)
    backend, model = api.make_backend(ColorizeOptions(backend="auto"))
    assert backend.name == "bucket" and model is None


@pytest.mark.parametrize("n", [1, 2, 7])
def test_bucket_streaming_gives_one_frame_per_input(n):
    frames = lineart_clip(n)
    out = list(api.colorize_frames(frames, colour_of(frames[0]), backend="bucket"))
    assert len(out) == n and all(o.shape == frames[0].shape and o.dtype == np.uint8 for o in out)


TINY = dict(steps=1, size=(64, 64))  # options of each call (colorize_frames passes them to the backend)
TINY_SHORT = dict(TINY, overlap=SHORT_OVERLAP)  # the short tiny pipeline: windows of 1 + 1 + 4 frames


@pytest.fixture(scope="module")
def tiny_backend(tiny_pipe):
    return DiffusionBackend(tiny_pipe, ColorizeOptions(**TINY))


@pytest.mark.parametrize("polarity", ["black-on-white", "white-on-black"])
def test_pipeline_call_and_colorize_frames_feed_the_model_the_same_inputs(tiny_backend, monkeypatch, polarity):
    """`pipe(sketches=uint8 frames)` and `lvcd.colorize_frames` prepare sketches and reference one way: every
    denoiser call (noisy latents, sigma, concat latents, sketch hint, CLIP embedding, time ids) is identical."""
    import torch

    from lvcd.pipelines import LVCDPipeline

    calls = {}
    orig = LVCDPipeline._denoise

    def record(self, x, sigma, concat, hint, cond):
        calls.setdefault(key, []).append(
            [t.detach().clone() for t in (x, sigma, concat, hint, cond.image_embeddings, cond.added_time_ids)]
        )
        return orig(self, x, sigma, concat, hint, cond)

    monkeypatch.setattr(LVCDPipeline, "_denoise", record)
    frames = [np.ascontiguousarray(f[:, 8:72]) for f in lineart_clip(16, h=64, polarity=polarity)]  # model size
    ref = colour_of(frames[0])
    key = "api"
    list(api.colorize_frames(frames, ref, backend=tiny_backend, seed=7, steps=1, size=(64, 64)))
    key = "pipe"
    tiny_backend.pipe(
        sketches=frames,
        reference=ref,
        generator=torch.Generator("cpu").manual_seed(7),
        num_inference_steps=1,
        output_type="latent",
    )
    assert len(calls["api"]) == len(calls["pipe"]) == 2  # two windows of one step
    for a, b in zip(calls["api"], calls["pipe"], strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def tiny_backend_short(tiny_pipe_short):
    """Several windows in a third of the frames (the window plan, resume and threads are what these tests check)."""
    return DiffusionBackend(tiny_pipe_short, ColorizeOptions(**TINY_SHORT))


# released 1 + 4 + 14 windows: 14 (one padded), 15 (one full), 16 (two); short 1 + 1 + 4: 1, 2, 5, 6 likewise
@pytest.mark.parametrize(
    "layout,n", [("released", 14), ("released", 16), ("short", 1), ("short", 2), ("short", 5), ("short", 6)]
)
def test_diffusion_streaming_gives_exactly_n_frames_at_source_size(tiny_backend, tiny_backend_short, layout, n):
    frames = lineart_clip(n)
    backend, opts = (tiny_backend, TINY) if layout == "released" else (tiny_backend_short, TINY_SHORT)
    out = list(api.colorize_frames(frames, colour_of(frames[0]), backend=backend, **opts))
    assert len(out) == n
    assert all(o.shape == (48, 80, 3) and o.dtype == np.uint8 for o in out)


def test_both_polarities_give_the_same_model_input():
    from lvcd.lineart import line_strength

    bow, wob = lineart_clip(1)[0], lineart_clip(1, polarity="white-on-black")[0]
    np.testing.assert_array_equal(line_strength(bow, "auto"), line_strength(wob, "auto"))


def test_polarity_does_not_change_the_diffusion_output(tiny_backend):
    a = lineart_clip(3)
    b = lineart_clip(3, polarity="white-on-black")
    ref = colour_of(a[0])
    out_a = list(api.colorize_frames(a, ref, backend=tiny_backend, **TINY))
    out_b = list(api.colorize_frames(b, ref, backend=tiny_backend, **TINY))
    for x, y in zip(out_a, out_b):
        np.testing.assert_array_equal(x, y)


def test_diffusion_resume_from_window_checkpoints_is_identical(tiny_backend_short, tmp_path):
    frames = lineart_clip(11)
    ref = colour_of(frames[0])
    full = list(tiny_backend_short.colorize(ref, iter(frames), 11, checkpoint_dir=tmp_path / "a"))
    ckpts = sorted((tmp_path / "a").glob("seg_*.safetensors"))
    assert len(ckpts) == 3
    # simulate a crash after the first window: keep only its checkpoint, render again
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ckpts[0].name).write_bytes(ckpts[0].read_bytes())
    resumed = list(tiny_backend_short.colorize(ref, iter(frames), 11, checkpoint_dir=tmp_path / "b"))
    assert len(resumed) == 11
    for x, y in zip(full, resumed):
        np.testing.assert_array_equal(x, y)


def test_a_resumed_render_prepares_only_the_sketches_its_unfinished_windows_need(
    tiny_backend_short, tmp_path, monkeypatch
):
    from lvcd.pipelines import pipeline_lvcd
    from lvcd.sampling import plan_segments

    frames = lineart_clip(11)
    ref = colour_of(frames[0])
    list(tiny_backend_short.colorize(ref, iter(frames), 11, checkpoint_dir=tmp_path))
    (tmp_path / "seg_00002.safetensors").unlink()  # the last window did not finish
    prepared = []
    orig = pipeline_lvcd.line_strength  # where LVCDPipeline.sketch_tensor reads it
    monkeypatch.setattr(pipeline_lvcd, "line_strength", lambda f, p="auto": prepared.append(1) or orig(f, p))
    assert len(list(tiny_backend_short.colorize(ref, iter(frames), 11, checkpoint_dir=tmp_path))) == 11
    segments = plan_segments(11, tiny_backend_short.pipe.segment_config(SHORT_OVERLAP))
    assert len(segments) == 3
    first_needed = min(i for i in segments[2].hint_indices if i > 0)
    assert 0 < first_needed and len(prepared) == 1 + (11 - first_needed)  # frame 0 and the last window's frames


def test_colorize_frames_passes_this_calls_options_to_the_backend():
    seen = []

    class Recorder:
        name = "bucket"

        def colorize(self, ref, frames, n, polarity="auto", checkpoint_dir=None, options=None):
            seen.append(options)
            for f in frames:
                yield f

    frames = lineart_clip(3)
    out = list(api.colorize_frames(frames, colour_of(frames[0]), backend=Recorder(), seed=7, steps=3))
    assert len(out) == 3 and seen[0].seed == 7 and seen[0].steps == 3


def test_keep_lines_pairs_every_output_with_its_lineart():
    frames = lineart_clip(5)
    out = list(api.colorize_frames(frames, colour_of(frames[0]), backend="bucket", keep_lines=True))
    assert len(out) == 5
    for o, f in zip(out, frames):
        assert (o[(f == 0).all(-1)] < 60).all()  # the original black lines are on top


def test_flat_grey_keyframe_is_accepted_lineart_is_refused(tmp_path):
    grey = np.full((64, 64, 3), 128, np.uint8)
    grey[:32] = 90
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert load_reference(tmp_path / "grey.png", (64, 64)).shape == (64, 64, 3)
    line = np.full((64, 64), 255, np.uint8)
    line[30:33] = 0
    Image.fromarray(line).save(tmp_path / "line.png")
    with pytest.raises(LVCDError, match="lineart"):
        load_reference(tmp_path / "line.png", (64, 64))


def _stage_threads():
    import threading

    return [t.name for t in threading.enumerate() if t.name in ("lvcd-model", "lvcd-sketches", "lvcd-read")]


def test_leaving_a_diffusion_stream_early_stops_its_threads(tiny_backend_short):
    frames = lineart_clip(11)  # three short windows
    gen = api.colorize_frames(frames, colour_of(frames[0]), backend=tiny_backend_short, **TINY_SHORT)
    assert next(gen).shape == (48, 80, 3)
    assert _stage_threads()  # the stages are running ahead
    gen.close()
    assert not _stage_threads()
    # the shared pipeline is free again: a full render on the same backend still gives every frame
    assert len(list(api.colorize_frames(frames, colour_of(frames[0]), backend=tiny_backend_short, **TINY_SHORT))) == 11


def test_an_input_error_mid_stream_reaches_the_caller_and_stops_the_threads(tiny_backend_short):
    frames = lineart_clip(11)  # three short windows; the input fails in the third

    def failing():
        yield from frames[:8]
        raise OSError("disk went away at frame 8")

    with pytest.raises(OSError, match="frame 8"):
        list(
            api.colorize_frames(
                failing(), colour_of(frames[0]), num_frames=11, backend=tiny_backend_short, **TINY_SHORT
            )
        )
    assert not _stage_threads()
