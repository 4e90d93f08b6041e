"""`EvalReport`: per-frame metric values, their summary and the set-level FID/FVD of one evaluation, with JSON,
markdown and PNG-plot writers. Metrics follow LVCD §6.1 (PSNR, SSIM, LPIPS, FID, FVD, EDMD, TC) and BasicPBC's segment
metrics; metrics that could not be computed are listed under `unavailable` with the reason, never given a value.

The plot draws each per-frame metric against the frame index (so drift over a long shot shows) with matplotlib when it
is importable, else with Pillow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# name -> (label, higher_is_better, explanation)
METRIC_INFO: dict[str, tuple[str, bool, str]] = {
    "psnr": ("PSNR (dB)", True, "peak signal-to-noise ratio vs GT, 256x256"),
    "ssim": ("SSIM", True, "structural similarity vs GT, 256x256"),
    "lpips": ("LPIPS", False, "learned perceptual distance vs GT"),
    "edmd": ("EDMD (px)", False, "RMSE of lineart distance maps, pixels at 256x256"),
    "tc": ("TC", False, "LVCD eq. 9 (1.0 = as consistent as GT), pair t-1 -> t"),
    "warp_error_ratio": ("Warp-error ratio", True, "(1 - WE pred)/(1 - WE gt), masked L1; not the paper's TC"),
    "warp_error": ("Warp error", False, "masked L1 warp error of the prediction, pair t-1 -> t"),
    "acc": ("Acc", True, "regions with the exact GT colour"),
    "acc_thres": ("Acc-thres", True, "Acc over regions above the area threshold"),
    "pix_acc": ("Pix-Acc", True, "pixels in correctly coloured regions"),
    "pix_f_acc": ("Pix-F-Acc", True, "Pix-Acc over foreground (non-background) regions"),
    "pix_b_miou": ("Pix-B-MIoU", True, "pixel IoU of the background"),
    "fid": ("FID", False, "Fréchet Inception distance, all frames"),
    "fvd": ("FVD", False, "Fréchet video distance, 16-frame clips"),
}


def _json_number(v: float | None):
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"


@dataclass
class EvalReport:
    """Result of `lvcd.eval.evaluate`.

    per_frame: metric -> one value per frame (NaN where undefined, e.g. TC of frame 0).
    dataset:   set-level metrics (FID, FVD) -> value.
    unavailable: metric -> why it was not computed (missing weights, no lineart, ...).
    meta:      protocol details (frame count, size, flow method, TC definition, extractors used).
    """

    per_frame: dict[str, list[float]] = field(default_factory=dict)
    dataset: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.meta.get("num_frames", max((len(v) for v in self.per_frame.values()), default=0)))

    def summary(self) -> dict[str, dict[str, float]]:
        """metric -> {mean, min, max, count} over the frames where it is defined (+ set-level metrics as {value})."""
        out: dict[str, dict[str, float]] = {}
        for name, values in self.per_frame.items():
            arr = np.asarray(values, np.float64)
            finite = arr[~np.isnan(arr)]
            if finite.size == 0:
                out[name] = {"mean": float("nan"), "min": float("nan"), "max": float("nan"), "count": 0}
                continue
            with np.errstate(invalid="ignore"):
                mean = float(np.mean(finite))
            out[name] = {
                "mean": mean,
                "min": float(finite.min()),
                "max": float(finite.max()),
                "count": int(finite.size),
            }
        for name, value in self.dataset.items():
            out[name] = {"value": float(value)}
        return out

    def to_dict(self) -> dict:
        summary = {k: {kk: _json_number(vv) for kk, vv in v.items()} for k, v in self.summary().items()}
        return {
            "meta": self.meta,
            "summary": summary,
            "per_frame": {k: [_json_number(x) for x in v] for k, v in self.per_frame.items()},
            "unavailable": dict(self.unavailable),
        }

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """JSON text (NaN -> null, infinities -> "inf"); written to `path` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False, default=str)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_markdown(self, path: str | Path | None = None) -> str:
        """A markdown table of the summary, then the unavailable metrics and the protocol notes."""
        lines = ["| Metric | Mean | Min | Max | Better | Notes |", "| --- | ---: | ---: | ---: | :---: | --- |"]
        summary = self.summary()
        for name in [*METRIC_INFO, *sorted(set(summary) - set(METRIC_INFO))]:
            if name not in summary:
                continue
            label, higher, note = METRIC_INFO.get(name, (name, True, ""))
            s = summary[name]
            arrow = "↑" if higher else "↓"
            if "value" in s:
                lines.append(f"| {label} | {_fmt(s['value'])} | | | {arrow} | {note} |")
            else:
                lines.append(
                    f"| {label} | {_fmt(s['mean'])} | {_fmt(s['min'])} | {_fmt(s['max'])} | {arrow} | {note} |"
                )
        if self.unavailable:
            lines += ["", "**Unavailable:**", ""]
            for name, reason in self.unavailable.items():
                lines.append(f"- {METRIC_INFO.get(name, (name,))[0]}: {reason}")
        notes = [f"{k}: {v}" for k, v in self.meta.items()]
        if notes:
            lines += ["", "**Protocol:**", ""] + [f"- {n}" for n in notes]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def plot(self, path: str | Path, *, backend: str = "auto") -> Path:
        """PNG with one panel per per-frame metric over the frame index.

        `backend`: 'auto', 'matplotlib' or 'pillow'.
        """
        path = Path(path)
        series = {k: np.asarray(v, np.float64) for k, v in self.per_frame.items() if len(v)}
        if backend not in ("auto", "matplotlib", "pillow"):
            raise ValueError(f"`backend` must be 'auto', 'matplotlib' or 'pillow'; got {backend!r}.")
        use_mpl = backend == "matplotlib"
        if backend == "auto":
            try:
                import matplotlib  # noqa: F401

                use_mpl = True
            except ImportError:
                use_mpl = False
        if use_mpl:
            _plot_matplotlib(series, path)
        else:
            _plot_pillow(series, path)
        return path


