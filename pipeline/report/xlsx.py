"""The audit workbooks' xlsx layer: rows of ``(value, style key[, comment, link])`` written with XlsxWriter.

:mod:`pipeline.report.workbook` describes its sheets row by row; this module hands every cell to XlsxWriter
(audit.xlsx with ``constant_memory``: each row is streamed to disk as the next one starts, so a sheet of a million
rows does not stay in memory; the small per-agency books in memory). XlsxWriter writes the SpreadsheetML, the styles, comments (with their VML boxes), hyperlinks,
merged cells, frozen panes, autofilters, page set-up and the zip package.

What this layer adds:

- no cell is ever a formula, a URL or a number made from text: the workbook is opened with
  ``strings_to_formulas/strings_to_urls/strings_to_numbers`` off and text is written with ``write_string``;
- text XML 1.0 cannot carry (control characters, U+FFFE/U+FFFF) is dropped and lone surrogates (an undecodable
  file name) are replaced by U+FFFD, in cells, comments, links, sheet names and properties (:func:`xml_text`);
  XlsxWriter writes a text of the form ``<r>…</r>`` unescaped (its own rich-string XML), so such a text is
  written as a rich string of three plain parts holding the same characters;
- NaN and infinities become empty cells, numpy scalars plain numbers;
- Excel's limit of 65,530 hyperlinks per sheet: further link cells keep their text without a link.

Usage::

    book = Book(path, styles=resolver, title="…", creator="…")   # resolver: style key -> XlsxWriter properties
    ws = book.sheet("问题清单", widths={1: 12.0}, freeze="A2", autofilter="A1:S10")
    ws.row([("报告编号", "header"), ("机关", "header")])
    ws.row([("x", None), (3, "fmt:0")], height=32, merges=("B2:P2",))
    ws.row([(text, style, Comment(...), Link(location="'总览'!A1"))])
    book.save()

A cell is ``None`` (no cell), or a tuple ``(value, style_key)`` / ``(value, style_key, comment, link)``; *value* is
a str (callers neutralise it), an int/float (NaN/inf: an empty cell), a bool, or None (an empty cell, formatted
when it has a style).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xlsxwriter

__all__ = ["Book", "Sheet", "Comment", "Link", "xml_text", "MAX_LINKS", "OPTIONS"]

MAX_LINKS = 65530   # hyperlinks per worksheet (Excel's limit; XlsxWriter refuses more)

# Workbook options: text always text.
OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
# A streamed book (audit.xlsx, of any size) writes each row to a temporary file as the next one starts; a small book
# (an agency's) is built in memory, ~35 % faster than through temporary files.
STREAMED = {"constant_memory": True}
IN_MEMORY = {"in_memory": True}

_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _fix(m: re.Match) -> str:
    return "\ufffd" if "\ud800" <= m.group() <= "\udfff" else ""


def xml_text(s: str) -> str:
    """*s* without what XML 1.0 cannot carry: control characters and U+FFFE/U+FFFF dropped, lone surrogates
    replaced by U+FFFD (they cannot be encoded as UTF-8)."""
    return _BAD.sub(_fix, s) if _BAD.search(s) else s


@dataclass(frozen=True)
class Comment:
    """A cell comment: text as shown, author, size of its box in pixels."""
    text: str
    author: str = ""
    width: int = 144
    height: int = 79


@dataclass(frozen=True)
class Link:
    """A hyperlink: *location* inside the target workbook ("'sheet'!A1"), *target* another file (relative path;
    None: this workbook)."""
    location: str | None = None
    target: str | None = None

    def url(self) -> str:
        loc = xml_text(self.location or "A1")
        if self.target is None:
            return f"internal:{loc}"
        return f"external:{xml_text(self.target)}#{loc}"


class Sheet:
    """One worksheet: rows are appended in order (XlsxWriter writes a row out when the next one starts)."""

    def __init__(self, book: Book, ws, title: str):
        self.book, self.ws, self.title = book, ws, title
        self.row_count = 0
        self._links = 0

    def row(self, cells, height: float | None = None, merges: tuple = ()) -> None:
        """Append one row (a list of cells, see the module doc); *merges* are ranges such as 'B5:P5'."""
        r = self.row_count
        self.row_count += 1
        ws = self.ws
        if height:
            ws.set_row(r, height)
        for m in merges:
            ws.merge_range(m, "")   # records the range only: the cells are written below
        fmt = self.book.format
        for j, cell in enumerate(cells):
            if cell is None:
                continue
            value, f = cell[0], fmt(cell[1])
            link = cell[3] if len(cell) > 3 else None
            if link is None or self._links >= MAX_LINKS or \
                    ws.write_url(r, j, link.url(), f, xml_text(value) if type(value) is str else None) < 0:
                self._write(r, j, value, f)   # no link, or one XlsxWriter refused (warned): the text alone
            else:
                self._links += 1
            if len(cell) > 2 and cell[2] is not None:
                c = cell[2]
                ws.write_comment(r, j, xml_text(c.text), {"author": xml_text(c.author), "width": c.width,
                                                          "height": c.height})

    def _write(self, r: int, j: int, value, f) -> None:
        ws = self.ws
        if type(value) is str:
            if _BAD.search(value):
                value = xml_text(value)
            if not value:
                ws.write_blank(r, j, None, f)   # an empty text is an empty cell
            elif value.startswith("<r>") and value.endswith("</r>"):   # else written as raw XML by XlsxWriter
                ws.write_rich_string(r, j, value[:1], value[1:2], value[2:], *((f,) if f is not None else ()))
            else:
                ws.write_string(r, j, value, f)
        elif value is None:
            ws.write_blank(r, j, None, f)
        elif isinstance(value, (bool, np.bool_)):
            ws.write_boolean(r, j, bool(value), f)
        else:
            v = float(value) if not isinstance(value, int) else value
            if isinstance(v, float) and not math.isfinite(v):
                ws.write_blank(r, j, None, f)   # NaN/inf: no valid Excel number
            else:
                ws.write_number(r, j, v, f)


class Book:
    """A workbook written to *path* when saved. *styles* maps a style key to XlsxWriter format properties (a dict;
    None or "" is the default style); each key becomes one format of the book, on first use. *streamed*: rows go
    to temporary files as they are written (for books of any size), else the book is built in memory."""

    def __init__(self, path: Path, styles, title: str = "", creator: str = "",
                 created: _dt.datetime | None = None, streamed: bool = True):
        self.path = Path(path)
        self._resolve = styles
        # temporary files go beside the workbook (a killed run leaves them in its temporary output folder, which
        # the next run removes)
        mode = STREAMED if streamed else IN_MEMORY
        self.wb = xlsxwriter.Workbook(str(self.path), {**OPTIONS, **mode, "tmpdir": str(self.path.parent)})
        self.wb.set_properties({"title": xml_text(title), "author": xml_text(creator),
                                "created": created or _dt.datetime.now(_dt.timezone.utc)})
        self._formats: dict = {None: None, "": None}
        self.sheets: list[Sheet] = []

    def format(self, key):
        try:
            return self._formats[key]
        except KeyError:
            props = self._resolve(key)
            f = self._formats[key] = self.wb.add_format(props) if props else None
            return f

    def sheet(self, title: str, widths: dict[int, float] | None = None, freeze: str | None = None,
              autofilter: str | None = None, landscape_fit: bool = False) -> Sheet:
        ws = self.wb.add_worksheet(xml_text(title))
        for c, w in sorted((widths or {}).items()):
            ws.set_column(c - 1, c - 1, w)
        if freeze and freeze != "A1":
            ws.freeze_panes(freeze)
        if autofilter:
            ws.autofilter(autofilter)
        if landscape_fit:   # print: A4 landscape, one page wide
            ws.set_landscape()
            ws.set_paper(9)
            ws.fit_to_pages(1, 0)
        sheet = Sheet(self, ws, title)
        self.sheets.append(sheet)
        return sheet

    def save(self) -> None:
        try:
            self.wb.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Give up the workbook after a failure: its temporary row files are removed, nothing is written (a partly
        written file is left for the caller, who discards it)."""
        self.wb.fileclosed = True   # no close() from XlsxWriter's destructor
        for ws in self.wb.worksheets():
            fh, name = getattr(ws, "row_data_fh", None), getattr(ws, "row_data_filename", None)
            if fh is not None:
                with contextlib.suppress(OSError, ValueError):
                    fh.close()
            if name:
                with contextlib.suppress(OSError):
                    os.unlink(name)
