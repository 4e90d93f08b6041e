"""Tests for `lvcd.convert`: key maps (round trips on tiny random models, spot checks against the official sgm names),
the CLIP conversion against a pure-torch OpenCLIP reference, end-to-end conversion of tiny synthetic checkpoints,
refusal of unsafe / bad / truncated checkpoints, atomic output, the tiny golden oracle and the default configs.
All CPU, seconds."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from oracle_path import ORACLE_A as ORACLE  # tests/oracle_path.py (tests/ is on sys.path)
from oracle_path import needs_oracle
from safetensors.torch import load_file, save_file

from lvcd import convert as cv
from lvcd.convert import (
    CheckpointError,
    KeyMappingError,
    clip_openclip_to_transformers,
    clip_transformers_to_openclip,
    controlnet_diffusers_to_sgm,
    controlnet_sgm_to_diffusers,
    convert_checkpoints,
    load_state_dict,
    unet_diffusers_to_sgm,
    unet_sgm_to_diffusers,
    vae_diffusers_to_sgm,
    vae_sgm_to_diffusers,
)
from lvcd.convert import build as cv_build
from lvcd.convert.configs import _clean, _controlnet_config
from lvcd.model_dir import SOURCES_FILE

# Tiny, SVD-like but not SVD-sized: 2 levels, attention only at the first (so the up path has a level without
# attention first, as in SVD), GroupNorm-compatible widths.
TINY_UNET = dict(
    sample_size=8,
    in_channels=8,
    out_channels=4,
    down_block_types=["CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"],
    up_block_types=["UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"],
    block_out_channels=[32, 64],
    addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=24,
    layers_per_block=2,
    cross_attention_dim=32,
    transformer_layers_per_block=1,
    num_attention_heads=[2, 4],
    num_frames=4,
)
TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 2,
    block_out_channels=[32, 64],
    layers_per_block=2,
    latent_channels=4,
    sample_size=32,
    scaling_factor=0.18215,
    force_upcast=True,
)
TINY_CLIP = dict(
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=2,
    num_hidden_layers=2,
    patch_size=4,
    image_size=16,
    projection_dim=24,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
)


def _randomize(module: nn.Module, seed: int) -> nn.Module:
    # every tensor distinct and non-zero (zero-init convs would make equality checks blind)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module


# ---------------------------------------------------------------------------------------------------------------------
# A pure-torch OpenCLIP ViT (pre-LN, class token, ln_pre, nn.MultiheadAttention blocks, ln_post on CLS, @ proj) with
# the OpenCLIP state-dict names, as the reference for the CLIP conversion.
# ---------------------------------------------------------------------------------------------------------------------
class _RefBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict(c_fc=nn.Linear(width, mlp), gelu=nn.GELU(), c_proj=nn.Linear(mlp, width)))

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class RefOpenCLIPVisual(nn.Module):
    def __init__(self, image_size=16, patch_size=4, width=32, layers=2, heads=2, mlp=64, output_dim=24):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch_size, patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.positional_embedding = nn.Parameter(torch.randn((image_size // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList([_RefBlock(width, heads, mlp) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, output_dim))

    def forward(self, image):
        x = self.conv1(image).flatten(2).transpose(1, 2)  # [B, width, g, g] -> [B, g*g, width]
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        for block in self.transformer.resblocks:
            x = block(x)
        return self.ln_post(x[:, 0]) @ self.proj  # [B, output_dim]


def _tiny_clip_reference(seed=0) -> RefOpenCLIPVisual:
    torch.manual_seed(seed)
    ref = RefOpenCLIPVisual()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * (0.5 if p.ndim > 1 else 1.0))
    return ref.eval()


# ---------------------------------------------------------------------------------------------------------------------
# Tiny random models and synthetic official-format files
# ---------------------------------------------------------------------------------------------------------------------
def _tiny_unet(config=TINY_UNET, seed=0):
    from diffusers import UNetSpatioTemporalConditionModel

    return _randomize(UNetSpatioTemporalConditionModel(**config), seed)


def _tiny_vae(seed=1):
    from diffusers import AutoencoderKLTemporalDecoder

    return _randomize(AutoencoderKLTemporalDecoder(**TINY_VAE), seed)


def _tiny_controlnet(seed=2):
    from lvcd.models import LVCDControlNetModel

    return _randomize(LVCDControlNetModel(**_controlnet_config(LVCDControlNetModel, TINY_UNET, None)), seed)


def _attn1(keys):
    return [k for k in keys if ".transformer_blocks.0.attn1." in k or ".time_stack.0.attn1." in k]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny random UNet / VAE / OpenCLIP / ControlNet, written as an official-format svd.safetensors (bf16, as the
    oracle) and lvcd.ckpt, plus the diffusers-side tensors every converted weight must equal."""
    root = tmp_path_factory.mktemp("tiny")
    unet, vae, clip, controlnet = _tiny_unet(), _tiny_vae(), _tiny_clip_reference(), _tiny_controlnet()
    unet_sgm = unet_diffusers_to_sgm(unet.state_dict())
    vae_sgm = vae_diffusers_to_sgm(vae.state_dict())
    quant = {k: vae_sgm.pop(k) for k in list(vae_sgm) if k.startswith("quant_conv.")}
    svd = {f"model.diffusion_model.{k}": v for k, v in unet_sgm.items()}
    svd.update({f"first_stage_model.{k}": v for k, v in vae_sgm.items()})
    svd.update({f"conditioner.embedders.3.encoder.{k}": v for k, v in quant.items()})
    svd.update({f"conditioner.embedders.3.encoder.{k}": v for k, v in vae_sgm.items() if k.startswith("encoder.")})
    svd["conditioner.embedders.3.encoder.post_quant_conv.weight"] = torch.randn(4, 4, 1, 1)  # unused, as real files
    svd.update({f"conditioner.embedders.0.open_clip.model.visual.{k}": v for k, v in clip.state_dict().items()})
    svd["conditioner.embedders.0.open_clip.model.logit_scale"] = torch.tensor(4.6)  # text-side leftovers: ignored
    svd = {k: v.to(torch.bfloat16).contiguous() for k, v in svd.items()}
    save_file(svd, root / "svd.safetensors")

    g = torch.Generator().manual_seed(3)
    lvcd_sd = {f"model.diffusion_model.{k}": torch.randn(unet_sgm[k].shape, generator=g) for k in _attn1(unet_sgm)}
    lvcd_sd.update({f"control_model.{k}": v for k, v in controlnet_diffusers_to_sgm(controlnet.state_dict()).items()})
    torch.save({"state_dict": lvcd_sd, "epoch": 3, "global_step": 1000}, root / "lvcd.ckpt")
    save_file({k: v.half() for k, v in lvcd_sd.items()}, root / "lvcd-fp16.safetensors")

    def up(t):
        return t.to(torch.bfloat16).float()

    unet_want = {k: up(v) for k, v in unet.state_dict().items()}
    unet_want.update(
        unet_sgm_to_diffusers(
            {
                k[len("model.diffusion_model.") :]: v
                for k, v in lvcd_sd.items()
                if k.startswith("model.diffusion_model.")
            }
        )
    )
    config = root / "config.json"
    config.write_text(json.dumps({"unet": TINY_UNET, "vae": TINY_VAE, "image_encoder": TINY_CLIP}))
    return dict(
        root=root,
        svd=root / "svd.safetensors",
        lvcd=root / "lvcd.ckpt",
        config=config,
        clip=clip,
        unet=unet_want,
        vae={k: up(v) for k, v in vae.state_dict().items()},
        controlnet=controlnet.state_dict(),
        svd_sd=svd,
        lvcd_sd=lvcd_sd,
        n_attn1=len(_attn1(unet_sgm)),
    )


