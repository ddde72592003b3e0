"""OCR of scanned reports and table images (pipeline.ingest.ocr), offline.

The fixtures in tests/fixtures/scan are made by `pipeline.synth.fmt_scan.write_scan_fixtures` (image-only PDFs with
skew, blur and noise; a PNG of 表三); their truth JSONs are what `pipeline.synth.render(rep, "pdf_scan")` recorded.
OCR costs ~3-5 s per page on two free cores, so the pages are read once per session (6 PDF pages, two of them
nearly empty, + 1 PNG).
"""
from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

import pytest

from pipeline.document import PAD, Document
from pipeline.ingest import ocr

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "scan"
PDFS = ["bailu-xian-2023-scan.pdf", "bailu-xian-2023-scan-defect.pdf"]
PNG = ("bailu-xian-2023-t3.png", "bailu-xian-2023-scan.json")

need_ocr = pytest.mark.skipif(not ocr.ocr_available(), reason="OCR not available: rapidocr + onnxruntime (with the "
                              "models bundled in the rapidocr wheel) and opencv-python-headless must be installed")


def _cv2_or_skip():
    return pytest.importorskip("cv2", reason="opencv-python-headless is not installed")


# --- reading the fixtures once, with the network cut off ---------------------------------------------------------

class _NoNetwork(socket.socket):
    attempts: list = []

    def __init__(self, *args, **kwargs):
        _NoNetwork.attempts.append(("socket", args))
        raise OSError("network access during OCR")


def _refuse(name):
    def f(*args, **kwargs):
        _NoNetwork.attempts.append((name, args))
        raise OSError(f"network access during OCR ({name})")
    return f


@pytest.fixture(scope="session")
def ocr_read():
    """{file: (blocks, seconds per page)} for both PDFs and the PNG, read with sockets disabled; the OCR engine is
    created inside the guard (so model loading is covered too)."""
    if not ocr.ocr_available():
        pytest.skip("OCR not available (rapidocr + onnxruntime with bundled models)")
    import pypdfium2 as pdfium

    import rapidocr.main  # noqa: F401  (importing requests/urllib3 probes IPv6 support on loopback: not network)

    out = {}
    _NoNetwork.attempts = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "socket", _NoNetwork)
        mp.setattr(socket, "create_connection", _refuse("create_connection"))
        mp.setattr(socket, "getaddrinfo", _refuse("getaddrinfo"))
        mp.setattr(ocr, "_ENGINE", None)   # a fresh engine: its models must load from the wheel
        ocr._engine()
        for name in PDFS:
            pdf = pdfium.PdfDocument(str(FIXTURES / name))
            blocks, secs = [], []
            try:
                for i in range(len(pdf)):
                    page = pdf[i]
                    assert not page.get_textpage().get_text_range().strip(), "fixture must be image-only"
                    img = page.render(scale=200 / 72).to_pil()
                    t0 = time.perf_counter()
                    blocks.extend(ocr.ocr_page(img, i + 1, name))
                    secs.append(time.perf_counter() - t0)
            finally:
                pdf.close()
            out[name] = (blocks, secs)
        t0 = time.perf_counter()
        blocks = ocr.ocr_image_bytes((FIXTURES / PNG[0]).read_bytes(), "图片")
        out[PNG[0]] = (blocks, [time.perf_counter() - t0])
    out["_network_attempts"] = list(_NoNetwork.attempts)
    return out


def _normalize(blocks, name, fmt):
    from pipeline.normalize import normalize

    doc = Document(source_file=name, format=fmt, sha256="0" * 64, blocks=blocks)
    return normalize(doc, "rid")


# --- the acceptance check: exact cells, and every wrong one flagged ------------------------------------------------

def _values(cells) -> dict:
    """(table, row, col) → number (BLANK/DASH count as 0), None when the cell is MISSING/UNPARSABLE."""
    out = {}
    for c in cells:
        if c["state"] in ("MISSING", "UNPARSABLE"):
            v = None
        elif c["state"] in ("BLANK", "DASH"):
            v = 0.0
        else:
            v = float(c["value"])
        out[(c["table"], c["row_id"], c["col_id"])] = v
    return out


def _eq(total, parts) -> bool | None:
    """Does total == sum(parts)? None when a term is unknown (validate cannot decide either)."""
    if total is None or any(p is None for p in parts):
        return None
    return abs(total - sum(parts)) < 1e-6


