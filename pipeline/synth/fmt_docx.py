"""Word renderers: `docx` (python-docx) and `doc` (the .docx converted by headless LibreOffice).

The three tables are built from the same GCell grids as the HTML renderer (render.t2_tables / t3_table / t4_table)
and carry REAL merged cells, as in the official template: horizontal spans are `w:gridSpan`, vertical spans
`w:vMerge` restart/continue (python-docx `cell.merge`). Text is set in 仿宋_GB2312 / 黑体 / 宋体 through the
east-Asian font of the styles. Headings use the Heading 1/2 styles, the title the Title style.

Options: `nested` (表三 inside a one-cell layout table), `t2_layout` single|split, `label_breaks` "br" (a line
break inside the cell paragraph) | "p" (one paragraph per line) | None (lines run together), `junk`, `seed`.

`render_docx` output is byte-identical for the same report and options: core-properties dates are derived from the
report's 落款 date and every zip member gets a fixed timestamp. `render_doc` is not deterministic (LibreOffice).

`write_doc_fixtures(dir)` regenerates the committed .doc fixtures (tests/fixtures/doc/); run it with
`python -m pipeline.synth.fmt_docx tests/fixtures/doc` (needs LibreOffice).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

from pipeline.synth.numbers import Report
from pipeline.synth.render import Cells, GCell, grid_width, t2_tables, t3_table, t4_table

TABLE_TWIPS = 8640   # table width in twips (6 in; A4 with 2.5 cm margins has ~9000 twips of text width)
FONT_BODY, FONT_H1, FONT_H2, FONT_TITLE, FONT_CELL = "仿宋_GB2312", "黑体", "楷体_GB2312", "方正小标宋简体", "宋体"


def _fonts(rpr_owner, east_asia: str, ascii_font: str = "Times New Roman"):
    """Set the ASCII and east-Asian fonts on a style's or run's rPr (python-docx only exposes the ASCII one)."""
    from docx.oxml.ns import qn

    rpr = rpr_owner.get_or_add_rPr()
    rfonts = rpr.get_or_add_rFonts()
    rfonts.set(qn("w:ascii"), ascii_font)
    rfonts.set(qn("w:hAnsi"), ascii_font)
    rfonts.set(qn("w:eastAsia"), east_asia)


def _setup_styles(doc):
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt, RGBColor

    normal = doc.styles["Normal"]
    normal.font.size = Pt(16)
    _fonts(normal.element, FONT_BODY)
    normal.paragraph_format.line_spacing = Pt(28)
    normal.paragraph_format.space_after = Pt(0)
    for name, font, size in (("Heading 1", FONT_H1, 16), ("Heading 2", FONT_H2, 16), ("Title", FONT_TITLE, 22)):
        st = doc.styles[name]
        st.font.size = Pt(size)
        st.font.bold = False
        st.font.italic = False
        st.font.color.rgb = RGBColor(0, 0, 0)
        _fonts(st.element, font)
        st.paragraph_format.space_before = Pt(0)
        st.paragraph_format.space_after = Pt(0)
    doc.styles["Title"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _cell_xml(g: GCell, label_breaks: str | None) -> list:
    """The w:p elements of one cell (built as XML: python-docx's per-element API is slow for ~300 cells)."""
    from xml.sax.saxutils import escape

    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    pieces = g.text.split("\n")
    if label_breaks == "p":
        lines = [[x] for x in pieces]
    elif label_breaks == "br":
        lines = [pieces]
    else:
        lines = [["".join(pieces)]]
    jc = "center" if g.kind in ("value", "header", "caption") else "left"
    rpr = (f'<w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="{FONT_CELL}"/>'
           '<w:sz w:val="21"/><w:szCs w:val="21"/></w:rPr>')
    out = []
    for line in lines:
        runs = "<w:br/>".join(f'<w:t xml:space="preserve">{escape(x)}</w:t>' for x in line)
        body = f"<w:r>{rpr}{runs}</w:r>" if any(line) else ""
        out.append(parse_xml(f'<w:p {nsdecls("w")}><w:pPr><w:spacing w:line="300" w:lineRule="exact"/>'
                             f'<w:jc w:val="{jc}"/></w:pPr>{body}</w:p>'))
    return out


def _set_cell(tc, g: GCell, label_breaks: str | None):
    from docx.oxml.ns import qn

    for p in tc.findall(qn("w:p")):
        tc.remove(p)
    for p in _cell_xml(g, label_breaks):
        tc.append(p)


def add_table(container, rows: list[list[GCell]], label_breaks: str | None = "br"):
    """A python-docx table for a GCell grid, spans as real merged cells. `container` is the Document or a cell.

    Written the way Word writes merges: per row, one w:tc per cell with w:gridSpan for its width; a cell spanning
    rows starts with w:vMerge="restart" and each row below holds an empty w:tc with w:vMerge (continue) and the
    same w:gridSpan. (Built directly: python-docx's `cell.merge`/`table.cell` re-derive the grid on every call.)
    """
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls
    from docx.oxml.simpletypes import ST_Merge
    from docx.shared import Twips

    width, n = grid_width(rows), len(rows)
    table = container.add_table(rows=n, cols=width)
    table.style = "Table Grid"
    table.autofit = False
    # equal whole-twip columns. (LibreOffice's .doc export still rounds some cell edges by a twip, which shows up as
    # a 1-twip grid column after conversion back to .docx, as in real .doc files; the reader drops such slivers.)
    col_w = Twips(TABLE_TWIPS // width)
    for col in table.columns:
        col.width = col_w
    # slots[r]: (grid column, colspan, GCell or None for a vMerge continuation, rowspan > 1) in column order
    slots: list[list[tuple]] = [[] for _ in range(n)]
    taken = [[False] * width for _ in range(n)]
    for ri, row in enumerate(rows):
        ci = 0
        for g in row:
            while taken[ri][ci]:
                ci += 1
            for dr in range(g.rowspan):
                for dc in range(g.colspan):
                    taken[ri + dr][ci + dc] = True
                slots[ri + dr].append((ci, g.colspan, g if dr == 0 else None, g.rowspan > 1))
            ci += g.colspan
    for ri, tr in enumerate(table._tbl.tr_lst):
        tcs = list(tr.tc_lst)
        keep = set()
        for ci, span, g, vmerged in sorted(slots[ri], key=lambda s: s[0]):
            tc = tcs[ci]
            keep.add(ci)
            if span > 1:
                tc.grid_span = span
            tc.width = Twips(TABLE_TWIPS // width * span)
            if vmerged:
                tc.vMerge = ST_Merge.RESTART if g is not None else ST_Merge.CONTINUE
            tc.get_or_add_tcPr().append(parse_xml(f'<w:vAlign {nsdecls("w")} w:val="center"/>'))
            if g is not None:
                _set_cell(tc, g, label_breaks)
        for ci, tc in enumerate(tcs):
            if ci not in keep:
                tr.remove(tc)
    return table


def _dates(rep: Report) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(created, modified, last_printed): drafted before the 落款 date, never the publication date itself."""
    signed = dt.date.fromisoformat((rep.signed_at or rep.published_at)[:10])
    base = dt.datetime(signed.year, signed.month, signed.day)
    return (base - dt.timedelta(days=9) + dt.timedelta(hours=9, minutes=12),
            base - dt.timedelta(days=1) + dt.timedelta(hours=17, minutes=40),
            base - dt.timedelta(days=1) + dt.timedelta(hours=17, minutes=45))


def _fixed_zip(data: bytes, when: dt.datetime) -> bytes:
    """Rewrite the package with one fixed timestamp on every member (python-docx stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, 0)
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info))
    return out.getvalue()


def render_docx(rep: Report, blocks: list, *, nested: bool = False, t2_layout: str = "single",
                label_breaks: str | None = "br", junk: bool = False, seed=None, **_ignored) -> bytes:
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    cells = Cells(rep, rep.seed if seed is None else seed, junk=junk)
    doc = docx.Document()
    _setup_styles(doc)
    breaks = bool(label_breaks)
    for b in blocks:
        kind = b[0]
        if kind == "title":
            doc.add_paragraph(b[1], style="Title")
            doc.add_paragraph()
        elif kind == "p":
            p = doc.add_paragraph(b[1])
            p.paragraph_format.first_line_indent = docx.shared.Pt(32)
        elif kind == "h1":
            doc.add_paragraph(b[2], style="Heading 1")
        elif kind == "h2":
            doc.add_paragraph(b[1], style="Heading 2")
        elif kind == "sign":
            doc.add_paragraph()
            for line in b[1]:
                doc.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.RIGHT
        elif kind == "table":
            if b[1] == "t2":
                tables = t2_tables(rep, cells, split=(t2_layout == "split"), breaks=breaks)
            elif b[1] == "t3":
                tables = [t3_table(rep, cells, breaks=breaks)]
            else:
                tables = [t4_table(rep, cells, breaks=breaks)]
            for t in tables:
                if nested and b[1] == "t3":
                    frame = doc.add_table(rows=1, cols=1)
                    add_table(frame.cell(0, 0), t, label_breaks)
                else:
                    add_table(doc, t, label_breaks)
                doc.add_paragraph()

    created, modified, printed = _dates(rep)
    cp = doc.core_properties
    cp.title = rep.title
    cp.author = rep.agency.name
    cp.last_modified_by = rep.agency.name
    cp.comments = ""
    cp.keywords = "政府信息公开,年度报告"
    cp.revision = 3
    cp.created, cp.modified, cp.last_printed = created, modified, printed
    buf = io.BytesIO()
    doc.save(buf)
    return _fixed_zip(buf.getvalue(), modified)


def render_doc(rep: Report, blocks: list, **options) -> bytes:
    """Legacy Word 97–2003 .doc: render_docx converted by headless LibreOffice (raises without soffice)."""
    from pipeline.ingest.doc import soffice_convert

    return soffice_convert(render_docx(rep, blocks, **options), "docx", "doc:MS Word 97", timeout=180)


# --- committed fixtures ------------------------------------------------------------------------------------------

# (file stem, agency, year, template, seed, render options, defects)
DOC_FIXTURES = [
    ("doc-gb2021-defect", "青禾市市场监督管理局", 2023, "gb2021", 811, {"junk": True},
     (("t3_row_total", {}),)),
    ("doc-gb2019", "白鹭县司法局", 2020, "gb2019", 812, {"nested": True, "label_breaks": "p"}, ()),
]


def write_doc_fixtures(directory) -> list[Path]:
    """Regenerate the committed .doc fixtures and their truth JSONs in `directory` (needs LibreOffice)."""
    from pipeline.synth import make_report, render

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, agency, year, tid, seed, opts, defects in DOC_FIXTURES:
        rep = make_report(agency, year, tid, seed=seed, defects=defects)
        data, truth = render(rep, "doc", file=f"{stem}.doc", **opts)
        (directory / f"{stem}.doc").write_bytes(data)
        (directory / f"{stem}.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n",
                                                encoding="utf-8")
        written.append(directory / f"{stem}.doc")
    return written


if __name__ == "__main__":
    import sys

    for path in write_doc_fixtures(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/doc"):
        print(path, path.stat().st_size)
