"""The writers of the report stage against their references.

- CSV: ``csvout.write_csv`` (distinct values formatted once, rows joined by pyarrow) writes the bytes of the csv
  module row by row (``write_csv_rows``), and ``prepare`` sorts as a pandas multi-key stable sort would;
- xlsx (XlsxWriter through ``pipeline.report.xlsx``): audit.xlsx and the per-agency workbooks of known data are
  read back with openpyxl and checked against the frames — sheets, headers, values, fills by severity, comments on
  the cells findings point at, links between the books, blank/missing marks, merged cells, widths, frozen panes,
  filters, page set-up, never a formula; every kind of cell value the layer accepts, hostile text, Excel's link
  limit, same calls giving the same bytes, abort;
- notices: ``notices.notice_xml`` is the document XML python-docx builds (``build_notice``), and the written DOCX
  has every other part of python-docx's package unchanged;
- charts: rendered by two processes, the files are byte-identical to a rendering in one.
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from openpyxl import load_workbook

from pipeline.report import charts, csvout, notices, workbook, xlsx
from test_report import make_frames

# ------------------------------------------------------------------------------------------------------------ CSV

NASTY = ["", " ", "a,b", 'say "hi"', "line\nbreak", "cr\rinside", "crlf\r\nx", "=1+1", "+1", "-1", "@x", "\tx",
         "\rx", "'", "中文，逗号", "é", "\u3000全角空格", "nan", "None", "0", "1.0", "1e5"]
texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=8))
floats = st.one_of(st.sampled_from([0.0, -0.0, 1.0, 70.0, 0.5, 1e-7, 1e20, 2.0**63, -3.25, 24252.311082,
                                    math.inf, -math.inf, math.nan]), st.floats(allow_nan=True, width=64))


@st.composite
def frames(draw):
    n = draw(st.integers(0, 25))
    cols = {
        "report_id": draw(st.lists(st.sampled_from(["r1", "r2", "r10", "", None]), min_size=n, max_size=n)),
        "raw": draw(st.lists(st.one_of(texts, st.none()), min_size=n, max_size=n)),
        "value": draw(st.lists(floats, min_size=n, max_size=n)),
        "year": pd.array(draw(st.lists(st.one_of(st.none(), st.integers(1990, 2100)), min_size=n, max_size=n)),
                         dtype="Int64"),
        "page": draw(st.lists(st.one_of(st.none(), st.sampled_from(["3", " 4 ", "x", "", "5.0", "=2"])),
                              min_size=n, max_size=n)),
        "n_errors": draw(st.lists(st.integers(-5, 10**12), min_size=n, max_size=n)),
    }
    df = pd.DataFrame(cols)
    df["raw"] = df["raw"].astype(draw(st.sampled_from(["object", "str"])))
    if draw(st.booleans()) and n:   # a column of mixed value types (written row by row)
        df["note"] = pd.Series([True, 1, "1", 2.5, None][i % 5] for i in range(n))
    return df


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames())
def test_fast_csv_is_byte_identical_to_the_csv_module(df, tmp_path):
    csvout.write_csv(tmp_path / "fast.csv", df)
    csvout.write_csv_rows(tmp_path / "rows.csv", df)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes()


def _reference_sorted(df: pd.DataFrame, keys: dict[str, pd.Series]) -> pd.DataFrame:
    """The sort prepare did before: a stable pandas multi-key sort, incoming position as the last key."""
    if df.empty:
        return df.reset_index(drop=True)
    k = pd.DataFrame({name: s.reset_index(drop=True) for name, s in keys.items()})
    k["__pos"] = np.arange(len(df))
    return df.take(k.sort_values(list(k.columns), kind="stable").index).reset_index(drop=True)


@pytest.mark.parametrize("seed", range(4))
def test_prepare_sorts_as_a_stable_multi_key_sort(seed, monkeypatch):
    frames = make_frames()
    rng = np.random.default_rng(seed)
    frames = {k: v.sample(frac=1, random_state=seed).reset_index(drop=True) for k, v in frames.items()}
    f = frames["findings"].astype(object)
    f.loc[rng.integers(0, len(f), 2), "rule_id"] = None   # missing keys sort as ''
    frames["findings"] = f
    fast = csvout.prepare(frames)
    monkeypatch.setattr(csvout, "_sorted", _reference_sorted)
    ref = csvout.prepare(frames)
    for name in fast:
        pd.testing.assert_frame_equal(fast[name], ref[name])


# ----------------------------------------------------------------------------------------------------------- xlsx

SEV_RGB = {k: v for k, v in workbook.SEVERITY_COLOR.items()}
SEV_OF_ZH = {v: k for k, v in workbook.SEVERITY_ZH.items()}


def _rgb(color) -> str | None:
    return color.rgb[-6:] if color is not None and color.type == "rgb" and isinstance(color.rgb, str) else None


def fill_of(cell) -> tuple | None:
    """(pattern, colour[, background]) of a cell's fill as openpyxl reads it; None when unfilled."""
    f = cell.fill
    if not f.patternType:
        return None
    if f.patternType == "solid":
        return ("solid", _rgb(f.fgColor))
    return (f.patternType, _rgb(f.fgColor), _rgb(f.bgColor))


