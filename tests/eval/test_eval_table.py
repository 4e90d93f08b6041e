"""The paper-style table: LVCD Table 1 column order, per-clip rows and their mean, md/json/csv, averaging stated."""

import csv
import io
import json

import numpy as np
import pytest

from lvcd.eval import evaluate
from lvcd.eval.table import AVERAGING, PAPER_COLUMNS, Row, clip_table, gap_row, mean_row, row_values


def _flicker(frames, amp):
    return [np.clip(f.astype(int) + (amp if t % 2 else -amp), 0, 255).astype(np.uint8) for t, f in enumerate(frames)]


def test_columns_in_table1_order_and_mean_over_clips(clip):
    frames, _ = clip
    a, b = evaluate(_flicker(frames, 4), frames), evaluate(_flicker(frames, 12), frames)
    table = clip_table([("a", a), ("b", b)])
    assert PAPER_COLUMNS == ("fid", "fvd", "lpips", "psnr", "ssim", "edmd", "tc")
    assert [r.kind for r in table.rows] == ["clip", "clip", "mean"]
    va, vb = row_values(a), row_values(b)
    assert va["tc"] == pytest.approx(np.nanmean(a.per_frame["tc"]))  # mean over the clip's pairs
    assert va["fid"] is None and va["lpips"] is None  # no weights here
    mean = table.rows[-1].values
    assert mean["psnr"] == pytest.approx((va["psnr"] + vb["psnr"]) / 2)  # unweighted mean over clips
    assert mean["tc"] == pytest.approx((va["tc"] + vb["tc"]) / 2) and mean["fid"] is None

    md = table.render("md")
    header = md.splitlines()[0]
    assert [h.strip() for h in header.strip("|").split("|")] == [
        "Clip", "FID↓", "FVD↓", "LPIPS↓", "PSNR↑", "SSIM↑", "EDMD↓", "TC↓"
    ]  # fmt: skip
    assert "| **mean (2 clips)** |" in md and AVERAGING in md

    data = json.loads(table.render("json"))
    assert data["columns"] == list(PAPER_COLUMNS) and data["rows"][2]["kind"] == "mean"
    assert data["rows"][0]["fid"] is None and data["rows"][0]["psnr"] == pytest.approx(va["psnr"])
    assert data["notes"][0] == AVERAGING

    rows = list(csv.reader(io.StringIO(table.render("csv"))))
    assert rows[0] == ["kind", "clip", *PAPER_COLUMNS]
    assert rows[1][0] == "clip" and rows[1][2] == "" and float(rows[1][5]) == pytest.approx(va["psnr"])
    with pytest.raises(ValueError, match="md, json, csv"):
        table.render("xlsx")


def test_gap_and_missing_values():
    soft = Row({"m": "x"}, {c: 1.0 for c in PAPER_COLUMNS} | {"fid": None})
    binary = Row({"m": "x"}, {c: 3.0 for c in PAPER_COLUMNS} | {"fid": None})
    gap = gap_row(soft, binary, {"m": "gap"})
    assert gap.values["psnr"] == 2.0 and gap.values["fid"] is None
    assert mean_row([soft, binary], {}).values["tc"] == 2.0
    black = [np.zeros((32, 32, 3), np.uint8)] * 2
    single = clip_table([("only", evaluate(black, black))])
    assert [r.kind for r in single.rows] == ["clip"]  # no mean row for one clip
    assert "| inf |" in single.render("md")  # identical frames: PSNR is infinite, said so
