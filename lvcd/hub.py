"""Fetch the two official checkpoints from the Hugging Face Hub and convert them (`lvcd convert --download`).

* `svd.safetensors` from `stabilityai/stable-video-diffusion-img2vid`: a gated repo, the user must accept its licence
  on the Hub and be logged in (`hf auth login` / `huggingface-cli login`, `HF_TOKEN` or `token=`).
* `lvcd.ckpt` (3.13 GB) from `luckyhzt/lvcd_pretrained_models`; if it is not found there, from the mirror `vdo/lvcd`.

Downloads go through `huggingface_hub.hf_hub_download`: the usual cache (`HF_HOME` / `HF_HUB_CACHE` or `cache_dir`),
resumed partial downloads, progress bars. With `HF_HUB_OFFLINE=1` only the local cache is used. After a download the
file's sha256 is checked against the Hub's LFS metadata of the exact commit that was downloaded; a mismatch stops with
the file, both hashes and the fix (nothing is deleted from the cache). `convert_official` then runs
`lvcd.convert.convert_checkpoints` and records where each file came from in `lvcd_sources.json` in the output folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import huggingface_hub
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url

try:  # huggingface_hub >= 0.24
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
except ImportError:  # pragma: no cover - older huggingface_hub
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

from .model_dir import SOURCES_FILE, check_model_out
from .outputs import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "SVD_REPO_ID",
    "SVD_FILENAME",
    "SVD_URL",
    "LVCD_REPO_ID",
    "LVCD_MIRROR_REPO_IDS",
    "LVCD_FILENAME",
    "SOURCES_FILE",
    "HubError",
    "HubAccessError",
    "HubIntegrityError",
    "HubFile",
    "download_official",
    "fetch_official_weights",
    "convert_official",
    "write_sources",
]

# Where the official files live: the repos the LVCD authors' README (github.com/luckyhzt/LVCD, "checkpoints/") points
# to, also named in lvcd.model_dir's no-model message. The SVD base is the 14-frame img2vid model, in a gated repo (its
# licence has to be accepted on SVD_URL by the logged-in user).
SVD_REPO_ID = "stabilityai/stable-video-diffusion-img2vid"
SVD_FILENAME = "svd.safetensors"
SVD_URL = f"https://huggingface.co/{SVD_REPO_ID}"
# LVCD's released weights (3.13 GB), and a community mirror of the same file, used only when the file is not found in
# the authors' repo (the mirror's copy is verified against the mirror's own LFS sha256).
LVCD_REPO_ID = "luckyhzt/lvcd_pretrained_models"
LVCD_MIRROR_REPO_IDS = ("vdo/lvcd",)
LVCD_FILENAME = "lvcd.ckpt"

# SOURCES_FILE (lvcd.model_dir): written beside model_index.json by `convert_official`: repo, revision and sha256
# of each source file.

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_OFFLINE_HINT = "pass local files with `--svd` / `--lvcd` (Python: `lvcd.convert.convert_checkpoints`)"


class HubError(OSError):
    """A download that cannot go on; the message names the file, the repo and the fix."""


class HubAccessError(HubError):
    """The Hub refused access (gated repo whose licence is not accepted, not logged in, bad token)."""


class HubIntegrityError(HubError):
    """A downloaded file whose sha256 differs from the Hub's record."""


@dataclass(frozen=True)
class HubFile:
    """One fetched file: where it came from and where it lies in the cache."""

    repo_id: str
    filename: str
    revision: str | None  # the commit sha the file was downloaded at (None if unknown)
    sha256: str  # of the local file
    path: Path  # in the huggingface_hub cache
    verified: bool  # sha256 checked against the Hub's LFS metadata (False offline)
    mirror: bool = False  # taken from a mirror repo, not the authors' one

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/blob/{self.revision or 'main'}/{self.filename}"

    def record(self) -> dict:
        d = asdict(self)
        d.pop("path")
        d["url"] = self.url
        return d


