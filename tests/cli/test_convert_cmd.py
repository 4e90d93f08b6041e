"""`lvcd convert`: argument wiring, exit codes and messages, and a real run on the tiny golden oracle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from oracle_path import ORACLE_A as ORACLE  # tests/oracle_path.py (tests/ is on sys.path)
from oracle_path import needs_oracle

from lvcd.cli import main


def test_help_lists_the_options():
    r = subprocess.run([sys.executable, "-m", "lvcd", "convert", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for flag in ("--svd", "--lvcd", "--out", "--config", "--dtype", "--overwrite", "fp16", "bf16"):
        assert flag in r.stdout


def test_arguments_reach_the_api(monkeypatch, tmp_path, capsys):
    import lvcd.convert

    seen = {}

    def fake(svd, lvcd, out, config=None, dtype=torch.float32, overwrite=False):
        seen.update(svd=svd, lvcd=lvcd, out=out, config=config, dtype=dtype, overwrite=overwrite)
        return Path(out)

    monkeypatch.setattr(lvcd.convert, "convert_checkpoints", fake)
    rc = main(
        [
            "convert",
            "--svd",
            "a.safetensors",
            "--lvcd",
            "b.ckpt",
            "--out",
            str(tmp_path / "o"),
            "--config",
            "c.json",
            "--dtype",
            "bf16",
            "--overwrite",
        ]
    )
    assert rc == 0
    assert seen == dict(
        svd="a.safetensors", lvcd="b.ckpt", out=str(tmp_path / "o"), config="c.json", dtype="bf16", overwrite=True
    )
    assert "LVCDPipeline.from_pretrained" in capsys.readouterr().out


def test_defaults(monkeypatch, tmp_path):
    import lvcd.convert

    seen = {}
    monkeypatch.setattr(lvcd.convert, "convert_checkpoints", lambda *a, **k: seen.update(k) or Path(a[2]))
    assert main(["convert", "--svd", "a", "--lvcd", "b", "--out", str(tmp_path / "o"), "-q"]) == 0
    assert seen == dict(config=None, dtype="fp32", overwrite=False)


def test_bad_dtype_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", "--svd", "a", "--lvcd", "b", "--out", "c", "--dtype", "fp8"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_missing_file_exits_2_with_a_message(tmp_path, capsys):
    rc = main(
        [
            "convert",
            "--svd",
            str(tmp_path / "nope.safetensors"),
            "--lvcd",
            str(tmp_path / "x.ckpt"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "nope.safetensors" in err and "does not exist" in err and "Traceback" not in err


def test_unsafe_ckpt_exits_2(tmp_path, capsys):
    torch.save({"state_dict": {"control_model.w": torch.zeros(1)}, "obj": _Opaque()}, tmp_path / "lvcd.ckpt")
    (tmp_path / "svd.safetensors").write_bytes(b"")
    from safetensors.torch import save_file

    save_file({"model.diffusion_model.time_embed.0.weight": torch.zeros(1)}, tmp_path / "svd.safetensors")
    rc = main(
        [
            "convert",
            "--svd",
            str(tmp_path / "svd.safetensors"),
            "--lvcd",
            str(tmp_path / "lvcd.ckpt"),
            "--out",
            str(tmp_path / "o"),
            "--config",
            str(_tiny_config(tmp_path)),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "Refusing to load" in err and "lvcd.ckpt" in err
    assert not (tmp_path / "o").exists()


class _Opaque:
    pass


def _tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "unet": {
                    "block_out_channels": [32, 64],
                    "num_attention_heads": [2, 4],
                    "down_block_types": ["CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"],
                    "up_block_types": ["UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"],
                    "cross_attention_dim": 32,
                    "addition_time_embed_dim": 8,
                    "projection_class_embeddings_input_dim": 24,
                    "num_frames": 4,
                },
                "vae": {"block_out_channels": [32, 64], "down_block_types": ["DownEncoderBlock2D"] * 2},
            }
        )
    )
    return path


@pytest.mark.slow
@needs_oracle
def test_oracle_conversion_via_the_console_script(tmp_path, capsys):
    cfg = json.loads((ORACLE / "config.json").read_text())["diffusers"]
    config = tmp_path / "convert_config.json"
    config.write_text(
        json.dumps({"unet": cfg["UNetSpatioTemporalConditionModel"], "vae": cfg["AutoencoderKLTemporalDecoder"]})
    )
    out = tmp_path / "pipeline"
    cmd = [
        sys.executable,
        "-m",
        "lvcd",
        "convert",
        "--svd",
        str(ORACLE / "svd_tiny.safetensors"),
        "--lvcd",
        str(ORACLE / "lvcd_tiny.ckpt"),
        "--config",
        str(config),
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "unet: 1426 tensors (1266 from svd_tiny.safetensors, 160 from lvcd_tiny.ckpt)" in r.stderr
    assert "controlnet: 669 tensors (669 from lvcd_tiny.ckpt)" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["controlnet", "model_index.json", "scheduler", "unet", "vae"]
    assert main(cmd[3:]) == 2  # again, without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(cmd[3:] + ["--overwrite", "-q"]) == 0  # in-process: the same conversion, replacing the folder
    assert capsys.readouterr().out == "" and (out / "unet" / "config.json").is_file()