def _flagged(V: dict, template_id: str) -> set[tuple]:
    """Cells that lie in a row/column whose identity fails: I-T3-1/2/3 and I-T4-1 (template.md §2.1)."""
    from pipeline import templates

    tpl = templates.get(template_id)
    t3_rows = [r.id for r in tpl.t3_rows]
    cols = [c.id for c in tpl.t3_cols]
    a6 = [c for c in cols if c != "col.total"]
    intake = ["t3.new_received", "t3.carried_over", "t3.total_processed", "t3.carried_forward"]
    results = [r for r in t3_rows if r not in intake]
    bad = set()
    for r in t3_rows:                                   # I-T3-3: the 总计 column of every row
        if _eq(V.get(("t3", r, "col.total")), [V.get(("t3", r, c)) for c in a6]) is False:
            bad |= {("t3", r, c) for c in cols}
    for c in cols:
        new, carried, total, forward = (V.get(("t3", r, c)) for r in intake)
        if None not in (new, carried, total, forward) and abs(new + carried - total - forward) > 1e-6:  # I-T3-1
            bad |= {("t3", r, c) for r in intake}
        if _eq(total, [V.get(("t3", r, c)) for r in results]) is False:                               # I-T3-2
            bad |= {("t3", r, c) for r in results + ["t3.total_processed"]}
    t4_cols = [c.id for c in tpl.t4_cols]
    for g in tpl.t4_groups:                             # I-T4-1
        parts = [V.get(("t4", g.id, c)) for c in ("col.upheld", "col.corrected", "col.other_result", "col.pending")]
        if _eq(V.get(("t4", g.id, "col.total")), parts) is False:
            bad |= {("t4", g.id, c) for c in t4_cols}
    return bad


def _check(cells, truth: dict, tables=("t2", "t3", "t4")) -> tuple[int, int, list]:
    """(truth cells, exactly right, wrong cells that nothing would flag)."""
    idx = {(c["table"], c["row_id"], c["col_id"]): c for c in cells}
    V = _values(cells)
    flagged = _flagged(V, truth["template"])
    n = right = 0
    unflagged = []
    for t in tables:
        for row, cols in truth[t].items():
            for col, want in cols.items():
                n += 1
                c = idx.get((t, row, col))
                if c is None:
                    unflagged.append((t, row, col, want, "absent"))
                    continue
                got = None if c["value"] is None or math.isnan(c["value"]) else c["value"]
                if (want is None and c["state"] == "BLANK") or (want is not None and got == want):
                    right += 1
                elif c["state"] not in ("UNPARSABLE", "MISSING") and (t, row, col) not in flagged:
                    unflagged.append((t, row, col, want, c["raw"], c["state"]))
    return n, right, unflagged


@need_ocr
@pytest.mark.parametrize("name", PDFS)
def test_scanned_pdf_reads_back_to_the_truth(ocr_read, name):
    blocks, secs = ocr_read[name]
    truth = json.loads((FIXTURES / name).with_suffix(".json").read_text(encoding="utf-8"))
    nz = _normalize(blocks, name, "pdf")
    assert nz.report["template"] == truth["template"]
    assert nz.report["agency"] == truth["agency"] and nz.report["year"] == truth["year"]
    n, right, unflagged = _check(nz.cells, truth)
    print(f"{name}: {right}/{n} cells exact, {sum(secs) / len(secs):.1f} s/page over {len(secs)} pages")
    assert right >= 0.995 * n, f"{right}/{n} cells exact"
    assert not unflagged, f"wrong cells that no identity flags: {unflagged}"
    # the template's sections were found in the OCR text (headings are part of the scan)
    found = {s["section_id"] for s in nz.sections}
    assert {"sec.proactive", "sec.applications", "sec.review_litigation"} <= found
    # every table cell says it was read by OCR
    tables = [b for b in blocks if b.kind == "table"]
    assert len(tables) >= 3
    assert all(b.grid.source.startswith("OCR第") and "页表格" in b.grid.source for b in tables)
    located = [c for c in nz.cells if c["state"] not in ("MISSING",)]
    assert located and all("OCR" in c["location"] for c in located)
    assert all(c["page"] in (1, 2, 3) for c in located)


