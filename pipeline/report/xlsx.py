"""A small, fast, streaming xlsx writer for the audit workbooks.

openpyxl (even in write-only mode) spends ~30 µs per cell building descriptor objects, hashing styles and driving
lxml's incremental writer; the per-report sheets of a 10,000-report batch have millions of cells. This writer
produces the same SpreadsheetML that openpyxl 3.1's write-only mode writes for what workbook.py uses — inline
string cells (``t="inlineStr"``), numbers, styles (fonts, fills, borders, alignment, number formats), column widths,
row heights, frozen panes, autofilters (with their ``_xlnm._FilterDatabase`` names), merged cells, internal and
external hyperlinks, comments (with their VML drawing), A4 landscape fit-to-width page set-up and the document
properties — as plain strings, each sheet streamed into the zip as its rows arrive.

What it does not do: formulas (nothing here ever writes one — every text is a string cell), dates, images, charts.

Usage::

    book = Book(title="…", creator="…", styles=resolver)   # resolver: style key -> (font, fill, align, border, fmt)
    ws = book.sheet("问题清单", widths={1: 12.0}, freeze="A2", autofilter="A1:S10")
    ws.row([("报告编号", "header"), ("机关", "header")])
    ws.row([("x", None), (3, "fmt:0")], height=32, merges=("B2:P2",))
    ws.row([(text, style, Comment(...), Link(location="'总览'!A1"))])
    book.save(path)

A cell is ``None`` (no cell), or a tuple ``(value, style_key)`` / ``(value, style_key, comment, link)``; *value* is
a str (written as is: callers neutralise and clean it), an int/float (NaN/inf: an empty cell), a bool, or None.
Style keys are resolved once per book by *styles* into openpyxl style objects (only used to serialise them).
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import DEFAULT_FONT, Alignment
from openpyxl.styles.colors import COLOR_INDEX
from openpyxl.styles.numbers import BUILTIN_FORMATS_REVERSE
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.writer.theme import theme_xml
from openpyxl.xml.functions import tostring

from . import rawzip

__all__ = ["Book", "Sheet", "Comment", "Link", "ZIP_LEVEL"]

ZIP_LEVEL = 1          # deflate level of the sheets (openpyxl uses 6: files ~12 % smaller, written 2.5x slower)
_FLUSH_ROWS = 2000     # rows buffered before they are encoded and written into the zip

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_COLS = [get_column_letter(i) for i in range(1, 16385)]
_EXACT = 10**15   # ints below this print the same with str() as with openpyxl's '%.16g'


@dataclass(frozen=True)
class Comment:
    """A cell comment: text as shown, author, size of its box in pixels (as openpyxl's Comment)."""
    text: str
    author: str = ""
    width: int = 144
    height: int = 79


@dataclass(frozen=True)
class Link:
    """A hyperlink: *location* inside the target workbook ("'sheet'!A1"), *target* another file (None: this one)."""
    location: str | None = None
    target: str | None = None


# ------------------------------------------------------------------------------------------------ escaping

_TEXT_SPECIAL = re.compile(r"[&<>\r]")
_ATTR_SPECIAL = re.compile(r'[&<>"\r\n\t]')
_TEXT_MAP = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR_MAP = {**_TEXT_MAP, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}


def _text(s: str) -> str:
    """Escaped element text (a CR is kept as a character reference, as lxml writes it)."""
    return _TEXT_SPECIAL.sub(lambda m: _TEXT_MAP[m.group()], s) if _TEXT_SPECIAL.search(s) else s


def _attr(s: str) -> str:
    return _ATTR_SPECIAL.sub(lambda m: _ATTR_MAP[m.group()], s)


def _t(s: str) -> str:
    """A <t> element: xml:space="preserve" when the text has leading/trailing whitespace (as openpyxl)."""
    if s != s.strip():
        return f'<t xml:space="preserve">{_text(s)}</t>'
    return f"<t>{_text(s)}</t>"


def _num(v) -> str:
    """Numbers as openpyxl writes them (``safe_string``: '%.16g')."""
    return "%.16g" % v


# What XML 1.0 cannot carry: openpyxl's control characters plus U+FFFE/U+FFFF (lone surrogates are replaced when
# encoding). Callers already remove control characters from data; this keeps any that slip through from making a
# file Excel refuses to open.
XML_ILLEGAL_RE = re.compile(ILLEGAL_CHARACTERS_RE.pattern + "|[\ufffe\uffff]")


def _clean(s: str) -> str:
    """Remove what XML 1.0 cannot carry from a finished chunk of XML."""
    if XML_ILLEGAL_RE.search(s):
        s = XML_ILLEGAL_RE.sub("", s)
    return s


def _encode(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:   # a lone surrogate (e.g. an undecodable file name): never write invalid UTF-8
        return s.encode("utf-8", "replace")


# ------------------------------------------------------------------------------------------------ styles

def _xml(obj) -> str:
    return tostring(obj.to_tree()).decode("utf-8") if not isinstance(obj, str) else obj


_DEFAULT_FONT_XML = _xml(DEFAULT_FONT)
_DEFAULT_FILLS = ("<fill><patternFill/></fill>", '<fill><patternFill patternType="gray125"/></fill>')
_DEFAULT_BORDER = "<border><left/><right/><top/><bottom/><diagonal/></border>"
_COLORS = "<colors><indexedColors>" + "".join(f'<rgbColor rgb="{c}"/>' for c in COLOR_INDEX[:64]) + \
          "</indexedColors></colors>"
_XML_CACHE: dict[int, tuple[object, str]] = {}


def _component(obj) -> str:
    """Serialised style component (memoised per object: the style objects are module constants)."""
    hit = _XML_CACHE.get(id(obj))
    if hit is None or hit[0] is not obj:
        hit = _XML_CACHE[id(obj)] = (obj, _xml(obj))
    return hit[1]


class _StyleSheet:
    """Cell formats of one book, numbered in order of first use (as openpyxl numbers them)."""

    def __init__(self, resolver):
        self.resolver = resolver
        self.ids: dict[str | None, int] = {None: 0, "": 0}
        self.fonts = [_DEFAULT_FONT_XML]
        self.fills = list(_DEFAULT_FILLS)
        self.borders = [_DEFAULT_BORDER]
        self.numfmts: list[tuple[int, str]] = []
        self.xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" pivotButton="0" quotePrefix="0" xfId="0"/>']
        self._xf_ids: dict[str, int] = {self.xfs[0]: 0}

    @staticmethod
    def _index(items: list, xml: str) -> int:
        try:
            return items.index(xml)
        except ValueError:
            items.append(xml)
            return len(items) - 1

    def id(self, key: str | None) -> int:
        sid = self.ids.get(key)
        if sid is None:
            sid = self.ids[key] = self._register(key)
        return sid

    def _register(self, key: str) -> int:
        font, fill, align, border, fmt = self.resolver(key)
        font_id = self._index(self.fonts, _component(font)) if font is not None else 0
        fill_id = self._index(self.fills, _component(fill)) if fill is not None else 0
        border_id = self._index(self.borders, _component(border)) if border is not None else 0
        fmt_id = 0
        if fmt is not None and fmt != "General":
            fmt_id = BUILTIN_FORMATS_REVERSE.get(fmt)
            if fmt_id is None:
                for i, code in self.numfmts:
                    if code == fmt:
                        fmt_id = i
                        break
                else:
                    fmt_id = 164 + len(self.numfmts)
                    self.numfmts.append((fmt_id, fmt))
        attrs = f'numFmtId="{fmt_id}" fontId="{font_id}" fillId="{fill_id}" borderId="{border_id}"'
        if align is not None and align != Alignment():
            xf = f'<xf {attrs} applyAlignment="1" pivotButton="0" quotePrefix="0" xfId="0">{_component(align)}</xf>'
        else:
            xf = f'<xf {attrs} pivotButton="0" quotePrefix="0" xfId="0"/>'
        sid = self._xf_ids.get(xf)
        if sid is None:
            sid = self._xf_ids[xf] = len(self.xfs)
            self.xfs.append(xf)
        return sid

    def xml(self) -> str:
        numfmts = "".join(f'<numFmt numFmtId="{i}" formatCode="{_attr(c)}"/>' for i, c in self.numfmts)
        return (f'{XML_DECL}<styleSheet xmlns="{NS_MAIN}"><numFmts count="{len(self.numfmts)}">{numfmts}</numFmts>'
                f'<fonts count="{len(self.fonts)}">{"".join(self.fonts)}</fonts>'
                f'<fills count="{len(self.fills)}">{"".join(self.fills)}</fills>'
                f'<borders count="{len(self.borders)}">{"".join(self.borders)}</borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                f'<cellXfs count="{len(self.xfs)}">{"".join(self.xfs)}</cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0" hidden="0"/></cellStyles>'
                '<tableStyles count="0" defaultTableStyle="TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/>'
                f"{_COLORS}</styleSheet>")


# ------------------------------------------------------------------------------------------------ sheets

def _freeze_xml(freeze: str | None) -> str:
    """sheetViews as openpyxl writes them for ``ws.freeze_panes = freeze``."""
    if not freeze or freeze == "A1":
        return ('<sheetViews><sheetView workbookViewId="0"><selection activeCell="A1" sqref="A1"/></sheetView>'
                "</sheetViews>")
    m = re.fullmatch(r"([A-Z]+)(\d+)", freeze)
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    row = int(m.group(2))
    xs, ys = col - 1, row - 1
    if xs and ys:
        pane = f'<pane xSplit="{xs}" ySplit="{ys}" topLeftCell="{freeze}" activePane="bottomRight" state="frozen"/>'
        sel = ('<selection pane="topRight"/><selection pane="bottomLeft"/>'
               '<selection pane="bottomRight" activeCell="A1" sqref="A1"/>')
    elif xs:
        pane = f'<pane xSplit="{xs}" topLeftCell="{freeze}" activePane="topRight" state="frozen"/>'
        sel = '<selection pane="topRight" activeCell="A1" sqref="A1"/>'
    else:
        pane = f'<pane ySplit="{ys}" topLeftCell="{freeze}" activePane="bottomLeft" state="frozen"/>'
        sel = '<selection pane="bottomLeft" activeCell="A1" sqref="A1"/>'
    return f'<sheetViews><sheetView workbookViewId="0">{pane}{sel}</sheetView></sheetViews>'


def _absolute(ref: str) -> str:
    """'A1:S6' -> '$A$1:$S$6'."""
    return ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", part) for part in ref.split(":"))


class Sheet:
    """One worksheet being streamed into the package: rows are appended in order; the sheet is finished when
    the next sheet is started or the book is saved."""

    def __init__(self, book: Book, index: int, title: str, widths: dict[int, float] | None, freeze: str | None,
                 autofilter: str | None, landscape_fit: bool):
        self.book, self.index, self.title = book, index, title
        self.autofilter = autofilter
        self.landscape_fit = landscape_fit
        self.row_count = 0
        self.merges: list[str] = []
        self.links: list[tuple[str, Link]] = []
        self.comments: list[tuple[str, Comment]] = []
        self._buf: list[str] = []
        self._attrs: dict = {}   # style key -> ' s="N"' (or "" for the default style)
        self._fh = book.zip.open(f"xl/worksheets/sheet{index}.xml", ZIP_LEVEL)
        cols = ""
        if widths:
            cols = "<cols>" + "".join(f'<col width="{_num(w)}" customWidth="1" min="{c}" max="{c}"/>'
                                      for c, w in sorted(widths.items())) + "</cols>"
        fit = ' fitToPage="1"' if landscape_fit else ""
        self._buf.append(
            f'{XML_DECL}<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_R}"><sheetPr><outlinePr summaryBelow="1" '
            f'summaryRight="1"/><pageSetUpPr{fit}/></sheetPr>{_freeze_xml(freeze)}'
            f'<sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>{cols}<sheetData>')

    def row(self, cells, height: float | None = None, merges: tuple = ()) -> None:
        """Append one row (a list of cells, see the module doc); *merges* are ranges such as 'B5:P5'."""
        self.row_count += 1
        rs = str(self.row_count)
        out = [f'<row r="{rs}" ht="{_num(height)}" customHeight="1">' if height else f'<row r="{rs}">']
        attrs = self._attrs
        special = _TEXT_SPECIAL.search
        for j, cell in enumerate(cells):
            if cell is None:
                continue
            ref = _COLS[j] + rs
            value = cell[0]
            sa = attrs.get(cell[1])
            if sa is None:
                sa = self._style_attr(cell[1])
            tv = type(value)
            if tv is str:
                if not value:
                    out.append(f'<c r="{ref}"{sa} t="inlineStr"></c>')
                elif special(value) is None and value == value.strip():
                    out.append(f'<c r="{ref}"{sa} t="inlineStr"><is><t>{value}</t></is></c>')
                else:
                    out.append(f'<c r="{ref}"{sa} t="inlineStr"><is>{_t(value)}</is></c>')
            elif tv is int and -_EXACT < value < _EXACT:
                out.append(f'<c r="{ref}"{sa} t="n"><v>{value}</v></c>')
            elif value is None:
                out.append(f'<c r="{ref}"{sa} t="n"></c>')
            else:
                out.append(self._other(ref, sa, value))
            if len(cell) > 2:
                if cell[2] is not None:
                    self.comments.append((ref, cell[2]))
                if len(cell) > 3 and cell[3] is not None:
                    self.links.append((ref, cell[3]))
        out.append("</row>")
        self._buf.append("".join(out))
        if merges:
            self.merges.extend(merges)
        if len(self._buf) >= _FLUSH_ROWS:
            self._flush()

    def _style_attr(self, key) -> str:
        s = self.book.styles.id(key)
        sa = self._attrs[key] = f' s="{s}"' if s else ""
        return sa

    @staticmethod
    def _other(ref: str, sa: str, value) -> str:
        """Cells other than plain strings, small ints and None."""
        if isinstance(value, bool):
            return f'<c r="{ref}"{sa} t="b"><v>{int(value)}</v></c>'
        if isinstance(value, (numbers.Real, np.bool_)):   # floats, big ints, numpy scalars (as openpyxl: numbers)
            f = float(value)
            return (f'<c r="{ref}"{sa} t="n"><v>{_num(value)}</v></c>' if math.isfinite(f)
                    else f'<c r="{ref}"{sa} t="n"></c>')   # NaN/inf: no valid Excel number
        text = str(value)
        return f'<c r="{ref}"{sa} t="inlineStr"><is>{_t(text)}</is></c>' if text else \
            f'<c r="{ref}"{sa} t="inlineStr"></c>'

    def _flush(self) -> None:
        if self._buf:
            self._fh.write(_encode(_clean("".join(self._buf))))
            self._buf = []

    def close(self) -> None:
        tail = ["</sheetData>"]
        if self.autofilter:
            tail.append(f'<autoFilter ref="{self.autofilter}"/>')
        if self.merges:
            tail.append(f'<mergeCells count="{len(self.merges)}">'
                        + "".join(f'<mergeCell ref="{m}"/>' for m in self.merges) + "</mergeCells>")
        rels: list[str] = []
        if self.links:
            parts = []
            for ref, link in self.links:
                attrs = f' ref="{ref}"'
                if link.location is not None:
                    attrs += f' location="{_attr(link.location)}"'
                if link.target is not None:
                    rid = f"rId{len(rels) + 1}"
                    rels.append(f'<Relationship Type="{REL_DOC}/hyperlink" Target="{_attr(link.target)}" '
                                f'TargetMode="External" Id="{rid}"/>')
                    attrs += f' r:id="{rid}"'
                parts.append(f"<hyperlink{attrs}/>")
            tail.append("<hyperlinks>" + "".join(parts) + "</hyperlinks>")
        tail.append('<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>')
        if self.landscape_fit:
            tail.append('<pageSetup orientation="landscape" paperSize="9" fitToHeight="0" fitToWidth="1"/>')
        if self.comments:
            tail.append('<legacyDrawing r:id="anysvml"/>')
        tail.append("</worksheet>")
        self._buf.append("".join(tail))
        self._flush()
        self._fh.close()
        if self.comments:
            n = self.book._write_comments(self.comments)
            rels.append(f'<Relationship Type="{REL_DOC}/comments" Target="/xl/comments/comment{n}.xml" '
                        f'Id="comments"/>')
            rels.append(f'<Relationship Type="{REL_DOC}/vmlDrawing" Target="/xl/drawings/commentsDrawing{n}.vml" '
                        f'Id="anysvml"/>')
        if rels:
            self.book._part(f"xl/worksheets/_rels/sheet{self.index}.xml.rels",
                            f'{XML_DECL}<Relationships xmlns="{NS_PKG_REL}">{"".join(rels)}</Relationships>')


# ------------------------------------------------------------------------------------------------ the book

def _vml(comments: list[tuple[str, Comment]]) -> str:
    shapes = []
    for idx, (ref, c) in enumerate(comments, 1026):
        m = re.fullmatch(r"([A-Z]+)(\d+)", ref)
        col = 0
        for ch in m.group(1):
            col = col * 26 + ord(ch) - 64
        shapes.append(
            '<v:shape type="#_x0000_t202" style="position:absolute; margin-left:59.25pt;margin-top:1.5pt;'
            f'width:{c.width}px;height:{c.height}px;z-index:1;visibility:hidden" fillcolor="#ffffe1" '
            f'o:insetmode="auto" id="_x0000_s{idx:04d}"><v:fill color2="#ffffe1"/>'
            '<v:shadow color="black" obscured="t"/><v:path o:connecttype="none"/>'
            '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"/></v:textbox>'
            '<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/><x:AutoFill>False</x:AutoFill>'
            f"<x:Row>{int(m.group(2)) - 1}</x:Row><x:Column>{col - 1}</x:Column></x:ClientData></v:shape>")
    return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
            '<o:idmap v:ext="edit" data="1"/></o:shapelayout><v:shapetype id="_x0000_t202" coordsize="21600,21600" '
            'o:spt="202" path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
            '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>' + "".join(shapes) + "</xml>")


_STATIC: dict[str, rawzip.Deflated] = {}


def _w3cdtf(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Book:
    """A workbook written straight into *path* (a zip opened at once; sheets are streamed one after the other)."""

    def __init__(self, path: Path, styles, title: str = "", creator: str = "openpyxl"):
        self.path = Path(path)
        self.title, self.creator = title, creator
        self.styles = _StyleSheet(styles)
        self.created = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        self.sheets: list[Sheet] = []
        self.n_comments = 0
        self.overrides: list[tuple[str, str]] = []
        self.zip = rawzip.RawZip(self.path)
        self._open: Sheet | None = None

    def sheet(self, title: str, widths: dict[int, float] | None = None, freeze: str | None = None,
              autofilter: str | None = None, landscape_fit: bool = False) -> Sheet:
        if self._open is not None:
            self._open.close()
        ws = Sheet(self, len(self.sheets) + 1, title, widths, freeze, autofilter, landscape_fit)
        self.sheets.append(ws)
        self.overrides.append((f"/xl/worksheets/sheet{ws.index}.xml", CT_SHEET))
        self._open = ws
        return ws

    def _part(self, name: str, text: str) -> None:
        self.zip.add(name, _encode(_clean(text)))

    def _static(self, name: str, text: str) -> None:
        """A part that is the same in many books: deflated once per process."""
        member = _STATIC.get(text)
        if member is None:
            member = _STATIC[text] = rawzip.deflate(_encode(text))
            if len(_STATIC) > 256:
                _STATIC.clear()
                _STATIC[text] = member
        self.zip.add(name, member)

    def _write_comments(self, comments: list[tuple[str, Comment]]) -> int:
        self.n_comments += 1
        n = self.n_comments
        authors: list[str] = []
        items = []
        for ref, c in comments:
            if c.author not in authors:
                authors.append(c.author)
            items.append(f'<comment ref="{ref}" authorId="{authors.index(c.author)}" shapeId="0"><text>'
                         f"{_t(c.text)}</text></comment>")
        self._part(f"xl/comments/comment{n}.xml",
                   f'{XML_DECL}<comments xmlns="{NS_MAIN}"><authors>'
                   + "".join(f"<author>{_text(a)}</author>" for a in authors)
                   + "</authors><commentList>" + "".join(items) + "</commentList></comments>")
        self._part(f"xl/drawings/commentsDrawing{n}.vml", _vml(comments))
        self.overrides.append((f"/xl/comments/comment{n}.xml", CT_COMMENTS))
        return n

    def save(self) -> None:
        try:
            if self._open is not None:
                self._open.close()
                self._open = None
            if not self.sheets:
                self.sheet("Sheet")
                self._open.close()
                self._open = None
            self._write_package()
        except BaseException:
            self.zip.abort()
            raise
        self.zip.close()

    def abort(self) -> None:
        """Close the file after a failure (its content is incomplete: the caller discards it)."""
        self._open = None
        self.zip.abort()

    def _write_package(self) -> None:
        sheets, names = [], []
        for i, ws in enumerate(self.sheets):
            sheets.append(f'<sheet name="{_attr(ws.title)}" sheetId="{ws.index}" state="visible" '
                          f'r:id="rId{ws.index}"/>')
            if ws.autofilter:
                names.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                             f"{_text(quote_sheetname(ws.title))}!{_absolute(ws.autofilter)}</definedName>")
        defined = f"<definedNames>{''.join(names)}</definedNames>" if names else "<definedNames/>"
        self._part("xl/workbook.xml",
                   f'{XML_DECL}<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_R}"><workbookPr/><workbookProtection/>'
                   '<bookViews><workbookView visibility="visible" minimized="0" showHorizontalScroll="1" '
                   'showVerticalScroll="1" showSheetTabs="1" tabRatio="600" firstSheet="0" activeTab="0" '
                   f'autoFilterDateGrouping="1"/></bookViews><sheets>{"".join(sheets)}</sheets>{defined}'
                   '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>')
        n = len(self.sheets)
        rels = [f'<Relationship Type="{REL_DOC}/worksheet" Target="/xl/worksheets/sheet{ws.index}.xml" '
                f'Id="rId{ws.index}"/>' for ws in self.sheets]
        rels.append(f'<Relationship Type="{REL_DOC}/styles" Target="styles.xml" Id="rId{n + 1}"/>')
        rels.append(f'<Relationship Type="{REL_DOC}/theme" Target="theme/theme1.xml" Id="rId{n + 2}"/>')
        self._part("xl/_rels/workbook.xml.rels",
                   f'{XML_DECL}<Relationships xmlns="{NS_PKG_REL}">{"".join(rels)}</Relationships>')
        self._static("xl/styles.xml", self.styles.xml())
        self._static("xl/theme/theme1.xml", theme_xml)
        modified = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        dc = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'
        terms = 'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        title = f"<dc:title>{_text(self.title)}</dc:title>" if self.title else ""
        self._part("docProps/core.xml",
                   f'{XML_DECL}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
                   f'core-properties" {dc} {terms}><dc:creator>{_text(self.creator)}</dc:creator>{title}'
                   f'<dcterms:created xsi:type="dcterms:W3CDTF">{_w3cdtf(self.created)}</dcterms:created>'
                   f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_w3cdtf(modified)}</dcterms:modified>'
                   "</cp:coreProperties>")
        self._static("docProps/app.xml",
                   f'{XML_DECL}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'extended-properties"><Application>Microsoft Excel Compatible / Openpyxl 3.1.5</Application>'
                   "<AppVersion>3.1</AppVersion></Properties>")
        self._static("_rels/.rels",
                   f'{XML_DECL}<Relationships xmlns="{NS_PKG_REL}">'
                   f'<Relationship Type="{REL_DOC}/officeDocument" Target="xl/workbook.xml" Id="rId1"/>'
                   f'<Relationship Type="{NS_PKG_REL}/metadata/core-properties" Target="docProps/core.xml" Id="rId2"/>'
                   f'<Relationship Type="{REL_DOC}/extended-properties" Target="docProps/app.xml" Id="rId3"/>'
                   "</Relationships>")
        ct = "application/vnd.openxmlformats-"
        overrides = [("/xl/styles.xml", f"{ct}officedocument.spreadsheetml.styles+xml"),
                     ("/xl/theme/theme1.xml", f"{ct}officedocument.theme+xml"),
                     ("/docProps/core.xml", f"{ct}package.core-properties+xml"),
                     ("/docProps/app.xml", f"{ct}officedocument.extended-properties+xml"),
                     *self.overrides,
                     ("/xl/workbook.xml", f"{ct}officedocument.spreadsheetml.sheet.main+xml")]
        vml = (f'<Default Extension="vml" ContentType="{ct}officedocument.vmlDrawing"/>' if self.n_comments else "")
        self._part("[Content_Types].xml",
                   f'{XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   f'<Default Extension="rels" ContentType="{ct}package.relationships+xml"/>'
                   f'<Default Extension="xml" ContentType="application/xml"/>{vml}'
                   + "".join(f'<Override PartName="{p}" ContentType="{c}"/>' for p, c in overrides) + "</Types>")
