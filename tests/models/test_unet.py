"""LVCDUNetModel: diffusers SVD compatibility, GroupNorm eps, ControlNet residual injection."""

import pytest
import torch
import torch.nn as nn
from diffusers.models.unets.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel
from tiny_models import SVD_CONFIG, make_inputs, randomize_

from lvcd.models import LVCDUNetModel, ReferenceAttentionState, install_lvcd_processors
from lvcd.models.layers import set_sgm_groupnorm_eps


def _pair(config, sgm_groupnorm_eps):
    torch.manual_seed(0)
    stock = randomize_(UNetSpatioTemporalConditionModel(**config)).eval()
    unet = LVCDUNetModel(**config, sgm_groupnorm_eps=sgm_groupnorm_eps).eval()
    unet.load_state_dict(stock.state_dict(), strict=True)
    return stock, unet


def test_same_config_and_state_dict_keys_as_diffusers(tiny_config, tmp_path):
    stock, unet = _pair(tiny_config, True)
    assert {k: v.shape for k, v in unet.state_dict().items()} == {k: v.shape for k, v in stock.state_dict().items()}
    assert unet.config.sgm_groupnorm_eps is True
    for key, value in stock.config.items():
        if not key.startswith("_"):
            assert unet.config[key] == value, key
    # diffusers SVD weights load into LVCDUNetModel; LVCD saves and reloads itself
    stock.save_pretrained(tmp_path / "svd")
    loaded = LVCDUNetModel.from_pretrained(tmp_path / "svd")
    assert loaded.config.sgm_groupnorm_eps is True
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), stock.state_dict().values()))
    unet.save_pretrained(tmp_path / "lvcd")
    again = LVCDUNetModel.from_pretrained(tmp_path / "lvcd")
    assert again.config.sgm_groupnorm_eps is True and again.config.num_frames == 14


@pytest.mark.parametrize("frames", [3, 14])
@pytest.mark.parametrize("with_processors", [False, True])
def test_equals_stock_diffusers_without_residuals(tiny_config, frames, with_processors):
    stock, unet = _pair(tiny_config, sgm_groupnorm_eps=False)
    if with_processors:
        install_lvcd_processors(unet, ReferenceAttentionState())
    inputs = make_inputs(batch=2 if frames < 14 else 1, frames=frames, h=8, w=8)
    with torch.no_grad():
        expected = stock(**inputs).sample
        out = unet(**inputs).sample
        out_none = unet(**inputs, down_block_additional_residuals=None, mid_block_additional_residual=None).sample
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(out, out_none)


def _group_norm_eps(model):
    return {n: m.eps for n, m in model.named_modules() if isinstance(m, nn.GroupNorm)}


def test_sgm_groupnorm_eps_changes_exactly_the_72_resnet_norms(tiny_config):
    with_fix = _group_norm_eps(LVCDUNetModel(**tiny_config, sgm_groupnorm_eps=True))
    without = _group_norm_eps(LVCDUNetModel(**tiny_config, sgm_groupnorm_eps=False))
    assert with_fix.keys() == without.keys()
    changed = sorted(n for n in with_fix if with_fix[n] != without[n])
    assert len(changed) == 72
    assert all(without[n] == 1e-6 and with_fix[n] == 1e-5 for n in changed)
    for name in changed:
        block = name.split(".resnets.")[0]
        assert block in {"down_blocks.0", "down_blocks.1", "down_blocks.2"} or block.startswith("up_blocks.")
        assert name.endswith(
            (
                "spatial_res_block.norm1",
                "spatial_res_block.norm2",
                "temporal_res_block.norm1",
                "temporal_res_block.norm2",
            )
        )
    # afterwards every resnet norm is 1e-5 as in sgm; the transformer norms stay 1e-6 (as in sgm)
    assert all(eps == 1e-5 for n, eps in with_fix.items() if ".resnets." in n or n == "conv_norm_out")
    assert all(eps == 1e-6 for n, eps in with_fix.items() if ".attentions." in n)
    # the same 72 on the real SVD topology, built on the meta device
    with torch.device("meta"):
        stock = UNetSpatioTemporalConditionModel(**SVD_CONFIG)
    assert len(set_sgm_groupnorm_eps(stock)) == 72


def _capture_up_block_inputs(unet):
    """Record the skip tensors and hidden states each up block receives (test-only pre-hooks)."""
    seen = []

    def hook(module, args, kwargs):
        seen.append((kwargs["hidden_states"].clone(), [r.clone() for r in kwargs["res_hidden_states_tuple"]]))

    handles = [b.register_forward_pre_hook(hook, with_kwargs=True) for b in unet.up_blocks]
    return seen, handles


def test_residuals_are_added_to_skips_and_mid_output(tiny_unet):
    unet = tiny_unet
    inputs = make_inputs(batch=1, frames=19, h=8, w=8)
    seen, handles = _capture_up_block_inputs(unet)
    with torch.no_grad():
        base = unet(**inputs).sample
    plain = list(seen)
    seen.clear()
    skips = [r for _, res in reversed(plain) for r in res]  # down_block_res_samples order
    assert len(skips) == 12
    g = torch.Generator().manual_seed(3)
    down = tuple(torch.randn(s.shape, generator=g) for s in skips)
    mid = torch.randn(plain[0][0].shape, generator=g)
    with torch.no_grad():
        out = unet(**inputs, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
        zeros = unet(
            **inputs,
            down_block_additional_residuals=tuple(torch.zeros_like(d) for d in down),
            mid_block_additional_residual=torch.zeros_like(mid),
        ).sample
    for h in handles:
        h.remove()
    # first up block: hidden = mid output + mid residual; its skips = the last 3 down residuals + theirs
    torch.testing.assert_close(seen[0][0], plain[0][0] + mid, rtol=0, atol=0)
    injected = [r for _, res in reversed(seen[:4]) for r in res]
    for got, skip, extra in zip(injected, skips, down):
        torch.testing.assert_close(got, skip + extra, rtol=0, atol=0)
    assert not torch.equal(out, base)
    assert torch.equal(zeros, base)
    with pytest.raises(ValueError, match="12"):
        unet(**inputs, down_block_additional_residuals=down[:11])
