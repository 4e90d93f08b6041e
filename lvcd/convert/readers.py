"""Reading checkpoints: lazy .safetensors mappings, tensors-only `torch.load` of .ckpt files, diffusers component
folders (single file, fp16 variant or shards) and lazy prefix / rename / merge views over them."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import torch

from .base import CheckpointError, _preview

# Weight file names inside a diffusers / transformers component folder, in order of preference.
_WEIGHT_FILES = (
    "diffusion_pytorch_model.safetensors",
    "model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
    "pytorch_model.fp16.bin",
)


def _shape_of(source: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    """A tensor's shape, without reading it where the source allows (safetensors headers, views of them)."""
    shape_of = getattr(source, "shape_of", None)
    return tuple(shape_of(key)) if shape_of is not None else tuple(source[key].shape)


class _SafetensorsDict(Mapping):
    """Read-only mapping over one .safetensors file; tensors are read on access (a 10 GB file is never read whole)."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        self.path = path
        self._file = safe_open(str(path), framework="pt", device="cpu")
        self._keys = list(self._file.keys())
        self._key_set = set(self._keys)

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._key_set:
            raise KeyError(key)
        return self._file.get_tensor(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._key_set

    def shape_of(self, key: str) -> list[int]:
        return self._file.get_slice(key).get_shape()


class _PrefixView(Mapping):
    """Lazy view of the keys of `base` that start with `prefix`, with the prefix stripped."""

    def __init__(self, base: Mapping[str, torch.Tensor], prefix: str):
        self.base, self.prefix = base, prefix
        self._keys = [k[len(prefix) :] for k in base.keys() if k.startswith(prefix)]

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.base[self.prefix + key]

    def shape_of(self, key: str) -> tuple[int, ...]:
        return _shape_of(self.base, self.prefix + key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class _MergedDict(Mapping):
    def __init__(self, parts: list[Mapping[str, torch.Tensor]]):
        self._where = {k: part for part in parts for k in part.keys()}

    def __getitem__(self, key: str) -> torch.Tensor:
        return self._where[key][key]

    def shape_of(self, key: str) -> tuple[int, ...]:
        return _shape_of(self._where[key], key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return "zip"  # torch.save (>= 1.6)
    if head[:1] == b"\x80":
        return "pickle"  # legacy torch.save / raw pickle
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"  # u64 header length, then the JSON header
    return "unknown"


def _load_pickle_weights(path: Path, kind: str) -> dict:
    try:
        # mmap keeps a multi-GB .ckpt out of RAM until each tensor is used (zip format only)
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=kind == "zip")
    except pickle.UnpicklingError as e:
        detail = str(e).strip().splitlines()
        hint = next(
            (line.strip() for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0] if detail else ""
        )
        raise CheckpointError(
            f"Refusing to load {path}: it holds pickled objects other than tensors and plain containers ({hint}). "
            "lvcd never runs pickled code. Use the .safetensors version of these weights, or re-save the state dict "
            "as .safetensors in an environment you trust."
        ) from e
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        first_line = str(e).splitlines()[0] if str(e) else ""
        raise CheckpointError(
            f"Could not read {path} as a PyTorch checkpoint ({type(e).__name__}: {first_line}). The file looks "
            "truncated or is not a checkpoint: download it again and compare its size."
        ) from e
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # Lightning checkpoint
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict (a mapping of name -> tensor).")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{path}: the state dict holds {len(bad)} entries that are not tensors, e.g. "
            f"{_preview([f'{k!s} ({type(obj[k]).__name__})' for k in bad])}. Expected a state dict of tensors only."
        )
    return dict(obj)


def load_state_dict(path: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    """Tensors of a .safetensors file (read lazily) or of a .ckpt/.pt/.bin (`torch.load(weights_only=True)`; a
    Lightning checkpoint's `state_dict`). Refuses pickles holding anything but tensors and plain containers."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist (or is not a file).")
    kind = _sniff(path)
    if path.suffix == ".safetensors" or kind == "safetensors":
        try:
            return _SafetensorsDict(path)
        except Exception as e:  # safetensors raises its own SafetensorError / OSError types
            raise CheckpointError(
                f"Could not read {path} as .safetensors ({type(e).__name__}: {e}). The file looks truncated or is "
                "not a safetensors file: download it again and compare its size."
            ) from e
    if kind in ("zip", "pickle"):
        return _load_pickle_weights(path, kind)
    raise CheckpointError(
        f"{path} is neither a .safetensors file nor a PyTorch checkpoint (unrecognised header). Pass the official "
        "`svd.safetensors` / `lvcd.ckpt` (or `lvcd-fp16.safetensors`)."
    )


def _component_weights(folder: Path) -> Mapping[str, torch.Tensor]:
    """The state dict of one diffusers/transformers component folder (single file, fp16 variant or shards)."""
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return load_state_dict(folder / name)
    for index in sorted(folder.glob("*.index*.json")):
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return _MergedDict([load_state_dict(folder / s) for s in shards])
    raise FileNotFoundError(
        f"No weights in {folder} (looked for {', '.join(_WEIGHT_FILES[:4])}, ... or a sharded *.index.json). "
        "Is the diffusers SVD folder complete?"
    )


class _RenamedView(Mapping):
    def __init__(self, base: Mapping[str, torch.Tensor], rename: Callable[[str], str]):
        self.base = base
        self._map = {rename(k): k for k in base.keys()}

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.base[self._map[key]]

    def shape_of(self, key: str) -> tuple[int, ...]:
        return _shape_of(self.base, self._map[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)
