"""The check record, the report's constants and the package / Python checks of `lvcd doctor`."""

from __future__ import annotations

import importlib
import platform
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

STATUSES = ("ok", "warn", "fail", "info")
GIB = 1024**3
FFMPEG_TIMEOUT_S = 20
# shown name -> module to import; the minimum versions come from setup.py's install_requires (via the installed
# lvcd's metadata, `declared_minimums`), so there is one list of them
PACKAGES = {
    "torch": "torch",
    "diffusers": "diffusers",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "av": "av",
    "opencv": "cv2",
    "scenedetect": "scenedetect",
}
PIP_NAMES = {"opencv": "opencv-python", "av": "av"}


def declared_minimums() -> dict[str, str]:
    """Lower bounds of lvcd's install_requires (`name>=version`, lower-cased names) from the installed package's
    metadata; empty when lvcd runs from a source tree that was never installed."""
    import importlib.metadata
    import re

    try:
        requirements = importlib.metadata.requires("lvcd") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    out = {}
    for req in requirements:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*$", req)  # no extras / markers
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


# encoder -> (what needs it, status when missing)
FFMPEG_ENCODERS = {
    "libx264": (".mp4 / .mkv output, H.264, the default", "fail"),
    "prores_ks": (".mov output, ProRes 422 HQ", "warn"),
    "aac": ("re-encoding a source audio track that cannot be copied", "warn"),
}
TORCH_CUDA_HELP = "https://pytorch.org/get-started/locally/"


@dataclass
class Check:
    """One line of the report. `status`: ok | warn (works, with a caveat) | fail (will not work) | info."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES} (got {self.status!r}).")

    def to_json(self) -> dict:
        return asdict(self)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _version_tuple(v: str):
    try:
        from packaging.version import Version

        return Version(v)
    except Exception:  # no packaging, or a version string it cannot parse: compare the leading numbers
        nums = []
        for part in v.split("+")[0].split("."):
            digits = "".join(ch for ch in part if ch.isdigit())
            if not digits:
                break
            nums.append(int(digits))
        return tuple(nums)


def _older(version: str, minimum: str) -> bool:
    try:
        return _version_tuple(version) < _version_tuple(minimum)
    except TypeError:  # one parsed by packaging, the other not: do not guess
        return False


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def _size(n: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


# ---------------------------------------------------------------------------------------------------- versions
def _python_check() -> Check:
    where = f"{platform.python_version()} ({platform.system()} {platform.machine()}, {sys.executable})"
    if sys.version_info < (3, 10):
        return Check("python", "fail", f"{where}: lvcd needs Python >= 3.10", "Use Python 3.10 or newer.")
    return Check("python", "info", where)


def _lvcd_check() -> Check:
    from ..version import __version__

    return Check("lvcd", "info", f"{__version__} ({Path(__file__).resolve().parent})")


def _package_check(name: str) -> tuple[Check, object | None]:
    """Import the package (a broken install fails here, not minutes into a render) and compare with the minimum."""
    module = PACKAGES[name]
    pip = PIP_NAMES.get(name, name)
    minimum = declared_minimums().get(pip.lower(), "0")
    spec = f"{pip}>={minimum}" if minimum != "0" else pip
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = importlib.import_module(module)
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name == module:
            return Check(name, "fail", "not installed", f"pip install '{spec}'"), None
        fix = f"Reinstall it: pip install --force-reinstall '{spec}'"
        if name == "opencv" and "libGL" in str(e):
            fix = (
                "OpenCV needs libGL: apt-get install libgl1 (Debian/Ubuntu), or use the headless wheel: "
                "pip uninstall opencv-python && pip install opencv-python-headless"
            )
        return Check(name, "fail", f"installed but does not import ({_first_line(e)})", fix), None
    except Exception as e:  # noqa: BLE001 - a package whose import crashes is exactly what the report is for
        return Check(
            name, "fail", f"import failed ({_first_line(e)})", f"Reinstall it: pip install --force-reinstall '{spec}'"
        ), None
    version = str(getattr(mod, "__version__", "") or "unknown")
    if version != "unknown" and _older(version, minimum):
        return Check(name, "fail", f"{version} (lvcd needs >= {minimum})", f"pip install -U '{spec}'"), mod
    return Check(name, "info", version), mod


# ---------------------------------------------------------------------------------------------------- torch / GPU