# ----------------------------------------------------------------------------------------------------------------
# Fetching
# ----------------------------------------------------------------------------------------------------------------
def _offline() -> bool:
    env = os.environ.get("HF_HUB_OFFLINE")
    if env is not None:
        return env.strip().upper() in ("1", "ON", "YES", "TRUE")
    is_offline = getattr(huggingface_hub.constants, "is_offline_mode", None)
    return bool(is_offline() if callable(is_offline) else huggingface_hub.constants.HF_HUB_OFFLINE)


def _hf_cli(command: str) -> str:
    """A huggingface_hub CLI command in the spelling of the installed version: `hf` from 1.0 (which removed
    `huggingface-cli`), `huggingface-cli` before."""
    major = int(re.match(r"\d+", huggingface_hub.__version__).group())
    if major >= 1:
        return "hf auth login" if command == "login" else f"hf {command}"
    return f"huggingface-cli {command}"


def _sha256(path: Path) -> str:
    size = path.stat().st_size
    if size > 1 << 30:
        logger.info("computing the sha256 of %s (%.2f GB)", path.name, size / 1e9)
    h = hashlib.sha256()
    buf = bytearray(8 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _snapshot_revision(path: Path) -> str | None:
    """The commit sha of a file in the hub cache (`.../snapshots/<commit>/<filename>`)."""
    name = path.parent.name
    return name if path.parent.parent.name == "snapshots" and _COMMIT.match(name) else None


def _cached_sha256(path: Path) -> str | None:
    """The sha256 the cache itself recorded: an LFS file's blob is named by its sha256 (symlinked caches only)."""
    if not path.is_symlink():
        return None
    name = path.resolve().name
    return name if _SHA256.match(name) else None


def _hub_sha256(repo_id: str, filename: str, revision: str | None, token) -> str | None:
    """The Hub's sha256 of an LFS file at `revision`: the file's ETag (an LFS file's ETag is its sha256), else the
    LFS record of `get_paths_info`; None if neither gives one."""
    meta = get_hf_file_metadata(hf_hub_url(repo_id, filename, revision=revision), token=token)
    etag = (meta.etag or "").strip('"').lower()
    if _SHA256.match(etag):
        return etag
    for info in HfApi().get_paths_info(repo_id, [filename], revision=revision, token=token):
        lfs = getattr(info, "lfs", None)
        sha = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
        if sha and _SHA256.match(str(sha).lower()):
            return str(sha).lower()
    return None


def _mismatch(repo_id: str, filename: str, revision: str | None, path: Path, want: str, got: str, source: str):
    return HubIntegrityError(
        f"sha256 mismatch for {filename} from {repo_id}@{revision or 'main'} ({path}): {source} says {want}, the file "
        f"has {got}. The cached copy is corrupt or incomplete (nothing was deleted); download it again with "
        f"`{_hf_cli('download')} {repo_id} {filename} --force-download` and re-run."
    )


class _Unavailable(Exception):
    """This repo cannot provide the file: `kind` "missing" (not found there), "offline" (not cached while offline) or
    "unreachable" (the Hub could not be reached and it is not cached)."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def _fetch_from(repo_id: str, filename: str, cache_dir, token, offline: bool) -> HubFile:
    try:
        path = Path(hf_hub_download(repo_id, filename, cache_dir=cache_dir, token=token, local_files_only=offline))
    except GatedRepoError as e:
        raise _access_error(repo_id, filename, e) from e
    except LocalEntryNotFoundError as e:  # offline, or the Hub unreachable, and not in the cache
        cause = e.__cause__ or e.__context__
        if offline:
            raise _Unavailable("offline", f"not in the local cache ({repo_id})") from e
        raise _Unavailable(
            "unreachable", f"could not reach the Hub for {repo_id} ({cause or e}) and it is not in the local cache"
        ) from e
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(e, RepositoryNotFoundError) and status in (401, 403) and repo_id == SVD_REPO_ID:
            raise _access_error(repo_id, filename, e) from e
        why = f"{type(e).__name__}{f', HTTP {status}' if status else ''}"
        raise _Unavailable("missing", f"not found in {repo_id} ({why})") from e
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            raise _access_error(repo_id, filename, e) from e
        raise
    except Exception as e:
        if not _is_transport_error(e):
            raise
        raise HubError(
            f"downloading {filename} from {repo_id} failed ({type(e).__name__}: {e}); run the same command "
            "again to resume the download"
        ) from e

    revision = _snapshot_revision(path)
    got = _sha256(path)
    cached = _cached_sha256(path)
    if cached and cached != got:
        raise _mismatch(repo_id, filename, revision, path, cached, got, "the cache's record")
    if offline:
        logger.info(
            "offline (HF_HUB_OFFLINE=1): using the cached %s from %s@%s; its sha256 is not checked against the Hub",
            filename,
            repo_id,
            revision or "?",
        )
        return HubFile(repo_id, filename, revision, got, path, verified=False)
    try:
        want = _hub_sha256(repo_id, filename, revision, token)
    except Exception as e:  # the download itself worked (possibly from the cache): say so, don't fail
        logger.warning(
            "could not read the Hub's sha256 of %s from %s (%s: %s); the file is not verified",
            filename,
            repo_id,
            type(e).__name__,
            e,
        )
        return HubFile(repo_id, filename, revision, got, path, verified=False)
    if want is None:
        logger.warning("the Hub gives no LFS sha256 for %s in %s; the file is not verified", filename, repo_id)
        return HubFile(repo_id, filename, revision, got, path, verified=False)
    if want != got:
        raise _mismatch(repo_id, filename, revision, path, want, got, "the Hub")
    logger.info("%s from %s@%s: sha256 %s verified", filename, repo_id, (revision or "main")[:12], got)
    return HubFile(repo_id, filename, revision, got, path, verified=True)


def _access_error(repo_id: str, filename: str, e: Exception) -> HubAccessError:
    url = f"https://huggingface.co/{repo_id}"
    status = getattr(getattr(e, "response", None), "status_code", None)
    why = f"{type(e).__name__}{f', HTTP {status}' if status else ''}"
    gated = isinstance(e, GatedRepoError) or repo_id == SVD_REPO_ID
    step = f"{repo_id} is a gated repo: open {url}, log in and accept its licence, then l" if gated else "L"
    return HubAccessError(
        f"the Hub refused access to {filename} in {repo_id} ({why}). {step}og in here with "
        f"`{_hf_cli('login')}` (or set HF_TOKEN, or pass token= in Python) and run again. Or download {filename} "
        f"yourself and pass it with `--{'svd' if repo_id == SVD_REPO_ID else 'lvcd'}`."
    )


def _is_transport_error(e: Exception) -> bool:
    """A connection / timeout error of the HTTP client huggingface_hub uses (requests, httpx), not an HTTP status."""
    return isinstance(e, (ConnectionError, TimeoutError)) or type(e).__module__.split(".")[0] in (
        "requests",
        "urllib3",
        "httpx",
        "httpx2",
        "httpcore",
    )


def _fetch(repo_ids: tuple[str, ...], filename: str, flag: str, cache_dir, token) -> HubFile:
    """`filename` from the first of `repo_ids` that has it; later ones are mirrors."""
    offline = _offline()
    reasons, kind = [], "missing"
    for i, repo_id in enumerate(repo_ids):
        if i:
            logger.warning("%s: %s; trying the mirror %s", filename, reasons[-1], repo_id)
        try:
            got = _fetch_from(repo_id, filename, cache_dir, token, offline)
        except _Unavailable as e:
            reasons.append(str(e))
            kind = e.kind
            if kind == "unreachable":
                break  # the mirror is on the same Hub
            continue
        if i:
            logger.warning("%s: using the mirror %s (not the authors' %s)", filename, repo_id, repo_ids[0])
            got = replace(got, mirror=True)
        return got
    if offline:
        raise HubError(
            f"HF_HUB_OFFLINE=1 and {filename} is not in the local cache {_cache_dir(cache_dir)} (looked for "
            f"{' and '.join(repo_ids)}): run once online (unset HF_HUB_OFFLINE) to download it, or {_OFFLINE_HINT}."
        )
    if kind == "unreachable":
        fix = (
            "Check your connection (and HF_ENDPOINT / proxy settings) and run again; an interrupted download "
            f"resumes. Or download {filename} yourself and pass it with `{flag}`."
        )
    else:
        fix = f"Download {filename} yourself and pass it with `{flag}`."
    raise HubError(f"could not get {filename}: {'; '.join(reasons)}. {fix}")


def _cache_dir(cache_dir) -> str:
    return str(cache_dir or huggingface_hub.constants.HF_HUB_CACHE)


def download_official(
    cache_dir: str | os.PathLike | None = None, token: str | bool | None = None
) -> tuple[HubFile, HubFile]:
    """Download (or take from the cache) and verify the official `svd.safetensors` and `lvcd.ckpt`.

    Args:
        cache_dir: huggingface_hub cache folder (default: `HF_HUB_CACHE`, i.e. `~/.cache/huggingface/hub`).
        token: Hub token (default: the logged-in one or `HF_TOKEN`); needed for the gated SVD repo.

    Returns:
        (svd, lvcd) `HubFile`s: repo, commit, sha256 and cache path of each.

    Raises:
        HubAccessError: the gated SVD repo refused access (licence not accepted / not logged in).
        HubIntegrityError: a file's sha256 differs from the Hub's.
        HubError: a file not found (in either LVCD repo), or not cached while offline / the Hub unreachable.
    """
    svd = _fetch((SVD_REPO_ID,), SVD_FILENAME, "--svd", cache_dir, token)
    lvcd = _fetch((LVCD_REPO_ID, *LVCD_MIRROR_REPO_IDS), LVCD_FILENAME, "--lvcd", cache_dir, token)
    return svd, lvcd


def fetch_official_weights(
    cache_dir: str | os.PathLike | None = None, token: str | bool | None = None
) -> tuple[Path, Path]:
    """(svd_path, lvcd_path): the official files in the huggingface_hub cache, downloaded and verified if needed.

    Pass them to `lvcd.convert.convert_checkpoints`, or use `convert_official` to do both and record the sources.
    """
    svd, lvcd = download_official(cache_dir=cache_dir, token=token)
    return svd.path, lvcd.path


# ----------------------------------------------------------------------------------------------------------------
# Fetch + convert
# ----------------------------------------------------------------------------------------------------------------
def write_sources(out: str | os.PathLike, svd: HubFile, lvcd: HubFile, **extra) -> Path:
    """Write `lvcd_sources.json` (repo, revision, sha256 of each source file) into the pipeline folder `out`."""
    from .version import __version__

    data = {
        "svd": svd.record(),
        "lvcd": lvcd.record(),
        "lvcd_version": __version__,
        "huggingface_hub_version": huggingface_hub.__version__,
        **extra,
    }
    return atomic_write_text(Path(out) / SOURCES_FILE, json.dumps(data, indent=2) + "\n")


def convert_official(
    out: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    config=None,
    dtype="fp32",
    overwrite: bool = False,
) -> Path:
    """Download the official checkpoints (`download_official`), convert them into a pipeline folder and record their
    sources in `OUT/lvcd_sources.json`.

    Args:
        out: folder to write; default `lvcd.model_dir.DEFAULT_MODEL_DIR`, where `lvcd colorize` looks.
        cache_dir, token: as `download_official`.
        config, dtype, overwrite: as `lvcd.convert.convert_checkpoints`.

    Returns:
        The written folder.
    """
    from .convert import convert_checkpoints

    if out is None:
        from .model_dir import DEFAULT_MODEL_DIR

        out = DEFAULT_MODEL_DIR
    out = Path(out)
    check_model_out(out, overwrite)  # before downloading ~12.7 GB (convert_checkpoints checks again)
    svd, lvcd = download_official(cache_dir=cache_dir, token=token)
    result = convert_checkpoints(svd.path, lvcd.path, out, config=config, dtype=dtype, overwrite=overwrite)
    write_sources(result, svd, lvcd, dtype=dtype if isinstance(dtype, str) else str(dtype).replace("torch.", ""))
    logger.info("sources recorded in %s", Path(result) / SOURCES_FILE)
    return Path(result)
