"""The learned extractor's loader, with a random state dict of the real Generator(3, 1, 3) architecture (no weights
are downloaded or bundled)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lvcd.lineart.informative_drawings import (
    Generator,
    InformativeDrawingsConfig,
    InformativeDrawingsExtractor,
    load_generator,
)

# key names of the released checkpoints (ControlNet annotator sk_model.pth / informative-drawings netG_A_latest.pth)
RELEASED_KEYS = {
    "model0.1.weight": (64, 3, 7, 7),
    "model1.0.weight": (128, 64, 3, 3),
    "model1.3.weight": (256, 128, 3, 3),
    "model2.0.conv_block.1.weight": (256, 256, 3, 3),
    "model2.2.conv_block.5.bias": (256,),
    "model3.0.weight": (256, 128, 3, 3),  # ConvTranspose2d: [in, out, k, k]
    "model3.3.weight": (128, 64, 3, 3),
    "model4.1.weight": (1, 64, 7, 7),
}


@pytest.fixture(scope="module")
def random_state():
    torch.manual_seed(0)
    return {k: v.clone() for k, v in Generator(3, 1, 3).state_dict().items()}


def test_architecture_matches_the_released_checkpoint_layout(random_state):
    for k, shape in RELEASED_KEYS.items():
        assert tuple(random_state[k].shape) == shape, k
    assert len(random_state) == 24  # conv weight + bias: 2 + 4 + 3 blocks * 4 + 4 + 2; InstanceNorm has none


def test_load_from_file_and_extract(tmp_path, random_state):
    path = tmp_path / "sk_model.pth"
    torch.save({f"module.{k}": v for k, v in random_state.items()}, path)  # DataParallel-style prefix accepted
    model = load_generator(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, random_state[k])
    ex = InformativeDrawingsExtractor(path)
    img = (np.random.default_rng(0).random((30, 37, 3)) * 255).astype(np.uint8)  # not a multiple of 8: padded
    lines = ex(img)
    assert lines.shape == (30, 37) and lines.dtype == np.float32
    assert 0.0 <= lines.min() and lines.max() <= 1.0
    # same as running the raw network: 1 - sigmoid output (paper = 1 there, line = 1 here)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    x = torch.nn.functional.pad(x, (0, 3, 0, 2), mode="reflect")
    with torch.no_grad():
        ref = 1.0 - model(x)[0, 0, :30, :37].numpy()
    np.testing.assert_allclose(lines, ref, atol=1e-6)


def test_safetensors_and_dict_inputs(tmp_path, random_state):
    from safetensors.torch import save_file

    path = tmp_path / "g.safetensors"
    save_file(random_state, str(path))
    assert isinstance(load_generator(path), Generator)
    assert isinstance(InformativeDrawingsExtractor(random_state).model, Generator)


def test_errors_teach(tmp_path, random_state):
    with pytest.raises(FileNotFoundError, match="bundles none"):
        load_generator(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="n_residual_blocks"):
        load_generator(random_state, InformativeDrawingsConfig(n_residual_blocks=2))
    with pytest.raises(ValueError, match="uint8"):
        InformativeDrawingsExtractor(random_state)(np.zeros((8, 8)))


def test_lineart_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, lvcd.lineart, lvcd.backends; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
