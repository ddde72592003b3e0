"""Word documents: DOCX read with python-docx (merged and nested tables), legacy .doc through LibreOffice, the docx/doc
generator, and the zip-bomb guard.

The .doc tests use the committed fixtures in tests/fixtures/doc/ (regenerate with
`python -m pipeline.synth.fmt_docx tests/fixtures/doc`); converting them needs LibreOffice and is skipped without it.
"""
from __future__ import annotations

import io
import json
import math
import os
import stat
import sys
import time
import zipfile

import pytest

from conftest import ROOT
from pipeline.document import PAD, Document
from pipeline.ingest import doc as doc_mod
from pipeline.ingest.doc import NOT_INSTALLED, SofficeError, convert_doc, soffice_available, soffice_convert
from pipeline.ingest.docx import DocxRejected, parse_docx
from pipeline.ingest.sniff import sniff_format
from pipeline.normalize import normalize
from pipeline.synth import make_report, render
from pipeline.synth.fmt_docx import DOC_FIXTURES
from pipeline.synth.render import Cells, t2_tables, t3_table, t4_table, truth_dict

FIXTURES = ROOT / "tests" / "fixtures" / "doc"


# --- helpers -------------------------------------------------------------------------------------------------------

def _docx_bytes(doc) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _tables(blocks):
    return [b.grid for b in blocks if b.kind == "table"]


def _canon(origin):
    """Origins renumbered in reading order (PAD kept), to compare partitions of the grid."""
    ids: dict[int, int] = {}
    return [[PAD if o == PAD else ids.setdefault(o, len(ids)) for o in row] for row in origin]


def _layout(rows):
    """The origin grid the GCell rows describe (what a reader of real merged cells must give back)."""
    width = sum(c.colspan for c in rows[0])
    grid = [[None] * width for _ in rows]
    oid = 0
    for ri, row in enumerate(rows):
        ci = 0
        for cell in row:
            while grid[ri][ci] is not None:
                ci += 1
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    grid[ri + dr][ci + dc] = oid
            oid += 1
            ci += cell.colspan
    return grid


def _extract(data: bytes, fmt: str, name: str):
    blocks, meta, title = parse_docx(data)
    doc = Document(source_file=name, format=fmt, sha256="", blocks=blocks, title=title, meta=meta)
    return doc, normalize(doc, "rid")


def _mismatches(truth: dict, norm) -> list[str]:
    idx = {(c["table"], c["row_id"], c["col_id"]): c for c in norm.cells}
    bad = []
    for t in ("t2", "t3", "t4"):
        for row, cols in truth[t].items():
            for col, want in cols.items():
                c = idx.get((t, row, col))
                got = None if c is None else c["value"]
                blank = got is None or (isinstance(got, float) and math.isnan(got))
                ok = c is not None and ((want is None and blank) or (want is not None and not blank and got == want))
                if not ok:
                    bad.append(f"{truth['file']}: {t} {row} {col} want {want} got {got!r} "
                               f"({c['state'] if c else 'absent'})")
    return bad


# --- (a) merged cells ----------------------------------------------------------------------------------------------

def test_merged_cells_expand_to_a_true_grid():
    import docx

    d = docx.Document()
    d.add_paragraph("表格前的段落")
    t = d.add_table(rows=4, cols=4)
    for r in range(4):
        for c in range(4):
            t.cell(r, c).text = f"{r}{c}"
    t.cell(0, 0).merge(t.cell(1, 1)).text = "块"              # 2×2: gridSpan 2 + vMerge restart/continue
    t.cell(0, 2).merge(t.cell(0, 3)).text = "横"              # gridSpan 2
    t.cell(2, 2).merge(t.cell(3, 2)).text = "竖\n两行"         # vMerge restart/continue, a line break in the cell
    d.add_paragraph("表格后的段落")
    blocks, meta, _ = parse_docx(_docx_bytes(d))

    assert [b.kind for b in blocks] == ["text", "table", "text"]
    assert blocks[0].location == "Word正文第1段" and blocks[2].location == "Word正文第2段"
    g = blocks[1].grid
    assert blocks[1].location == g.source == "Word表格1"
    assert g.cells == [["块", "块", "横", "横"],
                       ["块", "块", "12", "13"],
                       ["20", "21", "竖\n两行", "23"],
                       ["30", "31", "竖\n两行", "33"]]
    assert _canon(g.origin) == [[0, 0, 1, 1],
                                [0, 0, 2, 3],
                                [4, 5, 6, 7],
                                [8, 9, 6, 10]]
    assert "created" in meta and "published_at" not in meta


