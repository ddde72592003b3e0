"""What ingest hands to normalize: a document as ordered text blocks and raw cell grids, with provenance.

Plain data only (dataclasses of str/int/list), so documents pickle cheaply across worker processes.
"""
from __future__ import annotations

from dataclasses import dataclass, field


PAD = -1  # origin id of a grid position that no source cell covers (ragged rows padded to the grid width)


@dataclass
class Grid:
    """A table as a true rectangular grid: merged cells are expanded (rowspan/colspan).

    `cells[r][c]` is the text of the source cell covering that position; `origin[r][c]` is an id shared by all
    positions of one source cell, so a reader can tell a span from two equal neighbours; `PAD` marks padding.
    """
    cells: list[list[str]]
    origin: list[list[int]]
    source: str = ""          # e.g. "HTML表格2", "文本表格1", "Markdown表格3"
    page: int | None = None   # PDF page (1-based) where the table starts
    row_pages: list[int | None] | None = None

    @property
    def n_rows(self) -> int:
        return len(self.cells)

    @property
    def n_cols(self) -> int:
        return max((len(r) for r in self.cells), default=0)


@dataclass
class Block:
    """One item of the document body in reading order: a paragraph/line of text, or a table."""
    kind: str                 # "text" | "table"
    text: str = ""            # paragraph text (for tables: all cell text joined, for keyword search)
    grid: Grid | None = None
    location: str = ""        # human-readable pointer, e.g. "正文第12段", "第3行"
    page: int | None = None


@dataclass
class Document:
    source_file: str                      # path relative to RAW_DIR, '/'-separated
    format: str                           # html|pdf|docx|doc|txt|md|unknown
    sha256: str
    blocks: list[Block] = field(default_factory=list)
    title: str = ""
    meta: dict = field(default_factory=dict)   # published_at, url, agency_hint, site_name, ...
    encoding: str = ""
    status: str = "ok"                     # ok|partial|failed
    error: str = ""                        # "中文说明 | English explanation" when not ok

    @property
    def text(self) -> str:
        """The whole body as text: blocks joined by newlines (tables included as their cell text)."""
        return "\n".join(b.text for b in self.blocks)
