"""A non-editable install works on its own: `pip install .` into a fresh venv, then `lvcd convert` on the tiny golden
oracle and `lvcd colorize --dry-run`, run by the venv's console script from outside the repository, so that the
package data (the released architecture's configs) is all they have. Slow: builds and installs a wheel (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from oracle_path import ORACLE_A as ORACLE  # tests/oracle_path.py (tests/ is on sys.path)
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(cmd, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv holding lvcd installed from a copy of the source (setup.py, README.md, LICENSE, lvcd/: what an sdist
    holds; no `pipelines/`). It sees the test machine's site-packages for torch & co. (no downloads: --no-index,
    --no-deps, --no-build-isolation), but its own lvcd comes first."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in ("setup.py", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "lvcd", src / "lvcd", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env_dir = root / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LVCD_MODEL", "VIRTUAL_ENV")}
    env.update(HOME=str(root / "home"), XDG_DATA_HOME=str(root / "home" / "share"), TQDM_DISABLE="1")
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", env_dir], root, env)
    py = env_dir / "bin" / "python"
    # the test machine's pip (visible through --system-site-packages) installs into the venv
    _run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation", src], root, env)
    shutil.rmtree(src)  # nothing may still read the source tree
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env_dir, env, root


def test_installed_package_is_self_contained(venv):
    env_dir, env, root = venv
    probe = (
        "import json, lvcd; from lvcd import preflight; from lvcd.convert import DEFAULT_PIPELINE_DIR as d; "
        "print(json.dumps({'lvcd': lvcd.__file__, 'arch': str(preflight.REAL_ARCHITECTURE), 'convert': str(d), "
        "'unet': preflight._configs(None)['unet']}))"
    )
    got = json.loads(_run([env_dir / "bin" / "python", "-c", probe], root, env).stdout)
    site = Path(got["lvcd"]).resolve()
    assert env_dir.resolve() in site.parents, f"the venv imported {site}, not its installed lvcd"
    for key in ("arch", "convert"):
        assert env_dir.resolve() in Path(got[key]).resolve().parents, got[key]
    shipped = json.loads((REPO / "pipelines" / "lvcd-svd" / "unet" / "config.json").read_text())
    assert got["unet"] == {k: v for k, v in shipped.items() if not k.startswith("_")}  # not the class defaults


def test_installed_convert_on_the_oracle(venv, oracle_dir, tmp_path):
    env_dir, env, _ = venv
    cfg = json.loads((ORACLE / "config.json").read_text())["diffusers"]
    config = tmp_path / "convert_config.json"
    config.write_text(
        json.dumps({"unet": cfg["UNetSpatioTemporalConditionModel"], "vae": cfg["AutoencoderKLTemporalDecoder"]})
    )
    out = tmp_path / "pipe"
    _run(
        [
            env_dir / "bin" / "lvcd",
            "convert",
            "--svd",
            ORACLE / "svd_tiny.safetensors",
            "--lvcd",
            ORACLE / "lvcd_tiny.ckpt",
            "--config",
            config,
            "--out",
            out,
            "-q",
        ],
        tmp_path,
        env,
    )
    index = json.loads((out / "model_index.json").read_text())
    assert index["unet"] == ["lvcd", "LVCDUNetModel"] and index["image_encoder"] == [None, None]
    # the scheduler config comes from the shipped package data (--config gave only the UNet and the VAE)
    scheduler = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    shipped = json.loads((REPO / "pipelines" / "lvcd-svd" / "scheduler" / "scheduler_config.json").read_text())
    assert {k: scheduler[k] for k in ("sigma_max", "sigma_min", "prediction_type")} == {
        k: shipped[k] for k in ("sigma_max", "sigma_min", "prediction_type")
    }
    for sub in ("unet", "controlnet", "vae"):
        assert (out / sub / "diffusion_pytorch_model.safetensors").is_file()


def test_installed_colorize_dry_run(venv, tmp_path):
    env_dir, env, _ = venv
    for i in range(20):
        frame = np.full((64, 96, 3), 255, np.uint8)
        frame[10 + i, :] = 0
        Image.fromarray(frame).save(tmp_path / f"f_{i:04d}.png")
    r = _run(
        [
            env_dir / "bin" / "lvcd",
            "colorize",
            tmp_path / "f_%04d.png",
            "-r",
            tmp_path / "f_0000.png",
            "-o",
            tmp_path / "o.mp4",
            "--dry-run",
            "--backend",
            "diffusion",
        ],
        tmp_path,
        env,
    )
    assert "TFLOP" in r.stdout and "GiB" in r.stdout, r.stdout
    assert not (tmp_path / "o.mp4").exists()
