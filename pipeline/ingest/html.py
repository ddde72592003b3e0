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


def _mark_line_breaks(root) -> None:
    """Write the line structure into the tree once, so that an element's text is lxml's C-level `itertext()`:
    <br> ends a line, <p>/<div>/<li> are lines of their own, <tr> starts one. Elements that are never text
    (scripts, styles, form controls, …) are cut out here with their content, their tails kept."""
    etree.strip_elements(root, *_SKIP, with_tail=False)
    for form in list(root.iter("form")):
        # a search box is chrome; a form wrapping the whole page (ASP.NET sites) holds the report itself
        if form.find(".//table") is None and len("".join(form.itertext()).strip()) < 200:
            tail = form.tail
            form.clear()
            form.tail = tail
    for el in root.iter("br", "p", "div", "li", "tr"):
        tag = el.tag
        if tag == "br":
            el.tail = "\n" + el.tail if el.tail else "\n"
            continue
        el.text = "\n" + el.text if el.text else "\n"
        if tag != "tr":
            el.tail = "\n" + el.tail if el.tail else "\n"


def _text_of(el) -> str:
    """Text of an element (line breaks already marked by `_mark_line_breaks`)."""
    if not len(el):
        return el.text or ""
    return "".join(el.itertext())


def _span(el, attr: str) -> int:
    v = el.get(attr)
    if v is None:
        return 1
    try:
        v = int(v.strip() or 1)
    except ValueError:
        return 1
    return max(1, min(v, _MAX_SPAN))


_ROW_MARK, _CELL_MARK = "\ufdd0", "\ufdd1"   # Unicode noncharacters: not in real text (and checked anyway)
_ODD_ROW_CHILD = etree.XPath("boolean(.//tr/*[not(self::td or self::th)])")


def _row_cells(table, rows: list) -> list[list[tuple[object, str]]]:
    """(cell element, raw text) of every <td>/<th> of `rows`.

    One C-level text serialisation of the whole table instead of one `itertext()` per cell: each row and cell is
    marked by a noncharacter in the tree (a cell's own tail and a row's own text are never cell text), the
    table's text is cut at the marks. Tables where that cannot be trusted (nested tables, a row holding other
    elements than cells, marks already in the text) take the per-cell path."""
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


def table_to_grid(table, source: str) -> Grid:
    """Expand rowspan/colspan into a true grid (the classic occupancy algorithm)."""
    nested = table.find(".//table") is not None
    rows = []
    for tr in table.iter("tr"):
        if not nested or _owning_table(tr) is table:
            rows.append(tr)
            if len(rows) >= MAX_TABLE_ROWS:
                break
    cells: dict[tuple[int, int], tuple[str, int]] = {}
    n_cols = 0
    origin_id = 0
    n_rows = len(rows)
    for r, row in enumerate(_row_cells(table, rows)):
        c = 0
        for td, raw_text in row:
            while (r, c) in cells:
                c += 1
            if c >= MAX_TABLE_COLS:
                break
            text = _clean(raw_text)
            rs = _span(td, "rowspan")
            cs = _span(td, "colspan")
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


def _parser():
    """One parser per process (lxml parsers are not shared between threads; workers are processes). Plain etree
    elements: lxml.html's element classes cost a Python lookup per element touched."""
    global _PARSER
    if _PARSER is None:
        _PARSER = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, huge_tree=False,
                                   recover=True)
    return _PARSER


_PARSER = None


def parse_html(text: str, load_image=None) -> tuple[list[Block], dict, str]:
    """Returns (blocks, page metadata, title).

    `load_image(src) -> bytes | None` gives the bytes of an <img> (a data: URI or a file saved beside the page; it
    never fetches anything). Large pictures in the body are read by OCR where the tables were published as images.
    """
    # lxml refuses str input that carries an encoding declaration; strip XML declarations first.
    text = re.sub(r"^\s*<\?xml[^>]*>", "", text)
    try:
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
    _mark_line_breaks(body)
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
            grid = table_to_grid(el, f"网页表格{counters['table']}")
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
