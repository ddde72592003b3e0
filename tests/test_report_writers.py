"""The fast writers of the report stage against their references.

- CSV: ``csvout.write_csv`` (distinct values formatted once, rows joined by pyarrow) writes the bytes of the csv
  module row by row (``write_csv_rows``), and ``prepare`` sorts as a pandas multi-key stable sort would;
- xlsx: ``pipeline.report.xlsx`` writes what openpyxl's write-only mode writes for the same calls — the whole
  audit.xlsx and the per-agency workbooks are written once through each and compared cell by cell as openpyxl
  reads them (values, types, fonts, fills, borders, alignment, number formats, comments, links, merged cells,
  widths, heights, frozen panes, filters, page set-up), comment boxes compared in the VML;
- notices: ``notices.notice_xml`` is the document XML python-docx builds (``build_notice``), and the written DOCX
  has every other part of python-docx's package unchanged;
- charts: rendered by two processes, the files are byte-identical to a rendering in one.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment as OpenpyxlComment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink

from pipeline.report import charts, csvout, notices, rawzip, workbook, xlsx
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

class OpenpyxlBook:
    """xlsx.Book's interface on openpyxl's write-only workbook: the reference the fast writer must match."""

    def __init__(self, path, styles, title="", creator="openpyxl"):
        self.path, self.resolve = Path(path), styles
        self.wb = Workbook(write_only=True)
        self.wb.properties.creator, self.wb.properties.title = creator, title
        self.cache: dict = {}

    def sheet(self, title, widths=None, freeze=None, autofilter=None, landscape_fit=False):
        ws = self.wb.create_sheet(title)
        for c, w in (widths or {}).items():
            ws.column_dimensions[get_column_letter(c)].width = w
        if freeze:
            ws.freeze_panes = freeze
        if autofilter:
            ws.auto_filter.ref = autofilter
        if landscape_fit:
            ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", 9
            ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
            ws.sheet_properties.pageSetUpPr.fitToPage = True
        return OpenpyxlSheet(self, ws)

    def style(self, ws, key):
        if not key:
            return None
        c = WriteOnlyCell(ws)
        font, fill, align, border, fmt = self.resolve(key)
        if font is not None:
            c.font = font
        if fill is not None:
            c.fill = fill
        if align is not None:
            c.alignment = align
        if border is not None:
            c.border = border
        if fmt is not None:
            c.number_format = fmt
        return c._style

    def save(self):
        self.wb.save(self.path)

    def abort(self):
        pass


class OpenpyxlSheet:
    def __init__(self, book, ws):
        self.book, self.ws, self.row_count = book, ws, 0

    def row(self, cells, height=None, merges=()):
        self.row_count += 1
        if height:
            self.ws.row_dimensions[self.row_count].height = height
        out = []
        for cell in cells:
            if cell is None:
                out.append(None)
                continue
            value = cell[0]
            c = WriteOnlyCell(self.ws)
            if value is not None and not (isinstance(value, float) and not math.isfinite(value)):
                c.value = value
            style = self.book.style(self.ws, cell[1])
            if style is not None:
                c._style = style
            if len(cell) > 2 and cell[2] is not None:
                com = OpenpyxlComment(cell[2].text, cell[2].author)
                com.width, com.height = cell[2].width, cell[2].height
                c.comment = com
            if len(cell) > 3 and cell[3] is not None:
                c.hyperlink = Hyperlink(ref="", location=cell[3].location, target=cell[3].target)
            out.append(c)
        self.ws.append(out)
        for m in merges:
            self.ws.merged_cells.add(m)


def _style(c):
    return (repr(c.font), repr(c.fill), repr(c.border), repr(c.alignment), c.number_format, repr(c.protection))


def describe(path: Path) -> dict:
    """Everything of a workbook that openpyxl reads, plus the comment boxes of the VML drawings."""
    wb = load_workbook(path)
    out: dict = {"sheets": wb.sheetnames, "props": (wb.properties.creator, wb.properties.title),
                 "names": sorted((ws.title, n, v.attr_text) for ws in wb.worksheets
                                 for n, v in ws.defined_names.items())}
    for ws in wb.worksheets:
        cells = {}
        for row in ws.iter_rows():
            for c in row:
                if c.value is None and not c.has_style and c.comment is None and c.hyperlink is None:
                    continue
                com = (c.comment.text, c.comment.author) if c.comment else None
                link = (c.hyperlink.target, c.hyperlink.location) if c.hyperlink else None
                cells[c.coordinate] = (c.value, c.data_type, _style(c), com, link)
        out[ws.title] = {
            "cells": cells, "merged": sorted(str(r) for r in ws.merged_cells.ranges),
            "cols": sorted((k, d.width) for k, d in ws.column_dimensions.items() if d.customWidth),
            "rows": sorted((k, d.height) for k, d in ws.row_dimensions.items() if d.height),
            "freeze": ws.freeze_panes, "filter": ws.auto_filter.ref,
            "page": (ws.page_setup.orientation, ws.page_setup.paperSize, ws.page_setup.fitToWidth,
                     ws.page_setup.fitToHeight, ws.sheet_properties.pageSetUpPr.fitToPage),
            "margins": repr(ws.page_margins),
        }
    with zipfile.ZipFile(path) as z:   # comment box sizes and anchors (openpyxl does not read them back)
        shapes = []
        for name in sorted(n for n in z.namelist() if n.endswith(".vml")):
            root = etree.fromstring(z.read(name))
            shapes.append([(s.get("style"), [(etree.QName(e).localname, e.text) for e in s.iter() if e is not s])
                           for s in root.iter("{urn:schemas-microsoft-com:vml}shape")])
        out["vml"] = shapes
    return out


def _both(tmp_path, monkeypatch, write) -> tuple[Path, Path]:
    fast, ref = tmp_path / "fast", tmp_path / "ref"
    fast.mkdir()
    ref.mkdir()
    write(fast)
    monkeypatch.setattr(workbook, "Book", OpenpyxlBook)
    write(ref)
    return fast, ref


def _compare_dirs(fast: Path, ref: Path) -> int:
    names = sorted(p.relative_to(ref) for p in ref.rglob("*.xlsx"))
    assert names == sorted(p.relative_to(fast) for p in fast.rglob("*.xlsx"))
    for name in names:
        a, b = describe(fast / name), describe(ref / name)
        assert a.keys() == b.keys(), name
        for k in a:
            assert a[k] == b[k], (name, k)
    return len(names)


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


@pytest.mark.parametrize("max_sheets", [200, 1])
def test_workbooks_are_what_openpyxl_writes(generated_frames, tmp_path, monkeypatch, max_sheets):
    f = csvout.prepare(generated_frames)
    assert len(f["findings"]) and f["findings"]["table"].astype(str).ne("").any()   # cells get filled/commented

    def write(d):
        workbook.write_workbook(d / "audit.xlsx", f["reports"], f["findings"], f["indicators"], f["cells"],
                                max_sheets=max_sheets)

    n = _compare_dirs(*_both(tmp_path, monkeypatch, write))
    assert n == (1 if max_sheets == 200 else 1 + f["reports"]["agency"].nunique())


def test_hostile_workbooks_are_what_openpyxl_writes(tmp_path, monkeypatch):
    frames = make_frames()
    frames["cells"].loc[0, "raw"] = "=cmd|' /C calc'!A0\x07"
    frames["cells"].loc[0, "state"] = "UNPARSABLE"
    frames["findings"].loc[0, "message"] = " 前后空格 \n第二行\r第三行 & <b>"
    f = csvout.prepare(frames)

    def write(d):
        workbook.write_workbook(d / "audit.xlsx", f["reports"], f["findings"], f["indicators"], f["cells"],
                                max_sheets=1)
        workbook.write_workbook(d / "small.xlsx", f["reports"], f["findings"], f["indicators"], f["cells"])

    _compare_dirs(*_both(tmp_path, monkeypatch, write))


def test_xlsx_writer_cell_kinds(tmp_path, monkeypatch):
    """Every kind of value the writer accepts, with styles, a comment, links and merges."""
    def write(d):
        book = workbook.Book(d / "kinds.xlsx", workbook._style_parts, title="t", creator="c")
        ws = book.sheet("数据", widths={1: 12, 3: 30.5}, freeze="B2", autofilter="A1:C3")
        ws.row([("文本", "header"), ("", None), (" 空格 ", "wrap"), ("a&b<c>\r", "bold")])
        ws.row([(0, "fmt:0"), (-7, None), (2**60, None), (0.1, "fmt:0.0%"), (1 / 3, "error+fmt:0"),
                (math.nan, "grid"), (math.inf, None), (True, None), (np.int64(5), None), (np.float64(2.5), None),
                (np.bool_(False), None),
                (None, "grid+center+warning"), None, ("x", None)], height=32.5, merges=("M2:N2",))
        ws.row([("注", "info", xlsx.Comment("第一行\n 第二行 ", "审核工具", 300, 48), None),
                ("链接", "link", None, xlsx.Link(location="'数据'!A1")),
                ("外部", "link", None, xlsx.Link(location="'2021年'!A1", target="workbooks/某局.xlsx"))])
        ws2 = book.sheet("空", landscape_fit=True)
        ws2.row([])
        book.save()

    _compare_dirs(*_both(tmp_path, monkeypatch, write))


def test_xlsx_writer_abort_leaves_no_open_handle(tmp_path):
    book = workbook.Book(tmp_path / "x.xlsx", workbook._style_parts)
    book.sheet("a").row([("x", None)])
    book.abort()   # no exception, the file is closed


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
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            x, y = a.read(name), b.read(name)
            if name.endswith(".xml") and x != y:
                x, y = (etree.tostring(etree.fromstring(v), method="c14n") for v in (x, y))
            assert x == y, name
    from docx import Document

    doc = Document(str(tmp_path / "fast.docx"))   # python-docx opens it
    assert doc.core_properties.title == notices.notice_title(agency)
    assert doc.paragraphs[0].text.startswith("关于")


def test_rawzip_round_trip(tmp_path):
    member = rawzip.deflate(b"static part " * 100)
    z = rawzip.RawZip(tmp_path / "a.zip")
    z.add("a.xml", b"<a/>")
    z.add("dir/b.bin", member)
    z.add("中文.txt", "内容".encode())
    z.close()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("a.xml") == b"<a/>" and zf.read("dir/b.bin") == b"static part " * 100
        assert zf.read("中文.txt") == "内容".encode()


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
