"""`lvcd convert --download`: the official files from a fake Hub (tests/hub_fakes.py, no network) through the real
conversion; argument rules; exit codes and messages."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import errors as hf_errors

from lvcd import hub
from lvcd.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hub_fakes.py
from hub_fakes import COMMIT, hf_error, install  # noqa: E402
from oracle_path import ORACLE_A as ORACLE  # noqa: E402
from oracle_path import needs_oracle  # noqa: E402


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    return install(monkeypatch, tmp_path / "hf-cache")


@pytest.fixture
def oracle_hub(fake_hub, tmp_path, oracle_dir):
    """The tiny official-format oracle files (svd_tiny.safetensors, lvcd_tiny.ckpt) published under the official names,
    and the diffusers configs of their sizes."""
    fake_hub.publish(hub.SVD_REPO_ID, hub.SVD_FILENAME, ORACLE / "svd_tiny.safetensors")
    fake_hub.publish(hub.LVCD_REPO_ID, hub.LVCD_FILENAME, ORACLE / "lvcd_tiny.ckpt")
    cfg = json.loads((ORACLE / "config.json").read_text())["diffusers"]
    config = tmp_path / "convert_config.json"
    config.write_text(
        json.dumps({"unet": cfg["UNetSpatioTemporalConditionModel"], "vae": cfg["AutoencoderKLTemporalDecoder"]})
    )
    fake_hub.config = config
    return fake_hub


@pytest.fixture
def small_hub(fake_hub, tmp_path):
    """Stand-in bytes (enough for everything that fails before the conversion)."""
    for repo_id, name in ((hub.SVD_REPO_ID, hub.SVD_FILENAME), (hub.LVCD_REPO_ID, hub.LVCD_FILENAME)):
        src = tmp_path / "src" / name
        src.parent.mkdir(exist_ok=True)
        src.write_bytes(name.encode() * 100)
        fake_hub.publish(repo_id, name, src)
    return fake_hub


def _download(tmp_path, *extra):
    return main(["convert", "--download", "--cache-dir", str(tmp_path / "cache"), *extra])


@needs_oracle
@pytest.mark.slow
def test_download_converts_to_a_loadable_pipeline_with_sources(oracle_hub, tmp_path, capsys):
    from lvcd import LVCDPipeline

    out = tmp_path / "pipe"
    rc = _download(tmp_path, "--out", str(out), "--config", str(oracle_hub.config))
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-2000:]
    assert "unet: 1426 tensors (1266 from svd.safetensors, 160 from lvcd.ckpt)" in captured.err
    assert "sha256" in captured.err and "verified" in captured.err
    assert "LVCDPipeline.from_pretrained" in captured.out
    assert sorted(p.name for p in out.iterdir()) == [
        "controlnet",
        "lvcd_sources.json",
        "model_index.json",
        "scheduler",
        "unet",
        "vae",
    ]
    pipe = LVCDPipeline.from_pretrained(out, torch_dtype=torch.float32)
    assert pipe.image_encoder is None and pipe.unet is not None and pipe.controlnet is not None

    sources = json.loads((out / "lvcd_sources.json").read_text())
    assert sources["svd"] == {
        "repo_id": hub.SVD_REPO_ID,
        "filename": "svd.safetensors",
        "revision": COMMIT[hub.SVD_REPO_ID],
        "sha256": _sha(ORACLE / "svd_tiny.safetensors"),
        "verified": True,
        "mirror": False,
        "url": f"https://huggingface.co/{hub.SVD_REPO_ID}/blob/{COMMIT[hub.SVD_REPO_ID]}/svd.safetensors",
    }
    assert (sources["lvcd"]["repo_id"], sources["lvcd"]["revision"], sources["lvcd"]["sha256"]) == (
        hub.LVCD_REPO_ID,
        COMMIT[hub.LVCD_REPO_ID],
        _sha(ORACLE / "lvcd_tiny.ckpt"),
    )
    assert sources["dtype"] == "fp32"

    # again: from the cache (no new download), --overwrite replaces the folder
    oracle_hub.calls.clear()
    assert _download(tmp_path, "--out", str(out), "--config", str(oracle_hub.config), "--overwrite", "-q") == 0
    assert capsys.readouterr().out == "" and (out / "lvcd_sources.json").is_file()


@needs_oracle
@pytest.mark.slow
def test_download_uses_the_mirror_and_records_it(oracle_hub, tmp_path, capsys):
    oracle_hub.errors[hub.LVCD_REPO_ID] = hf_error(hf_errors.RepositoryNotFoundError, 404)
    oracle_hub.publish("vdo/lvcd", "lvcd.ckpt", ORACLE / "lvcd_tiny.ckpt")
    out = tmp_path / "pipe"
    assert _download(tmp_path, "--out", str(out), "--config", str(oracle_hub.config)) == 0
    err = capsys.readouterr().err
    assert f"not found in {hub.LVCD_REPO_ID}" in err and "using the mirror vdo/lvcd" in err
    lvcd = json.loads((out / "lvcd_sources.json").read_text())["lvcd"]
    assert (lvcd["repo_id"], lvcd["mirror"], lvcd["revision"]) == ("vdo/lvcd", True, COMMIT["vdo/lvcd"])


def test_sha256_mismatch_exits_2_and_writes_nothing(small_hub, tmp_path, capsys):
    small_hub.etags[(hub.SVD_REPO_ID, "svd.safetensors")] = "f" * 64
    out = tmp_path / "pipe"
    assert _download(tmp_path, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "sha256 mismatch for svd.safetensors" in err and "f" * 64 in err
    assert _sha(tmp_path / "src" / "svd.safetensors") in err
    assert f"download {hub.SVD_REPO_ID} svd.safetensors --force-download" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".pipe*"))
    assert not small_hub.downloaded(hub.LVCD_REPO_ID)


def test_gated_repo_exits_2_with_the_url_and_login(small_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "__version__", "0.26.2")  # huggingface-cli era
    small_hub.errors[hub.SVD_REPO_ID] = hf_error(hf_errors.GatedRepoError, 401)
    assert _download(tmp_path, "--out", str(tmp_path / "pipe")) == 2
    err = capsys.readouterr().err
    assert "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid" in err
    assert "huggingface-cli login" in err and "accept its licence" in err and "Traceback" not in err


def test_offline_with_an_empty_cache_exits_2_with_the_fix(small_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert _download(tmp_path, "--out", str(tmp_path / "pipe")) == 2
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE=1" in err and "not in the local cache" in err and "run once online" in err
    assert "--svd" in err and "--lvcd" in err
    assert all(c[3] is True for c in small_hub.calls)  # local_files_only: nothing asked of the Hub


def test_existing_out_is_refused_before_downloading(small_hub, tmp_path, capsys):
    (tmp_path / "pipe").mkdir()
    assert _download(tmp_path, "--out", str(tmp_path / "pipe")) == 2
    assert "--overwrite" in capsys.readouterr().err and not small_hub.calls


def test_download_without_out_uses_the_default_model_dir(small_hub, tmp_path, monkeypatch):
    import lvcd.convert
    import lvcd.model_dir

    monkeypatch.setattr(lvcd.model_dir, "DEFAULT_MODEL_DIR", tmp_path / "share" / "lvcd" / "lvcd-svd")
    seen = {}

    def fake_convert(svd, lvcd_, out, config=None, dtype="fp32", overwrite=False):
        seen.update(out=Path(out), svd=Path(svd).name, lvcd=Path(lvcd_).name, dtype=dtype, overwrite=overwrite)
        Path(out).mkdir(parents=True)
        return Path(out)

    monkeypatch.setattr(lvcd.convert, "convert_checkpoints", fake_convert)
    assert _download(tmp_path, "-q", "--dtype", "bf16") == 0
    assert seen == dict(
        out=tmp_path / "share" / "lvcd" / "lvcd-svd",
        svd="svd.safetensors",
        lvcd="lvcd.ckpt",
        dtype="bf16",
        overwrite=False,
    )
    assert json.loads((seen["out"] / "lvcd_sources.json").read_text())["dtype"] == "bf16"


@pytest.mark.parametrize(
    "extra, flags",
    [
        (["--svd", "a.safetensors"], "--svd"),
        (["--lvcd", "b.ckpt"], "--lvcd"),
        (["--svd", "a", "--lvcd", "b"], "--svd/--lvcd"),
    ],
)
def test_download_with_svd_or_lvcd_is_a_usage_error(extra, flags, capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", "--download", *extra, "--out", "o"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument --download: not allowed with {flags}" in err and "usage:" in err


@pytest.mark.parametrize(
    "argv, missing",
    [
        (["--lvcd", "b", "--out", "o"], "--svd"),
        (["--svd", "a", "--out", "o"], "--lvcd"),
        (["--svd", "a", "--lvcd", "b"], "--out"),
        ([], "--svd, --lvcd, --out"),
    ],
)
def test_svd_lvcd_out_stay_required_without_download(argv, missing, capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"the following arguments are required: {missing}" in err and "--download" in err


def test_cache_dir_needs_download(capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", "--svd", "a", "--lvcd", "b", "--out", "o", "--cache-dir", "c"])
    assert e.value.code == 2 and "--cache-dir: only used with --download" in capsys.readouterr().err


def test_help_mentions_download_and_the_gated_repo():
    import subprocess

    r = subprocess.run([sys.executable, "-m", "lvcd", "convert", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for text in ("--download", "--cache-dir", "HF_HUB_OFFLINE", hub.SVD_URL, hub.LVCD_REPO_ID, "lvcd_sources.json"):
        assert text in r.stdout, text