def _all_cells(wb):
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                yield ws, c


@pytest.fixture(scope="module")
def generated_frames(tmp_path_factory):
    """Frames of a generated batch read by the real pipeline (tests/test_outputs.py's run), validated."""
    from pipeline import validate
    from pipeline.batch import frames_from, process_one
    from pipeline.synth import make_report, render

    d = tmp_path_factory.mktemp("gen")
    results, prev = [], {}
    for i, (agency, year) in enumerate([("青禾市人民政府", 2022), ("青禾市人民政府", 2023), ("青禾市教育局", 2023),
                                        ("青禾区司法局", 2022), ("青禾区司法局", 2023)]):
        rep = make_report(agency, year, "gb2021", seed=70 + i, prev=prev.get(agency),
                          defects=["t3_row_total", "blank_cells"] if i % 2 else [])
        prev[agency] = rep
        data = render(rep, "txt_cells", file=f"g{i}.txt")[0]
        p = d / f"g{i}.txt"
        p.write_bytes(data)
        results.append(process_one((str(p), f"g{i}.txt", "", {})))
    fr = frames_from(results)
    findings, indicators, reports = validate.run(fr["reports"], fr["cells"], fr["sections"])
    fr.update(findings=findings, indicators=indicators, reports=reports)
    return fr