def _raw_table_doc(tbl_xml: str) -> bytes:
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    d = docx.Document()
    d.add_paragraph("前")
    tbl = parse_xml(tbl_xml.replace("<w:tbl>", f"<w:tbl {nsdecls('w')}>", 1))
    d.element.body.insert(len(d.element.body) - 1, tbl)   # before the final w:sectPr
    return _docx_bytes(d)


def _tc(text="", span=1, vmerge=None, hmerge=None):
    pr = ""
    if span > 1:
        pr += f'<w:gridSpan w:val="{span}"/>'
    if vmerge == "restart":
        pr += '<w:vMerge w:val="restart"/>'
    elif vmerge == "continue":
        pr += "<w:vMerge/>"          # no w:val means continue
    if hmerge:
        pr += f'<w:hMerge w:val="{hmerge}"/>' if hmerge == "restart" else "<w:hMerge/>"
    p = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" if text else "<w:p/>"
    return f"<w:tc><w:tcPr>{pr}</w:tcPr>{p}</w:tc>"


def test_raw_xml_merges_pads_legacy_hmerge_and_sliver_columns():
    grid_cols = "".join(f'<w:gridCol w:w="{w}"/>' for w in (1000, 1000, 1, 1000))
    xml = ("<w:tbl><w:tblGrid>" + grid_cols + "</w:tblGrid>"
           # row 0: 乙 spans cols 1-2 (col 2 is a 1-twip sliver) and starts a vertical merge
           + "<w:tr>" + _tc("甲") + _tc("乙", span=2, vmerge="restart") + _tc("丙") + "</w:tr>"
           # row 1: the vMerge continues under 乙 with the same span
           + "<w:tr>" + _tc("戊") + _tc(span=2, vmerge="continue") + _tc("丁") + "</w:tr>"
           # row 2: gridBefore 1 (PAD), legacy hMerge restart + continue across cols 1-2, gridAfter 1 (short row)
           + '<w:tr><w:trPr><w:gridBefore w:val="1"/></w:trPr>' + _tc("己", hmerge="restart")
           + _tc(hmerge="continue") + "</w:tr>"
           + "</w:tbl>")
    blocks, _, _ = parse_docx(_raw_table_doc(xml))
    (g,) = _tables(blocks)
    # the sliver column 2 is shared with its left neighbour in every row: dropped
    assert g.cells == [["甲", "乙", "丙"],
                       ["戊", "乙", "丁"],
                       ["", "己", ""]]
    o = g.origin
    assert o[0][1] == o[1][1] and o[0][1] != o[0][0]
    assert o[2][0] == PAD and o[2][2] == PAD
    assert len({o[0][0], o[0][1], o[0][2], o[1][0], o[1][2], o[2][1]}) == 6


def test_vmerge_continue_without_restart_above_is_its_own_cell():
    xml = ('<w:tbl><w:tblGrid><w:gridCol w:w="900"/><w:gridCol w:w="900"/></w:tblGrid>'
           + "<w:tr>" + _tc("a") + _tc("b") + "</w:tr>"
           + "<w:tr>" + _tc("c", vmerge="continue") + _tc("d") + "</w:tr></w:tbl>")
    (g,) = _tables(parse_docx(_raw_table_doc(xml))[0])
    assert g.cells == [["a", "b"], ["c", "d"]]
    assert len({x for row in g.origin for x in row}) == 4


