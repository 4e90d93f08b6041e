"""Renders shared by the pipeline tests that assert different things about the same render."""

import pytest
from test_pipeline_lvcd import run_short


@pytest.fixture(scope="session")
def short_runs(tiny_pipe_short):
    """`short_runs(n)`: `run_short(tiny_pipe_short, n)` (seed 0), rendered once per n for every test that reads it."""
    runs = {}

    def get(n):
        if n not in runs:
            runs[n] = run_short(tiny_pipe_short, n)
        return runs[n]

    return get