def _assert_equal_state(model, want: dict[str, torch.Tensor], what: str):
    got = model.state_dict()
    assert set(got) == set(want), f"{what}: key sets differ"
    bad = [k for k in want if not torch.equal(got[k].float(), want[k].float())]
    assert not bad, f"{what}: {len(bad)} tensors differ, e.g. {bad[:3]}"


# ---------------------------------------------------------------------------------------------------------------------
# Key maps
# ---------------------------------------------------------------------------------------------------------------------
# Pairs written out by hand from lvcd-reference.md 4.2 and the sgm / diffusers module names (not from the code).
UNET_PAIRS = {
    "time_embed.0.weight": "time_embedding.linear_1.weight",
    "label_emb.0.2.bias": "add_embedding.linear_2.bias",
    "input_blocks.0.0.weight": "conv_in.weight",
    "input_blocks.1.0.in_layers.0.weight": "down_blocks.0.resnets.0.spatial_res_block.norm1.weight",
    "input_blocks.2.0.emb_layers.1.weight": "down_blocks.0.resnets.1.spatial_res_block.time_emb_proj.weight",
    "input_blocks.1.0.time_stack.in_layers.2.weight": "down_blocks.0.resnets.0.temporal_res_block.conv1.weight",
    "input_blocks.2.0.time_mixer.mix_factor": "down_blocks.0.resnets.1.time_mixer.mix_factor",
    "input_blocks.1.1.time_stack.0.attn1.to_q.weight": "down_blocks.0.attentions.0.temporal_transformer_blocks.0.attn1.to_q.weight",
    "input_blocks.2.1.transformer_blocks.0.attn1.to_out.0.bias": "down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_out.0.bias",
    "input_blocks.1.1.time_pos_embed.2.weight": "down_blocks.0.attentions.0.time_pos_embed.linear_2.weight",
    "input_blocks.1.1.time_mixer.mix_factor": "down_blocks.0.attentions.0.time_mixer.mix_factor",
    "input_blocks.3.0.op.weight": "down_blocks.0.downsamplers.0.conv.weight",
    "input_blocks.4.0.skip_connection.weight": "down_blocks.1.resnets.0.spatial_res_block.conv_shortcut.weight",
    "input_blocks.5.0.out_layers.3.bias": "down_blocks.1.resnets.1.spatial_res_block.conv2.bias",
    "middle_block.0.time_stack.out_layers.0.weight": "mid_block.resnets.0.temporal_res_block.norm2.weight",
    "middle_block.1.proj_in.weight": "mid_block.attentions.0.proj_in.weight",
    "middle_block.2.time_mixer.mix_factor": "mid_block.resnets.1.time_mixer.mix_factor",
    "output_blocks.0.0.skip_connection.weight": "up_blocks.0.resnets.0.spatial_res_block.conv_shortcut.weight",
    "output_blocks.2.0.time_mixer.mix_factor": "up_blocks.0.resnets.2.time_mixer.mix_factor",
    "output_blocks.2.1.conv.weight": "up_blocks.0.upsamplers.0.conv.weight",  # level without attention: `.1`
    "output_blocks.3.1.norm.weight": "up_blocks.1.attentions.0.norm.weight",
    "output_blocks.5.1.time_stack.0.ff_in.net.0.proj.weight": "up_blocks.1.attentions.2.temporal_transformer_blocks.0.ff_in.net.0.proj.weight",
    "out.0.weight": "conv_norm_out.weight",
    "out.2.bias": "conv_out.bias",
}
CONTROLNET_PAIRS = {
    "input_hint_block.0.weight": "controlnet_cond_embedding.conv_in.weight",
    "input_hint_block.2.bias": "controlnet_cond_embedding.blocks.0.bias",
    "input_hint_block.12.weight": "controlnet_cond_embedding.blocks.5.weight",
    "input_hint_block.14.weight": "controlnet_cond_embedding.conv_out.weight",
    "zero_convs.0.0.weight": "controlnet_down_blocks.0.weight",
    "zero_convs.5.0.bias": "controlnet_down_blocks.5.bias",
    "middle_block_out.0.weight": "controlnet_mid_block.weight",
    "input_blocks.3.0.op.bias": "down_blocks.0.downsamplers.0.conv.bias",
}
VAE_PAIRS = {  # the four places where diffusers' script is wrong for real sgm names
    "encoder.down.1.block.0.nin_shortcut.weight": "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
    "decoder.up.1.block.0.time_stack.in_layers.2.weight": "decoder.up_blocks.0.resnets.0.temporal_res_block.conv1.weight",
    "decoder.up.0.block.1.mix_factor": "decoder.up_blocks.1.resnets.1.time_mixer.mix_factor",
    "decoder.conv_out.time_mix_conv.weight": "decoder.time_conv_out.weight",
    "decoder.mid.block_2.norm1.bias": "decoder.mid_block.resnets.1.spatial_res_block.norm1.bias",
    "encoder.mid.attn_1.proj_out.weight": "encoder.mid_block.attentions.0.to_out.0.weight",
    "decoder.mid.attn_1.norm.weight": "decoder.mid_block.attentions.0.group_norm.weight",
    "encoder.norm_out.bias": "encoder.conv_norm_out.bias",
    "decoder.up.1.upsample.conv.weight": "decoder.up_blocks.0.upsamplers.0.conv.weight",
    "quant_conv.weight": "quant_conv.weight",
}