def _check_book_set(out: Path, f: dict, max_sheets: int, ids_in_template: bool = True) -> int:
    """Read audit.xlsx (and workbooks/) back with openpyxl and check them against the frames they were written
    from: sheets, headers, the findings list with its fills, the links of 总览, each located finding filled and
    commented on its report's sheet (when *ids_in_template*: the findings' cell ids are those of the template),
    blank/missing marks, frozen panes, filters, widths, page set-up, no formula. Returns the number of located
    findings checked."""
    reports, findings = f["reports"], f["findings"]
    details = workbook.plan_details(reports, max_sheets)
    audit = load_workbook(out / "audit.xlsx")
    in_audit = [d.sheet for d in details.values() if d.file is None]
    assert audit.sheetnames == [*workbook.FIXED_SHEETS, *in_audit]
    assert audit.properties.title == "政府信息公开工作年度报告审核结果"
    assert audit.properties.creator == "gov-disclosure-auditor"
    books = {None: audit}
    for d in details.values():
        if d.file is not None and d.file not in books:
            books[d.file] = load_workbook(out / d.file)

    # 问题清单: every finding, header, severity fill, frozen header, filter over all rows, fitted widths
    headers = [h for h, _, _ in workbook.FINDING_COLUMNS]
    ws = audit[workbook.SHEET_FINDINGS]
    rows = list(ws.iter_rows())
    assert [c.value for c in rows[0]] == headers
    assert all(c.font.b and fill_of(c) == ("solid", "D9E1F2") for c in rows[0])
    assert len(rows) == len(findings) + 1
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:S{len(findings) + 1}"
    col = {h: i for i, h in enumerate(headers)}
    for row, rec in zip(rows[1:], findings.to_dict("records")):
        assert row[col["规则"]].value == rec["rule_id"] and row[col["报告编号"]].value == rec["report_id"]
        assert row[col["说明"]].value == workbook._clean_text(rec["message"])
        assert SEV_OF_ZH[row[col["严重程度"]].value] == rec["severity"]
        assert {fill_of(c) for c in row} == {("solid", SEV_RGB[rec["severity"]])}
    assert ws.column_dimensions["N"].width > ws.column_dimensions["C"].width >= workbook.MIN_WIDTH

    # 总览: one row per report, its 详情 cell links to the report's sheet (here or in workbooks/)
    ov = audit[workbook.SHEET_OVERVIEW]
    hdr = [c.value for c in ov[1]]
    assert hdr[:3] == ["文件", "机关", "年度"] and "详情" in hdr and ov.freeze_panes == "A2"
    seen = set()
    for row in ov.iter_rows(min_row=2):
        rid = row[hdr.index("报告编号")].value
        d = details[rid]
        link = row[hdr.index("详情")].hyperlink
        assert link.location == f"{workbook._quote_sheet(d.sheet)}!A1"
        assert (link.target or None) == (d.file.replace("/", "\\") if d.file else None)
        assert row[hdr.index("详情")].font.u == "single"
        assert d.sheet in books[d.file].sheetnames
        seen.add(rid)
    assert seen == set(details)

    # report sheets: located findings filled by the worst severity and commented; blank/missing cells marked
    located = 0
    by_report = {rid: g for rid, g in findings.groupby("report_id")}
    for rid, d in details.items():
        sheet = books[d.file][d.sheet]
        assert sheet.freeze_panes == "B1" and sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.paperSize in (9, "9") and sheet.sheet_properties.pageSetUpPr.fitToPage
        assert "B1:P1" in {str(r) for r in sheet.merged_cells.ranges}   # the title row
        assert sheet.column_dimensions["A"].width >= workbook.LABEL_WIDTH
        comments = {c.comment.text: c for row in sheet.iter_rows() for c in row if c.comment is not None}
        for c in comments.values():
            first = c.comment.text.split("】", 1)[0].lstrip("【")
            assert fill_of(c) == ("solid", SEV_RGB[SEV_OF_ZH[first]]), (d.sheet, c.coordinate)
            assert c.comment.author == "审核工具"
        for rec in by_report.get(rid, pd.DataFrame()).to_dict("records"):
            if rec["table"] and rec["row_id"] and ids_in_template:
                text = f"{rec['rule_id']} {rec['message']}"
                assert any(text in t for t in comments), (d.sheet, text)
                located += 1
        for row in sheet.iter_rows():
            for c in row:
                if c.value == workbook.BLANK_MARK and c.comment is None and c.row > 8:
                    assert fill_of(c) == ("lightUp", "A6A6A6", "F2F2F2"), c.coordinate
                if c.value == workbook.MISSING_MARK and c.comment is None and c.row > 8:
                    assert fill_of(c) == ("darkUp", "808080", "D9D9D9"), c.coordinate
        back = [c for row in sheet.iter_rows(max_row=10) for c in row if c.value == "← 返回总览"]
        assert len(back) == 1 and back[0].hyperlink.location == (
            f"'{workbook.SHEET_OVERVIEW}'!A1" if d.file is None else f"'{workbook.SHEET_FINDINGS}'!A1")

    for wb in books.values():
        assert not [c.coordinate for _, c in _all_cells(wb) if c.data_type == "f"]
    return located