def test_paragraph_text_follows_what_word_shows():
    """Content controls and inserted/hyperlinked runs are text; hidden and deleted runs are not; a text box is read
    once (its mc:Fallback copy skipped) as its own paragraph after the one that anchors it."""
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    d = docx.Document()
    body = d.element.body
    mc = ('xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
          'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"')
    for xml in (
        "<w:sdt><w:sdtPr/><w:sdtContent><w:p><w:r><w:t>控件内</w:t></w:r>"
        "<w:r><w:rPr><w:vanish/></w:rPr><w:t>隐藏</w:t></w:r><w:del><w:r><w:delText>删除</w:delText></w:r></w:del>"
        "<w:ins><w:r><w:t>插入</w:t></w:r></w:ins><w:hyperlink><w:r><w:t>链接</w:t></w:r></w:hyperlink>"
        "</w:p></w:sdtContent></w:sdt>",
        f"<w:p {mc}><w:r><w:t>有文本框</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:drawing>"
        "<wps:txbx><w:txbxContent><w:p><w:r><w:t>框中字</w:t></w:r></w:p></w:txbxContent></wps:txbx></w:drawing>"
        "</mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>框中字</w:t></w:r></w:p></w:txbxContent>"
        "</w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>",
    ):
        xml = xml.replace("<w:sdt>", f"<w:sdt {nsdecls('w')}>").replace("<w:p xmlns", f"<w:p {nsdecls('w')} xmlns")
        body.insert(len(body) - 1, parse_xml(xml))
    blocks, _, _ = parse_docx(_docx_bytes(d))
    assert [b.text for b in blocks] == ["控件内插入链接", "有文本框", "框中字"]


def test_macro_enabled_document_is_read_as_docx():
    import docx

    d = docx.Document()
    d.add_paragraph("宏文档正文")
    src = zipfile.ZipFile(io.BytesIO(_docx_bytes(d)))
    members = {i.filename: src.read(i.filename) for i in src.infolist()}
    members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        b"application/vnd.ms-word.document.macroEnabled.main+xml")
    blocks, _, _ = parse_docx(_zip(members))
    assert [b.text for b in blocks] == ["宏文档正文"]


# --- (b) nested tables ---------------------------------------------------------------------------------------------

def test_nested_tables_are_read_after_their_parent():
    import docx

    d = docx.Document()
    outer = d.add_table(rows=2, cols=2)
    outer.cell(0, 0).text = "项目"
    outer.cell(0, 1).text = "说明"
    outer.cell(1, 0).text = "一、本年新收政府信息公开申请数量"
    cell = outer.cell(1, 1)
    cell.text = "见下表"
    inner = cell.add_table(rows=2, cols=2)
    for r, row in enumerate([["自然人", "商业企业"], ["12", "3"]]):
        for c, text in enumerate(row):
            inner.cell(r, c).text = text
    frame = d.add_table(rows=1, cols=1)          # a one-cell layout frame around text and a table
    frame.cell(0, 0).text = "框内的说明文字"
    boxed = frame.cell(0, 0).add_table(rows=1, cols=2)
    boxed.cell(0, 0).text = "总计"
    boxed.cell(0, 1).text = "15"
    d.add_paragraph("结尾")
    blocks, _, _ = parse_docx(_docx_bytes(d))

    kinds = [(b.kind, b.location) for b in blocks]
    assert kinds == [("table", "Word表格1"), ("table", "Word表格2"), ("text", "Word正文第1段"),
                     ("table", "Word表格3"), ("text", "Word正文第2段")]
    parent, nested, _, boxed_grid, _ = (b.grid for b in blocks)
    # the parent cell keeps only its own paragraphs: no nested-table text mixed into the label cells
    assert parent.cells == [["项目", "说明"], ["一、本年新收政府信息公开申请数量", "见下表"]]
    assert nested.cells == [["自然人", "商业企业"], ["12", "3"]]
    assert blocks[2].text == "框内的说明文字"
    assert boxed_grid.cells == [["总计", "15"]]


# --- (c) generator round trip --------------------------------------------------------------------------------------

ROUND_TRIP = [
    ("gb2021", 2022, (), {}),
    ("gb2021", 2022, ("t3_row_total",), {"nested": True}),
    ("gb2021", 2023, ("missing_row",), {"label_breaks": "p", "junk": True, "t2_layout": "split"}),
    ("gb2021", 2022, ("t4_total",), {"label_breaks": None}),
    ("gb2021", 2023, ("outdated_template",), {}),
    ("gb2019", 2020, (), {"nested": True}),
    ("gb2019", 2020, ("blank_cells",), {"label_breaks": "p"}),
    ("gb2019", 2019, ("t3_carry",), {"junk": True}),
]