def test_unet_round_trip_and_names():
    unet = _tiny_unet()
    sd = unet.state_dict()
    sgm = unet_diffusers_to_sgm(sd)
    assert len(sgm) == len(sd)
    for old, new in UNET_PAIRS.items():
        assert old in sgm and torch.equal(sgm[old], sd[new]), (old, new)
    back = unet_sgm_to_diffusers(sgm)
    assert set(back) == set(sd) and all(back[k] is sd[k] for k in sd)  # a pure rename: same tensors
    unet.load_state_dict(back, strict=True)


def test_unet_map_is_generic_in_layers_per_block():
    # 3 levels, one resnet per level: the block arithmetic, not SVD's sizes
    cfg = dict(
        TINY_UNET,
        layers_per_block=1,
        block_out_channels=[32, 32, 64],
        num_attention_heads=[2, 2, 4],
        down_block_types=["CrossAttnDownBlockSpatioTemporal"] * 2 + ["DownBlockSpatioTemporal"],
        up_block_types=["UpBlockSpatioTemporal"] + ["CrossAttnUpBlockSpatioTemporal"] * 2,
    )
    with torch.device("meta"):
        from diffusers import UNetSpatioTemporalConditionModel

        keys = {k: torch.empty(0) for k in UNetSpatioTemporalConditionModel(**cfg).state_dict()}
    sgm = unet_diffusers_to_sgm(keys, layers_per_block=1)
    assert "input_blocks.2.0.op.weight" in sgm and "output_blocks.1.1.conv.weight" in sgm
    assert "output_blocks.3.2.conv.weight" in sgm and "input_blocks.3.1.proj_in.weight" in sgm
    assert set(unet_sgm_to_diffusers(sgm, layers_per_block=1)) == set(keys)


def test_unet_unknown_keys_are_named():
    with pytest.raises(KeyMappingError) as e:
        unet_sgm_to_diffusers(
            {
                "input_blocks.1.0.in_layers.0.weight": torch.zeros(1),
                "foo.bar": torch.zeros(1),
                "input_blocks.3.1.conv.weight": torch.zeros(1),
            }
        )
    assert "foo.bar" in str(e.value) and set(e.value.unknown) == {"foo.bar", "input_blocks.3.1.conv.weight"}