@need_ocr
def test_defect_report_keeps_its_defects(ocr_read):
    """The injected defects come back as failing identities (OCR neither hides nor invents them)."""
    name = PDFS[1]
    truth = json.loads((FIXTURES / name).with_suffix(".json").read_text(encoding="utf-8"))
    nz = _normalize(ocr_read[name][0], name, "pdf")
    flagged = _flagged(_values(nz.cells), truth["template"])
    for d in truth["defects"]:
        for ch in d["changes"]:
            assert (d["table"], ch["row"], ch["col"]) in flagged, d
    clean = PDFS[0]
    truth0 = json.loads((FIXTURES / clean).with_suffix(".json").read_text(encoding="utf-8"))
    assert not truth0["defects"]
    assert not _flagged(_values(_normalize(ocr_read[clean][0], clean, "pdf").cells), truth0["template"])


@need_ocr
def test_table_image_reads_back_to_the_truth(ocr_read):
    blocks, secs = ocr_read[PNG[0]]
    truth = json.loads((FIXTURES / PNG[1]).read_text(encoding="utf-8"))
    tables = [b for b in blocks if b.kind == "table"]
    assert len(tables) == 1 and tables[0].grid.source == "OCR图片表格1"
    nz = _normalize(blocks, PNG[0], "unknown")
    n, right, unflagged = _check(nz.cells, truth, tables=("t3",))
    print(f"{PNG[0]}: {right}/{n} cells exact, {secs[0]:.1f} s")
    assert right >= 0.995 * n and not unflagged, (right, n, unflagged)


@need_ocr
def test_no_network_and_models_from_the_wheel(ocr_read):
    assert ocr_read["_network_attempts"] == []
    import rapidocr

    pkg = Path(rapidocr.__file__).resolve().parent
    paths = ocr._model_paths()
    assert paths and all(pkg in p.resolve().parents for p in paths.values())
    from rapidocr.utils.download_file import DownloadFile, DownloadFileInput

    with pytest.raises(ocr.OcrUnavailable):   # the downloader is disabled for the process
        DownloadFile.run(DownloadFileInput(file_url="https://example.invalid/x.onnx", save_path="/nonexistent/x",
                                           logger=__import__("logging").getLogger("t")))


@need_ocr
def test_scanned_table_geometry(ocr_read):
    """表三 of the scan: 3 header rows + 25 rows, 10 grid columns, the template's merged cells."""
    blocks, _ = ocr_read[PDFS[0]]
    t3 = next(b.grid for b in blocks if b.kind == "table" and "申请人情况" in b.text)
    assert (t3.n_rows, t3.n_cols) == (28, 10)
    assert len({t3.origin[r][c] for r in range(3) for c in range(3)}) == 1      # the note cell: 3 rows x 3 cols
    assert t3.origin[0][3] == t3.origin[0][9]                                   # 申请人情况 spans 7 columns
    assert t3.origin[1][3] == t3.origin[2][3] and t3.origin[1][9] == t3.origin[2][9]   # 自然人 / 总计: 2 rows
    assert len({row[0] for row in t3.origin[5:27]}) == 1                        # 三、本年度办理结果: 22 rows
    assert all(o != PAD for row in t3.origin for o in row)


# --- geometry without OCR: ruling lines, merged cells, deskew ------------------------------------------------------

def _expected_origin(rows) -> list[list[int]]:
    from pipeline.synth.fmt_scan import place_cells
    from pipeline.synth.render import grid_width

    width = grid_width(rows)
    grid = [[None] * width for _ in rows]
    for k, (r, c, cell) in enumerate(place_cells(rows)):
        for dr in range(cell.rowspan):
            for dc in range(cell.colspan):
                grid[r + dr][c + dc] = k
    ids: dict = {}
    return [[ids.setdefault(x, len(ids)) for x in row] for row in grid]


def _small_table():
    from pipeline.synth.render import GCell

    return [
        [GCell("信息内容", rowspan=2, kind="header"), GCell("本年处理决定数量", colspan=2, kind="header"),
         GCell("总计", rowspan=2, kind="header")],
        [GCell("新收", kind="header"), GCell("结转", kind="header")],
        [GCell("行政许可"), GCell("12", kind="value"), GCell("0", kind="value"), GCell("12", kind="value")],
        [GCell("行政处罚"), GCell("3", kind="value"), GCell("", kind="value"), GCell("3", kind="value")],
        [GCell("行政强制（含查封、扣押）"), GCell("合并单元格 1", colspan=2, kind="value"),
         GCell("1", kind="value")],
    ]


