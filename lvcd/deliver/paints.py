"""A shot's palette: the keyframe's paints in a stable order, the line colour included, optionally named.

Order (the index every indexed frame stores):

1. index 0: the line colour (the ink `--keep-lines` draws: black), named "line";
2. the named entries of the manifest's `palette:` in the manifest's order (every one, used in the shot or not, so an
   episode palette gives each name the same index in every shot);
3. the keyframe's remaining paints by their 0xRRGGBB value (not by area: the same paints give the same order in every
   shot, however much of each a keyframe shows).

A keyframe paint equal to the line colour shares entry 0. A keyframe paint within `NAMED_SNAP_DISTANCE` (RGB) of a
named colour *is* that named entry: the render's flat colours are snapped to the named value (`NamedSnap`), so a
keyframe painted #d13d41 renders exactly the designer's "hair: #d03c40".

Anti-aliased ink. With `--keep-lines` a pixel is `paint * (1 - a) + ink * a` (lvcd.lineart.composite_lines).
`decompose` inverts this per pixel from the RGB alone: exact palette colours directly; any other colour is projected
onto each segment paint..ink and the closest segment gives the paint beneath (`under`) and the ink coverage `a`. The
indexed frame stores the line entry where a >= 0.5, else the paint beneath (a hard line, as cel paint programs store
it); the exact anti-aliased coverage goes to the lines layer of `--layers`. Fully inked pixels take the paint of the
nearest uninked pixel as their `under` (so paint layers have no holes beneath the lines).

Deliberately not here: choosing paints (the backends do), file formats (swatches.py), writing frames (indexed.py).
No torch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger("lvcd")

LINE_COLOUR = (0, 0, 0)  # the ink composite_lines draws (black, whatever the lineart's polarity)
LINE_NAME = "line"
PAPER_NAME = "paper"
NAMED_SNAP_DISTANCE = 24.0  # RGB distance under which a keyframe paint is taken to be a named manifest colour
MAX_INDEXED = 256  # PNG palette images hold at most 256 entries
DECOMPOSE_CHUNK = 1 << 15  # non-palette pixels decomposed at once (x K entries x 3 floats of scratch)
FOREIGN_RESIDUAL = 4.0  # RGB distance from every paint..ink segment above which a pixel is not the palette's colour
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


class PaletteError(ValueError):
    """A palette the user gave (manifest, file, option) is malformed; the message names the entry and the fix."""


def parse_colour_value(value, where: str) -> tuple[int, int, int]:
    """ "#rrggbb" (or "rrggbb") or [r, g, b] (0-255) -> an RGB triple."""
    if isinstance(value, str):
        m = _HEX.match(value.strip())
        if m:
            h = m.group(1)
            return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    elif isinstance(value, Sequence) and len(value) == 3:
        try:
            rgb = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            rgb = ()
        if len(rgb) == 3 and all(0 <= v <= 255 and float(v) == float(o) for v, o in zip(rgb, value, strict=True)):
            return rgb
    raise PaletteError(
        f'{where}: colour {value!r} must be "#rrggbb" (quoted in YAML: # starts a comment) or '
        "[r, g, b] with 0-255 values."
    )


def parse_named_palette(raw: Mapping | None, where: str = "`palette`") -> list[tuple[str, tuple[int, int, int]]]:
    """The manifest's / option's `palette: {name: "#rrggbb", ...}` as [(name, rgb)] in the given order."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise PaletteError(
            f'{where} must be a mapping of name: "#rrggbb" (got {type(raw).__name__}), e.g. '
            'palette: {hair: "#d03c40", skin: "#fad7b4"}.'
        )
    out, seen = [], {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise PaletteError(f"{where}: entry names must be non-empty strings (got {name!r}).")
        rgb = parse_colour_value(value, f"{where}: `{name}`")
        if rgb in seen:
            raise PaletteError(
                f"{where}: `{name}` and `{seen[rgb]}` are the same colour {to_hex(rgb)}; give each "
                "name its own colour."
            )
        seen[rgb] = name
        out.append((name.strip(), rgb))
    return out


def to_hex(rgb) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _codes(rgb: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] -> uint32 [...] 0xRRGGBB (channel by channel: no [..., 3] int copy)."""
    rgb = np.asarray(rgb)
    c = rgb[..., 0].astype(np.uint32)
    c <<= 16
    g = rgb[..., 1].astype(np.uint32)
    g <<= 8
    c |= g
    c |= rgb[..., 2]
    return c


@dataclass
class Palette:
    """Indexed colours: `colours` uint8 [K, 3], `names` (K strings), `kinds` ("line" | "named" | "keyframe" |
    "paper"), entry 0 the line colour."""

    colours: np.ndarray
    names: list[str]
    kinds: list[str] = field(default_factory=list)
    line_index: int = 0

    def __post_init__(self):
        self.colours = np.asarray(self.colours, np.uint8).reshape(-1, 3)
        if len(self.names) != len(self.colours):
            raise ValueError(
                f"a palette needs one name per colour (got {len(self.names)} names for {len(self.colours)} colours)."
            )
        if not self.kinds:
            self.kinds = ["keyframe"] * len(self.colours)
        if len(self.colours) > MAX_INDEXED:
            raise PaletteError(
                f"the palette has {len(self.colours)} entries but an indexed PNG holds at most "
                f"{MAX_INDEXED}; name the paints shots share in the manifest's `palette:` (so they "
                "share entries), or deliver shots separately (`lvcd colorize` per shot)."
            )

    def __len__(self) -> int:
        return len(self.colours)

    def index_of(self, rgb) -> int | None:
        hit = np.flatnonzero(_codes(self.colours) == int(_codes(np.asarray(rgb, np.uint8))))
        return int(hit[0]) if len(hit) else None

    def with_colours(self, colours: np.ndarray) -> Palette:
        return Palette(np.asarray(colours, np.uint8), list(self.names), list(self.kinds), self.line_index)


def snap_targets(
    paints: np.ndarray, named: Sequence[tuple[str, tuple[int, int, int]]], distance: float = NAMED_SNAP_DISTANCE
) -> np.ndarray:
    """uint8 [K, 3]: each keyframe paint, or the named colour it is taken to be (the nearest within `distance`)."""
    paints = np.asarray(paints, np.uint8).reshape(-1, 3)
    out = paints.copy()
    if not named or not len(paints):
        return out
    cols = np.array([rgb for _, rgb in named], np.float32)
    d = np.linalg.norm(paints.astype(np.float32)[:, None] - cols[None], axis=2)  # [K, N]
    j = d.argmin(axis=1)
    near = d[np.arange(len(paints)), j] <= distance
    out[near] = cols[j[near]].astype(np.uint8)
    far = [to_hex(p) for p, ok in zip(paints, near, strict=True) if not ok and tuple(p) != LINE_COLOUR]
    if far:
        logger.info(
            "keyframe paints %s are not within %.0f of a named palette colour; they stay unnamed",
            ", ".join(far),
            distance,
        )
    return out


def build_palette(
    paints: np.ndarray,
    named: Sequence[tuple[str, tuple[int, int, int]]] = (),
    *,
    line: tuple[int, int, int] = LINE_COLOUR,
) -> Palette:
    """The shot's palette from its keyframe paints (uint8 [K, 3], any order) and the named colours (see the module
    docstring for the order). Paints are taken after `snap_targets`, so a paint near a named colour is that entry."""
    snapped = snap_targets(paints, named)
    colours = [tuple(line)]
    names = [LINE_NAME]
    kinds = ["line"]
    for name, rgb in named:
        if tuple(rgb) == tuple(line):  # the manifest names the ink colour
            names[0] = name
            continue
        colours.append(tuple(rgb))
        names.append(name)
        kinds.append("named")
    have = {c: i for i, c in enumerate(colours)}
    rest = sorted(
        {tuple(int(v) for v in p) for p in snapped} - set(have), key=lambda c: (c[0] << 16) | (c[1] << 8) | c[2]
    )
    for c in rest:
        colours.append(c)
        names.append(to_hex(c))
        kinds.append("keyframe")
    return Palette(np.array(colours, np.uint8), names, kinds)


def merge_palettes(palettes: Sequence[Palette]) -> Palette:
    """One palette for several shots: the first palette's entries, then every later entry whose colour is new, in
    shot order (a named entry keeps its index in every shot that uses the same manifest palette)."""
    if not palettes:
        raise ValueError("merge_palettes needs at least one palette")
    colours, names, kinds = [], [], []
    seen: dict[int, int] = {}
    for pal in palettes:
        for c, n, k in zip(pal.colours, pal.names, pal.kinds, strict=True):
            code = int(_codes(c))
            if code in seen:
                i = seen[code]
                if kinds[i] == "keyframe" and k in ("named", "line"):  # a name given in another shot wins
                    names[i], kinds[i] = n, k
                continue
            seen[code] = len(colours)
            colours.append(c)
            names.append(n)
            kinds.append(k)
    return Palette(np.array(colours, np.uint8), names, kinds, palettes[0].line_index)


# ---------------------------------------------------------------------------------------------------- pixels
def decompose(frame: np.ndarray, palette: Palette, fill: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """Per pixel of a uint8 [H, W, 3] frame: (`under` int32 [H, W], the paint's palette index beneath any ink;
    `alpha` float32 [H, W], ink coverage 0..1; number of *foreign* pixels, further than FOREIGN_RESIDUAL from every
    paint..ink blend, which are given the closest blend anyway). See the module docstring. `fill=False` leaves
    fully inked pixels' `under` at the line entry (enough for indices and recolouring; layers need the fill)."""
    pal = palette.colours
    li = palette.line_index
    h, w = frame.shape[:2]
    codes = _codes(frame).ravel()
    pcodes = _codes(pal)
    order = np.argsort(pcodes, kind="stable")
    pos = np.searchsorted(pcodes[order], codes)
    np.minimum(pos, len(pal) - 1, out=pos)
    exact = pcodes[order][pos] == codes
    under = order.astype(np.int32)[pos]
    alpha = np.zeros(h * w, np.float32)
    alpha[under == li] = 1.0  # the line colour is ink (a keyframe paint of the same colour shares the entry)
    foreign = 0
    p = pal.astype(np.float32)  # [K, 3]
    d = p[li][None] - p  # [K, 3] paint -> ink
    dd = (d * d).sum(axis=1)  # [K]
    flat = frame.reshape(-1, 3)
    rest_all = np.flatnonzero(~exact)
    for s in range(0, len(rest_all), DECOMPOSE_CHUNK):  # bounded memory: chunk x K x 3 floats
        rest = rest_all[s : s + DECOMPOSE_CHUNK]
        rel = flat[rest].astype(np.float32)[:, None, :] - p[None]  # [M, K, 3]
        a = np.where(dd > 0, (rel * d[None]).sum(axis=2) / np.maximum(dd, 1e-9), 0.0)
        a = np.clip(a, 0.0, 1.0)  # [M, K]
        resid = np.linalg.norm(rel - a[..., None] * d[None], axis=2)  # [M, K]
        if len(p) > 1:
            resid[:, li] = np.inf  # ink over ink is no blend: the line entry is never the paint beneath
        k = resid.argmin(axis=1)
        m = np.arange(len(rest))
        foreign += int(np.count_nonzero(resid[m, k] > FOREIGN_RESIDUAL))
        under[rest] = k
        alpha[rest] = a[m, k]
    under = under.reshape(h, w)
    alpha = alpha.reshape(h, w)
    if fill:
        _fill_under_ink(under, li)
    return under, alpha, foreign


