"""Tests of the report stage (pipeline/report): contract files, CSV bytes, xlsx, charts, atomic replacement."""

from __future__ import annotations

import csv
import fnmatch
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

import pipeline.report as report
from pipeline import frames as F
from pipeline.report import charts, csvout, fonts, workbook

BOM = b"\xef\xbb\xbf"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CSV_FILES = {"reports.csv": F.REPORTS_COLUMNS, "cells.csv": F.CELLS_COLUMNS,
             "findings.csv": F.FINDINGS_COLUMNS, "indicators.csv": F.INDICATORS_COLUMNS}
CONTRACT_FILES = ["reports.csv", "cells.csv", "cells.parquet", "sections.parquet", "findings.csv",
                  "findings.parquet", "indicators.csv", "audit.xlsx"]
EVIL_AGENCY = "=HYPERLINK(\"http://x\",\"点我\")区民政局"
NAN = float("nan")


# ------------------------------------------------------------------------------------------------------ fixtures

def make_frames(findings: bool = True) -> dict[str, pd.DataFrame]:
    reports = pd.DataFrame({
        "report_id": ["r2", "r1", "r3"],
        "source_file": ["b/民政局2021.html", "a/司法局2021.txt", "c/broken.pdf"],
        "sha256": ["bb", "aa", "cc"],
        "format": ["html", "txt", "pdf"],
        "agency": [EVIL_AGENCY, "红桥区司法局", ""],
        "agency_kind": ["dept", "dept", ""],
        "level": ["county", "county", ""],
        "year": pd.array([2021, 2021, None], dtype="Int64"),
        "template": ["gb2021", "gb2021", "unknown"],
        "published_at": ["2022-01-20", "", ""],
        "status": ["ok", "ok", "failed"],
        "error": ["", "", "无法读取文件 | cannot read file"],
        "n_errors": pd.array([1, 2, 0], dtype="Int64"),
        "n_warnings": pd.array([1, 0, 0], dtype="Int64"),
        "n_infos": pd.array([0, 1, 0], dtype="Int64"),
        "title": ["民政局2021年政府信息公开工作年度报告", "红桥区司法局2021年政府信息公开年度报告", ""],
        "encoding": ["utf-8", "gb18030", ""],
        "url": ["", "", ""],
        "template_markers_2021": pd.array([4, 4, 0], dtype="Int64"),
        "template_markers_2019": pd.array([0, 0, 0], dtype="Int64"),
        "template_expected": ["gb2021", "gb2021", ""],
    })
    cells = pd.DataFrame({
        "report_id": ["r2", "r2", "r1", "r1", "r2"],
        "table": ["t3", "t3", "t3", "t3", "t4"],
        "row_id": ["t3.new_received", "t3.total_processed", "t3.new_received", "t3.total_processed",
                   "t4.review.total"],
        "col_id": ["col.total", "col.total", "col.total", "col.total", "col.upheld"],
        "value": [70.0, 24252.311082, NAN, 1e-7, 1e20],
        "state": ["NUMBER", "NUMBER", "DASH", "NUMBER", "NUMBER"],
        "raw": ["70", "24,252.311082", "-", "0.0000001", "100000000000000000000"],
        "page": pd.array([3, 3, None, None, 4], dtype="Int64"),
        "location": ["表三 第1行 第8列", "表三 第20行 第8列", "表三 第1行 第8列", "表三 第20行 第8列",
                     "表四 第3行 第1列"],
        "block": ["", "", "", "", ""],
        "unit": ["", "", "", "", ""],
        "note": ["", "thousands_sep", "", "", ""],
    })
    sections = pd.DataFrame({
        "report_id": ["r1", "r2"], "section_id": ["sec.overview", "sec.overview"], "order": [1, 1],
        "heading": ["一、总体情况", "一、总体情况"], "canonical_heading": ["总体情况", "总体情况"],
        "text": ["本机关……", "本局……"], "char_start": [10, 12],
    })
    fnd = pd.DataFrame({
        "report_id": ["r2", "r1", "r1", "r2", "r1"],
        "agency": [EVIL_AGENCY, "红桥区司法局", "红桥区司法局", EVIL_AGENCY, "红桥区司法局"],
        "year": pd.array([2021, 2021, 2021, 2021, 2021], dtype="Int64"),
        "rule_id": ["R-T3-02", "R-META-02", "R-T2-02", "R-SEC6-01", "R-SEC5-02"],
        "severity": ["warning", "info", "error", "error", "error"],
        "status": ["FAIL", "FAIL", "FAIL", "UNCERTAIN", "FAIL"],
        "table": ["t3", "", "t2", "", ""],
        "row_id": ["t3.total_processed", "", "t2.art20_1.rules", "", ""],
        "col_id": ["col.total", "", "col.issued", "", ""],
        "section_id": ["", "", "", "sec.other", "sec.problems"],
        "expected": [70.0, NAN, 0.0, NAN, NAN],
        "actual": [73.0, NAN, 1.0, NAN, NAN],
        "delta": [-3.0, NAN, 1.0, NAN, NAN],
        "message": ["表三 合计列 办理结果总计应为70，实为73", "标题缺少“工作”二字", "+区县部门不应制发规章",
                    "未说明信息处理费收取情况", "未回顾上年度问题整改情况"],
        "basis": ["《条例》第五十条", "国办公开办函〔2021〕30号", "《立法法》", "《条例》第五十条", "格式要求"],
        "location": ["表三 第20行 第8列", "", "表二 第1行", "", ""],
        "source_file": ["b/民政局2021.html", "a/司法局2021.txt", "a/司法局2021.txt", "b/民政局2021.html",
                        "a/司法局2021.txt"],
        "title": ["", "", "", "", ""],
        "assumed_zero": [False, False, False, False, False],
    })
    if not findings:
        fnd = fnd.iloc[0:0]
    indicators = pd.DataFrame({
        "report_id": ["r2", "r1"], "agency": [EVIL_AGENCY, "红桥区司法局"],
        "year": pd.array([2021, 2021], dtype="Int64"),
        "K-01": [70.0, NAN], "K-02": [0.8333333333333334, NAN], "K-03": [0.05, NAN], "K-04": [NAN, NAN],
        "K-05": [1.5, NAN], "K-06": [NAN, NAN], "K-07": [87.0, 70.0],
    })
    return {"reports": reports, "cells": cells, "sections": sections, "findings": fnd, "indicators": indicators}


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("run") / "processed"
    rc_before[d] = _rc_now()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report.write_outputs(d, make_frames())
    out_warnings[d] = [str(w.message) for w in caught]
    return d


