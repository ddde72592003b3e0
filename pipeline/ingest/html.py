"""HTML pages → Document: article text blocks in reading order and every data table as an expanded grid.

Handles Word-export markup (mso styles, <o:p>), crawler-saved pages with site chrome, nested layout tables and
rowspan/colspan. Parsing is lxml's HTML parser: it never fetches anything and never runs scripts.
"""
from __future__ import annotations

import re

from lxml import etree

from ..document import PAD, Block, Grid

_SKIP = {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head", "title",
         "select", "option", "button", "textarea", "input"}
_BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section", "article", "main", "header",
          "footer", "nav", "aside", "blockquote", "pre", "center", "dl", "dt", "dd", "table", "tr", "td", "th",
          "tbody", "thead", "tfoot", "caption", "address", "figure", "figcaption", "hr", "br", "font"}
_WS = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u2009\u200b\u3000]+")
_MAX_SPAN = 200
# Bounds for hostile pages (a report's tables have a few dozen rows): rows and columns beyond them are not expanded.
MAX_TABLE_ROWS = 5000
MAX_TABLE_COLS = 500


def _clean(text: str) -> str:
    text = text.strip()
    if "\n" not in text:  # most cells: one line
        return _WS.sub(" ", text).strip() if not text.isdigit() else text
    lines = [_WS.sub(" ", ln).strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _mark_line_breaks(root, has_form: bool = True) -> None:
    """Prepare the tree so that an element's text is lxml's C-level `itertext()`: every <br> ends a line (its tail
    starts with a line break); elements that are never text (scripts, styles, form controls, …) are cut out with
    their content, their tails kept. Paragraph breaks inside table cells are marked per table (`_mark_cell_lines`);
    elsewhere each block element is read as a block of its own anyway."""
    etree.strip_elements(root, *_SKIP, with_tail=False)
    for el in list(root.iter("br", "form") if has_form else root.iter("br")):
        if el.tag == "br":
            el.tail = "\n" + el.tail if el.tail else "\n"
        elif el.find(".//table") is None and len("".join(el.itertext()).strip()) < 200:
            # a search box is chrome; a form wrapping the whole page (ASP.NET sites) holds the report itself
            tail = el.tail
            el.clear()
            el.tail = tail


def _mark_cell_lines(table) -> None:
    """<p>/<div>/<li> inside a cell are lines of their own (the per-table path; `_read_all_tables` does it in XSLT)."""
    for el in table.iter("p", "div", "li"):
        el.text = "\n" + el.text if el.text else "\n"
        el.tail = "\n" + el.tail if el.tail else "\n"


def _text_of(el) -> str:
    """Text of an element (line breaks already marked by `_mark_line_breaks`)."""
    if not len(el):
        return el.text or ""
    return "".join(el.itertext())


def _span(el, attr: str) -> int:
    return _span_value(el.get(attr))


def _span_value(v: str | None) -> int:
    if not v:
        return 1
    try:
        v = int(v.strip() or 1)
    except ValueError:
        return 1
    return max(1, min(v, _MAX_SPAN))


_ROW_MARK, _CELL_MARK = "\ufdd0", "\ufdd1"   # Unicode noncharacters: not in real text (and checked anyway)
_TABLE_MARK, _TEXT_MARK = "\ufdd2", "\ufdd3"
_ODD_ROW_CHILD = etree.XPath("boolean(.//tr/*[not(self::td or self::th)])")
_INNERMOST = "//table[not(.//table)]"
_COUNT_INNERMOST_BELOW = etree.XPath("count(.//table[not(.//table)])")
_MARKS = (_ROW_MARK, _CELL_MARK, _TABLE_MARK, _TEXT_MARK)
_MARK_ENTITY = re.compile("&#(?:[xX]0*[fF][dD][dD][0-3]|0*6497[6-9])\\b")
# Every innermost table's rows and cells, with their spans and their text (paragraphs and <br> as line breaks), as
# one string in one C-level pass: the per-cell work left in Python is cutting that string.
_CELLS_XSLT = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="UTF-8"/>
<xsl:template match="/">
  <xsl:for-each select="{_INNERMOST}">
    <xsl:text>&#xFDD2;</xsl:text>
    <xsl:for-each select=".//tr">
      <xsl:text>&#xFDD0;</xsl:text>
      <xsl:for-each select="td|th">
        <xsl:value-of select="@rowspan"/><xsl:text>,</xsl:text><xsl:value-of select="@colspan"/>
        <xsl:text>&#xFDD3;</xsl:text><xsl:apply-templates/><xsl:text>&#xFDD1;</xsl:text>
      </xsl:for-each>
    </xsl:for-each>
  </xsl:for-each>
</xsl:template>
<xsl:template match="p|div|li"><xsl:text>&#10;</xsl:text><xsl:apply-templates/><xsl:text>&#10;</xsl:text></xsl:template>
<xsl:template match="br"><xsl:text>&#10;</xsl:text></xsl:template>
</xsl:stylesheet>"""
_XSLT = None


def _read_all_tables(root, body, source: str) -> list | None:
    """[(rows: [[(rowspan, colspan, raw text)]])] for every innermost table of the page in document order (the order
    `walk` meets them), or None when the result cannot be trusted (the marks occur in the page, tables outside
    <body>): then each table is read on its own by `_row_cells`."""
    global _XSLT
    if any(m in source for m in _MARKS) or ("&#" in source and _MARK_ENTITY.search(source)):
        return None
    if _XSLT is None:
        _XSLT = etree.XSLT(etree.XML(_CELLS_XSLT), access_control=etree.XSLTAccessControl.DENY_ALL)
    flat = str(_XSLT(root))
    tables = flat.split(_TABLE_MARK)[1:]
    if len(tables) != int(_COUNT_INNERMOST_BELOW(body)):
        return None
    out = []
    for table in tables:
        rows = []
        for row in table.split(_ROW_MARK)[1:]:
            cells = []
            for cell in row.split(_CELL_MARK)[:-1]:
                spans, _, text = cell.partition(_TEXT_MARK)
                rs, _, cs = spans.partition(",")
                cells.append((rs, cs, text))
            rows.append(cells)
        out.append(rows)
    return out


def _row_cells(table, rows: list) -> list[list[tuple[object, str]]]:
    """(cell element, raw text) of every <td>/<th> of `rows`.

    One C-level text serialisation of the whole table instead of one `itertext()` per cell: each row and cell is
    marked by a noncharacter in the tree (a cell's own tail and a row's own text are never cell text), the
    table's text is cut at the marks. Tables where that cannot be trusted (nested tables, a row holding other
    elements than cells, marks already in the text) take the per-cell path."""
    _mark_cell_lines(table)
    cells_per_row = [list(tr.iterchildren("td", "th")) for tr in rows]
    simple = (len(rows) < MAX_TABLE_ROWS and table.find(".//table") is None and not _ODD_ROW_CHILD(table))
    if simple:
        n_cells = 0
        for tr, tds in zip(rows, cells_per_row):
            tr.text = _ROW_MARK
            for td in tds:
                td.tail = _CELL_MARK
            n_cells += len(tds)
        flat = etree.tostring(table, method="text", encoding=str, with_tail=False)
        pieces = flat.split(_ROW_MARK)[1:]
        if len(pieces) == len(rows) and flat.count(_CELL_MARK) == n_cells:
            out = []
            for tds, piece in zip(cells_per_row, pieces):
                texts = piece.split(_CELL_MARK)
                out.append(list(zip(tds, texts)))  # the last piece (the row's tail) has no cell
            return out
    return [[(td, _text_of(td)) for td in tds] for tds in cells_per_row]


def table_to_grid(table, source: str, read: list | None = None) -> Grid:
    """Expand rowspan/colspan into a true grid (the classic occupancy algorithm). `read`: the table's rows as
    `_read_all_tables` gives them (else they are read here)."""
    if read is None:
        nested = table.find(".//table") is not None
        rows = []
        for tr in table.iter("tr"):
            if not nested or _owning_table(tr) is table:
                rows.append(tr)
                if len(rows) >= MAX_TABLE_ROWS:
                    break
        read = [[(td.get("rowspan"), td.get("colspan"), text) for td, text in row] for row in _row_cells(table, rows)]
    else:
        read = read[:MAX_TABLE_ROWS]
    cells: dict[tuple[int, int], tuple[str, int]] = {}
    n_cols = 0
    origin_id = 0
    n_rows = len(read)
    for r, row in enumerate(read):
        c = 0
        for rowspan, colspan, raw_text in row:
            while (r, c) in cells:
                c += 1
            if c >= MAX_TABLE_COLS:
                break
            text = _clean(raw_text)
            rs = _span_value(rowspan)
            cs = _span_value(colspan)
            if rs == 1 and cs == 1:
                cells[(r, c)] = (text, origin_id)
            else:
                for dr in range(min(rs, n_rows - r)):
                    for dc in range(min(cs, MAX_TABLE_COLS - c)):
                        cells[(r + dr, c + dc)] = (text, origin_id)
            origin_id += 1
            c += cs
            n_cols = max(n_cols, min(c, MAX_TABLE_COLS))
    missing = ("", PAD)  # a position no <td> covers (ragged rows)
    grid_cells, grid_origin = [], []
    for r in range(n_rows):
        row = [cells.get((r, c), missing) for c in range(n_cols)]
        grid_cells.append([t for t, _ in row])
        grid_origin.append([o for _, o in row])
    return Grid(cells=grid_cells, origin=grid_origin, source=source)


def _owning_table(el):
    p = el.getparent()
    while p is not None and p.tag != "table":
        p = p.getparent()
    return p


_CONTAINER_TAGS = tuple(sorted((_BLOCK - {"br", "font"}) | {"img"}))


def _has_block_child(el) -> bool:
    """Block-level descendants (or pictures, which may be tables published as images) make `el` a container."""
    return next(el.iterdescendants(*_CONTAINER_TAGS), None) is not None


_MIN_TABLE_IMAGE = (400, 200)  # smaller pictures are logos, icons, QR codes: not tables


def _parser(encoding: str | None = None):
    """One parser per process and input kind (lxml parsers are not shared between threads; workers are processes).
    Plain etree elements: lxml.html's element classes cost a Python lookup per element touched. `encoding`: the
    bytes' encoding, known already (it overrides any meta charset); None for str input."""
    parser = _PARSERS.get(encoding)
    if parser is None:
        parser = _PARSERS[encoding] = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                                                       huge_tree=False, recover=True, encoding=encoding)
    return parser


