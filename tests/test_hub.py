"""lvcd.hub: fetching the official checkpoints with huggingface_hub, verified and recorded. No network: every Hub
function is replaced (where lvcd.hub looks it up) by `hub_fakes.FakeHub`, which builds a real huggingface_hub cache
layout (blobs named by sha256, snapshots/<commit>/<file> symlinks) from local files."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from hub_fakes import COMMIT, hf_error, install
from huggingface_hub import errors as hf_errors

from lvcd import hub


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    return install(monkeypatch, tmp_path / "hf-cache")


@pytest.fixture
def small_files(tmp_path, fake_hub):
    """Stand-in bytes for both files (enough for everything before the conversion), published in the authors' repos."""
    svd, lvcd = tmp_path / "src" / "svd.safetensors", tmp_path / "src" / "lvcd.ckpt"
    svd.parent.mkdir()
    svd.write_bytes(b"svd weights" * 100)
    lvcd.write_bytes(b"lvcd weights" * 100)
    fake_hub.publish(hub.SVD_REPO_ID, hub.SVD_FILENAME, svd)
    fake_hub.publish(hub.LVCD_REPO_ID, hub.LVCD_FILENAME, lvcd)
    return SimpleNamespace(svd=svd, lvcd=lvcd)


@pytest.fixture
def hub_log():
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    log = logging.getLogger("lvcd.hub")
    old = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield records
    log.removeHandler(handler)
    log.setLevel(old)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_constants_name_the_official_repos():
    assert (hub.SVD_REPO_ID, hub.SVD_FILENAME) == ("stabilityai/stable-video-diffusion-img2vid", "svd.safetensors")
    assert (hub.LVCD_REPO_ID, hub.LVCD_FILENAME) == ("luckyhzt/lvcd_pretrained_models", "lvcd.ckpt")
    assert hub.LVCD_MIRROR_REPO_IDS == ("vdo/lvcd",)
    assert hub.SVD_URL == "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid"


def test_fetch_downloads_verifies_and_pins_the_commit(small_files, fake_hub, tmp_path, hub_log):
    svd_path, lvcd_path = hub.fetch_official_weights(cache_dir=tmp_path / "c")
    assert svd_path.read_bytes() == small_files.svd.read_bytes() and svd_path.name == "svd.safetensors"
    assert lvcd_path.read_bytes() == small_files.lvcd.read_bytes() and lvcd_path.name == "lvcd.ckpt"
    assert str(svd_path).startswith(str(tmp_path / "c"))  # cache_dir reaches hf_hub_download
    # the sha256 is read at the commit that was downloaded, not at `main`
    assert ("metadata", hub.SVD_REPO_ID, "svd.safetensors", COMMIT[hub.SVD_REPO_ID]) in fake_hub.calls
    assert any("sha256" in m and "verified" in m for m in hub_log)

    svd, lvcd = hub.download_official(cache_dir=tmp_path / "c")  # second time: from the cache, verified again
    assert (svd.repo_id, svd.revision, svd.sha256, svd.verified, svd.mirror) == (
        hub.SVD_REPO_ID,
        COMMIT[hub.SVD_REPO_ID],
        _sha(small_files.svd),
        True,
        False,
    )
    assert (lvcd.repo_id, lvcd.sha256, lvcd.verified) == (hub.LVCD_REPO_ID, _sha(small_files.lvcd), True)


def test_sha256_mismatch_names_file_hashes_and_fix_and_keeps_the_cache(small_files, fake_hub, tmp_path):
    fake_hub.etags[(hub.LVCD_REPO_ID, "lvcd.ckpt")] = "0" * 64
    with pytest.raises(hub.HubIntegrityError) as e:
        hub.download_official(cache_dir=tmp_path / "c")
    msg = str(e.value)
    assert "lvcd.ckpt" in msg and "0" * 64 in msg and _sha(small_files.lvcd) in msg
    assert f"download {hub.LVCD_REPO_ID} lvcd.ckpt --force-download" in msg
    cached = list((tmp_path / "c").rglob("lvcd.ckpt"))
    assert cached and cached[0].read_bytes() == small_files.lvcd.read_bytes()  # nothing deleted