out_warnings: dict[Path, list[str]] = {}
rc_before: dict[Path, tuple] = {}


def _rc_now() -> tuple:
    import matplotlib

    rc = matplotlib.rcParams
    return (list(rc["font.family"]), rc["axes.unicode_minus"], rc["svg.fonttype"], rc["svg.hashsalt"])


@pytest.fixture
def no_charts(monkeypatch):
    """Skip chart rendering (the slow part) in tests about files and swapping."""
    def fake(charts_dir, *a, **k):
        charts_dir.mkdir(parents=True, exist_ok=True)
        for name in charts.CHART_FILES:
            (charts_dir / name).write_bytes(PNG_MAGIC)
    monkeypatch.setattr(charts, "write_charts", fake)


def read_csv_rows(path: Path) -> list[list[str]]:
    text = path.read_bytes()[len(BOM):].decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# -------------------------------------------------------------------------------------------------- files, CSVs

def test_every_contract_file_exists(out):
    for name in CONTRACT_FILES:
        assert (out / name).is_file(), name
    pngs = sorted(p.name for p in (out / "charts").glob("*.png"))
    assert len(pngs) >= 3
    assert {"findings_by_agency.png", "rule_frequency.png", "templates_status.png"} <= set(pngs)
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert set(report.OUTPUT_FILES) <= files
    extra = files - set(report.OUTPUT_FILES)
    assert all(any(fnmatch.fnmatch(f, pat) for pat in report.OPTIONAL_OUTPUTS) for f in extra), extra
    # one year only: no trend chart; two agencies with errors/warnings: two notices, names never start a formula
    assert sorted(extra) == ["notices/_=HYPERLINK(_http___x_,_点我_)区民政局_整改通知.docx", "notices/红桥区司法局_整改通知.docx"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".processed.")]


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_csv_bom_and_header(out, name):
    raw = (out / name).read_bytes()
    assert raw.startswith(BOM)
    assert not raw.startswith(BOM + BOM)
    rows = read_csv_rows(out / name)
    assert rows[0] == CSV_FILES[name]
    assert all(len(r) == len(CSV_FILES[name]) for r in rows)


