"""`lvcd doctor`: the environment report (on this machine, with a fake CUDA device, a broken ffmpeg, tiny models)."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
import torch

from lvcd import doctor, model_dir, preflight
from lvcd.cli import main
from lvcd.doctor import base as doctor_base
from lvcd.doctor import gpu as doctor_gpu
from lvcd.video import _ffmpeg

EXPECTED = [
    "python",
    "lvcd",
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "av",
    "opencv",
    "scenedetect",
    "cuda",
    "bf16",
    "gpu memory",
    "sdpa",
    "xformers",
    "ffmpeg",
    "model",
    "HF_HUB_OFFLINE",
    "HF_HOME",
    "backend",
]


@pytest.fixture
def no_default_model(tmp_path, monkeypatch):
    """No $LVCD_MODEL and an empty default location: the report does not depend on this machine's models."""
    monkeypatch.delenv(model_dir.MODEL_ENV, raising=False)
    monkeypatch.setattr(model_dir, "DEFAULT_MODEL_DIR", tmp_path / "no-default-model")


def by_name(checks) -> dict:
    return {c["name"] if isinstance(c, dict) else c.name: c for c in checks}


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = main(["doctor", "--json", *argv])
    out = capsys.readouterr().out
    checks = json.loads(out)
    return code, by_name(checks)


def test_report_on_this_machine_exit_status_follows_the_checks(capsys, no_default_model):
    code = main(["doctor"])
    out = capsys.readouterr().out
    checks = doctor.environment_report()
    assert code == (1 if any(c.status == "fail" for c in checks) else 0)
    lines = out.splitlines()
    for c in checks:  # one aligned line per check: status column, then name column, then detail
        line = next(ln for ln in lines if ln.startswith(f"{c.status:<5}{c.name} "))
        assert c.detail.split()[0] in line
    starts = {ln.index(ln.split()[1]) for ln in lines[: len(checks)]}
    assert starts == {5}
    assert f"torch {torch.__version__}" in " ".join(out.split())
    if not torch.cuda.is_available():
        cuda = by_name(checks)["cuda"]
        assert cuda.status in ("info", "warn") and "CPU" in cuda.detail and "bucket" in cuda.detail
        assert by_name(checks)["xformers"].detail.startswith("not used")
        assert "(CPU-only build)" in by_name(checks)["torch"].detail or torch.version.cuda
    # the model is missing (warn), so its fix is printed under "How to fix"
    assert "How to fix:" in out and "lvcd convert --download" in out


def test_json_has_the_expected_checks(capsys, no_default_model):
    code, checks = run_json(capsys)
    assert [n for n in EXPECTED if n not in checks] == []
    assert all(
        set(c) == {"name", "status", "detail", "fix"} and c["status"] in doctor.STATUSES for c in checks.values()
    )
    assert code == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)
    assert checks["python"]["status"] == "info" and checks["diffusers"]["status"] in ("info", "fail")
    assert checks["HF_HUB_OFFLINE"]["status"] == "info"


def test_model_found_is_ok_with_sizes(capsys, tiny_pipeline_dir, no_default_model):
    code, checks = run_json(capsys, "--model", str(tiny_pipeline_dir))
    assert checks["model"]["status"] == "ok", checks["model"]
    assert str(tiny_pipeline_dir) in checks["model"]["detail"] and "unet" in checks["model"]["detail"]
    weights = checks["model weights"]["detail"]
    for name, info in model_dir.model_fingerprint(tiny_pipeline_dir).items():
        assert f"{name} {doctor_base._size(info['bytes'])}" in weights
    assert checks["model sources"]["status"] == "info" and "no lvcd_sources.json" in checks["model sources"]["detail"]
    assert "diffusion" in checks["backend"]["detail"]


def test_model_missing_warns_with_the_convert_fix(capsys, tmp_path, no_default_model):
    missing = tmp_path / "nowhere"
    code, checks = run_json(capsys, "--model", str(missing))
    model = checks["model"]
    assert model["status"] == "warn" and str(missing) in model["detail"]
    assert "lvcd convert --download" in model["fix"] and "--svd svd.safetensors --lvcd lvcd.ckpt" in model["fix"]
    assert "model weights" not in checks and "bucket" in checks["backend"]["detail"]


