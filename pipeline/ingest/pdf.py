"""Text-layer PDFs → Document with pdfplumber: ruled tables as grids, the rest of each page as text lines.

pdfplumber returns None for the positions a merged cell covers (its text sits in the top-left position): those
positions join the cell to their left in the same row, else the one above, so the grid keeps one origin per cell.
Tables split across pages come back as separate grids; normalize finds rows by their labels, so the split does
not matter there. One-column "tables" (text framed by a border) are treated as text.
"""
from __future__ import annotations

import logging
import re

from ..document import PAD, Block, Grid

for _name in ("pdfminer", "pdfminer.pdffont", "pdfminer.pdfpage", "pdfminer.converter"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_WS = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u200b\u3000]+")


def _clean(s: str | None) -> str:
    if s is None:
        return ""
    lines = [_WS.sub(" ", ln).strip() for ln in s.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _pdf_string(v) -> str:
    """PDF info strings sometimes arrive as UTF-16 bytes decoded as Latin-1 ('ÿþ…'): undo that."""
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    s = str(v)
    if s.startswith(("ÿþ", "þÿ")):
        try:
            s = s.encode("latin-1").decode("utf-16")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return ""
    return s.replace("\x00", "").strip()


def _grid_from_rows(rows: list[list[str | None]], source: str, page: int) -> Grid:
    width = max((len(r) for r in rows), default=0)
    cells: list[list[str]] = []
    origin: list[list[int]] = []
    oid = 0
    for r, row in enumerate(rows):
        crow, orow = [], []
        for c in range(width):
            v = row[c] if c < len(row) else None
            if c >= len(row):
                crow.append("")
                orow.append(PAD)
            elif v is None:
                if c > 0 and orow[c - 1] != PAD:
                    crow.append(crow[c - 1])
                    orow.append(orow[c - 1])
                elif r > 0 and origin[r - 1][c] != PAD:
                    crow.append(cells[r - 1][c])
                    orow.append(origin[r - 1][c])
                else:
                    crow.append("")
                    orow.append(PAD)
            else:
                crow.append(_clean(v))
                orow.append(oid)
                oid += 1
        cells.append(crow)
        origin.append(orow)
    return Grid(cells=cells, origin=origin, source=source, page=page)


def parse_pdf(path_or_file) -> tuple[list[Block], dict, str, int]:
    """Returns (blocks, metadata, title, number of pages)."""
    import pdfplumber

    blocks: list[Block] = []
    meta: dict = {}
    n_tables = 0
    with pdfplumber.open(path_or_file) as pdf:
        info = pdf.metadata or {}
        for k_src, k in (("Title", "title"), ("CreationDate", "creation_date"), ("ModDate", "mod_date")):
            if info.get(k_src):
                meta[k] = _pdf_string(info[k_src])
        n_pages = len(pdf.pages)
        for pno, page in enumerate(pdf.pages, start=1):
            tables = page.find_tables()
            items: list[tuple[float, int, Block]] = []
            data_bboxes = []
            for t in tables:
                rows = t.extract()
                width = max((len(r) for r in rows), default=0)
                distinct = [sum(1 for v in r if v is not None) for r in rows]
                if width < 2 or max(distinct, default=0) < 2:
                    continue  # a bordered text frame, not a data table: read it as text
                n_tables += 1
                grid = _grid_from_rows(rows, f"PDF第{pno}页表格{n_tables}", pno)
                flat = "\n".join(" ".join(dict.fromkeys(c for c in row if c)) for row in grid.cells)
                items.append((t.bbox[1], 1, Block(kind="table", text=flat, grid=grid, location=grid.source, page=pno)))
                data_bboxes.append(t.bbox)
            text_page = page
            for bbox in data_bboxes:
                text_page = text_page.outside_bbox(bbox)
            for ln in text_page.extract_text_lines(layout=False, strip=True):
                s = _clean(ln.get("text", ""))
                if s:
                    items.append((ln["top"], 0, Block(kind="text", text=s, location=f"PDF第{pno}页", page=pno)))
            items.sort(key=lambda x: (round(x[0], 1), x[1]))
            blocks.extend(b for _, _, b in items)
            page.flush_cache()
    return blocks, meta, meta.get("title", ""), n_pages