def test_csv_formula_neutralisation(out):
    rows = read_csv_rows(out / "findings.csv")
    hdr = rows[0]
    agency, message, delta = hdr.index("agency"), hdr.index("message"), hdr.index("delta")
    agencies = {r[agency] for r in rows[1:]}
    assert "'" + EVIL_AGENCY in agencies and EVIL_AGENCY not in agencies
    assert "'+区县部门不应制发规章" in [r[message] for r in rows[1:]]
    assert "-3" in [r[delta] for r in rows[1:]]  # a number column is never prefixed
    reps = read_csv_rows(out / "reports.csv")
    assert "'" + EVIL_AGENCY in [r[reps[0].index("agency")] for r in reps[1:]]
    cells = read_csv_rows(out / "cells.csv")
    assert "'-" in [r[cells[0].index("raw")] for r in cells[1:]]  # raw "-" (a DASH cell) is text too
    ind = read_csv_rows(out / "indicators.csv")
    assert "'" + EVIL_AGENCY in [r[1] for r in ind[1:]]


@pytest.mark.parametrize("text,expected", [
    ("=1+1", "'=1+1"), ("+86", "'+86"), ("-", "'-"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("正常", "正常"), ("", ""), ("a=b", "a=b"),
])
def test_neutralise(text, expected):
    assert csvout.neutralise(text) == expected


@pytest.mark.parametrize("value,expected", [
    (70.0, "70"), (24252.311082, "24252.311082"), (NAN, ""), (None, ""), (pd.NA, ""), (-3.0, "-3"), (0.0, "0"),
    (-0.0, "0"), (1e-7, "0.0000001"), (1e20, "100000000000000000000"), (1.5e-10, "0.00000000015"),
    (np.int64(12), "12"), (np.float64(0.1), "0.1"), (7, "7"), (float("inf"), ""), ("", ""),
])
def test_format_number(value, expected):
    assert csvout.format_number(value) == expected


def test_number_formatting_in_csv(out):
    rows = read_csv_rows(out / "cells.csv")
    hdr = rows[0]
    values = [r[hdr.index("value")] for r in rows[1:]]
    assert sorted(values) == sorted(["70", "24252.311082", "", "0.0000001", "100000000000000000000"])
    assert all("e" not in v.lower() and not v.endswith(".0") for v in values)
    assert {r[hdr.index("page")] for r in rows[1:]} == {"3", "4", ""}
    reps = read_csv_rows(out / "reports.csv")
    h = reps[0]
    by_id = {r[0]: r for r in reps[1:]}
    assert by_id["r1"][h.index("year")] == "2021" and by_id["r3"][h.index("year")] == ""
    assert by_id["r1"][h.index("n_errors")] == "2" and by_id["r3"][h.index("n_infos")] == "0"
    fnd = read_csv_rows(out / "findings.csv")
    h = fnd[0]
    t3 = next(r for r in fnd[1:] if r[h.index("rule_id")] == "R-T3-02")
    assert (t3[h.index("expected")], t3[h.index("actual")], t3[h.index("delta")]) == ("70", "73", "-3")
    meta = next(r for r in fnd[1:] if r[h.index("rule_id")] == "R-META-02")
    assert (meta[h.index("expected")], meta[h.index("actual")], meta[h.index("delta")]) == ("", "", "")
    assert t3[h.index("year")] == "2021" and t3[h.index("assumed_zero")] == "false"
    ind = read_csv_rows(out / "indicators.csv")
    h = ind[0]
    r2 = next(r for r in ind[1:] if r[0] == "r2")
    assert r2[h.index("K-02")] == "0.8333333333333334" and r2[h.index("K-07")] == "87" and r2[h.index("K-04")] == ""


def test_row_order(out):
    reps = read_csv_rows(out / "reports.csv")
    assert [r[1] for r in reps[1:]] == ["a/司法局2021.txt", "b/民政局2021.html", "c/broken.pdf"]
    cells = read_csv_rows(out / "cells.csv")
    # stable by report_id: the caller's (template) order is kept within a report
    assert [(r[0], r[2]) for r in cells[1:]] == [
        ("r1", "t3.new_received"), ("r1", "t3.total_processed"),
        ("r2", "t3.new_received"), ("r2", "t3.total_processed"), ("r2", "t4.review.total")]
    fnd = read_csv_rows(out / "findings.csv")
    assert [(r[0], r[4], r[3]) for r in fnd[1:]] == [
        ("r1", "error", "R-SEC5-02"), ("r1", "error", "R-T2-02"), ("r1", "info", "R-META-02"),
        ("r2", "error", "R-SEC6-01"), ("r2", "warning", "R-T3-02")]
    ind = read_csv_rows(out / "indicators.csv")
    assert [r[0] for r in ind[1:]] == ["r1", "r2"]


def test_csv_bytes_identical_across_runs_and_input_order(out, tmp_path, no_charts):
    frames = make_frames()
    shuffled = {k: (v.iloc[::-1] if k in ("reports", "findings") else v) for k, v in frames.items()}
    report.write_outputs(tmp_path / "a", frames)
    report.write_outputs(tmp_path / "b", shuffled)
    report.write_outputs(tmp_path / "a", frames)  # rewrite in place
    for name in CSV_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (out / name).read_bytes(), name
        assert (tmp_path / "b" / name).read_bytes() == (out / name).read_bytes(), name


def test_parquet_round_trip(out):
    cells = pq.read_table(out / "cells.parquet").to_pandas()
    assert list(cells.columns) == F.CELLS_COLUMNS
    assert cells["value"].iloc[2] == 70.0 and math.isnan(cells["value"].iloc[0])
    fnd = pq.read_table(out / "findings.parquet").to_pandas()
    assert list(fnd.columns) == F.FINDINGS_COLUMNS and len(fnd) == 5
    assert EVIL_AGENCY in set(fnd["agency"])  # parquet keeps the data as published
    sec = pq.read_table(out / "sections.parquet").to_pandas()
    assert list(sec.columns) == F.SECTIONS_COLUMNS and list(sec["report_id"]) == ["r1", "r2"]


# ----------------------------------------------------------------------------------------------------- workbook

def test_xlsx_sheets_headers_and_findings(out):
    wb = load_workbook(out / "audit.xlsx")
    assert wb.sheetnames[:4] == ["总览", "问题清单", "指标", "规则说明"]
    ov = wb["总览"]
    hdr = [c.value for c in ov[1]]
    assert hdr[:8] == ["文件", "机关", "年度", "模板", "状态", "错误", "警告", "提示"]
    assert {"质量分", "发布日期", "错误说明"} <= set(hdr)
    assert ov.max_row == 4 and ov.freeze_panes == "A2" and ov.auto_filter.ref
    rows = {r[0]: r for r in ov.iter_rows(min_row=2, values_only=True)}
    assert rows["a/司法局2021.txt"][hdr.index("质量分")] == 70
    assert rows["a/司法局2021.txt"][hdr.index("错误")] == 2
    assert rows["c/broken.pdf"][hdr.index("状态")] == "读取失败"

    fs = wb["问题清单"]
    fh = [c.value for c in fs[1]]
    for h in ["报告编号", "机关", "年度", "规则", "严重程度", "状态", "表", "行", "列", "章节", "应为", "实为", "差值",
              "说明", "依据", "位置", "文件"]:
        assert h in fh, h
    assert fs.freeze_panes == "A2" and fs.auto_filter.ref.startswith("A1:")
    assert fs[1][0].font.b
    data = list(fs.iter_rows(min_row=2, values_only=True))
    assert len(data) == 5
    assert sorted(r[fh.index("规则")] for r in data) == sorted(make_frames()["findings"]["rule_id"])
    assert [r[fh.index("严重程度")] for r in data] == ["错误", "错误", "提示", "错误", "警告"]
    t3 = next(r for r in data if r[fh.index("规则")] == "R-T3-02")
    assert (t3[fh.index("应为")], t3[fh.index("实为")], t3[fh.index("差值")]) == (70, 73, -3)
    assert t3[fh.index("年度")] == 2021
    # fills by severity, widths fit Chinese text
    fills = {fs.cell(row=i, column=fh.index("严重程度") + 1).value: fs.cell(row=i, column=1).fill.fgColor.rgb
             for i in range(2, 7)}
    assert fills["错误"].endswith("FFC7CE") and fills["警告"].endswith("FFEB9C") and fills["提示"].endswith("DDEBF7")
    msg_col = fs.column_dimensions[chr(ord("A") + fh.index("说明"))].width
    assert 20 <= msg_col <= 60


def test_xlsx_formula_neutralisation(out):
    wb = load_workbook(out / "audit.xlsx")
    seen = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str) and EVIL_AGENCY in c.value:
                    assert c.value.startswith("'" + EVIL_AGENCY) and c.data_type == "s"
                    seen += 1
                if isinstance(c.value, str) and "区县部门不应制发规章" in c.value:
                    assert c.value.startswith("'+") and c.data_type == "s"
                    seen += 1
    # overview, two findings rows (agency) + one message, 指标, the detail sheets (title, message in the list)
    assert seen == 1 + 2 + 1 + 1 + 2


