"""Shared fixtures: the tiny random LVCD pipeline (real 19-frame layout, tiny widths), in memory and on disk; the same
network with a short video path (windows of 1 + 1 + 4 frames) for the window-choreography tests; the golden oracle."""

import os

import pytest
import torch

os.environ.setdefault("TQDM_DISABLE", "1")
# One intra-op thread, here and (through OMP_NUM_THREADS) in every subprocess the tests start: the tiny networks'
# ops are too small to gain from a second thread, and on a busy 2-core machine two OpenMP threads spin at every
# barrier (at load ~7 a short tiny render took 10-25x the CPU time and ~10x the wall time with 2 threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_pipe():
    from lvcd.pipelines.tiny import make_tiny_pipeline

    pipe = make_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def tiny_pipe_short():
    """The tiny pipeline with a 4-frame video path: call it with `overlap=SHORT_OVERLAP` (lvcd.pipelines.tiny) for
    6-frame windows, so tests that need several windows run a third of the frames of the released layout."""
    from lvcd.pipelines.tiny import SHORT_VIDEO_FRAMES, make_tiny_pipeline

    pipe = make_tiny_pipeline(seed=0, num_frames=SHORT_VIDEO_FRAMES)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory, tiny_pipe):
    d = tmp_path_factory.mktemp("tiny-random")
    tiny_pipe.save_pretrained(d, safe_serialization=True)
    return d


@pytest.fixture(scope="session")
def tiny_pipeline_dir_short(tmp_path_factory, tiny_pipe_short):
    """`tiny_pipe_short` saved as a pipeline folder (render it with `--overlap 1`)."""
    d = tmp_path_factory.mktemp("tiny-random-short")
    tiny_pipe_short.save_pretrained(d, safe_serialization=True)
    return d


@pytest.fixture(scope="session")
def oracle_dir():
    """The golden oracle set `A` (tests/oracle_path.py): skips without it, fails without it under CI=true."""
    from oracle_path import require_oracle

    return require_oracle("A")