def test_controlnet_round_trip_and_names():
    cn = _tiny_controlnet()
    sd = cn.state_dict()
    sgm = controlnet_diffusers_to_sgm(sd)
    for old, new in CONTROLNET_PAIRS.items():
        assert torch.equal(sgm[old], sd[new]), (old, new)
    assert not any(k.startswith(("output_blocks.", "out.")) for k in sgm)
    back = controlnet_sgm_to_diffusers(sgm)
    assert set(back) == set(sd) and all(back[k] is sd[k] for k in sd)


def test_vae_round_trip_and_names():
    from diffusers import AutoencoderKLTemporalDecoder

    vae = _tiny_vae()
    sd = vae.state_dict()
    sgm = vae_diffusers_to_sgm(sd)
    for old, new in VAE_PAIRS.items():
        assert old in sgm, old
        assert torch.equal(sgm[old].reshape(sd[new].shape), sd[new]), (old, new)
    assert sgm["encoder.mid.attn_1.q.weight"].shape == (64, 64, 1, 1)  # sgm: 1x1 convs, diffusers: linear
    assert not any("spatial_res_block" in k for k in vae_sgm_to_diffusers(sgm) if k.startswith("encoder."))
    back = vae_sgm_to_diffusers(sgm)
    assert set(back) == set(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    AutoencoderKLTemporalDecoder(**TINY_VAE).load_state_dict(back, strict=True)


@needs_oracle
def test_inverse_maps_give_the_official_key_names():
    """The diffusers key sets of the oracle-sized models, mapped to sgm, are exactly the official files' key sets."""
    from diffusers import AutoencoderKLTemporalDecoder

    from lvcd.models import LVCDControlNetModel, LVCDUNetModel

    cfg = json.loads((ORACLE / "config.json").read_text())["diffusers"]
    with torch.device("meta"):
        unet = LVCDUNetModel(**cfg["UNetSpatioTemporalConditionModel"]).state_dict()
        cn = LVCDControlNetModel(
            **_controlnet_config(LVCDControlNetModel, cfg["UNetSpatioTemporalConditionModel"], None)
        ).state_dict()
        vae = AutoencoderKLTemporalDecoder(**cfg["AutoencoderKLTemporalDecoder"]).state_dict()
    svd = set(load_state_dict(ORACLE / "svd_tiny.safetensors").keys())
    lvcd_keys = set(load_state_dict(ORACLE / "lvcd_tiny.safetensors").keys())
    assert {f"model.diffusion_model.{k}" for k in unet_diffusers_to_sgm(unet)} == {
        k for k in svd if k.startswith("model.diffusion_model.")
    }
    assert {f"control_model.{k}" for k in controlnet_diffusers_to_sgm(cn)} == {
        k for k in lvcd_keys if k.startswith("control_model.")
    }
    vae_sgm = set(vae_diffusers_to_sgm(vae))
    assert {f"first_stage_model.{k}" for k in vae_sgm if not k.startswith("quant_conv.")} == {
        k for k in svd if k.startswith("first_stage_model.")
    }


# ---------------------------------------------------------------------------------------------------------------------
# CLIP
# ---------------------------------------------------------------------------------------------------------------------
def test_clip_conversion_matches_openclip_reference():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    ref = _tiny_clip_reference()
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP)).eval()
    model.load_state_dict(clip_openclip_to_transformers(ref.state_dict()), strict=True)
    image = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want, got = ref(image), model(pixel_values=image).image_embeds
    assert want.abs().max() > 0.1
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    back = clip_transformers_to_openclip(model.state_dict())
    assert set(back) == set(ref.state_dict()) and all(torch.equal(back[k], v) for k, v in ref.state_dict().items())


def test_clip_conversion_matches_open_clip_if_installed():
    open_clip = pytest.importorskip("open_clip")
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    visual = open_clip.model.VisionTransformer(
        image_size=16, patch_size=4, width=32, layers=2, heads=2, mlp_ratio=2.0, output_dim=24, act_layer=nn.GELU
    ).eval()
    for p in visual.parameters():
        p.data.normal_(0, 0.5)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP)).eval()
    model.load_state_dict(clip_openclip_to_transformers(visual.state_dict()), strict=True)
    image = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = visual(image)
        want = want[0] if isinstance(want, tuple) else want
        torch.testing.assert_close(model(pixel_values=image).image_embeds, want, atol=1e-5, rtol=1e-5)


def test_clip_unknown_keys_refused():
    with pytest.raises(KeyMappingError, match="attn_pool"):
        clip_openclip_to_transformers({"attn_pool.query": torch.zeros(1), "proj": torch.zeros(2, 2)})


