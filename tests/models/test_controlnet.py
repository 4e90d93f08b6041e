"""LVCDControlNetModel: zero initialisation, residual shapes, sketch injection, weight copy from the UNet."""

import pytest
import torch
from diffusers.models.controlnets.controlnet import ControlNetConditioningEmbedding
from tiny_models import make_inputs, randomize_

from lvcd.models import LVCDControlNetModel, LVCDUNetModel, ReferenceAttentionState, install_lvcd_processors


def _hint(batch, frames, h, w, seed=5):
    return torch.rand(batch, frames, 3, 8 * h, 8 * w, generator=torch.Generator().manual_seed(seed))


def test_config_and_modules(tiny_config):
    controlnet = LVCDControlNetModel.from_unet(LVCDUNetModel(**tiny_config))
    cfg = controlnet.config
    assert cfg.in_channels == 8 and cfg.num_frames == 14 and cfg.conditioning_channels == 3
    assert tuple(cfg.conditioning_embedding_out_channels) == (16, 32, 96, 256) and cfg.sgm_groupnorm_eps is True
    assert isinstance(controlnet.controlnet_cond_embedding, ControlNetConditioningEmbedding)
    assert len(controlnet.controlnet_down_blocks) == 12
    # official tiny ControlNet: 669 tensors (lvcd_tiny: control_model.*)
    assert len(controlnet.state_dict()) == 669
    new = sorted(k for k in controlnet.state_dict() if k.startswith("controlnet_"))
    assert len(new) == 16 + 24 + 2
    # sgm eps in the 24 resnet norms of down_blocks.0-2 that diffusers builds with 1e-6
    eps = {n: m.eps for n, m in controlnet.named_modules() if isinstance(m, torch.nn.GroupNorm) and ".resnets." in n}
    assert set(eps.values()) == {1e-5}


def test_from_unet_copies_the_encoder(tiny_unet):
    controlnet = LVCDControlNetModel.from_unet(tiny_unet)
    unet_sd = tiny_unet.state_dict()
    copied = 0
    for key, value in controlnet.state_dict().items():
        if key.startswith("controlnet_"):
            continue
        assert torch.equal(value, unet_sd[key]), key
        copied += 1
    assert copied == 669 - 42
    fresh = LVCDControlNetModel.from_unet(tiny_unet, load_weights_from_unet=False)
    assert not torch.equal(fresh.conv_in.weight, tiny_unet.conv_in.weight)


def test_zero_initialised_controlnet_gives_zero_residuals_with_the_unet_skip_shapes(tiny_unet):
    controlnet = LVCDControlNetModel.from_unet(tiny_unet).eval()
    state = ReferenceAttentionState()
    install_lvcd_processors(tiny_unet, state)
    install_lvcd_processors(controlnet, state, bias_excluded=())
    inputs = make_inputs(batch=1, frames=19, h=8, w=8)
    shapes = []
    handles = [
        b.register_forward_pre_hook(
            lambda m, a, kw: shapes.extend(tuple(r.shape) for r in reversed(kw["res_hidden_states_tuple"])),
            with_kwargs=True,
        )
        for b in tiny_unet.up_blocks
    ]
    with torch.no_grad(), state.use("normal"):
        out = controlnet(**inputs, controlnet_cond=_hint(1, 19, 8, 8))
        down, mid = out.down_block_res_samples, out.mid_block_res_sample
        base = tiny_unet(**inputs).sample
        with_res = tiny_unet(**inputs, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
    for h in handles:
        h.remove()
    assert len(down) == 12
    assert [tuple(d.shape) for d in down] == shapes[:12][::-1]  # the UNet's skips, in down_block_res_samples order
    assert all(torch.count_nonzero(d) == 0 for d in down) and torch.count_nonzero(mid) == 0
    assert mid.shape == (19, 64, 1, 1)
    assert torch.equal(with_res, base)
    tup = controlnet(**inputs, controlnet_cond=_hint(1, 19, 8, 8), return_dict=False)
    assert isinstance(tup, tuple) and len(tup) == 2 and len(tup[0]) == 12


def test_sketch_is_added_after_conv_in_and_scale_applies(tiny_config):
    torch.manual_seed(0)
    controlnet = randomize_(LVCDControlNetModel.from_unet(LVCDUNetModel(**tiny_config))).eval()
    c0 = controlnet.config.block_out_channels[0]
    with torch.no_grad():  # make the first zero conv the identity, so residual 0 = conv_in(x) + embed(hint)
        controlnet.controlnet_down_blocks[0].weight.copy_(torch.eye(c0)[:, :, None, None])
        controlnet.controlnet_down_blocks[0].bias.zero_()
    inputs = make_inputs(batch=2, frames=3, h=8, w=8)
    hint = _hint(2, 3, 8, 8)
    with torch.no_grad():
        down, mid = controlnet(**inputs, controlnet_cond=hint, return_dict=False)
        expected = controlnet.conv_in(inputs["sample"].flatten(0, 1)) + controlnet.controlnet_cond_embedding(
            hint.flatten(0, 1)
        )
        half, half_mid = controlnet(**inputs, controlnet_cond=hint, conditioning_scale=0.5, return_dict=False)
    torch.testing.assert_close(down[0], expected, rtol=1e-5, atol=1e-6)
    assert all(torch.allclose(h, 0.5 * d) for h, d in zip(half, down)) and torch.allclose(half_mid, 0.5 * mid)
    with pytest.raises(ValueError, match="controlnet_cond"):
        controlnet(**inputs, controlnet_cond=hint[:, :2])


def test_controlnet_state_dict_roundtrip(tiny_config, tmp_path):
    torch.manual_seed(0)
    controlnet = randomize_(LVCDControlNetModel.from_unet(LVCDUNetModel(**tiny_config)))
    controlnet.save_pretrained(tmp_path / "cn")
    loaded = LVCDControlNetModel.from_pretrained(tmp_path / "cn")

    def plain(cfg):
        return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in cfg.items() if not k.startswith("_")}

    assert plain(loaded.config) == plain(controlnet.config)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), controlnet.state_dict().values()))