def test_model_sources_and_truncated_weights(capsys, tmp_path, tiny_pipeline_dir, no_default_model):
    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, model)
    (model / "lvcd_sources.json").write_text(
        json.dumps(
            {
                "svd": {
                    "repo_id": "stabilityai/stable-video-diffusion-img2vid",
                    "revision": "9cf024d5bfa8f56622af86c8",
                    "verified": True,
                },
                "lvcd": {
                    "repo_id": "luckyhzt/lvcd_pretrained_models",
                    "revision": "abcdef0123456789",
                    "verified": True,
                },
            }
        )
    )
    code, checks = run_json(capsys, "--model", str(model))
    assert checks["model"]["status"] == "ok"
    src = checks["model sources"]
    assert src["status"] == "info" and "luckyhzt/lvcd_pretrained_models@abcdef0123" in src["detail"]

    (model / "lvcd_sources.json").write_text("{not json")
    code, checks = run_json(capsys, "--model", str(model))
    assert checks["model sources"]["status"] == "warn" and checks["model sources"]["fix"]

    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 100])  # an interrupted copy
    code, checks = run_json(capsys, "--model", str(model))
    assert code == 1
    assert (
        checks["model"]["status"] == "fail"
        and "unet/diffusion_pytorch_model.safetensors: truncated" in checks["model"]["detail"]
    )
    assert "lvcd convert" in checks["model"]["fix"] and checks["backend"]["status"] == "fail"

    shutil.rmtree(model / "vae")
    checks = by_name(doctor.environment_report(model=str(model), device="cpu"))
    assert "vae/ missing" in checks["model"].detail


# ---------------------------------------------------------------------------------------------------- fake CUDA
@pytest.fixture
def fake_cuda(monkeypatch):
    """A CUDA build seeing one Ampere GPU; the memory numbers are set per test through `set_free`."""
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "NVIDIA GeForce RTX 3070")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (8, 6))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_80", "sm_86", "sm_90"])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(doctor_gpu, "_sdpa_kernels", lambda device: ["flash", "mem-efficient"])

    def no_xformers(device):
        raise ModuleNotFoundError("No module named 'xformers'", name="xformers")

    monkeypatch.setattr(doctor_gpu, "_xformers_probe", no_xformers)
    total = 8 * preflight.GIB

    def set_free(free: float):
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a, **k: (int(free), total))
        monkeypatch.setattr(preflight, "cuda_free_memory", lambda device="cuda": (int(free), total))

    return set_free


def real_peaks() -> dict[str, float]:
    return doctor_gpu._peak_estimate(None)  # the real architecture (pipelines/lvcd-svd), 576x320 bf16, on meta tensors


@pytest.mark.parametrize("tier", ["none", "model", "sequential", None])
def test_fake_cuda_reports_the_offload_tier_that_fits(capsys, fake_cuda, no_default_model, tier):
    peaks = real_peaks()
    margin = preflight.SAFETY_MARGIN_BYTES
    free = {
        "none": peaks["none"] + margin + preflight.GIB // 8,
        "model": (peaks["none"] + peaks["model"]) / 2 + margin,
        "sequential": (peaks["model"] + peaks["sequential"]) / 2 + margin,
        None: peaks["sequential"] / 2,
    }[tier]
    fake_cuda(free)
    code, checks = run_json(capsys)
    assert checks["torch"]["status"] == "ok" and "CUDA 12.4 build" in checks["torch"]["detail"]
    assert checks["cuda"]["status"] == "ok" and "RTX 3070" in checks["cuda"]["detail"]
    assert "compute capability 8.6" in checks["cuda"]["detail"]
    assert checks["bf16"]["status"] == "ok" and checks["sdpa"]["status"] == "ok"
    assert "flash" in checks["sdpa"]["detail"]
    assert checks["xformers"]["status"] == "info" and "not installed" in checks["xformers"]["detail"]
    mem = checks["gpu memory"]
    assert f"{free / preflight.GIB:.2f} GiB free of 8.00 GiB" in mem["detail"]
    assert f"none {peaks['none'] / preflight.GIB:.2f}" in mem["detail"]
    if tier == "none":
        assert mem["status"] == "ok" and "--offload none fits" in mem["detail"]
    elif tier is not None:
        assert mem["status"] == "warn" and f"--offload {tier} fits" in mem["detail"]
        assert f"--offload {tier}" in mem["fix"]
    else:
        assert mem["status"] == "fail" and "no offload tier fits" in mem["detail"]
        assert "--size" in mem["fix"] and "--backend bucket" in mem["fix"]
    assert code == (1 if tier is None else 0)