def test_grid_reconstruction_with_merged_cells():
    _cv2_or_skip()
    import numpy as np

    from pipeline.synth.fmt_scan import draw_table

    rows = _small_table()
    img = draw_table(rows, [420, 200, 200, 160])
    page = np.full((img.height + 200, img.width + 200), 255, np.uint8)
    page[100:100 + img.height, 100:100 + img.width] = np.asarray(img)
    tables, _ = ocr.find_tables(page)
    assert len(tables) == 1
    t = tables[0]
    assert (t.n_rows, t.n_cols) == (5, 4)
    assert t.origin == _expected_origin(rows)
    # a box centre maps to its cell
    assert t.cell_at(t.xs[1] + 5, t.ys[4] + 5) == (4, 1)


def test_grid_reconstruction_of_the_t3_table():
    _cv2_or_skip()
    import numpy as np

    from pipeline.synth import make_report
    from pipeline.synth.fmt_scan import draw_table, _table_rows
    from pipeline.synth.render import Cells

    rep = make_report("白鹭县人民政府", 2023, "gb2021", seed=5)
    for which in ("t3", "t4", "t2"):
        for rows, widths in _table_rows(rep, Cells(rep, 5), which):
            img = np.asarray(draw_table(rows, widths))
            page = np.full((img.shape[0] + 120, img.shape[1] + 120), 255, np.uint8)
            page[60:60 + img.shape[0], 60:60 + img.shape[1]] = img
            tables, _ = ocr.find_tables(page)
            assert len(tables) == 1, which
            assert tables[0].origin == _expected_origin(rows), which


def test_deskew_reduces_a_skew_and_keeps_the_grid():
    _cv2_or_skip()
    import random

    import numpy as np
    from PIL import Image

    from pipeline.synth.fmt_scan import degrade, draw_table

    rows = _small_table()
    img = draw_table(rows, [420, 200, 200, 160])
    page = Image.new("L", (img.width + 300, img.height + 300), 255)
    page.paste(img, (150, 150))
    for angle in (1.5, -1.5, 0.8):
        skewed = page.rotate(angle, resample=Image.BICUBIC, fillcolor=255)
        skewed = degrade(skewed, random.Random(1), skew=0, noise=0.6)
        gray = np.asarray(skewed)
        est = ocr.estimate_skew(gray)
        assert abs(est - angle) < 0.15, (angle, est)
        straight, removed = ocr.deskew(gray)
        assert abs(removed - est) < 1e-9
        residual = ocr.estimate_skew(straight)
        assert abs(residual) < 0.15 and abs(residual) < abs(angle) / 5, (angle, residual)
        tables, _ = ocr.find_tables(straight)
        assert len(tables) == 1 and tables[0].origin == _expected_origin(rows), angle


# --- digits and assembly without OCR -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,context,want", [
    ("1O", False, "10"), ("l2", False, "12"), ("2O5", False, "205"), ("I0", False, "10"),
    ("O", True, "0"), ("O", False, "O"), ("l", True, "1"), ("Il", False, "Il"),
    ("行政许可", True, "行政许可"), ("1.属于国家秘密", True, "1.属于国家秘密"), ("12", False, "12"),
    ("22328.29", False, "22328.29"), ("3O.5", False, "30.5"), ("(七)总计", True, "(七)总计"),
    ("1S", False, "15"), ("S", True, "S"), ("B", True, "B"), ("其他", True, "其他"),
])
def test_repair_digits_only_in_numeric_cells(raw, context, want):
    assert ocr.repair_digits(raw, context) == want


def test_vertical_text_box_is_read_character_by_character():
    tall = ocr.Box(100, 100, 130, 250)          # 30 px wide, 150 px high: five stacked characters
    parts = ocr._split_vertical(tall, text_h=38)
    assert len(parts) == 5 and parts[0].y0 == 100 and parts[-1].y1 == 250
    assert ocr._split_vertical(ocr.Box(0, 0, 20, 38), text_h=38) == [ocr.Box(0, 0, 20, 38)]   # a lone "1"


def _box(x0, y0, w, h, text):
    return ocr.Box(x0, y0, x0 + w, y0 + h, text=text, score=1.0)