@pytest.mark.parametrize(
    "version, login, download",
    [("0.26.2", "huggingface-cli login", "huggingface-cli download"), ("1.0.1", "hf auth login", "hf download")],
)
def test_cli_commands_in_the_installed_spelling(monkeypatch, version, login, download):
    monkeypatch.setattr(huggingface_hub, "__version__", version)
    assert hub._hf_cli("login") == login and hub._hf_cli("download") == download


@pytest.mark.parametrize(
    "error", [lambda: hf_error(hf_errors.GatedRepoError, 401), lambda: hf_error(hf_errors.HfHubHTTPError, 403)]
)
def test_gated_svd_repo_says_accept_the_licence_and_log_in(small_files, fake_hub, monkeypatch, error):
    monkeypatch.setattr(huggingface_hub, "__version__", "0.26.2")
    fake_hub.errors[hub.SVD_REPO_ID] = error()
    with pytest.raises(hub.HubAccessError) as e:
        hub.download_official()
    msg = str(e.value)
    assert "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid" in msg
    assert "accept its licence" in msg and "`huggingface-cli login`" in msg and "HF_TOKEN" in msg
    assert not fake_hub.downloaded(hub.LVCD_REPO_ID)  # stopped before the 3 GB file


def test_mirror_is_used_when_the_authors_repo_404s(small_files, fake_hub, tmp_path, hub_log):
    fake_hub.files.pop(hub.LVCD_REPO_ID)
    fake_hub.errors[hub.LVCD_REPO_ID] = hf_error(hf_errors.RepositoryNotFoundError, 404)
    fake_hub.publish("vdo/lvcd", "lvcd.ckpt", small_files.lvcd)
    svd, lvcd = hub.download_official(cache_dir=tmp_path / "c")
    assert (lvcd.repo_id, lvcd.mirror, lvcd.verified, lvcd.revision) == ("vdo/lvcd", True, True, COMMIT["vdo/lvcd"])
    assert lvcd.record()["url"] == f"https://huggingface.co/vdo/lvcd/blob/{COMMIT['vdo/lvcd']}/lvcd.ckpt"
    assert any("using the mirror vdo/lvcd" in m for m in hub_log)


def test_mirror_is_used_when_the_file_is_gone_from_the_authors_repo(small_files, fake_hub, tmp_path):
    fake_hub.files[hub.LVCD_REPO_ID].clear()  # repo there, file not: EntryNotFound
    fake_hub.publish("vdo/lvcd", "lvcd.ckpt", small_files.lvcd)
    assert hub.download_official(cache_dir=tmp_path / "c")[1].repo_id == "vdo/lvcd"


def test_not_found_anywhere_names_both_repos(small_files, fake_hub, tmp_path):
    fake_hub.files[hub.LVCD_REPO_ID].clear()
    with pytest.raises(hub.HubError) as e:
        hub.download_official(cache_dir=tmp_path / "c")
    msg = str(e.value)
    assert hub.LVCD_REPO_ID in msg and "vdo/lvcd" in msg and "--lvcd" in msg


def test_offline_uses_only_the_cache_and_says_it_is_not_checked(small_files, fake_hub, tmp_path, monkeypatch, hub_log):
    hub.download_official(cache_dir=tmp_path / "c")
    fake_hub.calls.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    svd, lvcd = hub.download_official(cache_dir=tmp_path / "c")
    assert all(c[0] == "download" and c[3] is True for c in fake_hub.calls)  # local_files_only, no metadata call
    assert not svd.verified and svd.sha256 == _sha(small_files.svd) and svd.revision == COMMIT[hub.SVD_REPO_ID]
    assert any("HF_HUB_OFFLINE" in m and "not checked against the Hub" in m for m in hub_log)


