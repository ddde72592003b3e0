"""Text dumps → Document.

Three shapes are recognised from the content:
- docx-to-text dumps: every table cell on its own line starting with a TAB, rows separated by an empty line, a
  cell's own line breaks continuing on untabbed lines (rebuilt here as grids);
- crawler ``page.txt`` dumps: a ``键: 值`` header ending in a ``==== 正文 ====`` rule (kept as page metadata), then
  the body, often on one line with table cells run together (left to normalize, which splits by labels);
- PDF-to-markdown conversions: ``| a | b |`` pipe tables (grids) between text lines.
"""
from __future__ import annotations

import re

from ..document import PAD, Block, Grid

_HEADER_RULE = re.compile(r"^=+\s*正文\s*=+\s*$")
_HEADER_LINE = re.compile(r"^([\u4e00-\u9fffA-Za-z]{1,8})\s*[:：]\s*(.*)$")
_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_PIPE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*")
_WS = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u2009\u200b\u3000]+")

_META_KEYS = {"标题": "title", "发布时间": "published_at", "发布日期": "published_at", "成文日期": "written_at",
              "原文链接": "url", "来源": "source", "发布机构": "publisher", "文号": "doc_no", "栏目": "column"}


def _clean(s: str) -> str:
    """Whitespace runs (`_WS`) as one space, ends stripped. A printable line holds no whitespace but the ASCII
    space (tabs, NBSP, ideographic and zero-width spaces are not printable): split/join does it without the regex."""
    if s.isprintable():
        return " ".join(s.split())
    return _WS.sub(" ", s).strip()


def split_crawler_header(lines: list[str]) -> tuple[dict, list[str], int]:
    """A crawler header (``标题: …`` lines up to a ``==== 正文 ====`` rule) → (meta, remaining lines, offset)."""
    for i, ln in enumerate(lines[:40]):
        if _HEADER_RULE.match(ln.strip()):
            meta = {}
            for h in lines[:i]:
                m = _HEADER_LINE.match(h.strip())
                if m and m.group(1) in _META_KEYS and m.group(2).strip():
                    meta.setdefault(_META_KEYS[m.group(1)], m.group(2).strip())
            return meta, lines[i + 1:], i + 1
    return {}, lines, 0


def _grid(rows: list[list[str]], source: str) -> Grid:
    width = max((len(r) for r in rows), default=0)
    cells, origin, oid = [], [], 0
    for r in rows:
        cells.append([_clean(c) for c in r] + [""] * (width - len(r)))
        ids = list(range(oid, oid + len(r))) + [PAD] * (width - len(r))  # padding is no cell at all
        oid += len(r)
        origin.append(ids)
    return Grid(cells=cells, origin=origin, source=source)


def parse_text(text: str, fmt: str) -> tuple[list[Block], dict, str]:
    """Returns (blocks, metadata, title)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta, lines, offset = split_crawler_header(lines)
    title = meta.pop("title", "")
    blocks: list[Block] = []
    n_tables = 0
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        lineno = i + 1 + offset
        if line.startswith("\t"):
            # docx dump: consume the table (tab lines, untabbed continuation lines, blank row separators)
            rows: list[list[str]] = []
            row: list[str] = []
            start = i
            while i < n:
                ln = lines[i]
                if ln.startswith("\t"):
                    row.append(ln[1:])
                elif ln.strip() == "":  # (a tab-led line is a cell even when it holds only spaces)
                    if row:
                        rows.append(row)
                        row = []
                    # a table ends at a blank line followed by an untabbed text line
                    j = i + 1
                    while j < n and not lines[j].startswith("\t") and lines[j].strip() == "":
                        j += 1
                    if j >= n or not lines[j].startswith("\t"):
                        i = j
                        break
                elif row:
                    row[-1] = row[-1] + "\n" + ln  # a cell's own line break
                else:
                    break
                i += 1
            if row:
                rows.append(row)
            n_tables += 1
            grid = _grid(rows, f"文本表格{n_tables}")
            flat = "\n".join(" ".join(c for c in r if c) for r in grid.cells)
            blocks.append(Block(kind="table", text=flat, grid=grid, location=f"文本第{start + 1 + offset}行起的表格"))
            continue
        if fmt == "md" and _PIPE_ROW.match(line):
            rows = []
            start = i
            while i < n and _PIPE_ROW.match(lines[i]):
                if not _PIPE_RULE.match(lines[i]):
                    inner = lines[i].strip()[1:-1]
                    rows.append([c for c in inner.split("|")])
                i += 1
            if rows:
                n_tables += 1
                grid = _grid(rows, f"Markdown表格{n_tables}")
                flat = "\n".join(" ".join(c for c in r if c) for r in grid.cells)
                blocks.append(Block(kind="table", text=flat, grid=grid, location=f"文本第{start + 1 + offset}行起的表格"))
            continue
        s = line
        if fmt == "md":
            s = _MD_HEADING.sub("", s)
        s = _clean(s)
        if s:
            blocks.append(Block(kind="text", text=s, location=f"文本第{lineno}行"))
        i += 1
    return blocks, meta, title