# ---------------------------------------------------------------------------------------------------------------------
# End-to-end on tiny synthetic files
# ---------------------------------------------------------------------------------------------------------------------
def test_convert_tiny_end_to_end(tiny, tmp_path):
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    from lvcd.models import LVCDControlNetModel, LVCDUNetModel

    out = convert_checkpoints(tiny["svd"], tiny["lvcd"], tmp_path / "pipe", config=tiny["config"])
    assert out == tmp_path / "pipe"
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == ["lvcd", "LVCDPipeline"]
    assert index["unet"] == ["lvcd", "LVCDUNetModel"] and index["controlnet"] == ["lvcd", "LVCDControlNetModel"]
    assert index["image_encoder"] == ["transformers", "CLIPVisionModelWithProjection"]
    assert index["vae"] == ["diffusers", "AutoencoderKLTemporalDecoder"]
    assert not list(tmp_path.glob(".pipe*")), "temporary folders left behind"

    for cls, sub, want in (
        (LVCDUNetModel, "unet", tiny["unet"]),
        (LVCDControlNetModel, "controlnet", tiny["controlnet"]),
        (AutoencoderKLTemporalDecoder, "vae", tiny["vae"]),
    ):
        model, info = cls.from_pretrained(out / sub, output_loading_info=True)
        assert not any(info.values()), info
        assert next(model.parameters()).dtype == torch.float32
        _assert_equal_state(model, want, sub)
        assert (out / sub / "diffusion_pytorch_model.safetensors").is_file()

    # the 160-style attn1 overlay: LVCD values, not the SVD ones
    lvcd_q = tiny["lvcd_sd"]["model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"]
    unet_sd = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    assert torch.equal(unet_sd["down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"], lvcd_q)

    clip = CLIPVisionModelWithProjection.from_pretrained(out / "image_encoder").eval()
    image = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = tiny["clip"]
        ref_bf16 = RefOpenCLIPVisual().eval()
        ref_bf16.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in ref.state_dict().items()})
        torch.testing.assert_close(clip(pixel_values=image).image_embeds, ref_bf16(image), atol=1e-5, rtol=1e-5)
    assert CLIPImageProcessor.from_pretrained(out / "feature_extractor").crop_size["height"] == 224
    sched = EulerDiscreteScheduler.from_pretrained(out / "scheduler")
    assert sched.config.prediction_type == "v_prediction" and sched.config.sigma_max == 700.0


def test_converted_folder_loads_as_pipeline(tiny, tmp_path):
    from lvcd import LVCDPipeline

    out = convert_checkpoints(tiny["svd"], tiny["lvcd"], tmp_path / "pipe", config=tiny["config"])
    pipe = LVCDPipeline.from_pretrained(out, torch_dtype=torch.float32)
    assert pipe.image_encoder is not None and pipe.unet.config.block_out_channels == [32, 64]


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_convert_dtype_and_fp16_lvcd_safetensors(tiny, tmp_path, dtype):
    from lvcd.models import LVCDControlNetModel

    out = convert_checkpoints(
        tiny["svd"], tiny["root"] / "lvcd-fp16.safetensors", tmp_path / "p", config=tiny["config"], dtype=dtype
    )
    want = cv.DTYPES[dtype]
    for sub, name in (
        ("unet", "diffusion_pytorch_model"),
        ("vae", "diffusion_pytorch_model"),
        ("image_encoder", "model"),
    ):
        assert {t.dtype for t in load_file(out / sub / f"{name}.safetensors").values()} == {want}, sub
    cn = LVCDControlNetModel.from_pretrained(out / "controlnet", torch_dtype=want)
    _assert_equal_state(cn, {k: v.half().to(want) for k, v in tiny["controlnet"].items()}, "controlnet")


def test_convert_from_diffusers_svd_folder(tiny, tmp_path):
    """A diffusers-format SVD folder as the base: the same result as from the sgm file."""
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionModelWithProjection

    from lvcd.models import LVCDUNetModel

    first = convert_checkpoints(tiny["svd"], tiny["lvcd"], tmp_path / "a", config=tiny["config"])
    folder = tmp_path / "svd-diffusers"
    base = UNetSpatioTemporalConditionModel(**TINY_UNET)
    base.load_state_dict({k: v for k, v in LVCDUNetModel.from_pretrained(first / "unet").state_dict().items()})
    base.save_pretrained(folder / "unet", variant="fp16")  # only the fp16-variant file name, as many downloads
    AutoencoderKLTemporalDecoder.from_pretrained(first / "vae").save_pretrained(folder / "vae")
    CLIPVisionModelWithProjection.from_pretrained(first / "image_encoder").save_pretrained(folder / "image_encoder")
    (folder / "model_index.json").write_text("{}")
    second = convert_checkpoints(folder, tiny["lvcd"], tmp_path / "b")  # configs from the folder
    for sub, name in (
        ("unet", "diffusion_pytorch_model"),
        ("controlnet", "diffusion_pytorch_model"),
        ("vae", "diffusion_pytorch_model"),
        ("image_encoder", "model"),
    ):
        a, b = load_file(first / sub / f"{name}.safetensors"), load_file(second / sub / f"{name}.safetensors")
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a), sub
    assert json.loads((second / "controlnet" / "config.json").read_text())["block_out_channels"] == [32, 64]


