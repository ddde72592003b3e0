"""HTML pages → Document: article text blocks in reading order and every data table as an expanded grid.

Handles Word-export markup (mso styles, <o:p>), crawler-saved pages with site chrome, nested layout tables and
rowspan/colspan. Parsing is lxml's HTML parser: it never fetches anything and never runs scripts.
"""
from __future__ import annotations

import re

import lxml.html
from lxml import etree

from ..document import PAD, Block, Grid

_SKIP = {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head", "title",
         "select", "option", "button", "textarea", "input", "form"}
_BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section", "article", "main", "header",
          "footer", "nav", "aside", "blockquote", "pre", "center", "dl", "dt", "dd", "table", "tr", "td", "th",
          "tbody", "thead", "tfoot", "caption", "address", "figure", "figcaption", "hr", "br", "font"}
_WS = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u2009\u200b\u3000]+")
_MAX_SPAN = 200
# Bounds for hostile pages (a report's tables have a few dozen rows): rows and columns beyond them are not expanded.
MAX_TABLE_ROWS = 5000
MAX_TABLE_COLS = 500


def _clean(text: str) -> str:
    lines = [_WS.sub(" ", ln).strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _text_of(el) -> str:
    """Text of an element with <br>, <p> and <div> boundaries kept as line breaks."""
    parts: list[str] = []

    def rec(e):
        tag = e.tag if isinstance(e.tag, str) else ""
        if tag.lower() in _SKIP:
            if e.tail:
                parts.append(e.tail)
            return
        if tag.lower() == "br":
            parts.append("\n")
        elif tag.lower() in ("p", "div", "li", "tr"):
            parts.append("\n")
        if e.text and isinstance(e.tag, str):
            parts.append(e.text)
        for c in e:
            rec(c)
        if tag.lower() in ("p", "div", "li"):
            parts.append("\n")
        if e.tail and e is not el:
            parts.append(e.tail)

    rec(el)
    return "".join(parts)


def _span(el, attr: str) -> int:
    try:
        v = int(str(el.get(attr, "1")).strip() or 1)
    except ValueError:
        return 1
    return max(1, min(v, _MAX_SPAN))


def table_to_grid(table, source: str) -> Grid:
    """Expand rowspan/colspan into a true grid (the classic occupancy algorithm)."""
    rows = []
    for tr in table.iter("tr"):
        if _owning_table(tr) is table:
            rows.append(tr)
            if len(rows) >= MAX_TABLE_ROWS:
                break
    cells: dict[tuple[int, int], tuple[str, int]] = {}
    n_cols = 0
    origin_id = 0
    for r, tr in enumerate(rows):
        c = 0
        for td in tr:
            if not isinstance(td.tag, str) or td.tag.lower() not in ("td", "th"):
                continue
            while (r, c) in cells:
                c += 1
            if c >= MAX_TABLE_COLS:
                break
            rs, cs = _span(td, "rowspan"), _span(td, "colspan")
            text = _clean(_text_of(td))
            for dr in range(rs):
                if r + dr >= len(rows):
                    break
                for dc in range(min(cs, MAX_TABLE_COLS - c)):
                    cells[(r + dr, c + dc)] = (text, origin_id)
            origin_id += 1
            c += cs
            n_cols = max(n_cols, min(c, MAX_TABLE_COLS))
    missing = ("", PAD)  # a position no <td> covers (ragged rows)
    grid_cells = [[cells.get((r, c), missing)[0] for c in range(n_cols)] for r in range(len(rows))]
    grid_origin = [[cells.get((r, c), missing)[1] for c in range(n_cols)] for r in range(len(rows))]
    return Grid(cells=grid_cells, origin=grid_origin, source=source)


def _owning_table(el):
    p = el.getparent()
    while p is not None and not (isinstance(p.tag, str) and p.tag.lower() == "table"):
        p = p.getparent()
    return p


def _has_block_child(el) -> bool:
    """Block-level descendants (or pictures, which may be tables published as images) make `el` a container."""
    for d in el.iterdescendants():
        if isinstance(d.tag, str) and (d.tag.lower() in _BLOCK and d.tag.lower() not in ("br", "font")
                                       or d.tag.lower() == "img"):
            return True
    return False


_MIN_TABLE_IMAGE = (400, 200)  # smaller pictures are logos, icons, QR codes: not tables


def parse_html(text: str, load_image=None) -> tuple[list[Block], dict, str]:
    """Returns (blocks, page metadata, title).

    `load_image(src) -> bytes | None` gives the bytes of an <img> (a data: URI or a file saved beside the page; it
    never fetches anything). Large pictures in the body are read by OCR where the tables were published as images.
    """
    # lxml refuses str input that carries an encoding declaration; strip XML declarations first.
    text = re.sub(r"^\s*<\?xml[^>]*>", "", text)
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, huge_tree=False,
                                  recover=True)
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError):
        try:
            root = lxml.html.fragment_fromstring(text, create_parent="div", parser=parser)
        except (etree.ParserError, ValueError):  # nothing but a doctype, comments or processing instructions
            return [], {}, ""

    meta: dict = {}
    for m in root.iter("meta"):
        name = (m.get("name") or m.get("property") or "").strip().lower()
        content = (m.get("content") or "").strip()
        if name and content:
            meta.setdefault(name, content)
    title_el = root.find(".//title")
    page_title = _clean(title_el.text_content()) if title_el is not None else ""
    title = meta.get("articletitle") or page_title

    body = root.find("body")
    if body is None:
        body = root
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
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
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
