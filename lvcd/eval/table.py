"""A paper-style results table: one row per clip (and per method / lineart protocol when several are compared), then
the mean over clips, columns in the order of LVCD's Table 1 (FID, FVD, LPIPS, PSNR, SSIM, EDMD, TC), as markdown,
JSON or CSV, with how pairs and clips were averaged stated under it.

A row's values come from one `EvalReport`: PSNR, SSIM, LPIPS and EDMD are the mean over the clip's frames, TC the mean
over its scored consecutive pairs (see `lvcd.eval.temporal`), FID and FVD the clip's set-level values. A mean row is
the unweighted mean of its clips' values (a metric missing in any clip is missing in the mean).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .report import EvalReport

PAPER_COLUMNS = ("fid", "fvd", "lpips", "psnr", "ssim", "edmd", "tc")  # LVCD Table 1, left to right
COLUMN_LABELS = {
    "fid": "FID↓", "fvd": "FVD↓", "lpips": "LPIPS↓", "psnr": "PSNR↑", "ssim": "SSIM↑", "edmd": "EDMD↓", "tc": "TC↓",
}  # fmt: skip
FORMATS = ("md", "json", "csv")
AVERAGING = (
    "Per clip: PSNR, SSIM, LPIPS and EDMD (pixels at 256x256) are the mean over the clip's scored frames; TC (LVCD "
    "eq. 9) is the mean over its consecutive pairs inside a shot (pairs across a cut, and static original pairs the "
    "prediction does not keep static, are left out); FID and FVD are computed over the clip's own frames / 16-frame "
    "clips. Mean rows: the unweighted mean over clips of the per-clip values (the paper pools FID and FVD over its "
    "whole test set, so a mean of per-clip FID/FVD is not the same number)."
)


@dataclass
class Row:
    labels: dict[str, str]  # e.g. {"clip": ..., "method": ..., "protocol": ...}
    values: dict[str, float | None]  # PAPER_COLUMNS -> value (None: not available)
    kind: str = "clip"  # "clip" | "mean" | "gap"
    count: int = 1  # clips behind a mean row


@dataclass
class Table:
    label_columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, fmt: str = "md") -> str:
        if fmt == "md":
            return to_markdown(self)
        if fmt == "json":
            return to_json(self)
        if fmt == "csv":
            return to_csv(self)
        raise ValueError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def row_values(report: EvalReport) -> dict[str, float | None]:
    """The Table-1 values of one clip's report (None where the metric was not computed)."""
    summary = report.summary()
    out: dict[str, float | None] = {}
    for col in PAPER_COLUMNS:
        s = summary.get(col)
        if s is None:
            out[col] = None
        elif "value" in s:
            out[col] = float(s["value"])
        else:
            out[col] = None if s["count"] == 0 else float(s["mean"])
    return out


def mean_row(rows: Sequence[Row], labels: dict[str, str]) -> Row:
    """The unweighted mean over `rows` (a column missing in any row is missing)."""
    values: dict[str, float | None] = {}
    for col in PAPER_COLUMNS:
        vals = [r.values.get(col) for r in rows]
        values[col] = None if not vals or any(v is None for v in vals) else float(sum(vals) / len(vals))
    return Row(labels, values, kind="mean", count=len(rows))


def gap_row(soft: Row, binary: Row, labels: dict[str, str]) -> Row:
    """binarized minus soft, per column (positive PSNR gap = binarized scores higher)."""
    values = {
        col: None if soft.values.get(col) is None or binary.values.get(col) is None
        else float(binary.values[col] - soft.values[col])
        for col in PAPER_COLUMNS
    }  # fmt: skip
    return Row(labels, values, kind="gap", count=min(soft.count, binary.count))


def clip_table(reports: Sequence[tuple[str, EvalReport]], notes: Sequence[str] = ()) -> Table:
    """One row per (clip name, report), plus the mean over clips when there are several."""
    rows = [Row({"clip": name}, row_values(rep)) for name, rep in reports]
    if len(rows) > 1:
        rows.append(mean_row(rows, {"clip": f"mean ({len(rows)} clips)"}))
    return Table(("clip",), rows, [AVERAGING, *notes])


def _fmt(col: str, v: float | None, gap: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    digits = {"psnr": 2, "fid": 2, "fvd": 2, "edmd": 2, "ssim": 3, "tc": 3, "lpips": 4}[col]
    text = f"{v:.{digits}f}"
    return f"+{text}" if gap and v > 0 else text


def to_markdown(table: Table) -> str:
    head = [c.capitalize() for c in table.label_columns] + [COLUMN_LABELS[c] for c in PAPER_COLUMNS]
    lines = [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---"] * len(table.label_columns) + ["---:"] * len(PAPER_COLUMNS)) + " |",
    ]
    for row in table.rows:
        labels = [row.labels.get(c, "") for c in table.label_columns]
        if row.kind != "clip":
            labels = [f"**{x}**" if x else x for x in labels]
        cells = [_fmt(c, row.values.get(c), row.kind == "gap") for c in PAPER_COLUMNS]
        lines.append("| " + " | ".join(labels + cells) + " |")
    text = "\n".join(lines) + "\n"
    if table.notes:
        text += "\n" + "\n".join(f"- {n}" for n in table.notes) + "\n"
    return text


def _json_value(v: float | None):
    if v is None or math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def to_json(table: Table) -> str:
    data = {
        "columns": list(PAPER_COLUMNS),
        "label_columns": list(table.label_columns),
        "rows": [
            {"kind": r.kind, "count": r.count, **r.labels, **{c: _json_value(r.values.get(c)) for c in PAPER_COLUMNS}}
            for r in table.rows
        ],
        "notes": list(table.notes),
    }
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["kind", *table.label_columns, *PAPER_COLUMNS])
    for r in table.rows:
        vals = ["" if (v := r.values.get(c)) is None or math.isnan(v) else repr(float(v)) for c in PAPER_COLUMNS]
        writer.writerow([r.kind, *(r.labels.get(c, "") for c in table.label_columns), *vals])
    return buf.getvalue()
