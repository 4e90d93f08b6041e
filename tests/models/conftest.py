"""Fixtures for the model tests: tiny UNets with the real SVD topology and seeded random weights (CPU, seconds)."""

import pytest
import torch
from tiny_models import TINY_SVD_CONFIG, randomize_


@pytest.fixture
def tiny_config():
    return {k: (list(v) if isinstance(v, list) else v) for k, v in TINY_SVD_CONFIG.items()}


@pytest.fixture
def tiny_unet(tiny_config):
    from lvcd.models import LVCDUNetModel

    torch.manual_seed(0)
    return randomize_(LVCDUNetModel(**tiny_config)).eval()