@pytest.mark.parametrize("max_sheets", [200, 1])
def test_workbooks_read_back(generated_frames, tmp_path, max_sheets):
    f = csvout.prepare(generated_frames)
    assert len(f["findings"]) and f["findings"]["table"].astype(str).ne("").any()   # cells get filled/commented
    workbook.write_workbook(tmp_path / "audit.xlsx", f["reports"], f["findings"], f["indicators"], f["cells"],
                            max_sheets=max_sheets)
    assert _check_book_set(tmp_path, f, max_sheets) >= 5
    books = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.xlsx"))
    assert len(books) == (1 if max_sheets == 200 else 1 + f["reports"]["agency"].nunique())
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".xlsx"]   # no temporary files left


def test_hostile_workbooks_read_back(tmp_path):
    frames = make_frames()
    frames["cells"].loc[0, "raw"] = "=cmd|' /C calc'!A0\x07"
    frames["cells"].loc[0, "state"] = "UNPARSABLE"
    frames["findings"].loc[0, "message"] = " 前后空格 \n第二行 & <b>"
    frames["findings"].loc[1, "message"] = "<r><t>raw</t></r>"   # XlsxWriter's own rich-string form
    f = csvout.prepare(frames)
    for max_sheets, d in ((1, tmp_path / "big"), (200, tmp_path / "small")):
        d.mkdir()
        workbook.write_workbook(d / "audit.xlsx", f["reports"], f["findings"], f["indicators"], f["cells"],
                                max_sheets=max_sheets)
        _check_book_set(d, f, max_sheets, ids_in_template=False)
        texts = {c.value for wb in (load_workbook(p) for p in d.rglob("*.xlsx")) for _, c in _all_cells(wb)}
        assert "'=cmd|' /C calc'!A0" in texts and " 前后空格 \n第二行 & <b>" in texts
        assert "<r><t>raw</t></r>" in texts