def test_display_width():
    assert workbook.display_width("abc") == 3
    assert workbook.display_width("红桥区") == 6
    assert workbook.display_width("（1）") == 5


# ------------------------------------------------------------------------------------------------------- charts

def test_charts_are_png_without_missing_glyphs(out):
    from PIL import Image

    for p in (out / "charts").glob("*.png"):
        assert p.read_bytes().startswith(PNG_MAGIC), p
        with Image.open(p) as im:
            assert round(im.info["dpi"][0]) >= 150
    assert not [w for w in out_warnings[out] if "glyph" in w.lower() or "missing from" in w.lower()]


def test_chart_font_is_noto_sans_cjk_sc():
    from matplotlib import font_manager

    f = make_frames()
    figs = charts.build_figures(f["reports"], f["findings"], f["indicators"])
    ttc = fonts.cjk_font_path()
    for name, fig in figs.items():
        texts = [fig._suptitle] if fig._suptitle is not None else []
        texts += [ax.title for ax in fig.axes if ax.get_title()]
        assert texts, name
        for t in texts:
            found = font_manager.findfont(t.get_fontproperties(), fallback_to_default=False)
            assert Path(found).resolve() == ttc, (name, found)
            assert font_manager.get_font(found).family_name == "Noto Sans CJK SC"


