"""A fake Hugging Face Hub for the `lvcd.hub` tests (tests/test_hub.py, tests/cli/test_convert_download.py): no
network. `install` replaces the huggingface_hub functions where lvcd.hub looks them up."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from types import SimpleNamespace

from huggingface_hub import errors as hf_errors

from lvcd import hub

COMMIT = {hub.SVD_REPO_ID: "a" * 40, hub.LVCD_REPO_ID: "b" * 40, "vdo/lvcd": "c" * 40}


def hf_error(cls, status: int):
    """A huggingface_hub HTTP error as the library raises it (it wants a response object)."""
    response = SimpleNamespace(status_code=status, headers={}, request=None, url="https://huggingface.co/x")
    try:
        return cls(f"{status} Client Error (fake)", response=response)
    except TypeError:  # pragma: no cover - another huggingface_hub signature
        e = cls.__new__(cls)
        Exception.__init__(e, f"{status} Client Error (fake)")
        e.response = response
        return e


ENTRY_NOT_FOUND = getattr(hf_errors, "RemoteEntryNotFoundError", hf_errors.EntryNotFoundError)


class FakeHub:
    """`files`: repo -> {filename: local file}; `errors`: repo -> exception the Hub answers with; `etags`: override of
    the sha256 the Hub reports. Records every call."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.files: dict[str, dict[str, Path]] = {}
        self.errors: dict[str, Exception] = {}
        self.etags: dict[tuple[str, str], str] = {}
        self.calls: list[tuple] = []

    def publish(self, repo_id: str, filename: str, src: Path) -> None:
        self.files.setdefault(repo_id, {})[filename] = Path(src)

    def _snapshot(self, cache_dir, repo_id: str, filename: str) -> Path:
        return (
            Path(cache_dir or self.cache)
            / f"models--{repo_id.replace('/', '--')}"
            / "snapshots"
            / COMMIT[repo_id]
            / filename
        )

    def hf_hub_download(self, repo_id, filename, *, cache_dir=None, token=None, local_files_only=False, **kw):
        self.calls.append(("download", repo_id, filename, local_files_only))
        snap = self._snapshot(cache_dir, repo_id, filename)
        if snap.exists():
            return str(snap)
        if local_files_only:
            raise hf_errors.LocalEntryNotFoundError("Cannot find the requested files in the disk cache (fake)")
        if repo_id in self.errors:
            raise self.errors[repo_id]
        if filename not in self.files.get(repo_id, {}):
            raise hf_error(ENTRY_NOT_FOUND, 404)
        data = self.files[repo_id][filename].read_bytes()
        blob = snap.parents[2] / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.symlink_to(Path("..", "..", "blobs", blob.name))
        return str(snap)

    def get_hf_file_metadata(self, url, token=None, **kw):
        m = re.match(r"https://[^/]+/(.+)/resolve/([^/]+)/(.+)$", url)
        repo_id, revision, filename = m.groups()
        self.calls.append(("metadata", repo_id, filename, revision))
        if repo_id in self.errors:
            raise self.errors[repo_id]
        sha = (
            self.etags.get((repo_id, filename))
            or hashlib.sha256(self.files[repo_id][filename].read_bytes()).hexdigest()
        )
        return SimpleNamespace(etag=sha, commit_hash=COMMIT[repo_id], location=url, size=None)

    def downloaded(self, repo_id: str) -> bool:
        return any(c[0] == "download" and c[1] == repo_id and not c[3] for c in self.calls)


def install(monkeypatch, cache: Path) -> FakeHub:
    """A FakeHub whose cache is `cache`, patched into lvcd.hub (and HF_HUB_OFFLINE unset)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake = FakeHub(cache)
    monkeypatch.setattr(hub, "hf_hub_download", fake.hf_hub_download)
    monkeypatch.setattr(hub, "get_hf_file_metadata", fake.get_hf_file_metadata)

    def no_api(*a, **k):
        raise AssertionError("HfApi must not be needed when the ETag is a sha256")

    monkeypatch.setattr(hub, "HfApi", no_api)
    return fake