def test_xlsx_writer_cell_kinds(tmp_path):
    """Every kind of value the writer accepts, with styles, a comment, links, merges, widths and heights."""
    book = xlsx.Book(tmp_path / "kinds.xlsx", workbook.style_props, title="t", creator="c")
    ws = book.sheet("数据", widths={1: 12, 3: 30.5}, freeze="B2", autofilter="A1:C3")
    ws.row([("文本", "header"), ("", None), (" 空格 ", "wrap"), ("a&b<c>", "bold"), ("=1+1", None),
            ("+1", None), ("-1", None), ("@x", None), ("http://x.cn", None), ("1e5", None), ("<r>x</r>", None),
            ("坏\x07字符\uffff与\ud800代理", None)])
    ws.row([(0, "fmt:0"), (-7, None), (2**60, None), (0.1, "fmt:0.0%"), (1 / 3, "error+fmt:0"),
            (math.nan, "grid"), (math.inf, None), (True, None), (np.int64(5), None), (np.float64(2.5), None),
            (np.bool_(False), None), (None, "grid+center+warning"), None, ("x", None)],
           height=32.5, merges=("O2:P2",))
    ws.row([("注", "info", xlsx.Comment("第一行\n 第二行 ", "审核工具", 300, 48), None),
            ("链接", "link", None, xlsx.Link(location="'数据'!A1")),
            ("外部", "link", None, xlsx.Link(location="'2021年'!A1", target="workbooks/某局 1.xlsx")),
            ("空", "blank"), ("缺", "missing"), ("标题", "title")])
    book.sheet("空", landscape_fit=True).row([])
    # text written any other way than write_string would not become a formula, URL or number either
    assert not (book.wb.strings_to_formulas or book.wb.strings_to_urls or book.wb.strings_to_numbers)
    book.save()

    wb = load_workbook(tmp_path / "kinds.xlsx")
    assert wb.sheetnames == ["数据", "空"] and (wb.properties.title, wb.properties.creator) == ("t", "c")
    ws = wb["数据"]
    r1 = [c.value for c in ws[1]]
    assert r1[12:] == [None] * 4 and r1[:12] == ["文本", None, " 空格 ", "a&b<c>", "=1+1", "+1", "-1", "@x",
                                                 "http://x.cn", "1e5", "<r>x</r>", "坏字符与\ufffd代理"]
    assert all(c.data_type == "s" for c in ws[1] if c.value is not None)   # text stays text: no formula, no link
    assert ws["A1"].font.b and fill_of(ws["A1"]) == ("solid", "D9E1F2") and ws["A1"].alignment.wrap_text
    assert ws["C1"].alignment.wrap_text and ws["D1"].font.b and ws["I1"].hyperlink is None
    r2 = [c.value for c in ws[2]]
    assert r2[:12] == [0, -7, 2**60, 0.1, 1 / 3, None, None, True, 5, 2.5, False, None] and r2[13] == "x"
    assert ws["A2"].number_format == "0" and ws["D2"].number_format == "0.0%"
    assert fill_of(ws["E2"]) == ("solid", SEV_RGB["error"]) and ws["E2"].number_format == "0"
    assert fill_of(ws["L2"]) == ("solid", SEV_RGB["warning"]) and ws["L2"].alignment.horizontal == "center"
    assert ws["F2"].border.left.style == "thin" and _rgb(ws["F2"].border.left.color) == "A6A6A6"
    assert [str(r) for r in ws.merged_cells.ranges] == ["O2:P2"]
    assert ws["A3"].comment.text == "第一行\n 第二行 " and ws["A3"].comment.author == "审核工具"
    assert fill_of(ws["A3"]) == ("solid", SEV_RGB["info"])
    assert (ws["B3"].hyperlink.location, ws["B3"].hyperlink.target) == ("'数据'!A1", None)
    assert ws["C3"].hyperlink.location == "'2021年'!A1"
    assert ws["C3"].hyperlink.target.replace("%20", " ") == "workbooks\\某局 1.xlsx"
    assert ws["C3"].value == "外部" and _rgb(ws["C3"].font.color) == "0563C1" and ws["C3"].font.u == "single"
    assert fill_of(ws["D3"]) == ("lightUp", "A6A6A6", "F2F2F2")
    assert fill_of(ws["E3"]) == ("darkUp", "808080", "D9D9D9")
    assert ws["F3"].font.b and ws["F3"].font.sz == 12 and fill_of(ws["F3"]) == ("solid", "B4C6E7")
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:C3"
    # widths in characters as Excel shows them (stored with Excel's padding), heights in points (to the pixel)
    assert 12 <= ws.column_dimensions["A"].width < 13 and 30.5 <= ws.column_dimensions["C"].width < 31.5
    assert ws.row_dimensions[2].height == pytest.approx(32.5, abs=0.5)
    blank = wb["空"]
    assert blank.page_setup.orientation == "landscape" and blank.sheet_properties.pageSetUpPr.fitToPage
    assert not [c for c in _all_cells(wb) if c[1].data_type == "f"]


def test_xlsx_links_stop_at_excels_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx, "MAX_LINKS", 2)
    book = xlsx.Book(tmp_path / "l.xlsx", workbook.style_props)
    ws = book.sheet("a")
    for i in range(4):
        ws.row([(f"行{i}", "link", None, xlsx.Link(location="'a'!A1"))])
    book.save()
    sheet = load_workbook(tmp_path / "l.xlsx")["a"]
    assert [c.value for c in sheet["A"]] == ["行0", "行1", "行2", "行3"]   # every text is there
    assert [c.hyperlink is not None for c in sheet["A"]] == [True, True, False, False]


