"""Fixtures for the `lvcd ui` tests: a copy of the bundled sample, the app served by uvicorn on a free loopback port,
and headless Chromium (Debian's `chromium` package driven by Playwright through `executable_path`)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the ui extra is not installed (pip install 'lvcd[ui]')")
pytest.importorskip("uvicorn", reason="the ui extra is not installed (pip install 'lvcd[ui]')")

SAMPLE = Path(__file__).resolve().parents[2] / "lvcd" / "data" / "sample"


@pytest.fixture
def sample(tmp_path) -> Path:
    """A private copy of the bundled two-shot sample; returns its manifest."""
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("gt", "ids"))
    return dst / "shots.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, manifest: Path):
        import uvicorn

        from lvcd.ui.app import create_app

        self.app = create_app(manifest)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the lvcd ui server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(sample):
    with Served(sample) as s:
        yield s


def find_chromium() -> str | None:
    """$LVCD_CHROMIUM when set (and only it), else Debian's chromium (or another Chromium on PATH)."""
    if os.environ.get("LVCD_CHROMIUM"):
        return shutil.which(os.environ["LVCD_CHROMIUM"])
    for cand in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(cand):
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium; skipped with the reason when it is missing, a failure under CI=true."""
    exe = find_chromium()
    missing = None
    if exe is None:
        missing = (
            "no chromium found (install Debian's package: apt-get install chromium; or point LVCD_CHROMIUM at "
            "a Chromium)"
        )
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            missing = "the `playwright` Python package is not installed (pip install 'lvcd[ui]')"
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests need a browser under CI: {missing}")
        pytest.skip(missing)
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield b
        b.close()