def _plot_matplotlib(series: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = max(len(series), 1)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.4 * rows), squeeze=False)
    for ax, (name, values) in zip(axes.ravel(), series.items()):
        label, higher, _ = METRIC_INFO.get(name, (name, True, ""))
        ax.plot(np.arange(values.size), np.where(np.isinf(values), np.nan, values), marker=".", lw=1)
        ax.set_title(f"{label} ({'higher' if higher else 'lower'} is better)", fontsize=9)
        ax.set_xlabel("frame", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(series) :]:
        ax.axis("off")
    if not series:
        axes[0, 0].text(0.5, 0.5, "no per-frame metrics", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_pillow(series: dict[str, np.ndarray], path: Path) -> None:
    from PIL import Image, ImageDraw

    panel_w, panel_h, margin = 480, 180, 44
    n = max(len(series), 1)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    img = Image.new("RGB", (cols * panel_w, rows * panel_h), "white")
    draw = ImageDraw.Draw(img)
    if not series:
        draw.text((20, panel_h // 2), "no per-frame metrics", fill="black")
    for i, (name, values) in enumerate(series.items()):
        x0, y0 = (i % cols) * panel_w, (i // cols) * panel_h
        label, higher, _ = METRIC_INFO.get(name, (name, True, ""))
        draw.text((x0 + 8, y0 + 4), f"{label} ({'higher' if higher else 'lower'} is better)", fill="black")
        left, top, right, bottom = x0 + margin, y0 + 22, x0 + panel_w - 12, y0 + panel_h - 22
        draw.rectangle((left, top, right, bottom), outline=(160, 160, 160))
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            draw.text((left + 8, top + 8), "undefined", fill="gray")
            continue
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5 * (abs(lo) + 1e-3), hi + 0.5 * (abs(hi) + 1e-3)
        draw.text((x0 + 2, top - 2), _fmt(hi), fill="black")
        draw.text((x0 + 2, bottom - 10), _fmt(lo), fill="black")
        draw.text((left, bottom + 4), "0", fill="black")
        draw.text((right - 30, bottom + 4), str(values.size - 1), fill="black")
        draw.text(((left + right) // 2 - 14, bottom + 4), "frame", fill="gray")
        span = max(values.size - 1, 1)
        pts = []
        for j, v in enumerate(values):
            if not np.isfinite(v):
                if len(pts) > 1:
                    draw.line(pts, fill=(31, 119, 180), width=2)
                pts = []
                continue
            px = left + (right - left) * j / span
            py = bottom - (bottom - top) * (v - lo) / (hi - lo)
            pts.append((px, py))
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=(31, 119, 180))
        if len(pts) > 1:
            draw.line(pts, fill=(31, 119, 180), width=2)
    img.save(path, format="PNG")