def test_xlsx_same_calls_give_the_same_bytes(tmp_path):
    created = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    for name, streamed in (("a", True), ("b", True), ("c", False), ("d", False)):
        book = xlsx.Book(tmp_path / f"{name}.xlsx", workbook.style_props, title="t", created=created,
                         streamed=streamed)
        ws = book.sheet("s", widths={1: 10}, freeze="A2")
        ws.row([("文本", "header"), (1.5, "error"), ("注", None, xlsx.Comment("说明", "审核工具"), None)])
        book.save()
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    assert (tmp_path / "c.xlsx").read_bytes() == (tmp_path / "d.xlsx").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert b"2026-01-02T03:04:05Z" in z.read("docProps/core.xml")


def test_xlsx_writer_abort_leaves_no_file(tmp_path):
    for streamed in (True, False):
        book = xlsx.Book(tmp_path / "x.xlsx", workbook.style_props, streamed=streamed)
        book.sheet("a").row([("x", None)])
        book.sheet("b").row([("y", None)])
        book.abort()   # no exception; temporary row files removed, no workbook written
        assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------------------------- notices

def _notice_inputs(frames):
    f = csvout.prepare(frames)
    fnd = f["findings"][f["findings"]["severity"].isin(notices.NOTICE_SEVERITIES)]
    out = []
    for agency, g in fnd.groupby("agency", sort=True):
        reps = [r for r in f["reports"].to_dict("records") if r["agency"] == agency]
        out.append((agency, reps, g.to_dict("records")))
    return out


def test_notice_xml_is_what_python_docx_builds(generated_frames):
    frames = make_frames()
    frames["findings"].loc[0, "message"] = "\t制表符 与\n换行\r\n和 前后空格 & <标记>"
    frames["findings"].loc[1, "basis"] = " 依据 "
    inputs = _notice_inputs(frames) + _notice_inputs(generated_frames)
    assert len(inputs) >= 3
    for agency, reps, fnd in inputs:
        doc = notices.build_notice(agency, reps, fnd)
        ref = etree.tostring(doc.element, method="c14n")
        fast = etree.tostring(etree.fromstring(notices.notice_xml(agency, reps, fnd).encode()), method="c14n")
        assert fast == ref, agency


def test_notice_package_keeps_python_docx_parts(tmp_path):
    agency, reps, fnd = _notice_inputs(make_frames())[0]
    notices.write_notice(tmp_path / "fast.docx", agency, reps, fnd)
    notices.build_notice(agency, reps, fnd).save(tmp_path / "ref.docx")
    with zipfile.ZipFile(tmp_path / "fast.docx") as a, zipfile.ZipFile(tmp_path / "ref.docx") as b:
        assert a.testzip() is None
        assert sorted(a.namelist()) == sorted(b.namelist())
        assert a.namelist()[0] == "[Content_Types].xml"
        for name in a.namelist():
            x, y = a.read(name), b.read(name)
            if name.endswith(".xml") and x != y:
                x, y = (etree.tostring(etree.fromstring(v), method="c14n") for v in (x, y))
            assert x == y, name
    from docx import Document

    doc = Document(str(tmp_path / "fast.docx"))   # python-docx opens it
    assert doc.core_properties.title == notices.notice_title(agency)
    assert doc.paragraphs[0].text.startswith("关于")


# --------------------------------------------------------------------------------------------------------- charts

def test_charts_rendered_by_two_processes_are_byte_identical(tmp_path, monkeypatch):
    f = csvout.prepare(make_frames())
    monkeypatch.setattr(charts, "PARALLEL_MIN_REPORTS", 10**9)
    serial = charts.write_charts(tmp_path / "serial", f["reports"], f["findings"], f["indicators"], f["cells"])
    monkeypatch.setattr(charts, "PARALLEL_MIN_REPORTS", 1)
    parallel = charts.write_charts(tmp_path / "parallel", f["reports"], f["findings"], f["indicators"], f["cells"])
    assert [p.name for p in serial] == [p.name for p in parallel]
    for a, b in zip(serial, parallel):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_chart_cells_keep_what_the_charts_read():
    cells = make_frames()["cells"]
    sub = charts.chart_cells(cells)
    assert list(sub.columns) == list(charts.CHART_CELL_COLUMNS)
    # t3 总计 numbers and t4 numbers only; the DASH cell is gone
    assert sorted(sub["row_id"]) == ["t3.new_received", "t3.total_processed", "t3.total_processed",
                                     "t4.review.total"]


