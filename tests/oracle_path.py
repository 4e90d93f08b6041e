"""Where the tiny golden oracle lives, for every test that needs it (one place).

The oracle is the folder `shared/oracle` beside the repository (`<repo>/../shared/oracle`, holding the set `A/`);
`$LVCD_ORACLE_DIR` overrides it (the oracle folder, or a set folder such as `.../oracle/A` itself). Tests ask for it
through the `oracle_dir` fixture (tests/conftest.py) or the `needs_oracle` mark: without the oracle they skip, except
under `CI=true`, where a missing oracle fails them, so the tests that pin the models to the official code cannot
silently stop running.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SET_FILES = (
    "svd_tiny.safetensors",
    "lvcd_tiny.ckpt",
    "lvcd_tiny.safetensors",
    "inputs.safetensors",
    "expected.safetensors",
    "config.json",
)


def oracle_root() -> Path:
    env = os.environ.get("LVCD_ORACLE_DIR")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "oracle"


def oracle_set(name: str = "A") -> Path:
    """The folder of one oracle set (whether or not it exists)."""
    root = oracle_root()
    return root if (root / "expected.safetensors").is_file() else root / name


ORACLE_A = oracle_set("A")

# Use the fixture (it skips, or fails under CI=true, when the oracle is missing) without taking its value.
needs_oracle = pytest.mark.usefixtures("oracle_dir")


def require_oracle(name: str = "A") -> Path:
    """The oracle set folder; skips the calling test when it is missing, or fails it under `CI=true`."""
    folder = oracle_set(name)
    missing = [f for f in SET_FILES if not (folder / f).is_file()]
    if missing:
        msg = (
            f"golden oracle not found: {folder} lacks {', '.join(missing)} (expected the repository's sibling "
            f"shared/oracle/{name}, or set LVCD_ORACLE_DIR)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + "; CI=true, so a missing oracle is a failure, not a skip", pytrace=False)
        pytest.skip(msg)
    return folder