def test_charts_empty_findings_and_many_agencies(tmp_path):
    f = make_frames(findings=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = charts.write_charts(tmp_path / "empty", f["reports"], f["findings"], f["indicators"].iloc[0:0])
    assert len(paths) == len(charts.CHART_FILES)  # one year: no trend chart
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths if p.suffix == ".png")
    assert all(b"<svg" in p.read_bytes()[:2000] for p in paths if p.suffix == ".svg")
    assert not [w for w in caught if "glyph" in str(w.message).lower()]

    n = 300
    rng = np.random.default_rng(0)
    many = pd.DataFrame({
        "agency": [f"测试市第{i % n}区人民政府办公室" for i in range(3 * n)],
        "rule_id": [f"R-T3-{i % 7:02d}" for i in range(3 * n)],
        "severity": rng.choice(["error", "warning", "info"], 3 * n),
    })
    fig = charts.findings_by_agency(many)
    assert len(fig.axes[0].get_yticks()) == charts.TOP_AGENCIES
    assert "共300个机关" in fig.axes[0].get_title()


# ------------------------------------------------------------------------------------------------ atomic writes

def test_failure_half_way_keeps_previous_outputs(tmp_path, monkeypatch, no_charts):
    out_dir = tmp_path / "processed"
    report.write_outputs(out_dir, make_frames())
    before = snapshot(out_dir)

    def boom(path, *a, **k):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(workbook, "write_workbook", boom)
    frames = make_frames()
    frames["findings"] = frames["findings"].iloc[:2]
    with pytest.raises(RuntimeError, match="simulated"):
        report.write_outputs(out_dir, frames)
    assert snapshot(out_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed"]  # no temp dir left


def test_failure_without_previous_outputs_leaves_nothing(tmp_path, monkeypatch, no_charts):
    monkeypatch.setattr(csvout, "write_parquet", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad")))
    with pytest.raises(ValueError):
        report.write_outputs(tmp_path / "out", make_frames())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exchange", [True, False])
def test_replaces_previous_content_completely(tmp_path, monkeypatch, no_charts, exchange):
    if not exchange:
        monkeypatch.setattr(report, "_exchange", lambda a, b: False)  # the two-rename fallback
    out_dir = tmp_path / "nested" / "processed"  # parent does not exist yet
    report.write_outputs(out_dir, make_frames())
    (out_dir / "stale.txt").write_text("old")
    report.write_outputs(out_dir, make_frames(findings=False))
    assert not (out_dir / "stale.txt").exists()
    assert len(read_csv_rows(out_dir / "findings.csv")) == 1
    assert sorted(p.name for p in out_dir.parent.iterdir()) == ["processed"]


def test_stale_temp_dir_of_dead_run_is_removed(tmp_path, no_charts):
    dead = tmp_path / ".processed.tmp-999999999"
    dead.mkdir()
    (dead / "reports.csv").write_text("half")
    report.write_outputs(tmp_path / "processed", make_frames())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed"]


def test_unwritable_parent_raises_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(report.OutputDirError):
        report.write_outputs(blocker / "processed", make_frames())  # parent is a file
    monkeypatch.setattr(report.os, "access", lambda *a, **k: False)  # as root, chmod alone would not do
    with pytest.raises(report.OutputDirError, match="not writable"):
        report.write_outputs(tmp_path / "processed", make_frames())
    assert not (tmp_path / "processed").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_parent_by_permissions(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(report.OutputDirError):
            report.write_outputs(ro / "processed", make_frames())
    finally:
        ro.chmod(0o700)


def test_an_empty_batch_still_gets_every_output(tmp_path, no_charts):
    report.write_outputs(tmp_path / "out", {})
    files = {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert files == set(report.OUTPUT_FILES)  # no notices, no per-agency workbooks
    assert "本批次没有报告" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    wb = load_workbook(tmp_path / "out" / "audit.xlsx")
    assert wb.sheetnames == ["总览", "问题清单", "指标", "规则说明"]


def test_progress_lines_name_each_group_of_outputs(tmp_path, no_charts):
    lines: list[str] = []
    report.write_outputs(tmp_path / "out", make_frames(), progress=lines.append)
    assert [x.split("（")[0] for x in lines] == [
        "写入输出 CSV/parquet", "写入输出 审核工作簿 audit.xlsx", "写入输出 图表 charts/", "写入输出 整改通知 notices/",
        "写入输出 汇总页 index.html"]


def test_missing_keys_and_columns_are_written_empty(tmp_path, no_charts, caplog):
    frames = make_frames()
    del frames["sections"]
    frames["findings"] = frames["findings"].drop(columns=["title", "assumed_zero"]).assign(extra="x")
    frames["findings"]["agency"] = frames["findings"]["agency"].astype(object)  # object dtype works too
    report.write_outputs(tmp_path / "out", frames)
    rows = read_csv_rows(tmp_path / "out" / "findings.csv")
    assert rows[0] == F.FINDINGS_COLUMNS and len(rows) == 6
    assert {r[-1] for r in rows[1:]} == {""} and {r[-2] for r in rows[1:]} == {""}
    assert list(pq.read_table(tmp_path / "out" / "sections.parquet").column_names) == F.SECTIONS_COLUMNS
    assert "missing columns" in caplog.text and "dropped" in caplog.text


def test_global_rcparams_untouched(out):
    assert rc_before[out] == _rc_now()  # write_outputs (charts incl.) changed no global rcParams


def test_exchange_swaps_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "new").touch()
    (b / "old").touch()
    if not report._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) not supported here")
    assert [p.name for p in b.iterdir()] == ["new"] and [p.name for p in a.iterdir()] == ["old"]
