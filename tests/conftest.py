"""Shared fixtures: the tiny random LVCD pipeline (real 19-frame layout, tiny widths), in memory and on disk."""
import os

import pytest
import torch

os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def tiny_pipe():
    from lvcd.pipelines.tiny import make_tiny_pipeline

    pipe = make_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory, tiny_pipe):
    d = tmp_path_factory.mktemp("tiny-random")
    tiny_pipe.save_pretrained(d, safe_serialization=True)
    return d