@pytest.mark.parametrize("tid,year,defects,opts", ROUND_TRIP)
def test_docx_round_trip_extracts_every_truth_cell(tid, year, defects, opts):
    rep = make_report("测试县发展和改革局", year, tid, seed=40 + year + len(defects), defects=defects)
    data, truth = render(rep, "docx", file="r.docx", **opts)
    assert sniff_format(data, "r.docx") == "docx"
    doc, norm = _extract(data, "docx", "r.docx")
    assert norm.report["template"] == truth["template"]
    assert (norm.report["agency"], norm.report["year"]) == (truth["agency"], truth["year"])
    bad = _mismatches(truth, norm)
    assert not bad, "\n".join(bad[:30])
    # created/modified are editing dates, kept under their own names: the publication date comes from the 落款
    assert doc.meta["created"] < doc.meta["modified"] < rep.signed_at
    assert norm.report["published_at"] == rep.signed_at


@pytest.mark.parametrize("tid,year", [("gb2021", 2022), ("gb2019", 2020)])
def test_docx_tables_have_the_template_merges(tid, year):
    """t2/t3/t4 come back with exactly the spans of the shared GCell grids (note 3×3, 申请人情况 ×7, 自然人 rowspan 2,
    三、本年度办理结果 and （三）不予公开 rowspans ...), nested t3 included."""
    rep = make_report("测试县司法局", year, tid, seed=9)
    cells = Cells(rep, rep.seed)
    want = [t2_tables(rep, cells)[0], t3_table(rep, cells), t4_table(rep, cells)]
    for opts in ({}, {"nested": True}):
        data, _ = render(rep, "docx", **opts)
        grids = _tables(parse_docx(data)[0])
        assert len(grids) == 3
        for g, rows in zip(grids, want):
            assert _canon(g.origin) == _canon(_layout(rows))
    t3 = grids[1]
    assert t3.origin[0][0] == t3.origin[2][2]                  # the header note: 3 columns × 3 rows
    assert len({t3.origin[1][3], t3.origin[2][3]}) == 1        # 自然人 rowspan 2


def test_docx_output_is_deterministic():
    rep = make_report("测试县司法局", 2022, "gb2021", seed=9)
    a, _ = render(rep, "docx")
    time.sleep(1.1)   # python-docx would stamp the current time into the zip entries
    b, _ = render(rep, "docx")
    assert a == b
    z = zipfile.ZipFile(io.BytesIO(a))
    assert b"<dc:title>" in z.read("docProps/core.xml")
    assert "2013-12-23" not in z.read("docProps/core.xml").decode()   # python-docx's template dates replaced


# --- (d) legacy .doc -----------------------------------------------------------------------------------------------

def test_doc_fixture_truths_match_the_generator():
    """The committed truth JSONs are what the generator gives today (regenerate the fixtures when this fails)."""
    for stem, agency, year, tid, seed, _opts, defects in DOC_FIXTURES:
        committed = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
        rep = make_report(agency, year, tid, seed=seed, defects=defects)
        assert committed == json.loads(json.dumps(truth_dict(rep, "doc", f"{stem}.doc"))), \
            f"{stem}: stale fixture, run `python -m pipeline.synth.fmt_docx tests/fixtures/doc`"
        assert sniff_format((FIXTURES / f"{stem}.doc").read_bytes(), f"{stem}.doc") == "doc"
    assert any(json.loads(p.read_text(encoding="utf-8"))["expected_findings"] for p in FIXTURES.glob("*.json"))


@pytest.mark.skipif(not soffice_available(),
                    reason="LibreOffice (soffice) is not installed: .doc conversion not tested "
                           "(apt-get install libreoffice-writer-nogui)")
