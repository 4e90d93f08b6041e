"""Palette files a paint stage imports: `palette.json` (lvcd's own), GIMP/Krita `.gpl`, Photoshop `.aco`.

Why `.aco` as the Adobe format: Photoshop loads `.aco` swatches natively (Swatches panel > Import/Load Swatches) and
Krita's palette docker imports `.aco` (KoColorSet reads GPL, ACO, RIFF, PSP, ...), as does GIMP; and `.aco` is the one
Adobe swatch format Adobe documents (the Photoshop File Formats Specification, "Color Swatches"), while `.ase` has no
published specification. Encoders below are written from those descriptions:

GPL (GIMP palette, plain text, UTF-8)::

    GIMP Palette
    Name: <palette name>
    Columns: <n>            (optional; GIMP's grid width)
    #                       (lines starting with # are comments)
    R G B<TAB>name          (one entry per line, 0-255 decimal, fields separated by whitespace; the name is optional)

ACO (Photoshop Color Swatches; every number a big-endian unsigned 16-bit word)::

    section 1: version = 1, count, then per colour: colour space, w, x, y, z
    section 2: version = 2, count, then per colour: colour space, w, x, y, z,
               name as a Photoshop Unicode string: a 32-bit length (UTF-16 code units, *including* the terminating
               NUL) followed by that many UTF-16BE code units, the last one 0

    colour space 0 = RGB: w, x, y = red, green, blue in 0..65535 (an 8-bit value v is stored as v * 257); z = 0.

Photoshop 7+ writes both sections (older readers stop after section 1) and reads section 2 for the names; so does
this module. Readers here are used by `lvcd recolour --palette` (the edited palette) and accept what the writers write
and what GIMP/Krita/Photoshop save (GPL with or without `Columns:`, ACO with or without section 2, RGB entries only).
No torch.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .paints import Palette, PaletteError, parse_colour_value, to_hex

GPL_HEADER = "GIMP Palette"
ACO_RGB = 0  # colour space id of RGB in .aco
PALETTE_FILES = ("palette.json", "palette.gpl", "palette.aco")  # written beside an indexed render


# ---------------------------------------------------------------------------------------------------- GPL
def gpl_text(palette: Palette, name: str = "lvcd", columns: int = 8) -> str:
    lines = [GPL_HEADER, f"Name: {_one_line(name)}", f"Columns: {int(columns)}", "#"]
    for (r, g, b), n in zip(palette.colours.tolist(), palette.names, strict=True):
        lines.append(f"{r:3d} {g:3d} {b:3d}\t{_one_line(n)}")
    return "\n".join(lines) + "\n"


def read_gpl(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """(colours uint8 [K, 3], names) of a GIMP palette, in file order."""
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    rows = text.splitlines()
    if not rows or rows[0].strip() != GPL_HEADER:
        raise PaletteError(f"{p} is not a GIMP palette: its first line must be {GPL_HEADER!r}.")
    colours, names = [], []
    for no, row in enumerate(rows[1:], start=2):
        s = row.strip()
        if not s or s.startswith("#") or s.startswith(("Name:", "Columns:")):
            continue
        parts = s.split(None, 3)
        try:
            rgb = [int(v) for v in parts[:3]]
        except ValueError:
            rgb = []
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise PaletteError(f"{p}, line {no}: {row!r} is not `R G B name` with 0-255 values.")
        colours.append(rgb)
        names.append(parts[3].strip() if len(parts) > 3 else "")
    if not colours:
        raise PaletteError(f"{p} holds no colours.")
    return np.array(colours, np.uint8), names


# ---------------------------------------------------------------------------------------------------- ACO
def aco_bytes(palette: Palette) -> bytes:
    cols = palette.colours.tolist()
    out = bytearray(struct.pack(">HH", 1, len(cols)))
    for r, g, b in cols:
        out += struct.pack(">5H", ACO_RGB, r * 257, g * 257, b * 257, 0)
    out += struct.pack(">HH", 2, len(cols))
    for (r, g, b), name in zip(cols, palette.names, strict=True):
        units = name.encode("utf-16-be")
        out += struct.pack(">5H", ACO_RGB, r * 257, g * 257, b * 257, 0)
        out += struct.pack(">I", len(units) // 2 + 1) + units + b"\0\0"
    return bytes(out)


def read_aco(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """(colours uint8 [K, 3], names) of Photoshop swatches (RGB entries; names from section 2 when present)."""
    p = Path(path)
    data = p.read_bytes()

    def fail(why: str):
        raise PaletteError(f"{p} is not a readable Photoshop .aco swatch file ({why}).")

    def section(pos: int, version: int):
        if len(data) < pos + 4:
            fail("truncated header")
        ver, n = struct.unpack_from(">HH", data, pos)
        if ver != version:
            fail(f"section version {ver}, expected {version}")
        pos += 4
        cols, names = [], []
        for i in range(n):
            if len(data) < pos + 10:
                fail(f"colour {i} is truncated")
            space, w, x, y, _ = struct.unpack_from(">5H", data, pos)
            pos += 10
            if space != ACO_RGB:
                raise PaletteError(
                    f"{p}: colour {i} is in colour space {space}, not RGB (0); save the swatches as RGB."
                )
            cols.append([round(v / 257) for v in (w, x, y)])
            if version == 2:
                if len(data) < pos + 4:
                    fail(f"the name of colour {i} is truncated")
                (units,) = struct.unpack_from(">I", data, pos)
                pos += 4
                raw = data[pos : pos + 2 * units]
                if len(raw) != 2 * units:
                    fail(f"the name of colour {i} is truncated")
                pos += 2 * units
                names.append(raw.decode("utf-16-be").rstrip("\0"))
        return cols, names, pos

    cols, _, pos = section(0, 1)
    names = [""] * len(cols)
    if pos < len(data):  # section 2 (names); Photoshop reads it in preference to section 1
        cols, names, _ = section(pos, 2)
    if not cols:
        fail("no colours")
    return np.array(cols, np.uint8), names


# ---------------------------------------------------------------------------------------------------- JSON
def palette_json(palette: Palette, counts: Sequence[int] | None = None, **extra) -> dict:
    entries = []
    for i, (c, n, k) in enumerate(zip(palette.colours.tolist(), palette.names, palette.kinds, strict=True)):
        e = {"index": i, "rgb": c, "hex": to_hex(c), "name": n, "kind": k}
        if counts is not None:
            e["pixels"] = int(counts[i])
        entries.append(e)
    return {"format": "lvcd-palette", "version": 1, "line_index": palette.line_index, **extra, "entries": entries}


def read_palette_json(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        entries = sorted(data["entries"], key=lambda e: int(e["index"]))
        cols = [parse_colour_value(e.get("hex", e.get("rgb")), f"{p}: entry {e['index']}") for e in entries]
        if [int(e["index"]) for e in entries] != list(range(len(entries))):
            raise PaletteError(f"{p}: entry indices must run 0..{len(entries) - 1} without gaps.")
        return np.array(cols, np.uint8), [str(e.get("name", "")) for e in entries]
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, PaletteError):
            raise
        raise PaletteError(f"{p} is not an lvcd palette.json ({e.__class__.__name__}: {e}).") from None


def read_palette_file(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Colours and names of a .gpl, .aco or lvcd palette .json file, in index order."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"palette file {p} does not exist.")
    readers = {".gpl": read_gpl, ".aco": read_aco, ".json": read_palette_json}
    if p.suffix.lower() not in readers:
        raise PaletteError(
            f"palette file {p}: unknown type {p.suffix!r}; use .gpl (GIMP/Krita), .aco (Photoshop) "
            "or an lvcd palette.json."
        )
    return readers[p.suffix.lower()](p)


def named_palette_file(path: str | os.PathLike) -> dict[str, str]:
    """A palette file as the `palette:` option ({name: "#rrggbb"}); unnamed entries are skipped."""
    cols, names = read_palette_file(path)
    out = {}
    for c, n in zip(cols, names, strict=True):
        if n and not n.startswith("#") and n not in out:
            out[n] = to_hex(c)
    if not out:
        raise PaletteError(f"palette file {path} has no named entries; name the colours (e.g. `208 60 64\thair`).")
    return out


def write_palette_files(
    folder: Path, palette: Palette, counts: Sequence[int] | None, name: str, **extra
) -> list[Path]:
    """palette.json, palette.gpl and palette.aco in `folder`."""
    folder = Path(folder)
    js, gpl, aco = (folder / f for f in PALETTE_FILES)
    js.write_text(json.dumps(palette_json(palette, counts, name=name, **extra), indent=1) + "\n", encoding="utf-8")
    gpl.write_text(gpl_text(palette, name), encoding="utf-8")
    aco.write_bytes(aco_bytes(palette))
    return [js, gpl, aco]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