def test_ruled_cells_are_repaired_with_their_neighbours():
    t = ocr.TableLayout(bbox=(0, 0, 400, 100), xs=[0, 200, 300, 400], ys=[0, 50, 100],
                        origin=[[0, 1, 2], [3, 4, 5]])
    pieces = [_box(10, 10, 120, 30, "行政许可"), _box(230, 10, 20, 30, "O"), _box(330, 10, 20, 30, "1l"),
              _box(10, 60, 120, 30, "行政处罚"), _box(230, 60, 20, 30, "7"), _box(330, 60, 20, 30, "l")]
    blocks = ocr.assemble_blocks(pieces, [t], 3, "OCR第3页", iter(["OCR第3页表格1"]).__next__)
    assert len(blocks) == 1 and blocks[0].kind == "table"
    g = blocks[0].grid
    assert g.cells == [["行政许可", "0", "11"], ["行政处罚", "7", "1"]]
    assert g.source == "OCR第3页表格1" and g.page == 3


def test_unruled_table_falls_back_to_gaps_and_text_stays_text():
    h = 36
    pieces = [
        _box(100, 50, 700, h, "二、主动公开政府信息情况"),
        _box(600, 85, 260, h - 6, "第二十条第（一）项"),
        _box(100, 120, 160, h, "信息内容"), _box(500, 120, 200, h, "本年制发件数"),
        _box(800, 120, 200, h, "本年废止件数"), _box(1100, 120, 200, h, "现行有效件数"),
        _box(100, 180, 80, h, "规章"), _box(590, 180, 20, h, "3"), _box(890, 180, 20, h, "O"),
        _box(1180, 180, 40, h, "17"),
        _box(100, 240, 240, h, "行政规范性文件"), _box(585, 240, 30, h, "23"), _box(1175, 240, 50, h, "215"),
        _box(100, 320, 900, h, "三、收到和处理政府信息公开申请情况"),
    ]
    names = iter(["OCR第1页表格1", "OCR第1页表格2"])
    blocks = ocr.assemble_blocks(pieces, [], 1, "OCR第1页", names.__next__)
    kinds = [b.kind for b in blocks]
    assert kinds == ["text", "table", "text"], [(b.kind, b.text) for b in blocks]
    g = blocks[1].grid
    assert g.cells == [["第二十条第（一）项"] * 4,
                       ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"],
                       ["规章", "3", "0", "17"],
                       ["行政规范性文件", "23", "", "215"]]
    assert g.origin[0] == [0, 0, 0, 0] and len(set(g.origin[3])) == 4     # the caption spans the table
    assert blocks[0].text == "二、主动公开政府信息情况" and blocks[0].location == "OCR第1页"


def test_unruled_rows_take_their_wrapped_label_lines():
    h = 30
    pieces = [
        _box(100, 200, 480, h, "一、本年新收政府信息公开申请数量"), _box(700, 200, 20, h, "5"), _box(850, 200, 20, h, "0"),
        _box(1000, 200, 20, h, "5"),
        _box(160, 232, 400, h, "（二）部分公开（区分处理的，"),
        _box(700, 248, 20, h, "1"), _box(850, 248, 20, h, "O"), _box(1000, 248, 20, h, "1"),
        _box(100, 264, 420, h, "只计这一情形，不计其他情形）"),
    ]
    blocks = ocr.assemble_blocks(pieces, [], 2, "OCR第2页", iter(["OCR第2页表格1"]).__next__)
    assert [b.kind for b in blocks] == ["table"]
    assert blocks[0].grid.cells == [
        ["一、本年新收政府信息公开申请数量", "5", "0", "5"],
        ["（二）部分公开（区分处理的，\n只计这一情形，不计其他情形）", "1", "0", "1"]]


# --- fixtures stay in sync with the generator ----------------------------------------------------------------------

def test_fixture_truths_match_the_generator():
    from pipeline.synth import make_report
    from pipeline.synth.fmt_scan import FIXTURE_AGENCY, FIXTURE_PNG, FIXTURES as SPECS
    from pipeline.synth.render import truth_dict

    for file, seed, defects, _opts in SPECS:
        rep = make_report(FIXTURE_AGENCY, 2023, "gb2021", seed=seed, defects=defects)
        stored = json.loads((FIXTURES / file).with_suffix(".json").read_text(encoding="utf-8"))
        assert stored == json.loads(json.dumps(truth_dict(rep, "pdf_scan", file))), file
        assert (FIXTURES / file).stat().st_size < 1_000_000
    assert (FIXTURES / FIXTURE_PNG[0]).stat().st_size < 1_000_000
    assert FIXTURE_PNG[1] == SPECS[0][1]
