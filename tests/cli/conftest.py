import pytest


@pytest.fixture(scope="module")
def tiny_args(tiny_pipeline_dir):
    """CLI flags for a fast diffusion render with the tiny random pipeline."""
    return ["--backend", "diffusion", "--model", str(tiny_pipeline_dir), "--steps", "1", "--size", "64x64"]


@pytest.fixture(scope="module")
def tiny_args_short(tiny_pipeline_dir_short):
    """The same with the short tiny pipeline (windows of 1 + 1 + 4 frames): several windows in few frames."""
    from lvcd.pipelines.tiny import SHORT_OVERLAP

    return [
        "--backend",
        "diffusion",
        "--model",
        str(tiny_pipeline_dir_short),
        "--steps",
        "1",
        "--size",
        "64x64",
        "--overlap",
        str(SHORT_OVERLAP),
    ]
