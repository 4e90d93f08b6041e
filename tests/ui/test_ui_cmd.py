"""`lvcd ui`: argument parsing and the warning when the page is served beyond this machine."""

from __future__ import annotations

import pytest

from lvcd.cli import main
from lvcd.ui import is_loopback


def test_loopback_detection():
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "::", "example.org"))


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_warning_when_bound_elsewhere(monkeypatch, capsys, sample, host, warned):
    import lvcd.ui

    calls = []
    monkeypatch.setattr(lvcd.ui, "serve", lambda *a, **k: calls.append((a, k)))
    assert main(["ui", str(sample), "--host", host, "--port", "7999"]) == 0
    err = capsys.readouterr().err
    assert ("warning: listening on 0.0.0.0" in err) is warned
    assert calls and calls[0][1]["host"] == host and calls[0][1]["port"] == 7999


def test_missing_manifest_is_a_user_error(capsys, tmp_path):
    assert main(["ui", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