@pytest.mark.parametrize("stem", [f[0] for f in DOC_FIXTURES])
def test_doc_fixtures_convert_and_extract_exactly(stem):
    truth = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
    docx_bytes = convert_doc((FIXTURES / f"{stem}.doc").read_bytes())
    _, norm = _extract(docx_bytes, "doc", f"{stem}.doc")
    assert norm.report["template"] == truth["template"]
    bad = _mismatches(truth, norm)
    assert not bad, "\n".join(bad[:30])


def test_doc_without_libreoffice_gives_a_clear_bilingual_error(monkeypatch):
    monkeypatch.setattr(doc_mod.shutil, "which", lambda name, *a, **k: None)
    assert not soffice_available()
    data = (FIXTURES / "doc-gb2019.doc").read_bytes()
    with pytest.raises(SofficeError) as exc:
        convert_doc(data)
    msg = str(exc.value)
    assert msg == NOT_INSTALLED
    assert "需要安装 LibreOffice" in msg and "Reading legacy .doc needs LibreOffice" in msg and " | " in msg
    monkeypatch.undo()
    monkeypatch.setattr(doc_mod, "soffice_available", lambda: False)
    with pytest.raises(SofficeError, match="libreoffice-writer-nogui"):
        convert_doc(data)


def _fake_soffice(tmp_path, body: str) -> str:
    exe = tmp_path / "fake-soffice"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a stand-in for soffice")
def test_conversion_failure_and_timeout_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_mod, "soffice_available", lambda: True)
    monkeypatch.setattr(doc_mod, "soffice_path", lambda: _fake_soffice(tmp_path, "echo 'Error: source file could "
                                                                                   "not be loaded' >&2; exit 0"))
    with pytest.raises(SofficeError, match="could not convert.*source file could not be loaded"):
        convert_doc(b"\xd0\xcf\x11\xe0 not really a doc")
    sleeper = f'"{sys.executable}" -c "import time; time.sleep(30)"'
    # like soffice → soffice.bin: the sleeping grandchild must be killed with the whole process group
    monkeypatch.setattr(doc_mod, "soffice_path", lambda: _fake_soffice(tmp_path, f"{sleeper} & wait"))
    t0 = time.monotonic()
    with pytest.raises(SofficeError, match="timed out"):
        soffice_convert(b"x", "doc", "docx", timeout=1)
    assert time.monotonic() - t0 < 10


# --- (e) hostile zips ----------------------------------------------------------------------------------------------

def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    return buf.getvalue()


def test_zip_bomb_is_rejected_quickly_with_a_clear_message(monkeypatch):
    import docx

    base = zipfile.ZipFile(io.BytesIO(_docx_bytes(docx.Document())))
    members = {i.filename: base.read(i) for i in base.infolist()}
    bomb = _zip({**members, "word/document.xml": b"<" + b" " * (30 * 1024 * 1024)})   # 30 MB at ~1000:1
    assert len(bomb) < 200_000
    t0 = time.monotonic()
    with pytest.raises(DocxRejected) as exc:
        parse_docx(bomb)
    assert time.monotonic() - t0 < 5
    assert "压缩炸弹" in str(exc.value) and "zip bomb" in str(exc.value) and "word/document.xml" in str(exc.value)

    # the total declared size is checked too (limit lowered so the test stays small)
    from pipeline.ingest import docx as docx_mod

    monkeypatch.setattr(docx_mod, "MAX_TOTAL_UNCOMPRESSED", 1_000_000)
    with pytest.raises(DocxRejected, match="解压后过大.*would expand to"):
        parse_docx(_zip({**members, "word/media/image1.png": os.urandom(600_000)}))


def test_huge_spans_are_refused_not_expanded(monkeypatch):
    from pipeline.ingest import docx as docx_mod

    monkeypatch.setattr(docx_mod, "MAX_GRID_POSITIONS", 5000)
    row = "<w:tr>" + _tc("x", span=200) * 5 + "</w:tr>"
    with pytest.raises(DocxRejected, match="grid positions"):
        parse_docx(_raw_table_doc("<w:tbl><w:tblGrid/>" + row * 10 + "</w:tbl>"))


def test_not_a_docx_is_a_clear_error():
    with pytest.raises(DocxRejected, match="Not a valid Word"):
        parse_docx(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DocxRejected, match="DOCX"):
        parse_docx(_zip({"hello.txt": b"hi"}))