def test_convert_without_clip_tower_writes_null_components(tiny, tmp_path):
    svd = {k: v for k, v in tiny["svd_sd"].items() if ".open_clip.model.visual." not in k}
    svd["conditioner.embedders.0.open_clip.proj.weight"] = torch.zeros(4, 4)  # a stub as in the oracle: ignored
    save_file(svd, tmp_path / "svd.safetensors")
    out = convert_checkpoints(tmp_path / "svd.safetensors", tiny["lvcd"], tmp_path / "p", config=tiny["config"])
    index = json.loads((out / "model_index.json").read_text())
    assert index["image_encoder"] == [None, None] and index["feature_extractor"] == [None, None]
    assert not (out / "image_encoder").exists() and not (out / "feature_extractor").exists()


# ---------------------------------------------------------------------------------------------------------------------
# Unsafe, bad and truncated checkpoints
# ---------------------------------------------------------------------------------------------------------------------
def _touch(path):
    Path(path).write_text("pickled code ran")


class _Payload:
    """Unpickling this would call `_touch(flag)`: the loader must refuse before that."""

    def __init__(self, flag):
        self.flag = str(flag)

    def __reduce__(self):
        return (_touch, (self.flag,))


def test_ckpt_with_pickled_object_is_refused_without_running_it(tiny, tmp_path):
    flag = tmp_path / "ran"
    torch.save({"state_dict": dict(tiny["lvcd_sd"]), "callbacks": _Payload(flag)}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match=r"Refusing to load .*evil\.ckpt.*never runs pickled code"):
        load_state_dict(tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="Refusing"):
        convert_checkpoints(tiny["svd"], tmp_path / "evil.ckpt", tmp_path / "out", config=tiny["config"])
    assert not flag.exists() and not (tmp_path / "out").exists()


def test_ckpt_with_non_tensor_entries_is_refused(tmp_path):
    torch.save({"state_dict": {"control_model.x": torch.zeros(1), "control_model.note": "hello"}}, tmp_path / "a.ckpt")
    with pytest.raises(CheckpointError, match=r"a\.ckpt.*not tensors.*control_model\.note"):
        load_state_dict(tmp_path / "a.ckpt")


def test_plain_state_dict_ckpt_is_accepted(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "plain.pt")
    assert torch.equal(load_state_dict(tmp_path / "plain.pt")["w"], torch.ones(2))


@pytest.mark.parametrize("name", ["svd.safetensors", "lvcd.ckpt"])
def test_truncated_files_are_named(tiny, tmp_path, name):
    src = tiny["svd"] if name.endswith(".safetensors") else tiny["lvcd"]
    cut = tmp_path / name
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf"{cut.name}.*truncated"):
        load_state_dict(cut)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.ckpt").write_text("hello world, not weights")
    with pytest.raises(CheckpointError, match="notes.ckpt"):
        load_state_dict(tmp_path / "notes.ckpt")


def test_swapped_arguments_are_explained(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="looks like LVCD weights.*pass svd.safetensors as `--svd`"):
        convert_checkpoints(tiny["lvcd"], tiny["svd"], tmp_path / "o", config=tiny["config"])
    save_file({"first_stage_model.encoder.conv_in.weight": torch.zeros(1)}, tmp_path / "vae.safetensors")
    with pytest.raises(CheckpointError, match=r"vae\.safetensors holds no UNet"):
        convert_checkpoints(tmp_path / "vae.safetensors", tiny["lvcd"], tmp_path / "o", config=tiny["config"])


def test_missing_and_unexpected_keys_are_named_in_file_terms(tiny, tmp_path):
    svd = dict(tiny["svd_sd"])
    del svd["model.diffusion_model.input_blocks.1.0.in_layers.0.weight"]
    svd["model.diffusion_model.input_blocks.1.0.bogus.weight"] = torch.zeros(1)
    save_file(svd, tmp_path / "svd.safetensors")
    with pytest.raises(CheckpointError) as e:
        convert_checkpoints(tmp_path / "svd.safetensors", tiny["lvcd"], tmp_path / "o", config=tiny["config"])
    msg = str(e.value)
    assert "svd.safetensors" in msg and "SVD UNet" in msg
    assert "1 missing" in msg and "model.diffusion_model.input_blocks.1.0.in_layers.0.weight" in msg
    assert "1 unexpected" in msg and "model.diffusion_model.input_blocks.1.0.bogus.weight" in msg
    assert "--config" in msg
    assert not (tmp_path / "o").exists()


def test_another_model_size_is_refused(tiny, tmp_path):
    """The tiny files against the default (real SVD) configs: every shape is wrong."""
    with pytest.raises(CheckpointError, match=r"svd\.safetensors.*does not match|wrong shape"):
        convert_checkpoints(tiny["svd"], tiny["lvcd"], tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_wrong_shape_is_named(tiny, tmp_path):
    svd = dict(tiny["svd_sd"])
    svd["first_stage_model.decoder.conv_in.weight"] = torch.zeros(3, 3, 3, 3, dtype=torch.bfloat16)
    save_file(svd, tmp_path / "svd.safetensors")
    with pytest.raises(CheckpointError, match=r"wrong shape.*first_stage_model\.decoder\.conv_in\.weight \(3, 3,"):
        convert_checkpoints(tmp_path / "svd.safetensors", tiny["lvcd"], tmp_path / "o", config=tiny["config"])
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))


