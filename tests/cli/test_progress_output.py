"""--quiet silences third-party noise; stderr that is not a terminal gets plain progress lines (issue 10, item 9)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import REPO, lineart_video  # noqa: E402

from lvcd.cli import PlainLines, main  # noqa: E402


def test_plain_lines_turn_a_bar_into_lines():
    from tqdm import tqdm

    buf = io.StringIO()
    stream = PlainLines(buf, interval=0.0)
    for _ in tqdm(range(5), desc="colorize", file=stream, mininterval=0):
        pass
    text = buf.getvalue()
    assert "\r" not in text and "\x1b[" not in text
    lines = [ln for ln in text.splitlines() if ln]
    assert lines[-1].startswith("colorize: 100%") and len(lines) == len(set(lines))
    nested = io.StringIO()
    with tqdm(total=2, desc="shot a", file=PlainLines(nested), position=1, leave=False) as bar:
        bar.update(2)
    assert "\x1b[" not in nested.getvalue()


def test_non_tty_log_has_no_cursor_codes(tmp_path):
    src = lineart_video(tmp_path / "line.mp4", 30)
    proc = subprocess.run(
        [sys.executable, "-m", "lvcd", "lineart", str(src), "-o", str(tmp_path / "l2.mp4")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr and "lineart: 100%" in proc.stderr


def test_quiet_run_restores_the_environment(tmp_path):
    src = lineart_video(tmp_path / "line.mp4", 4)
    before = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"), os.environ.get("TQDM_DISABLE")
    assert main(["lineart", str(src), "-o", str(tmp_path / "l2.mp4"), "--quiet"]) == 0
    assert (os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"), os.environ.get("TQDM_DISABLE")) == before


def test_quiet_silences_diffusers_bars_and_warnings(tmp_path):
    """What `lvcd ... --quiet` sets up, seen from diffusers itself in a fresh process."""
    code = (
        "import sys, warnings\nfrom lvcd.cli import _quiet_third_party\n_quiet_third_party(True)\n"
        "from diffusers.utils import logging as dl\n"
        "print(dl.get_verbosity(), dl.tqdm(range(3), desc='Loading pipeline components...').disable)\n"
        "warnings.warn_explicit('old api', FutureWarning, 'x.py', 1, module='diffusers.models')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("DIFFUSERS_", "HF_"))},
            "PYTHONPATH": str(REPO),
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["40", "True"] and "old api" not in proc.stderr