def test_offline_with_an_empty_cache_says_run_once_online(small_files, fake_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubError) as e:
        hub.download_official(cache_dir=tmp_path / "empty")
    msg = str(e.value)
    assert "HF_HUB_OFFLINE=1" in msg and "svd.safetensors" in msg and "run once online" in msg
    assert "--svd" in msg and str(tmp_path / "empty") in msg


def test_offline_cache_corruption_is_caught_from_the_blob_name(small_files, fake_hub, tmp_path, monkeypatch):
    svd_path, _ = hub.fetch_official_weights(cache_dir=tmp_path / "c")
    svd_path.resolve().write_bytes(b"truncated")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubIntegrityError, match="svd.safetensors.*the cache's record"):
        hub.download_official(cache_dir=tmp_path / "c")


def test_hub_unreachable_and_not_cached(small_files, fake_hub, tmp_path):
    err = hf_errors.LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")
    fake_hub.errors[hub.SVD_REPO_ID] = err
    with pytest.raises(hub.HubError, match="could not reach the Hub.*connection"):
        hub.download_official(cache_dir=tmp_path / "c")


def test_sha256_from_paths_info_when_the_etag_is_not_one(small_files, fake_hub, tmp_path, monkeypatch):
    fake_hub.etags[(hub.SVD_REPO_ID, "svd.safetensors")] = "1" * 40  # a git blob id, not a sha256
    seen = {}

    class Api:
        def get_paths_info(self, repo_id, paths, revision=None, token=None):
            seen.update(repo_id=repo_id, paths=paths, revision=revision)
            return [SimpleNamespace(lfs=SimpleNamespace(sha256=_sha(small_files.svd)))]

    monkeypatch.setattr(hub, "HfApi", Api)
    svd, _ = hub.download_official(cache_dir=tmp_path / "c")
    assert svd.verified and seen == dict(
        repo_id=hub.SVD_REPO_ID, paths=["svd.safetensors"], revision=COMMIT[hub.SVD_REPO_ID]
    )


def test_convert_official_refuses_an_existing_out_before_downloading(small_files, fake_hub, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="--overwrite"):
        hub.convert_official(tmp_path / "out")
    assert not fake_hub.calls
    (tmp_path / "out" / "model_index.json").write_text("{}")
    (tmp_path / "out" / "thesis.txt").write_text("mine")  # --overwrite replaces a conversion, never this
    with pytest.raises(FileExistsError, match="did not write: thesis.txt;"):
        hub.convert_official(tmp_path / "out", overwrite=True)
    assert not fake_hub.calls and (tmp_path / "out" / "thesis.txt").read_text() == "mine"


def test_convert_official_defaults_to_the_model_location_colorize_uses(small_files, fake_hub, tmp_path, monkeypatch):
    import json

    import lvcd.convert
    import lvcd.model_dir

    monkeypatch.setattr(lvcd.model_dir, "DEFAULT_MODEL_DIR", tmp_path / "data" / "lvcd" / "lvcd-svd")
    monkeypatch.delenv(lvcd.model_dir.MODEL_ENV, raising=False)
    seen = {}

    def fake_convert(svd, lvcd_, out, config=None, dtype="fp32", overwrite=False):
        seen.update(svd=Path(svd), lvcd=Path(lvcd_))
        Path(out).mkdir(parents=True)
        (Path(out) / "model_index.json").write_text("{}")
        return Path(out)

    monkeypatch.setattr(lvcd.convert, "convert_checkpoints", fake_convert)
    out = hub.convert_official(cache_dir=tmp_path / "c")
    assert out == tmp_path / "data" / "lvcd" / "lvcd-svd" and lvcd.model_dir.find_model() == out
    assert seen["svd"].read_bytes() == small_files.svd.read_bytes() and seen["lvcd"].name == "lvcd.ckpt"
    sources = json.loads((out / hub.SOURCES_FILE).read_text())
    assert sources["svd"]["sha256"] == _sha(small_files.svd) and sources["lvcd"]["repo_id"] == hub.LVCD_REPO_ID