def test_lvcd_file_missing_attn1_is_refused(tiny, tmp_path):
    lv = dict(tiny["lvcd_sd"])
    key = next(k for k in lv if ".time_stack.0.attn1.to_k." in k)
    del lv[key]
    save_file(lv, tmp_path / "lvcd.safetensors")
    with pytest.raises(CheckpointError, match=rf"(?s)lvcd\.safetensors.*LVCD UNet attention.*1 missing.*{key}"):
        convert_checkpoints(tiny["svd"], tmp_path / "lvcd.safetensors", tmp_path / "o", config=tiny["config"])


def test_bad_config_is_named(tiny, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"unet": TINY_UNET, "vea": TINY_VAE}))
    with pytest.raises(ValueError, match="unknown section.*vea"):
        convert_checkpoints(tiny["svd"], tiny["lvcd"], tmp_path / "o", config=tmp_path / "c.json")


# ---------------------------------------------------------------------------------------------------------------------
# The output folder is never half-written
# ---------------------------------------------------------------------------------------------------------------------
def test_existing_out_needs_overwrite(tiny, tmp_path):
    out = tmp_path / "pipe"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        convert_checkpoints(tiny["svd"], tiny["lvcd"], out, config=tiny["config"])
    assert (out / "keep.txt").read_text() == "mine"
    # --overwrite replaces a converted pipeline only: a folder holding anything else is refused, naming it
    (out / "notes").mkdir()
    with pytest.raises(FileExistsError, match=r"did not write: keep\.txt, notes;"):
        convert_checkpoints(tiny["svd"], tiny["lvcd"], out, config=tiny["config"], overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "notes"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    (out / "keep.txt").unlink()
    (out / "notes").rmdir()
    convert_checkpoints(tiny["svd"], tiny["lvcd"], out, config=tiny["config"], overwrite=True)
    assert (out / "model_index.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_overwrite_replaces_every_entry_of_the_old_conversion(tiny, tmp_path):
    out = tmp_path / "pipe"
    convert_checkpoints(tiny["svd"], tiny["lvcd"], out, config=tiny["config"])
    written = sorted(p.name for p in out.iterdir())
    (out / "unet" / "stale.bin").write_bytes(b"old")  # inside an entry a conversion owns: replaced with it
    (out / SOURCES_FILE).write_text("{}")  # the record of an earlier `--download`: not these sources
    convert_checkpoints(tiny["svd"], tiny["lvcd"], out, config=tiny["config"], dtype="fp16", overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == written
    assert not (out / "unet" / "stale.bin").exists()
    assert json.loads((out / "unet" / "config.json").read_text())["_class_name"] == "LVCDUNetModel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # nothing left beside it


def test_failure_midway_leaves_nothing(tiny, tmp_path, monkeypatch):
    out = tmp_path / "pipe"
    real_save = cv_build._save

    def save_then_fail(model, folder):
        if folder.name == "vae":
            raise OSError("disk full")
        real_save(model, folder)

    monkeypatch.setattr(cv_build, "_save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        convert_checkpoints(tiny["svd"], tiny["lvcd"], out, config=tiny["config"])
    assert list(tmp_path.iterdir()) == []

    # with --overwrite, a failed run keeps the previous folder intact
    out.mkdir()
    (out / "model_index.json").write_text("old")
    with pytest.raises(OSError, match="disk full"):
        convert_checkpoints(tiny["svd"], tiny["lvcd"], out, config=tiny["config"], overwrite=True)
    assert (out / "model_index.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_input_inside_out_is_refused(tiny, tmp_path):
    out = tmp_path / "pipe"
    out.mkdir()
    (out / "svd.safetensors").write_bytes(tiny["svd"].read_bytes())
    with pytest.raises(ValueError, match="inside `--out`"):
        convert_checkpoints(out / "svd.safetensors", tiny["lvcd"], out, config=tiny["config"], overwrite=True)
    assert (out / "svd.safetensors").is_file()


# ---------------------------------------------------------------------------------------------------------------------
# The tiny golden oracle (official sgm files)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def oracle_out(tmp_path_factory, oracle_dir):
    cfg = json.loads((ORACLE / "config.json").read_text())["diffusers"]
    config = {"unet": cfg["UNetSpatioTemporalConditionModel"], "vae": cfg["AutoencoderKLTemporalDecoder"]}
    out = tmp_path_factory.mktemp("oracle") / "pipe"
    return convert_checkpoints(ORACLE / "svd_tiny.safetensors", ORACLE / "lvcd_tiny.ckpt", out, config=config)


@needs_oracle
def test_oracle_conversion_every_weight_from_its_source(oracle_out):
    from diffusers import AutoencoderKLTemporalDecoder

    from lvcd.models import LVCDControlNetModel, LVCDUNetModel

    svd = load_file(ORACLE / "svd_tiny.safetensors")
    lv = torch.load(ORACLE / "lvcd_tiny.ckpt", weights_only=True)["state_dict"]
    unet, info = LVCDUNetModel.from_pretrained(oracle_out / "unet", output_loading_info=True)
    assert not any(info.values())
    n_lvcd = 0
    for k, t in unet_diffusers_to_sgm(unet.state_dict()).items():
        key = f"model.diffusion_model.{k}"
        n_lvcd += key in lv
        assert torch.equal(t, (lv[key] if key in lv else svd[key]).float()), key
    assert n_lvcd == 160
    cn, info = LVCDControlNetModel.from_pretrained(oracle_out / "controlnet", output_loading_info=True)
    assert not any(info.values())
    sgm = controlnet_diffusers_to_sgm(cn.state_dict())
    assert len(sgm) == 669 and all(torch.equal(t, lv[f"control_model.{k}"].float()) for k, t in sgm.items())
    vae, info = AutoencoderKLTemporalDecoder.from_pretrained(oracle_out / "vae", output_loading_info=True)
    assert not any(info.values())
    for k, t in vae_diffusers_to_sgm(vae.state_dict()).items():
        src = f"conditioner.embedders.3.encoder.{k}" if k.startswith("quant_conv.") else f"first_stage_model.{k}"
        assert torch.equal(t, svd[src].float()), k
    index = json.loads((oracle_out / "model_index.json").read_text())
    assert index["image_encoder"] == [None, None]


@needs_oracle
def test_oracle_folder_loads_as_pipeline(oracle_out):
    from lvcd import LVCDPipeline

    pipe = LVCDPipeline.from_pretrained(oracle_out, torch_dtype=torch.float32)
    assert pipe.image_encoder is None and pipe.feature_extractor is None


# ---------------------------------------------------------------------------------------------------------------------
# The default (real LVCD-on-SVD img2vid) configs
# ---------------------------------------------------------------------------------------------------------------------
def test_default_configs_build_the_real_architecture():
    """Counts derived from the official code (lvcd-reference.md 4.1/2.6) pin the default configs."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from lvcd.models import LVCDControlNetModel, LVCDUNetModel

    root = cv.DEFAULT_PIPELINE_DIR
    index = json.loads((root / "model_index.json").read_text())
    assert index["_class_name"] == ["lvcd", "LVCDPipeline"]
    cfg = {
        name: _clean(json.loads((root / name / "config.json").read_text())) for name in ("unet", "controlnet", "vae")
    }
    with torch.device("meta"):
        unet = LVCDUNetModel.from_config(cfg["unet"])
        cn = LVCDControlNetModel.from_config(cfg["controlnet"])
        derived = LVCDControlNetModel.from_config(_controlnet_config(LVCDControlNetModel, cfg["unet"], None))
        vae = AutoencoderKLTemporalDecoder.from_config(cfg["vae"])
        clip = CLIPVisionModelWithProjection(
            CLIPVisionConfig(**json.loads((root / "image_encoder" / "config.json").read_text()))
        )
    assert _clean(cn.config) == _clean(derived.config)  # the ControlNet follows the UNet's encoder
    cn_sd = cn.state_dict()
    assert len(cn_sd) == 671 and sum(t.numel() for t in cn_sd.values()) == 682_021_537
    attn1 = {k: t for k, t in unet.state_dict().items() if ".attn1." in k}
    assert len(attn1) == 160 and sum(t.numel() for t in attn1.values()) == 99_148_160
    assert len(vae.state_dict()) == 374  # the oracle's 370 + the two extra channel changes' shortcuts per side
    assert clip.config.projection_dim == 1024 and clip.vision_model.embeddings.num_patches == 256
    sched = EulerDiscreteScheduler.from_pretrained(root / "scheduler")
    sched.set_timesteps(25)
    assert sched.config.use_karras_sigmas and sched.config.timestep_type == "continuous"
    assert abs(float(sched.sigmas[0]) - 700.0) < 1e-2 and float(sched.sigmas[-1]) == 0.0
    assert abs(float(sched.sigmas[-2]) - 0.002) < 1e-6


def test_shipped_configs_are_package_data_and_match_the_repository_copy():
    """lvcd reads the released configs from inside the package (a wheel has no `pipelines/`); the repository's
    top-level `pipelines/lvcd-svd` is the user-facing copy of the same files."""
    import lvcd
    from lvcd import preflight

    package = Path(lvcd.__file__).resolve().parent
    shipped = cv.DEFAULT_PIPELINE_DIR.resolve()
    assert package in shipped.parents and preflight.REAL_ARCHITECTURE.resolve() == shipped
    repo_copy = Path(__file__).resolve().parents[1] / "pipelines" / "lvcd-svd"
    files = sorted(p.relative_to(shipped) for p in shipped.rglob("*.json"))
    assert files == sorted(p.relative_to(repo_copy) for p in repo_copy.rglob("*.json")) and len(files) == 7
    for rel in files:
        assert json.loads((shipped / rel).read_text()) == json.loads((repo_copy / rel).read_text()), rel