def test_fake_cuda_without_bf16_or_kernels(capsys, fake_cuda, no_default_model, monkeypatch):
    fake_cuda(64 * preflight.GIB)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (12, 0))
    code, checks = run_json(capsys)
    assert checks["bf16"]["status"] == "warn" and "--dtype fp16" in checks["bf16"]["fix"]
    assert checks["cuda"]["status"] == "fail" and "sm_120" in checks["cuda"]["fix"]
    assert code == 1


def test_cuda_device_asked_for_without_cuda(capsys, monkeypatch, no_default_model):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, checks = run_json(capsys, "--device", "cuda")
    assert code == 1 and checks["cuda"]["status"] == "fail" and "--device cpu" in checks["cuda"]["fix"]
    code, checks = run_json(capsys, "--device", "cuda:x")
    assert code == 1 and checks["cuda"]["status"] == "fail" and "cuda:N" in checks["cuda"]["fix"]


# ---------------------------------------------------------------------------------------------------- ffmpeg
def test_broken_ffmpeg_path_fails_with_a_fix(capsys, monkeypatch, tmp_path, no_default_model):
    monkeypatch.setattr(_ffmpeg, "ffmpeg_exe", lambda: str(tmp_path / "no-such-ffmpeg"))
    code, checks = run_json(capsys)
    assert code == 1
    assert checks["ffmpeg"]["status"] == "fail" and "does not run" in checks["ffmpeg"]["detail"]
    assert "imageio-ffmpeg" in checks["ffmpeg"]["fix"] and "IMAGEIO_FFMPEG_EXE" in checks["ffmpeg"]["fix"]

    def not_found():
        raise FileNotFoundError("ffmpeg was not found")

    monkeypatch.setattr(_ffmpeg, "ffmpeg_exe", not_found)
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 1 and any(ln.startswith("fail ffmpeg") and "not found" in ln for ln in out.splitlines())
    assert "  ffmpeg (fail): Install the imageio-ffmpeg package" in out


@pytest.mark.skipif(os.name != "posix", reason="a shell-script stand-in for ffmpeg")
def test_ffmpeg_without_prores_or_x264(capsys, monkeypatch, tmp_path, no_default_model):
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *-version*) echo "ffmpeg version 6.1-fake Copyright (c) the FFmpeg developers";;\n'
        '*-encoders*) printf "Encoders:\\n V..... = Video\\n ------\\n'
        ' V....D libopenh264          OpenH264\\n A....D aac                  AAC\\n";;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(_ffmpeg, "ffmpeg_exe", lambda: str(fake))
    code, checks = run_json(capsys)
    assert checks["ffmpeg"]["status"] == "ok" and "6.1-fake" in checks["ffmpeg"]["detail"]
    assert checks["ffmpeg libx264"]["status"] == "fail" and "libx264" in checks["ffmpeg libx264"]["fix"]
    assert checks["ffmpeg prores_ks"]["status"] == "warn" and checks["ffmpeg aac"]["status"] == "ok"
    assert code == 1


def test_check_rejects_unknown_status():
    with pytest.raises(ValueError):
        doctor.Check("x", "maybe", "")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