@pytest.mark.parametrize("seed", range(3))
def test_lazy_order_writes_the_bytes_of_the_sorted_frames(seed, tmp_path, monkeypatch):
    """Large cells/sections frames are not copied in order: their writers take the rows in order a chunk at a
    time; the files are those of the sorted frames."""
    frames = {k: v.sample(frac=1, random_state=seed).reset_index(drop=True) for k, v in make_frames().items()}
    monkeypatch.setattr(csvout, "LAZY_MIN_ROWS", 1)
    monkeypatch.setattr(csvout, "CSV_CHUNK_ROWS", 2)
    monkeypatch.setattr(csvout, "PARQUET_ROW_GROUP", 3)
    ref = csvout.prepare(frames)
    lazy, orders = csvout.prepare_lazy(frames)
    assert set(orders) <= {"cells", "sections"} and "cells" in orders
    for name in ("cells", "sections"):
        order = orders.get(name)
        csvout.write_csv(tmp_path / "a.csv", ref[name])
        csvout.write_csv(tmp_path / "b.csv", lazy[name], order)
        csvout.write_csv_rows(tmp_path / "c.csv", lazy[name], order)
        assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes() == \
            (tmp_path / "c.csv").read_bytes()
        monkeypatch.setattr(csvout, "PARQUET_ROW_GROUP", 1024 * 1024)
        csvout.write_parquet(tmp_path / "a.parquet", ref[name])
        csvout.write_parquet(tmp_path / "b.parquet", lazy[name], order)
        assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
        monkeypatch.setattr(csvout, "PARQUET_ROW_GROUP", 3)
    pd.testing.assert_frame_equal(charts.chart_cells(ref["cells"]),
                                  charts.chart_cells(lazy["cells"], orders["cells"]))
    a, b = workbook._Batch(ref["cells"], ref["findings"]), workbook._Batch(lazy["cells"], lazy["findings"])
    for rid in ("r1", "r2", "r3"):
        assert repr(a.report_cells(rid)) == repr(b.report_cells(rid))


def test_text_xml_cannot_carry_never_breaks_a_file(tmp_path):
    """Control characters, U+FFFF and lone surrogates (an undecodable file name) are dropped or replaced: the
    workbook and the notice still open."""
    from docx import Document

    frames = make_frames()
    bad = "坏\x07字符\uffff与\ud800代理"   # object columns: pyarrow strings cannot hold a lone surrogate
    for name, col in (("findings", "message"), ("reports", "source_file"), ("cells", "raw")):
        frames[name][col] = frames[name][col].astype(object)
    frames["findings"].loc[0, "message"] = bad
    frames["reports"].loc[0, "source_file"] = "b/\udcff报告.html"
    frames["cells"].loc[0, "raw"] = bad
    frames["cells"].loc[0, "state"] = "UNPARSABLE"
    f = csvout.prepare(frames)
    workbook.write_workbook(tmp_path / "a.xlsx", f["reports"], f["findings"], f["indicators"], f["cells"])
    wb = load_workbook(tmp_path / "a.xlsx")
    texts = [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert any("坏字符与" in t for t in texts)
    for agency, reps, fnd in _notice_inputs(frames):
        notices.write_notice(tmp_path / "n.docx", agency, reps, fnd)
        assert "".join(p.text for p in Document(str(tmp_path / "n.docx")).paragraphs)
