"""HTML pages → Document: article text blocks in reading order and every data table as an expanded grid.

Handles Word-export markup (mso styles, <o:p>), crawler-saved pages with site chrome, nested layout tables and
rowspan/colspan. Parsing is lxml's HTML parser: it never fetches anything and never runs scripts.
"""
from __future__ import annotations

import itertools
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
    """Lines stripped, whitespace runs (`_WS`) as one space, empty lines dropped. A printable text is one line with
    no whitespace but the ASCII space (tabs, NBSP, ideographic and zero-width spaces are not printable)."""
    if text.isprintable():
        return " ".join(text.split())
    text = text.strip()
    if "\n" not in text:
        return _WS.sub(" ", text).strip()
    lines = [_WS.sub(" ", ln).strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _mark_line_breaks(root, has_form: bool = True) -> None:
    """Prepare the tree so that an element's text is lxml's C-level text serialisation: every <br> ends a line (its tail
    starts with a line break); elements that are never text (scripts, styles, form controls, …) are cut out with
    their content, their tails kept. Paragraph breaks inside table cells are marked per table (`_mark_cell_lines`);
    elsewhere each block element is read as a block of its own anyway."""
    etree.strip_elements(root, *_SKIP, with_tail=False)
    for el in list(root.iter("br", "form") if has_form else root.iter("br")):
        if el.tag == "br":
            el.tail = "\n" + el.tail if el.tail else "\n"
        elif el.find(".//table") is None and len(_text_of(el).strip()) < 200:
            # a search box is chrome; a form wrapping the whole page (ASP.NET sites) holds the report itself
            tail = el.tail
            el.clear()
            el.tail = tail


def _mark_cell_lines(table) -> None:
    """<p>/<div>/<li> inside a cell are lines of their own."""
    for el in table.iter("p", "div", "li"):
        el.text = "\n" + el.text if el.text else "\n"
        el.tail = "\n" + el.tail if el.tail else "\n"


def _text_of(el) -> str:
    """Text of an element (line breaks already marked by `_mark_line_breaks`): lxml's C text serialisation as
    UTF-8, ~9x faster than joining `itertext()` (and its str output of a subtree without its tail is slow)."""
    if not len(el):
        return el.text or ""
    return etree.tostring(el, method="text", encoding="utf-8", with_tail=False).decode()


def _span_value(v: str | None) -> int:
    if not v:
        return 1
    try:
        v = int(v.strip() or 1)
    except ValueError:
        return 1
    return max(1, min(v, _MAX_SPAN))


_ROW_MARK, _CELL_MARK = "\ufdd0", "\ufdd1"   # Unicode noncharacters: not in real text (and checked anyway)
_ODD_ROW_CHILD = etree.XPath("boolean(.//tr/*[not(self::td or self::th)])")


def _clean_cell(text: str) -> str:
    """`_clean` of a cell whose whitespace runs are already collapsed (`_WS`, once for the whole table)."""
    text = text.strip()
    if "\n" not in text:
        return text
    return "\n".join(ln for ln in map(str.strip, text.split("\n")) if ln)


def _read_rows(table, rows: list, simple: bool) -> list[list[tuple[str | None, str | None, str]]]:
    """(rowspan, colspan, cleaned text) of every <td>/<th> of `rows`.

    One C-level text serialisation of the whole table instead of one per cell: each row and cell is marked by a
    noncharacter in the tree (a cell's own tail and a row's own text are never cell text), the table's text is cut
    at the marks. `simple`: no row holding other elements than cells; else, or when the marks occur in the text
    already, each cell is read on its own."""
    _mark_cell_lines(table)
    cells_per_row = []
    spans = []
    n_cells = 0
    for tr in rows:
        tds = list(tr.iterchildren("td", "th"))
        cells_per_row.append(tds)
        spans.append([(td.get("rowspan"), td.get("colspan")) for td in tds])
        if simple:
            tr.text = _ROW_MARK
            for td in tds:
                td.tail = _CELL_MARK
            n_cells += len(tds)
    if simple and len(rows) < MAX_TABLE_ROWS:
        flat = _WS.sub(" ", _text_of(table))
        pieces = flat.split(_ROW_MARK)[1:]
        if len(pieces) == len(rows) and flat.count(_CELL_MARK) == n_cells:
            return [[(*span, _clean_cell(text)) for span, text in zip(row_spans, piece.split(_CELL_MARK))]
                    for row_spans, piece in zip(spans, pieces)]  # the last piece (the row's tail) has no cell
    return [[(*span, _clean(_text_of(td))) for span, td in zip(row_spans, tds)]
            for row_spans, tds in zip(spans, cells_per_row)]


def table_to_grid(table, source: str, odd_rows: bool = True) -> Grid:
    """An innermost table (it holds no table) → a true grid: rowspan/colspan expanded (the classic occupancy
    algorithm, a list of occupied columns per row). `odd_rows=False`: the page has no row holding anything but
    cells."""
    rows = list(itertools.islice(table.iter("tr"), MAX_TABLE_ROWS))
    read = _read_rows(table, rows, not (odd_rows and _ODD_ROW_CHILD(table)))
    n_rows = len(read)
    texts: list[list] = [[] for _ in range(n_rows)]    # per row: the text at each column (None: not yet covered)
    origin: list[list] = [[] for _ in range(n_rows)]
    origin_id = 0
    for r, row in enumerate(read):
        row_origin = origin[r]
        c = 0
        for rowspan, colspan, text in row:
            width = len(row_origin)
            while c < width and row_origin[c] is not None:
                c += 1
            if c >= MAX_TABLE_COLS:
                break
            if rowspan is None and colspan is None:
                if c == width:
                    row_origin.append(origin_id)
                    texts[r].append(text)
                else:
                    row_origin[c] = origin_id
                    texts[r][c] = text
                c += 1
            else:
                rs = _span_value(rowspan)
                cs = _span_value(colspan)
                end = min(c + cs, MAX_TABLE_COLS)
                for rr in range(r, min(r + rs, n_rows)):
                    o, t = origin[rr], texts[rr]
                    if len(o) < end:
                        o.extend([None] * (end - len(o)))
                        t.extend([None] * (end - len(t)))
                    o[c:end] = [origin_id] * (end - c)
                    t[c:end] = [text] * (end - c)
                c += cs
            origin_id += 1
    n_cols = max(map(len, origin), default=0)
    for o, t in zip(origin, texts):   # positions no <td> covers (ragged rows): padding
        if None in o or len(o) < n_cols:
            o.extend([None] * (n_cols - len(o)))
            t.extend([None] * (n_cols - len(t)))
            for c, v in enumerate(o):
                if v is None:
                    o[c], t[c] = PAD, ""
    return Grid(cells=texts, origin=origin, source=source)


_CONTAINER_TAGS = frozenset((_BLOCK - {"br", "font"}) | {"img"})


def _has_block_child(el) -> bool:
    """Block-level descendants (or pictures, which may be tables published as images) make `el` a container.
    Plain iteration: lxml's tag-filtered iteration prepares its 30 tag names on every call (~10x slower here)."""
    for d in el.iterdescendants():
        if d.tag in _CONTAINER_TAGS:
            return True
    return False


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


def _as_utf8(text: str) -> bytes | None:
    """`text` as UTF-8 bytes for libxml2 (None: lone surrogates, which only a str can carry)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")


def parse_html(text: str, load_image=None, utf8: bytes | None = None) -> tuple[list[Block], dict, str]:
    """Returns (blocks, page metadata, title).

    `load_image(src) -> bytes | None` gives the bytes of an <img> (a data: URI or a file saved beside the page; it
    never fetches anything). Large pictures in the body are read by OCR where the tables were published as images.
    `utf8`: the page's bytes when `text` is their strict UTF-8 decoding without a BOM (else `text` is encoded):
    libxml2 reads UTF-8 bytes ~0.4 ms a page faster than a Python str, and builds the same tree (checked on every
    corpus and generated page, in tests/test_ingest.py).
    """
    # lxml refuses str input that carries an encoding declaration; strip XML declarations first.
    declaration = _XML_DECLARATION.match(text)   # (match, not sub: sub would try every position of the page)
    if declaration:
        text = text[declaration.end():]
    if utf8 is None:   # a page in another encoding, already decoded: handed over as UTF-8 too
        utf8 = _as_utf8(text)
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
    title_el = next(root.iter("title"), None)
    page_title = _clean("".join(title_el.itertext())) if title_el is not None else ""
    title = meta.get("articletitle") or page_title

    body = root.find("body")
    if body is None:
        body = root
    _mark_line_breaks(body, has_form="<form" in text or "<FORM" in text)
    odd_rows = bool(_ODD_ROW_CHILD(body))
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
            grid = table_to_grid(el, f"网页表格{counters['table']}", odd_rows)
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
