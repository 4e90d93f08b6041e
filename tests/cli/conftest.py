import pytest


@pytest.fixture(scope="module")
def tiny_args(tiny_pipeline_dir):
    """CLI flags for a fast diffusion render with the tiny random pipeline."""
    return ["--backend", "diffusion", "--model", str(tiny_pipeline_dir), "--steps", "1", "--size", "64x64"]
