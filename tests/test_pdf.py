"""PDF input: the committed generated PDFs (tests/fixtures/pdf/, made by pipeline.synth.fmt_pdf.write_pdf_fixtures
with headless Chromium and qpdf, which CI does not need) are read back exactly; broken and encrypted files fail
alone with a bilingual error; the reader runs pdfplumber only on the table pages.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from conftest import ROOT
from pipeline.ingest import read_document
from pipeline.ingest import pdf as pdfmod
from pipeline.templates import norm_label
from test_roundtrip import _audit, _compare

FIXTURES = ROOT / "tests" / "fixtures" / "pdf"
SPECIAL = FIXTURES / "special"
STEMS = ["gb2021-plain", "gb2021-split", "gb2021-borderless", "gb2019", "gb2021-t3-defect", "gb2021-vertical"]


def _truths() -> dict:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("*.json"))}


def _page_texts(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


@pytest.fixture(scope="module")
def fixture_audit(tmp_path_factory):
    base = tmp_path_factory.mktemp("pdf-fixtures")
    raw = base / "raw"
    raw.mkdir()
    for p in sorted(FIXTURES.glob("*.pdf")):
        shutil.copy(p, raw / p.name)
    return _truths(), _audit(raw, base / "out")


def test_fixture_set_is_complete_and_small():
    assert sorted(p.stem for p in FIXTURES.glob("*.pdf")) == sorted(STEMS)
    for stem in STEMS:
        pdf = FIXTURES / f"{stem}.pdf"
        assert (FIXTURES / f"{stem}.json").is_file(), f"{stem}: truth JSON missing"
        assert pdf.stat().st_size < 150_000, f"{pdf.name} is {pdf.stat().st_size // 1024} KB"
        assert pdf.read_bytes()[:5] == b"%PDF-"
    truths = _truths()
    assert {t["template"] for t in truths.values()} == {"gb2021", "gb2019"}
    assert truths["gb2021-borderless"]["render_options"]["borderless"] is True
    assert truths["gb2021-vertical"]["render_options"]["vertical_headers"] is True
    assert truths["gb2021-t3-defect"]["expected_findings"], "the defect fixture must carry injected findings"


def test_fixtures_extract_exactly_with_the_injected_findings(fixture_audit):
    truths, (reports, cells, findings) = fixture_audit
    assert len(reports) == len(STEMS)
    assert {r["status"] for r in reports} == {"ok"}, [(r["source_file"], r["status"], r["error"]) for r in reports]
    assert {r["format"] for r in reports} == {"pdf"}
    by_file = {r["source_file"]: r for r in reports}
    for stem, t in truths.items():
        assert by_file[f"{stem}.pdf"]["template"] == t["template"]
    problems = _compare(truths, reports, cells, findings)
    assert not problems, "\n".join(problems[:40])
    # the arithmetic defects are found (not only absent-as-expected)
    rid = by_file["gb2021-t3-defect.pdf"]["report_id"]
    rules = {f["rule_id"] for f in findings if f["report_id"] == rid}
    assert {e["rule"] for e in truths["gb2021-t3-defect"]["expected_findings"]} <= rules


def test_cells_carry_the_page_they_are_printed_on(fixture_audit):
    _, (reports, cells, _) = fixture_audit
    from pipeline.templates import get as get_template

    for r in reports:
        path = FIXTURES / r["source_file"]
        texts = [norm_label(t) for t in _page_texts(path)]
        tpl = get_template(r["template"])
        labels = {row.id: norm_label(row.label) for row in tpl.t3_rows}
        mine = [c for c in cells if c["report_id"] == r["report_id"] and c["state"] in ("NUMBER", "BLANK", "DASH")]
        assert mine
        for c in mine:
            assert c["page"] not in ("", None), f"{path.name}: {c['table']} {c['row_id']} {c['col_id']} has no page"
            page = int(float(c["page"]))
            assert 1 <= page <= len(texts)
            if c["table"] == "t3" and c["row_id"] in labels:
                # the row's label is printed on the page its cells are read from
                assert labels[c["row_id"]][:6] in texts[page - 1], (path.name, c["row_id"], page)
        t3_pages = sorted({int(float(c["page"])) for c in mine if c["table"] == "t3"})
        t4_pages = {int(float(c["page"])) for c in mine if c["table"] == "t4"}
        assert min(t4_pages) >= max(t3_pages), (path.name, t3_pages, t4_pages)  # 表四 follows 表三


def test_split_table_rejoins(fixture_audit):
    _, (reports, cells, _) = fixture_audit
    for name in ("gb2021-split.pdf", "gb2021-plain.pdf", "gb2021-borderless.pdf"):
        rid = next(r["report_id"] for r in reports if r["source_file"] == name)
        t3 = [c for c in cells if c["report_id"] == rid and c["table"] == "t3" and c["state"] != "MISSING"]
        pages = {c["page"] for c in t3}
        assert len(pages) >= 2, f"{name}: table 三 should be printed over several pages, got {pages}"
        # one table: every t3 row read, from grids on different pages
        assert {c["row_id"] for c in t3} >= {"t3.new_received", "t3.granted", "t3.total_processed",
                                             "t3.carried_forward"}


def test_borderless_tables_are_read_by_word_positions():
    import pdfplumber

    path = FIXTURES / "gb2021-borderless.pdf"
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            for t in page.find_tables():
                rows = t.extract()
                assert max((len(r) for r in rows), default=0) < 2, "the fixture must have no ruled data table"
    blocks, meta, title, n = pdfmod.parse_pdf(path)
    grids = [b.grid for b in blocks if b.kind == "table"]
    assert len(grids) >= 4  # 表二, 表三 over two pages or more, 表四
    assert all(g.page is not None and g.source.startswith(f"PDF第{g.page}页") for g in grids)
    t4 = [g for g in grids if any("行政复议" in c for row in g.cells for c in row)]
    assert t4 and any(len([c for c in row if c.strip()]) == 15 for row in t4[0].cells), "表四's 15 values in one row"
    assert title.endswith("年度报告")


def test_vertical_headers_are_matched():
    blocks, _, _, _ = pdfmod.parse_pdf(FIXTURES / "gb2021-vertical.pdf")
    cells = [c for b in blocks if b.kind == "table" for row in b.grid.cells for c in row]
    assert "结\n果\n维\n持" in cells, "the fixture prints 表四's headers one character per line"
    from pipeline.normalize.vocab import lookup

    assert any(e.id == "col.upheld" for e in lookup("结\n果\n维\n持"))


def test_only_table_pages_go_through_pdfplumber(monkeypatch):
    seen = []
    orig = pdfmod._plumber_page

    def spy(page, pno, n_tables, state):
        seen.append(pno)
        return orig(page, pno, n_tables, state)

    monkeypatch.setattr(pdfmod, "_plumber_page", spy)
    path = FIXTURES / "gb2021-split.pdf"
    blocks, _, _, n_pages = pdfmod.parse_pdf(path)
    texts = _page_texts(path)
    assert seen and len(seen) < n_pages
    assert 1 not in seen  # the first page is prose
    table_pages = {b.page for b in blocks if b.kind == "table"}
    assert table_pages <= set(seen)
    # every page is still read: text of the prose pages comes from pypdfium2
    assert {b.page for b in blocks} == {i + 1 for i, t in enumerate(texts) if t.strip()}
    first_page_text = [b.text for b in blocks if b.page == 1]
    assert first_page_text and "年度报告" in "".join(first_page_text[:3])


def test_table_page_detection_tolerates_broken_labels():
    assert pdfmod.is_table_text("三、收到和处理政府信息公开申请情况\n申 请 人\n情况\n自然人")
    assert pdfmod.is_table_text("（三）不\n予公开 1.属于国\n家秘密 0 0 0 0 0 0 0\n2.其他 0 0 0 0 0 0 0")
    assert not pdfmod.is_table_text("全年新收政府信息公开申请12件，予以公开8件，不予公开1件。")
    assert pdfmod.starts_with_numbers("- 5 -\n0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n五、存在的主要问题")
    assert pdfmod.starts_with_numbers("2\r\n0\r\n2\r\n0\r\n4\r\n五、存在的主要问题")  # one number a line
    assert not pdfmod.starts_with_numbers("五、存在的主要问题\n2023年，我局……")
    assert not pdfmod.starts_with_numbers("- 5 -\n五、存在的主要问题\n1 2 3")


# --- broken, encrypted and table-less files -------------------------------------------------------------------

HTML_ERROR = (b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>"
              b"<p>The requested URL was not found on this server.</p><hr><address>nginx</address></body></html>")


def _pdf_file(objs: list[str]) -> bytes:
    """A PDF file of these objects (numbered from 1, the first the catalog) with its xref table and trailer."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _minimal_pdf(lines: list[str]) -> bytes:
    """A one-page text PDF (Helvetica, ASCII) written by hand: a text layer and no table."""
    content = "BT /F1 12 Tf 72 760 Td 16 TL " + " ".join(f"({s}) '" for s in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    return _pdf_file(objs)


def _image_only_pdf() -> bytes:
    """One page holding only a picture (a scan): made with pypdfium2."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    img = Image.new("L", (400, 300), 255)
    ImageDraw.Draw(img).rectangle((40, 40, 360, 260), outline=0, width=3)
    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(400, 300)
    image = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(img)
    image.set_bitmap(bitmap)
    image.set_matrix(pdfium.PdfMatrix().scale(400, 300))
    page.insert_obj(image)
    page.gen_content()
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def _bilingual(error: str) -> bool:
    zh, sep, en = error.partition(" | ")
    return bool(sep) and any("\u4e00" <= ch <= "\u9fff" for ch in zh) and any(ch.isascii() and ch.isalpha()
                                                                               for ch in en)


@pytest.fixture(scope="module")
def broken_audit(tmp_path_factory):
    base = tmp_path_factory.mktemp("pdf-broken")
    raw = base / "raw"
    raw.mkdir()
    good = (FIXTURES / "gb2019.pdf").read_bytes()
    (raw / "truncated.pdf").write_bytes(good[: len(good) // 2])
    (raw / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    (raw / "error-page.pdf").write_bytes(HTML_ERROR)
    (raw / "no-table.pdf").write_bytes(_minimal_pdf(["Annual report on government information disclosure",
                                                     "This file has a text layer and no statistical table."]))
    shutil.copy(FIXTURES / "gb2019.pdf", raw / "good.pdf")
    for p in sorted(SPECIAL.glob("*.pdf")):
        shutil.copy(p, raw / p.name)
    reports, _, _ = _audit(raw, base / "out", csv_only=True)     # reports.csv is all that is read
    return {r["source_file"]: r for r in reports}


def test_a_broken_pdf_fails_alone_with_a_bilingual_error(broken_audit):
    for name in ("truncated.pdf", "garbage.pdf"):
        r = broken_audit[name]
        assert r["status"] == "failed", (name, r["status"], r["error"])
        assert _bilingual(r["error"]), r["error"]
        assert "损坏" in r["error"] and "damaged" in r["error"]
    assert broken_audit["good.pdf"]["status"] == "ok"  # the run goes on


def test_encrypted_pdf_needs_a_password(broken_audit):
    if not (SPECIAL / "encrypted-user.pdf").is_file():
        pytest.skip("encrypted fixture not generated (needs qpdf: apt-get install qpdf; then write_pdf_fixtures)")
    r = broken_audit["encrypted-user.pdf"]
    assert r["status"] == "failed"
    assert r["error"] == pdfmod.ENCRYPTED
    assert _bilingual(r["error"])
    with pytest.raises(pdfmod.PdfEncryptedError):
        pdfmod.parse_pdf(SPECIAL / "encrypted-user.pdf")


def test_owner_password_only_pdf_is_read(broken_audit):
    if not (SPECIAL / "owner-only.pdf").is_file():
        pytest.skip("owner-password fixture not generated (needs qpdf: apt-get install qpdf)")
    r = broken_audit["owner-only.pdf"]
    assert r["status"] == "ok", r["error"]
    blocks, _, title, _ = pdfmod.parse_pdf(SPECIAL / "owner-only.pdf")
    plain, _, _, _ = pdfmod.parse_pdf(FIXTURES / "gb2019.pdf")
    assert [b.text for b in blocks] == [b.text for b in plain]


def test_html_error_page_saved_as_pdf_fails(broken_audit):
    r = broken_audit["error-page.pdf"]
    assert r["status"] == "failed"
    assert _bilingual(r["error"])


def test_pdf_without_a_table_is_partial(broken_audit):
    r = broken_audit["no-table.pdf"]
    assert r["format"] == "pdf"
    assert r["status"] == "partial", (r["status"], r["error"])
    assert _bilingual(r["error"])


def test_read_document_never_raises_for_pdfs(tmp_path):
    good = (FIXTURES / "gb2021-plain.pdf").read_bytes()
    for i, data in enumerate((good[:1000], good[:-2000], b"%PDF-1.4\n%%EOF", good.replace(b"/Root", b"/Rxxx"))):
        doc = read_document(tmp_path / f"x{i}.pdf", f"x{i}.pdf", data)
        assert doc.status in ("ok", "failed")
        if doc.status == "failed":
            assert _bilingual(doc.error), doc.error


# --- scanned pages: the OCR hook --------------------------------------------------------------------------------

def _fake_ocr(monkeypatch, available: bool, calls: list):
    from pipeline.document import Block

    mod = types.ModuleType("pipeline.ingest.ocr")
    mod.ocr_available = lambda: available

    def ocr_page(image, page_no, source=""):
        calls.append((image.size, page_no))
        return [Block(kind="text", text="OCR识别的文字", location=f"OCR第{page_no}页", page=page_no)]

    mod.ocr_page = ocr_page
    monkeypatch.setitem(sys.modules, "pipeline.ingest.ocr", mod)
    import pipeline.ingest

    monkeypatch.setattr(pipeline.ingest, "ocr", mod, raising=False)


def test_image_only_page_is_recorded_without_ocr(monkeypatch):
    calls = []
    _fake_ocr(monkeypatch, False, calls)
    blocks, meta, _, n = pdfmod.parse_pdf(io.BytesIO(_image_only_pdf()))
    assert n == 1 and blocks == [] and meta["image_pages"] == [1] and calls == []


def test_image_only_page_goes_to_ocr_at_200_dpi(monkeypatch):
    calls = []
    _fake_ocr(monkeypatch, True, calls)
    blocks, meta, _, _ = pdfmod.parse_pdf(io.BytesIO(_image_only_pdf()))
    assert [b.text for b in blocks] == ["OCR识别的文字"] and blocks[0].page == 1
    (size, page_no), = calls
    assert page_no == 1 and abs(size[0] - 400 * 200 / 72) <= 2
    assert "image_pages" not in meta and meta["ocr_pages"] == [1]


def test_missing_ocr_module_is_tolerated(monkeypatch):
    monkeypatch.setitem(sys.modules, "pipeline.ingest.ocr", None)  # import fails with ImportError
    import pipeline.ingest

    monkeypatch.delattr(pipeline.ingest, "ocr", raising=False)
    blocks, meta, _, _ = pdfmod.parse_pdf(io.BytesIO(_image_only_pdf()))
    assert blocks == [] and meta["image_pages"] == [1]


def test_a_page_pdfminer_cannot_parse_keeps_pypdfium2_text(monkeypatch):
    def boom(page, pno, n_tables, state):
        raise KeyError("broken font")

    monkeypatch.setattr(pdfmod, "_plumber_page", boom)
    blocks, meta, _, n = pdfmod.parse_pdf(FIXTURES / "gb2019.pdf")
    assert meta["page_errors"] and all(b.kind == "text" for b in blocks)
    assert {b.page for b in blocks} == set(range(1, n + 1))


def test_an_ocr_failure_loses_only_that_page(monkeypatch):
    calls = []
    _fake_ocr(monkeypatch, True, calls)
    import pipeline.ingest

    def fail(image, page_no, source=""):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(pipeline.ingest.ocr, "ocr_page", fail)
    blocks, meta, _, _ = pdfmod.parse_pdf(io.BytesIO(_image_only_pdf()))
    assert blocks == [] and meta["image_pages"] == [1] and "model crashed" in meta["ocr_errors"][0]


# --- the generator ------------------------------------------------------------------------------------------------

def test_fixture_truths_are_what_the_generator_writes(monkeypatch, tmp_path):
    """The committed truths match pipeline.synth today (rendering stubbed out: CI has no Chromium). When this fails,
    regenerate with `python -m pipeline.synth.fmt_pdf tests/fixtures/pdf` on a machine with Chromium and qpdf."""
    from pipeline.synth import fmt_pdf

    monkeypatch.setattr(fmt_pdf, "html_to_pdf", lambda html, engine="auto": b"%PDF-1.4 stub")
    monkeypatch.setattr(fmt_pdf, "write_encrypted_copies", lambda src, out: [])
    fmt_pdf.write_pdf_fixtures(tmp_path)
    for stem in STEMS:
        got = json.loads((tmp_path / f"{stem}.json").read_text(encoding="utf-8"))
        want = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
        assert got == want, f"tests/fixtures/pdf/{stem}.json is stale: regenerate the PDF fixtures"


def test_render_pdf_options_shape_the_html():
    from pipeline.synth import make_report, narrative
    from pipeline.synth.fmt_pdf import build_html

    rep = make_report("测试县司法局", 2023, "gb2021", seed=3)
    blocks = narrative.build_blocks(rep)
    plain = build_html(rep, blocks)
    assert 'border="1"' in plain and "size: A4" in plain
    bare = build_html(rep, blocks, borderless=True, page_size="A5 landscape")
    assert 'border="1"' not in bare and "border: none !important" in bare and "size: A5 landscape" in bare
    for lb in ("br", "p", None):
        vert = build_html(rep, blocks, vertical_headers=True, label_breaks=lb)
        t4 = vert[vert.rfind("<table"):]
        for label in ("结果维持", "结果纠正", "其他结果", "尚未审结"):
            assert "<br/>".join(label) in t4, (lb, label)


def test_render_pdf_without_a_renderer_says_what_to_install(monkeypatch):
    from pipeline.synth import fmt_pdf, make_report, render

    monkeypatch.setattr(fmt_pdf.shutil, "which", lambda name: None)
    rep = make_report("测试县司法局", 2023, "gb2021", seed=3)
    with pytest.raises(fmt_pdf.PdfRendererUnavailable, match="chromium"):
        render(rep, "pdf")


# --- pdfplumber's objects from pypdfium2 (pipeline/ingest/pdf_objects.py) against pdfminer's ---------------------

KNOWN = [["Item", "2022", "2023"], ["Received", "12", "340"], ["Granted", "7", "25"], ["Total", "19", "365"]]
FORM_TABLE = [["Form", "1"], ["Cell", "22"]]


def _grid(x0: float, y0: float, widths: list[float], h: float, rows: list[list[str]], ruled: str) -> str:
    """Content drawing a table: rules as stroked lines (`m l S`) or filled rectangles (`re f`), then the texts."""
    xs = [x0]
    for w in widths:
        xs.append(xs[-1] + w)
    ys = [y0 - i * h for i in range(len(rows) + 1)]
    out = []
    if ruled == "lines":
        out.append("0.5 w")
        out += [f"{xs[0]} {y} m {xs[-1]} {y} l S" for y in ys]
        out += [f"{x} {ys[0]} m {x} {ys[-1]} l S" for x in xs]
    else:
        out += [f"{xs[0]} {y - 0.25} {xs[-1] - xs[0]} 0.5 re f" for y in ys]
        out += [f"{x - 0.25} {ys[-1]} 0.5 {ys[0] - ys[-1]} re f" for x in xs]
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            out.append(f"BT /F1 10 Tf {xs[c] + 4} {ys[r] - h + 6} Td ({text}) Tj ET")
    return "\n".join(out)


def _objects_pdf() -> bytes:
    """Four pages written by hand, each drawing what pdfplumber has to see the same whichever library parsed it:
    1. a table ruled with stroked lines, a line of text whose two text objects are painted right to left;
    2. a table ruled with filled rectangles and a second table inside a Form XObject placed by a matrix;
    3. page 1 again on a MediaBox not at the origin, rotated 90°;
    4. Chinese written vertically (Identity-V CMap, STSong-Light not embedded) and a curve."""
    vertical = "".join(f"{ord(ch):04X}" for ch in "结果维持")
    page1 = (_grid(72, 700, [150, 80, 80], 20, KNOWN, "lines")
             + "\nBT /F1 12 Tf 200 760 Td (Second) Tj ET\nBT /F1 12 Tf 72 760 Td (First) Tj ET")
    page2 = _grid(72, 500, [150, 80, 80], 20, KNOWN, "rects") + "\nq 1 0 0 1 0 -300 cm /Fm1 Do Q"
    page4 = (f"BT /F2 12 Tf 100 700 Td <{vertical}> Tj ET\nBT /F2 12 Tf 0.5 0 0 0.5 200 700 Tm <{vertical}> Tj ET\n"
             "1 w 300 300 m 350 400 400 400 450 300 c S")
    form = _grid(72, 700, [100, 60], 18, FORM_TABLE, "lines")
    fonts = "/Font << /F1 3 0 R /F2 4 0 R >>"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [8 0 R 10 0 R 12 0 R 14 0 R] /Count 4 >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-V /DescendantFonts [5 0 R] >>",
        "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) "
        "/Ordering (GB1) /Supplement 4 >> /FontDescriptor 6 0 R /DW 1000 >>",
        "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 "
        "/Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
        f"<< /Type /XObject /Subtype /Form /BBox [0 0 600 900] /Matrix [1 0 0 1 10 20] /Resources << {fonts} >> "
        f"/Length {len(form)} >>\nstream\n{form}\nendstream",
    ]
    for content, box, rotate in ((page1, "0 0 595 842", 0), (page2, "0 0 595 842", 0),
                                 (page1, "10 100 605 942", 90), (page4, "0 0 595 842", 0)):
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [{box}] /Rotate {rotate} /Resources << {fonts} "
                    f"/XObject << /Fm1 7 0 R >> >> /Contents {len(objs) + 2} 0 R >>")
        objs.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
    return _pdf_file(objs)


@contextlib.contextmanager
def _both(data: bytes):
    """[(pdfplumber page on pdfminer, PdfiumPage)] of every page, while both documents are open."""
    import pdfplumber
    import pypdfium2 as pdfium

    from pipeline.ingest import pdf_objects

    doc = pdfium.PdfDocument(data)
    pdf = pdfplumber.open(io.BytesIO(data))
    try:
        geos = [pdf_objects.Geometry.of(doc[i]) for i in range(len(doc))]
        tops = pdf_objects.doctops(geos)
        pages = []
        for i, page in enumerate(pdf.pages):
            pg = doc[i]
            tp = pg.get_textpage()
            pages.append((page, pdf_objects.PdfiumPage(pg, tp, i + 1, tops[i], geos[i], tp.get_text_range())))
        yield pages
    finally:
        pdf.close()
        doc.close()


def _close(a: dict, b: dict, keys, tol=1e-3) -> list[str]:
    return [f"{k}: {a[k]} / {b[k]}" for k in keys if abs(a[k] - b[k]) > tol]


def test_pdfium_objects_are_pdfminers_on_a_generated_pdf():
    with _both(_objects_pdf()) as pages:
        _check_same_objects(pages)


def _check_same_objects(pages):
    assert len(pages) == 4
    for p, q in pages:
        where = f"page {p.page_number}"
        assert (q.page_number, q.rotation) == (p.page_number, p.rotation)
        assert not _close(dict(zip("abcd", p.mediabox)), dict(zip("abcd", q.mediabox)), "abcd"), where
        assert abs(p.initial_doctop - q.initial_doctop) < 1e-3, where
        assert {k for k, v in p.objects.items() if v} == {k for k, v in q.objects.items() if v}, where
        # chars: same text in the same (content-stream) order, same boxes
        a = [c for c in p.chars if c["text"].strip()]
        b = [c for c in q.chars if c["text"].strip()]
        assert [c["text"] for c in a] == [c["text"] for c in b], where
        for x, y in zip(a, b):
            assert not _close(x, y, ("x0", "x1", "top", "bottom", "doctop", "size", "width", "height")), (where, x["text"])
            assert (x["upright"], x["fontname"], x["object_type"]) == (y["upright"], y["fontname"], y["object_type"])
        # lines, rects, curves: same kinds, points and flags
        for kind in ("line", "rect", "curve"):
            xa, xb = p.objects.get(kind, []), q.objects.get(kind, [])
            assert len(xa) == len(xb), (where, kind, len(xa), len(xb))
            for x, y in zip(xa, xb):
                assert not _close(x, y, ("x0", "x1", "top", "bottom", "doctop")), (where, kind)
                assert len(x["pts"]) == len(y["pts"]) and all(
                    abs(u[0] - v[0]) < 1e-3 and abs(u[1] - v[1]) < 1e-3 for u, v in zip(x["pts"], y["pts"]))
                assert (x["stroke"], x["fill"], x["evenodd"]) == (y["stroke"], y["fill"], y["evenodd"])
                assert [s[0] for s in x["path"]] == [s[0] for s in y["path"]], (where, kind)
        # what pdf.py asks of a page
        key = (lambda e: (e["orientation"], round(e["x0"], 2), round(e["top"], 2), round(e["x1"], 2),
                          round(e["bottom"], 2)))
        assert sorted(map(key, p.edges)) == sorted(map(key, q.edges)), where
        assert p.extract_tables() == q.extract_tables(), where
        assert [ln["text"] for ln in p.extract_text_lines()] == [ln["text"] for ln in q.extract_text_lines()], where
    (p1, q1), (p2, q2), (p3, q3), (p4, q4) = pages
    assert q1.extract_tables() == [KNOWN]
    assert q2.extract_tables() == [KNOWN, FORM_TABLE]  # the second one from inside the Form XObject
    assert [c["text"] for c in q1.chars][-11:] == list("SecondFirst")  # painted order, not left to right
    assert q3.rotation == 90 and q3.mediabox == (100.0, -10.0, 942.0, 585.0)
    vert = [c for c in q4.chars if c["text"] == "结"]
    assert len(vert) == 2 and all(abs(c["height"] - c["width"]) < 1e-6 for c in vert)  # one em high, vertical box
    assert len(q4.curves) == 1


def test_table_extract_by_bisection_is_pdfplumbers():
    import pdfplumber

    n = 0
    for stem in ("gb2021-plain", "gb2019", "gb2021-vertical"):
        with pdfplumber.open(FIXTURES / f"{stem}.pdf") as pdf:
            for page in pdf.pages:
                for t in page.find_tables():
                    assert pdfmod._extract(t) == t.extract(), (stem, page.page_number)
                    n += 1
    assert n >= 6

    # cells of one char (blank, ligature, plain), several chars, none; a char on a cell's left/top edge belongs to it
    from pdfplumber.table import Table

    def ch(text, x0, top, w=6.0):
        return {"text": text, "x0": x0, "x1": x0 + w, "top": top, "bottom": top + 10, "doctop": top + 10,
                "upright": True, "size": 10, "width": w, "height": 10}

    chars = [ch("\ufb01", 12, 12), ch(" ", 42, 12), ch("7", 72, 12), ch("1", 12, 32), ch("2", 18, 32),
             ch("x", -3, 32), ch("5", 67, 25)]
    cells = [(10, 10, 40, 30), (40, 10, 70, 30), (70, 10, 100, 30), (10, 30, 40, 50), (40, 30, 70, 50),
             (70, 30, 100, 50)]
    page = types.SimpleNamespace(chars=chars)
    t = Table(page, cells)
    assert pdfmod._extract(t) == t.extract() == [["fi", "", "7"], ["12", "", "5"]]


def _blocks(path: Path) -> list[tuple]:
    blocks, _, _, _ = pdfmod.parse_pdf(path)
    return [(b.kind, b.text, b.page, b.location, b.grid.cells if b.grid else None) for b in blocks]


def test_object_source_switch(monkeypatch):
    from pipeline.ingest import pdf_objects

    seen = []
    orig = pdfmod._plumber_page

    def spy(page, pno, n_tables, state):
        seen.append(type(page))
        return orig(page, pno, n_tables, state)

    monkeypatch.setattr(pdfmod, "_plumber_page", spy)
    path = FIXTURES / "gb2021-plain.pdf"

    monkeypatch.delenv(pdf_objects.ENV, raising=False)
    assert pdf_objects.backend() == "pdfium"

    def no_pdfminer(data):
        raise AssertionError("pdfminer must not be opened")

    with monkeypatch.context() as m:
        m.setattr(pdfmod, "_open_plumber", no_pdfminer)
        default = _blocks(path)
    assert seen and set(seen) == {pdf_objects.PdfiumPage}

    seen.clear()
    monkeypatch.setenv(pdf_objects.ENV, "pdfminer")
    assert pdf_objects.backend() == "pdfminer"
    plain = _blocks(path)
    assert seen and not any(issubclass(t, pdf_objects.PdfiumPage) for t in seen)
    assert plain == default
    monkeypatch.setenv(pdf_objects.ENV, "something else")
    assert pdf_objects.backend() == "pdfium"


def test_a_page_pdfium_cannot_give_objects_for_goes_through_pdfminer(monkeypatch):
    from pipeline.ingest import pdf_objects

    monkeypatch.delenv(pdf_objects.ENV, raising=False)
    path = FIXTURES / "gb2019.pdf"
    want = _blocks(path)

    def boom(*args, **kwargs):
        raise RuntimeError("no objects")

    monkeypatch.setattr(pdf_objects, "page_objects", boom)
    blocks, meta, _, _ = pdfmod.parse_pdf(path)
    assert meta["pdfium_object_errors"] and "page_errors" not in meta
    assert [(b.kind, b.text, b.page, b.location, b.grid.cells if b.grid else None) for b in blocks] == want


def test_both_object_sources_give_the_same_cells(monkeypatch):
    from pipeline import batch
    from pipeline.ingest import pdf_objects

    fields = ("report_id", "table", "block", "row_id", "col_id", "value", "state", "raw", "page", "location")
    for stem in STEMS:
        got = {}
        for source in ("pdfminer", "pdfium"):
            monkeypatch.setenv(pdf_objects.ENV, source)
            res = batch.process_one((str(FIXTURES / f"{stem}.pdf"), f"{stem}.pdf", "", {}))
            got[source] = [tuple(str(c.get(k)) for k in fields) for c in res.cells]
            got[source + " sections"] = [(s.get("section_id"), s.get("text")) for s in res.sections]
        assert got["pdfium"] and got["pdfium"] == got["pdfminer"], stem
        assert got["pdfium sections"] == got["pdfminer sections"], stem