_PARSERS: dict = {}
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")


def parse_html(text: str, load_image=None, utf8: bytes | None = None) -> tuple[list[Block], dict, str]:
    """Returns (blocks, page metadata, title).

    `load_image(src) -> bytes | None` gives the bytes of an <img> (a data: URI or a file saved beside the page; it
    never fetches anything). Large pictures in the body are read by OCR where the tables were published as images.
    `utf8`: the page's bytes when `text` is their strict UTF-8 decoding without a BOM: libxml2 reads UTF-8 bytes
    ~0.4 ms a page faster than a Python str, and builds the same tree (checked on every corpus and generated page).
    """
    # lxml refuses str input that carries an encoding declaration; strip XML declarations first.
    text = _XML_DECLARATION.sub("", text)
    try:
        if utf8 is not None:
            root = etree.fromstring(utf8, _parser("utf-8"))
        else:
            root = etree.fromstring(text, _parser())
    except (etree.ParserError, ValueError):
        root = None
    if root is None:  # nothing but a doctype, comments or processing instructions
        return [], {}, ""

    meta: dict = {}
    for m in root.iter("meta"):
        name = (m.get("name") or m.get("property") or "").strip().lower()
        content = (m.get("content") or "").strip()
        if name and content:
            meta.setdefault(name, content)
    title_el = root.find(".//title")
    page_title = _clean("".join(title_el.itertext())) if title_el is not None else ""
    title = meta.get("articletitle") or page_title

    body = root.find("body")
    if body is None:
        body = root
    _mark_line_breaks(body, has_form="<form" in text or "<FORM" in text)
    pre_read = _read_all_tables(root, body, text)
    blocks: list[Block] = []
    counters = {"table": 0, "text": 0}

    def emit_text(t: str):
        t = _clean(t)
        if t:
            for ln in t.split("\n"):
                counters["text"] += 1
                blocks.append(Block(kind="text", text=ln, location=f"网页正文第{counters['text']}段"))

    def emit_image(el):
        src = (el.get("src") or "").strip()
        data = load_image(src) if src else None
        if not data:
            return
        try:
            from PIL import Image
            import io

            with Image.open(io.BytesIO(data)) as im:
                if im.width < _MIN_TABLE_IMAGE[0] or im.height < _MIN_TABLE_IMAGE[1]:
                    return
            from . import ocr

            if not ocr.ocr_available():
                meta.setdefault("unread_images", []).append(src[:100])
                return
            counters["image"] = counters.get("image", 0) + 1
            blocks.extend(ocr.ocr_image_bytes(data, f"网页图片{counters['image']}"))
            from ..isolation import still_working

            still_working()
        except Exception:  # an unreadable picture costs that picture, not the page
            meta.setdefault("unread_images", []).append(src[:100])

    def walk(el):
        tag = el.tag if isinstance(el.tag, str) else ""
        if not tag or tag in _SKIP:
            return
        if tag == "img" and load_image is not None:
            emit_image(el)
            return
        if tag == "table" and el.find(".//table") is None:
            counters["table"] += 1
            read = pre_read[counters["table"] - 1] if pre_read else None
            grid = table_to_grid(el, f"网页表格{counters['table']}", read)
            if grid.n_rows:
                flat = "\n".join(" ".join(dict.fromkeys(c for c in row if c)) for row in grid.cells)
                blocks.append(Block(kind="table", text=flat, grid=grid, location=grid.source))
            return
        if tag in _BLOCK and not _has_block_child(el):
            emit_text(_text_of(el))
            return
        if el.text:
            emit_text(el.text)
        for child in el:
            walk(child)
            if child.tail:
                emit_text(child.tail)

    walk(body)
    return blocks, meta, title