def _fill_under_ink(under: np.ndarray, line_index: int) -> None:
    """Give fully inked pixels (under == line entry) the paint of the nearest other pixel, in place."""
    hole = under == line_index
    if not hole.any() or hole.all():
        return
    import cv2

    _, lab = cv2.distanceTransformWithLabels(hole.astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    sources = np.flatnonzero(~hole.ravel())  # label l (1-based) = the l-th zero pixel in scan order
    flat = under.ravel()
    flat[hole.ravel()] = flat[sources[lab.ravel()[hole.ravel()] - 1]]


def to_indices(
    frame: np.ndarray, palette: Palette, fill: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(indices uint8 [H, W]: the line entry where ink covers >= half the pixel, else the paint beneath;
    under, alpha, foreign as `decompose`)."""
    under, alpha, foreign = decompose(frame, palette, fill)
    idx = np.where(alpha >= 0.5, palette.line_index, under).astype(np.uint8)
    return idx, under, alpha, foreign


class NamedSnap:
    """Per-frame step: replace each keyframe paint by the named colour it is taken to be (`snap_targets`), keeping
    drawn ink (anti-aliased pixels are recomposed over the new paint). Frames of paints alone are a lookup."""

    def __init__(self, paints: np.ndarray, named: Sequence[tuple[str, tuple[int, int, int]]]):
        paints = np.asarray(paints, np.uint8).reshape(-1, 3)
        targets = snap_targets(paints, named)
        self.moved = np.any(paints != targets, axis=1)
        keep = [tuple(int(v) for v in p) != LINE_COLOUR for p in paints]
        self.source = Palette(
            np.vstack([np.array([LINE_COLOUR], np.uint8), paints[keep]]),
            [LINE_NAME] + [to_hex(p) for p in paints[keep]],
            ["line"] + ["keyframe"] * sum(keep),
        )
        self.target = np.vstack([np.array([LINE_COLOUR], np.uint8), targets[keep]])
        self.moved_entry = np.any(self.source.colours != self.target, axis=1)  # [K + 1]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if not self.moved.any():
            return frame
        under, alpha, _ = decompose(frame, self.source, fill=False)
        new = self.target[under].astype(np.float32)
        ink = np.asarray(LINE_COLOUR, np.float32)
        out = new * (1.0 - alpha[..., None]) + ink * alpha[..., None]
        out = np.clip(np.round(out), 0, 255).astype(np.uint8)
        same = ~self.moved_entry[under]  # over a paint that keeps its colour: the pixel stays bit for bit
        out[same] = frame[same]
        return out
