"""PDFs → Document: pypdfium2 for the text of every page, pdfplumber's table finder only on the pages that hold
表二/三/四, a word-position reader for tables drawn without ruling lines, and an OCR hook for image-only pages.

1. pypdfium2 (fast, ~1 ms a page) opens the file — an encrypted file that needs a password, or a damaged one, is
   refused here with a bilingual message — and gives each page's text. A page is a *table page* when its text,
   whitespace removed (labels are often broken by spaces and line breaks), holds a table word (第二十条, 本年新收,
   申请人情况, 结果维持 ...); the page after a table page is one too when the table runs to the bottom of the page.
2. Table pages go through pdfplumber (~20–50 pages/s): ruled tables → `Grid`s, the rest of the page → text lines.
   pdfplumber returns None for the positions a merged cell covers (its text sits in the top-left position): those
   positions join the cell to their left in the same row, else the one above, so the grid keeps one origin per
   cell. A table continued from the previous page often lacks its top rule (the browser/Word drew it on the page
   before) and the first row would be lost: a horizontal line is added where the vertical rules start and end.
   One-column "tables" (text framed by a border) are read as text.
3. A table page on which no ruled table is found is read by word positions (`_borderless_grids`): characters in
   content-stream order are joined into cells (a cell's lines follow each other in the stream), cells into row
   bands, and the bands that look like a table (several cells side by side, numbers) into a grid whose rows are the
   vertical positions of single-line cells and whose columns are the number columns and the label columns' left
   edges. Empty number positions become empty cells, so blank cells keep their column.
4. Every other page is read from pypdfium2's text as lines in reading order (top to bottom, left to right).
5. A page with no characters but images (a scanned page) is OCRed when `pipeline.ingest.ocr` is importable and
   `ocr_available()`; otherwise its number is recorded in `meta["image_pages"]`.

Tables split across pages come back as separate grids; normalize finds rows by their labels, so the split does
not matter there. Every block and grid carries its 1-based page number.
"""
from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass, field

from ..document import PAD, Block, Grid

for _name in ("pdfminer", "pdfminer.pdffont", "pdfminer.pdfpage", "pdfminer.converter", "pdfminer.pdfinterp",
              "pdfminer.psparser", "pdfminer.pdfdocument", "pdfminer.cmapdb"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_WS = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u200b\u3000]+")
_SQUEEZE = re.compile(r"[\s\u00a0\u3000\u200b]+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# A page holds a statistical table when its text (whitespace removed: labels are often broken by spaces and line
# breaks) has a word that only the tables print, or a row label of the tables and numbers laid out as a table.
STRONG_MARKERS = (
    "第二十条第（", "第二十条第(", "信息内容", "本年制发件数", "本年新制作数量", "申请人情况",
    "本年新收政府信息公开申请数量", "上年结转政府信息公开申请数量", "结果维持结果纠正", "结果纠正其他结果",
)
TABLE_MARKERS = (
    # 表二
    "第二十条", "本年制发", "本年废止", "现行有效", "本年新制作", "本年新公开", "对外公开总数", "处理决定数量",
    "本年收费金额", "上一年项目数量", "采购项目数量", "采购总金额", "行政许可", "行政处罚", "行政强制",
    "行政事业性收费", "规范性文件",
    # 表三
    "申请人情况", "法人或其他组织", "本年新收", "上年结转", "予以公开", "部分公开", "不予公开", "无法提供",
    "不予处理", "其他处理", "本年度办理结果", "结转下年度", "结转下一年度", "属于国家秘密", "三安全一稳定",
    "保护第三方合法权益", "三类内部事务", "四类过程性信息", "行政执法案卷", "行政查询事项", "不掌握相关政府信息",
    "没有现成信息", "补正后申请内容", "信访举报投诉", "重复申请", "公开出版物", "大量反复申请", "重新出具",
    "逾期不补正", "缴纳费用", "总计",
    # 表四
    "结果维持", "结果纠正", "其他结果", "尚未审结", "未经复议", "复议后起诉", "行政复议", "行政诉讼",
)
MIN_TABLE_NUMBERS = 6

ENCRYPTED = "PDF已加密，需要密码才能打开 | The PDF is encrypted and needs a password to open"
DAMAGED = ("PDF文件已损坏或不完整（可能下载中断），无法读取 | The PDF is damaged or truncated (an interrupted download?) "
           "and cannot be read{en}")


class PdfReadError(ValueError):
    """A PDF this reader refuses; the message is bilingual ('中文 | English') and meant for the reports row."""


class PdfEncryptedError(PdfReadError):
    pass


def _damaged(detail: str = "") -> PdfReadError:
    detail = _WS.sub(" ", str(detail)).strip().encode("ascii", "replace").decode("ascii")[:200]
    return PdfReadError(DAMAGED.format(en=f": {detail}" if detail else ""))


def _clean(s: str | None) -> str:
    if s is None:
        return ""
    lines = [_WS.sub(" ", ln).strip() for ln in _CTRL.sub("", s).split("\n")]
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


def squeeze(text: str) -> str:
    return _SQUEEZE.sub("", text or "")


_PAGE_NO = re.compile(r"[-—－·\s]*\d{1,3}[-—－·\s]*|第\s*\d+\s*页(\s*[,，/]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+")


def starts_with_numbers(text: str) -> bool:
    """Does a page begin (page numbers aside) with numbers only — the value row of a table continued from the page
    before, on one line or one number a line?"""
    nums = 0
    for ln in (text or "").splitlines():
        s = ln.strip()
        if not s:
            continue
        toks = s.split()
        if all(_is_num(t) for t in toks):
            if len(toks) == 1 and nums == 0 and re.search(r"[-—－]", s):
                continue  # "- 5 -"
            nums += len(toks)
            continue
        if nums == 0 and _PAGE_NO.fullmatch(s):
            continue
        break
    return nums >= 3


def table_numbers(text: str) -> int:
    """Numbers laid out as in a table: alone on a line, or followed by another number (a row of cells)."""
    n = 0
    for ln in (text or "").splitlines():
        toks = ln.split()
        for i, t in enumerate(toks):
            if _is_num(t) and (len(toks) == 1 or (i + 1 < len(toks) and _is_num(toks[i + 1]))
                               or (i > 0 and _is_num(toks[i - 1]))):
                n += 1
    return n


def is_table_text(text: str) -> bool:
    """Does a page's text hold (part of) 表二/三/四: a word only the tables print, or a table word and numbers laid
    out as table cells?"""
    sq = squeeze(text)
    if any(m in sq for m in STRONG_MARKERS):
        return True
    return any(m in sq for m in TABLE_MARKERS) and table_numbers(text) >= MIN_TABLE_NUMBERS


# --- grids from pdfplumber tables ---------------------------------------------------------------------------

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


def _table_block(grid: Grid, page: int) -> Block:
    flat = "\n".join(" ".join(dict.fromkeys(c for c in row if c)) for row in grid.cells)
    return Block(kind="table", text=flat, grid=grid, location=grid.source, page=page)


def _rule_ends(page) -> list[float]:
    """y of the top and bottom of each run of vertical rules: a table cut by a page break has its vertical rules
    but lacks the horizontal rule at the cut, so the first (last) row would not close into cells."""
    v = sorted(((e["top"], e["bottom"]) for e in page.edges
                if e["orientation"] == "v" and e["bottom"] - e["top"] > 2), key=lambda t: t[0])
    ys: list[float] = []
    run_top = run_bottom = None
    for top, bottom in v:
        if run_top is None or top > run_bottom + 3:
            if run_top is not None:
                ys += [run_top, run_bottom]
            run_top, run_bottom = top, bottom
        else:
            run_bottom = max(run_bottom, bottom)
    if run_top is not None:
        ys += [run_top, run_bottom]
    return ys


def _extract(table) -> list[list[str | None]]:
    """pdfplumber's `Table.extract()` — the same chars in each cell (a char belongs to a cell when its middle lies in
    the cell, left/top edges included), the same text — without testing every char of the page against every row:
    the chars are sorted once by their vertical middle and each row takes its slice by bisection; a cell of one char
    gets that char's text as extract_text would make it (blank → "", ligatures expanded)."""
    from bisect import bisect_left

    from pdfplumber.utils.text import LIGATURES, extract_text

    mids = sorted((((ch["top"] + ch["bottom"]) / 2, (ch["x0"] + ch["x1"]) / 2, i, ch)
                   for i, ch in enumerate(table.page.chars)), key=lambda t: t[0])
    vs = [t[0] for t in mids]
    out = []
    for row in table.rows:
        x0, top, x1, bottom = row.bbox
        row_chars = sorted((t for t in mids[bisect_left(vs, top):bisect_left(vs, bottom)] if x0 <= t[1] < x1),
                           key=lambda t: t[2])  # page order, as pdfplumber
        arr: list[str | None] = []
        for cell in row.cells:
            if cell is None:
                arr.append(None)
                continue
            cx0, ctop, cx1, cbottom = cell
            chars = [t[3] for t in row_chars if cx0 <= t[1] < cx1 and ctop <= t[0] < cbottom]
            if len(chars) == 1:  # most cells (a "0"): what extract_text makes of one char, without its machinery
                text = chars[0]["text"]
                arr.append("" if text.isspace() else LIGATURES.get(text, text))
            else:
                arr.append(extract_text(chars) if chars else "")
        out.append(arr)
    return out


def _ruled_tables(page) -> list:
    """pdfplumber tables of a page, with lines added where a page break cut a table's rules."""
    settings = {}
    ends = _rule_ends(page)
    if ends:
        settings["explicit_horizontal_lines"] = ends
    try:
        return page.find_tables(table_settings=settings) if settings else page.find_tables()
    except (ValueError, IndexError, ZeroDivisionError):
        return page.find_tables()


# --- tables without ruling lines: cells from the character stream -------------------------------------------

_NUM = re.compile(r"^[\s\d０-９.,，．+\-－—―/／%％]+$")


def _is_num(text: str) -> bool:
    t = text.strip()
    return bool(t) and len(t) <= 14 and bool(_NUM.match(t)) and any(ch.isdigit() for ch in t)


_DASHES = {"-", "—", "——", "－", "–", "/", "／", "无", "\\"}


def _is_value(text: str) -> bool:
    """A number or a dash standing for none: what a value cell holds."""
    return _is_num(text) or text.strip() in _DASHES


@dataclass
class _Run:
    """One cell's text as it comes in the content stream: lines of characters."""
    lines: list[list[dict]] = field(default_factory=list)

    @property
    def chars(self):
        return [c for ln in self.lines for c in ln]

    def bbox(self):
        cs = self.chars
        return (min(c["x0"] for c in cs), min(c["top"] for c in cs), max(c["x1"] for c in cs),
                max(c["bottom"] for c in cs))

    def text(self) -> str:
        out = []
        for ln in self.lines:
            s, prev = "", None
            for c in ln:
                if prev is not None and c["x0"] - prev["x1"] > 0.3 * _size(c):
                    s += " "
                s += c["text"]
                prev = c
            out.append(s.strip())
        return "\n".join(x for x in out if x)


def _size(c) -> float:
    return max(c.get("size") or 0.0, c["bottom"] - c["top"], 1.0)


def _runs(chars: list[dict]) -> list[_Run]:
    """Join characters (in content-stream order) into cells: same line and close, or the next line of the cell."""
    runs: list[_Run] = []
    cur: _Run | None = None
    for c in chars:
        if not c["text"].strip():
            continue
        if cur is not None:
            last = cur.lines[-1][-1]
            size = _size(last)
            line_top = cur.lines[-1][0]["top"]
            dx = c["x0"] - last["x1"]
            if abs(c["top"] - last["top"]) < 0.35 * size and -0.5 * size < dx < 0.7 * size:
                cur.lines[-1].append(c)
                continue
            dy = c["top"] - line_top
            x0, _, x1, _ = cur.bbox()
            first_x0 = cur.lines[0][0]["x0"]
            numeric = _is_value("".join(ch["text"] for ch in cur.chars))
            same_size = abs(_size(c) - size) <= 0.15 * size
            pitch_ok = True
            if len(cur.lines) >= 2:
                pitch = cur.lines[-1][0]["top"] - cur.lines[-2][0]["top"]
                pitch_ok = abs(dy - pitch) <= 0.25 * max(pitch, size)
            if (not numeric and same_size and pitch_ok and 0.6 * size < dy < 2.2 * size
                    and (abs(c["x0"] - first_x0) < 0.6 * size or x0 - 0.6 * size <= c["x0"] <= x1 + 0.2 * size)):
                cur.lines.append([c])
                continue
        cur = _Run(lines=[[c]])
        runs.append(cur)
    return runs


@dataclass
class _Cell:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    n_lines: int

    @property
    def cx(self):
        return (self.x0 + self.x1) / 2

    @property
    def cy(self):
        return (self.top + self.bottom) / 2


def _cells(chars: list[dict]) -> list[_Cell]:
    out = []
    for r in _runs(chars):
        text = r.text()
        if not text:
            continue
        x0, top, x1, bottom = r.bbox()
        size = sorted(_size(c) for c in r.chars)[len(r.chars) // 2]
        out.append(_Cell(text, x0, top, x1, bottom, size, len(r.lines)))
    return out


def _bands(cells: list[_Cell]) -> list[list[_Cell]]:
    """Cells whose vertical extents overlap (transitively), top to bottom."""
    bands: list[list[_Cell]] = []
    bottom = None
    for c in sorted(cells, key=lambda c: c.top):
        if bands and c.top < bottom - 0.25 * c.size:
            bands[-1].append(c)
            bottom = max(bottom, c.bottom)
        else:
            bands.append([c])
            bottom = c.bottom
    return bands


def _side_by_side(band: list[_Cell]) -> bool:
    cs = sorted(band, key=lambda c: c.x0)
    return any(b.x0 >= a.x1 - 0.2 * a.size for a, b in zip(cs, cs[1:]))


def _band_size(band: list[_Cell]) -> float:
    return sorted(c.size for c in band)[len(band) // 2]


def _regions(cells: list[_Cell], text_width: float, continuing: bool = False) -> list[list[list[_Cell]]]:
    """Runs of bands that look like a table (several cells side by side, one font size, no gap of a blank line,
    numbers in them) → each region as its bands. `continuing`: a borderless table ended the previous page, so one
    row of numbers at the top of this page is enough."""
    bands = _bands(cells)
    kinds = []
    for b in bands:
        wide_prose = any(len(c.text) > 40 and (c.x1 - c.x0) > 0.6 * text_width for c in b)
        kinds.append("T" if (len(b) >= 2 and _side_by_side(b) and not wide_prose) else ("P" if wide_prose else "S"))
    regions: list[list[int]] = []
    cur: list[int] = []
    for i, b in enumerate(bands):
        if cur:
            prev = bands[cur[-1]]
            size = _band_size([c for j in cur if kinds[j] == "T" for c in bands[j]] or prev)
            gap = min(c.top for c in b) - max(c.bottom for c in prev)
            joins = gap < 1.3 * size and abs(_band_size(b) - size) <= 0.15 * size
        else:
            joins = False
        if kinds[i] == "T":
            if cur and joins:
                cur.append(i)
            else:
                if cur:
                    regions.append(cur)
                cur = [i]
        elif kinds[i] == "S" and cur and joins:
            cur.append(i)  # kept only when a table band follows (trimmed below)
        else:
            if cur:
                regions.append(cur)
            cur = []
    if cur:
        regions.append(cur)
    out = []
    last_bottom = None
    for reg in regions:
        while reg and kinds[reg[-1]] != "T":
            reg.pop()
        if not reg:
            continue
        members = [c for i in reg for c in bands[i]]
        nums = [c for c in members if _is_num(c.text)]
        size = _band_size(members)
        rows_with_numbers = len(_cluster([c.cy for c in nums], 0.35 * size)) if nums else 0
        t_bands = [i for i in reg if kinds[i] == "T"]
        # rows spaced out by paragraph spacing come as regions of their own: one close below a table goes on it
        follows = (continuing and not out) or (last_bottom is not None
                                                and min(c.top for c in members) - last_bottom < 4 * size)
        if (len(nums) >= 3 and (len(t_bands) >= 2 or rows_with_numbers >= 2 or len(nums) >= 5)) or (follows and nums):
            out.append([bands[i] for i in reg])
            last_bottom = max(c.bottom for c in members)
    return out


def _cluster(values: list[float], tol: float) -> list[float]:
    """1-D clusters (chained within tol) → their means, ascending."""
    out: list[list[float]] = []
    for v in sorted(values):
        if out and v - out[-1][-1] <= tol:
            out[-1].append(v)
        else:
            out.append([v])
    return [sum(g) / len(g) for g in out]


def _spacing(cols: list[float]) -> float:
    gaps = sorted(b - a for a, b in zip(cols, cols[1:]))
    return gaps[(len(gaps) - 1) // 2] if gaps else 0.0  # the lower median: blank columns make wide gaps


def _column_centres(xs: list[float], size: float) -> list[float]:
    """Centres of the number columns. A cell text pushed sideways (leading spaces) stays in its column: after a
    first pass, clusters closer than a third of the usual column spacing are one column."""
    cols = _cluster(xs, 0.9 * size)
    if len(cols) >= 3:
        cols = _cluster(xs, max(0.9 * size, 0.3 * _spacing(cols)))
    return cols


def _match_tol(cols: list[float], size: float) -> float:
    return max(0.9 * size, 0.35 * _spacing(cols))


def _value_columns(bands: list[list[_Cell]], size: float, value_left: float, prev: list[float] | None) -> list[float]:
    """Centres of the number columns: where numbers stand, plus the lowest header cells (a column whose cells are
    all blank still has its header), plus the previous page's columns when this page continues that table."""
    cells = [c for b in bands for c in b]
    nums = [c for c in cells if _is_value(c.text) and c.n_lines == 1]
    num_cols = _column_centres([c.cx for c in nums], size)
    heads = []
    for b in bands:
        if len(b) < 2:
            continue  # a caption row
        for h in b:
            if _is_value(h.text) or h.cx < value_left:
                continue
            below = [c for c in cells if c is not h and c.top > h.bottom - 0.3 * size and not _is_value(c.text)
                     and c.cx >= value_left and h.x0 - 0.5 * size <= c.cx <= h.x1 + 0.5 * size
                     and c.top - h.bottom < 3 * size]
            if not below:
                heads.append(h.cx)
    extra = list(heads)
    if prev:
        extra += prev  # checked compatible by the caller
    tol = _match_tol(prev or _cluster(num_cols + heads, 0.9 * size), size)
    cols = list(num_cols)
    for x in _cluster(extra, 0.9 * size):
        if all(abs(x - n) > tol for n in cols):
            cols.append(x)
    cols.sort()
    if len(cols) > 2:
        gaps = sorted(b - a for a, b in zip(cols, cols[1:]))
        typical = gaps[len(gaps) // 2]
        keep = []
        for i, x in enumerate(cols):
            near = min([abs(x - y) for j, y in enumerate(cols) if j != i])
            if any(abs(x - n) <= tol for n in num_cols) or near >= 0.6 * typical:
                keep.append(x)
        cols = keep
    return cols


def _region_grid(bands: list[list[_Cell]], source: str, page: int, prev_cols: list[float] | None = None
                 ) -> tuple[Grid, list[float]] | None:
    cells = [c for b in bands for c in b]
    size = sorted(c.size for c in cells)[len(cells) // 2]
    nums = [c for c in cells if _is_value(c.text) and c.n_lines == 1]
    if not nums:
        return None
    num_cols = _column_centres([c.cx for c in nums], size)
    first_tol = _match_tol(num_cols, size)
    value_left = min(c.x0 for c in nums if abs(c.cx - num_cols[0]) <= first_tol) - 0.5 * size
    if prev_cols and all(any(abs(x - p) <= _match_tol(prev_cols, size) for p in prev_cols) for x in num_cols):
        value_left = min(value_left, prev_cols[0] - 0.5 * size)  # the same table, with some columns blank here
    else:
        prev_cols = None
    vcols = _value_columns(bands, size, value_left, prev_cols)
    label_cells = [c for c in cells if c.cx < value_left]
    lcols = _cluster([c.x0 for c in label_cells], 0.6 * size) if label_cells else []
    n_lab, n_cols = len(lcols), len(lcols) + len(vcols)

    # rows: vertical centres of single-line cells; a taller cell that covers none of them adds its own. A label
    # with more labels to its right (a group label spanning several rows) decides no row.
    def leaf(c):
        if c.cx >= value_left:
            return True
        return not any(o is not c and o.x0 >= c.x1 - 0.2 * size and o.top < c.bottom and o.bottom > c.top
                       for o in label_cells)

    deciding = [c for c in cells if leaf(c)]
    rows = _cluster([c.cy for c in deciding if c.n_lines == 1], 0.35 * size)
    tol = 0.3 * size
    for c in sorted((c for c in deciding if c.n_lines > 1), key=lambda c: c.cy):
        if not any(c.top - tol <= y <= c.bottom + tol for y in rows):
            rows = sorted(rows + [c.cy])
    if not rows:
        return None

    def row_span(c):
        covered = [i for i, y in enumerate(rows) if c.top - tol <= y <= c.bottom + tol]
        if not covered:
            return min(range(len(rows)), key=lambda i: abs(rows[i] - c.cy)), 1
        return covered[0], covered[-1] - covered[0] + 1

    def col_span(c):
        if c.cx < value_left and lcols:
            start = min(range(n_lab), key=lambda i: abs(lcols[i] - c.x0))
            end = start
            while end + 1 < n_lab and lcols[end + 1] < c.x1 - 0.5 * c.size:
                end += 1
            if end == n_lab - 1:  # a label running over the number columns (a caption or a wide label)
                extra = [i for i, x in enumerate(vcols) if x + 0.25 * c.size < c.x1]
                end = n_lab + extra[-1] if extra else end
            return start, end - start + 1
        inside = [i for i, x in enumerate(vcols) if c.x0 - 0.5 * c.size <= x <= c.x1 + 0.5 * c.size]
        if not inside:
            inside = [min(range(len(vcols)), key=lambda i: abs(vcols[i] - c.cx))]
        return n_lab + inside[0], inside[-1] - inside[0] + 1

    n_rows = len(rows)
    grid: list[list[str]] = [[""] * n_cols for _ in range(n_rows)]
    origin = [[PAD] * n_cols for _ in range(n_rows)]
    oid = 0
    for c in sorted(cells, key=lambda c: (c.top, c.x0)):
        r0, rs = row_span(c)
        c0, cs = col_span(c)
        if origin[r0][c0] != PAD:
            free = [j for j in range(c0, n_cols) if origin[r0][j] == PAD]
            if not free:
                grid[r0][c0] = (grid[r0][c0] + " " + c.text).strip()
                continue
            c0, cs = free[0], 1
        for dr in range(rs):
            for dc in range(cs):
                if c0 + dc < n_cols and origin[r0 + dr][c0 + dc] == PAD:
                    grid[r0 + dr][c0 + dc] = c.text
                    origin[r0 + dr][c0 + dc] = oid
        oid += 1
    # empty number positions of a data row (numbers, or a label and nothing above the number columns) are empty
    # cells: a blank cell keeps its column; empty label positions stay padding
    for r in range(n_rows):
        numbers = any(origin[r][j] != PAD and _is_value(grid[r][j]) for j in range(n_lab, n_cols))
        words = any(origin[r][j] != PAD and not _is_value(grid[r][j]) for j in range(n_lab, n_cols))
        labelled = any(origin[r][j] != PAD for j in range(n_lab))
        if not (numbers or (labelled and not words)):
            continue  # a header or caption row
        for j in range(n_lab, n_cols):
            if origin[r][j] == PAD:
                origin[r][j] = oid
                oid += 1
    keep = [r for r in range(n_rows) if any(o != PAD for o in origin[r])]
    g = Grid(cells=[grid[r] for r in keep], origin=[origin[r] for r in keep], source=source, page=page)
    return g, vcols


def _borderless_grids(chars: list[dict], pno: int, first_no: int, prev_cols: list[float] | None = None
                      ) -> list[tuple[tuple, Grid, list[float]]]:
    """Tables without ruling lines on one page: [(bbox, grid, number-column centres)], top to bottom.
    `prev_cols`: the number columns of a borderless table at the bottom of the previous page."""
    cells = _cells(chars)
    if len(cells) < 4:
        return []
    x0 = min(c.x0 for c in cells)
    x1 = max(c.x1 for c in cells)
    out = []
    cols = prev_cols
    for bands in _regions(cells, max(x1 - x0, 1.0), continuing=bool(prev_cols)):
        got = _region_grid(bands, f"PDF第{pno}页表格{first_no + len(out)}", pno, cols)
        if got is None or got[0].n_cols < 2:
            continue
        cols = got[1]  # the next region (rows spaced out, or the table going on) may lack some columns
        members = [c for b in bands for c in b]
        bbox = (min(c.x0 for c in members), min(c.top for c in members), max(c.x1 for c in members),
                max(c.bottom for c in members))
        out.append((bbox, got[0], got[1]))
    return out


# --- pages -----------------------------------------------------------------------------------------------------

def _pdfium_lines(page, textpage, pno: int) -> list[Block]:
    """A page's text as lines in reading order (top to bottom, then left to right)."""
    text = textpage.get_text_range()
    n = textpage.count_chars()
    height = page.get_height()
    items = []
    pos = 0
    for m in re.finditer(r"[^\r\n]+", text):
        s = _clean(m.group(0))
        if not s:
            continue
        key = (0.0, 0.0, pos)
        if len(text) == n:
            i = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
            try:
                left, _, _, top = textpage.get_charbox(i)
                key = (round((height - top) / 3.0), left, pos)
            except Exception:  # noqa: BLE001 - a position is only used for ordering
                pass
        items.append((key, s))
        pos += 1
    if len(text) == n:
        items.sort(key=lambda x: x[0])
    return [Block(kind="text", text=s, location=f"PDF第{pno}页", page=pno) for _, s in items]


def _has_images(page) -> bool:
    import pypdfium2.raw as pdfium_c

    try:
        return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))
    except Exception:  # noqa: BLE001
        return False


def _ocr_module():
    try:
        from . import ocr  # noqa: PLC0415 - optional, written separately
    except ImportError:
        return None
    try:
        return ocr if ocr.ocr_available() else None
    except Exception:  # noqa: BLE001
        return None


def _plumber_page(page, pno: int, n_tables: int, state: dict) -> tuple[list[Block], int, bool]:
    """One table page: (blocks in reading order, tables so far, a table reaches the page bottom).
    `state["cols"]`: number columns of a borderless table that reached the bottom of the previous page."""
    items: list[tuple[float, int, Block]] = []
    data_bboxes = []
    for t in _ruled_tables(page):
        rows = _extract(t)
        width = max((len(r) for r in rows), default=0)
        distinct = [sum(1 for v in r if v is not None) for r in rows]
        if width < 2 or max(distinct, default=0) < 2:
            continue  # a bordered text frame, not a data table: read it as text
        n_tables += 1
        grid = _grid_from_rows(rows, f"PDF第{pno}页表格{n_tables}", pno)
        items.append((t.bbox[1], 1, _table_block(grid, pno)))
        data_bboxes.append(t.bbox)
    last_cols = None
    if not data_bboxes:
        for bbox, grid, cols in _borderless_grids(page.chars, pno, n_tables + 1, state.get("cols")):
            n_tables += 1
            items.append((bbox[1], 1, _table_block(grid, pno)))
            data_bboxes.append(bbox)
            last_cols = cols
    text_page = page
    for bbox in data_bboxes:
        x0, top, x1, bottom = bbox
        bbox = (max(x0, page.bbox[0]), max(top, page.bbox[1]), min(x1, page.bbox[2]), min(bottom, page.bbox[3]))
        try:
            text_page = text_page.outside_bbox(bbox)
        except ValueError:
            pass
    lines = []
    for ln in text_page.extract_text_lines(layout=False, strip=True):
        s = _clean(ln.get("text", ""))
        if s:
            lines.append(ln)
            items.append((ln["top"], 0, Block(kind="text", text=s, location=f"PDF第{pno}页", page=pno)))
    items.sort(key=lambda x: (round(x[0], 1), x[1]))
    # does a table run to the bottom of the page (only a page number or nothing below it)?
    reaches_bottom = False
    if data_bboxes:
        table_bottom = max(b[3] for b in data_bboxes)
        below = [ln for ln in lines if ln["top"] > table_bottom]
        reaches_bottom = (table_bottom > 0.8 * page.height
                          or all(len(squeeze(ln["text"])) <= 8 for ln in below))
    state["cols"] = last_cols if reaches_bottom else None
    return [b for _, _, b in items], n_tables, reaches_bottom


def _read_bytes(path_or_file) -> bytes:
    if isinstance(path_or_file, (bytes, bytearray)):
        return bytes(path_or_file)
    if hasattr(path_or_file, "read"):
        if hasattr(path_or_file, "seek"):
            path_or_file.seek(0)
        return path_or_file.read()
    with open(path_or_file, "rb") as fh:
        return fh.read()


def _open_pdfium(data: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        import pypdfium2.raw as pdfium_c

        if code == pdfium_c.FPDF_ERR_PASSWORD or "password" in str(exc).lower():
            raise PdfEncryptedError(ENCRYPTED) from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise PdfEncryptedError("PDF使用了不支持的加密方式 | The PDF uses an unsupported encryption "
                                    "(security handler)") from None
        raise _damaged(str(exc)) from None


def parse_pdf(path_or_file) -> tuple[list[Block], dict, str, int]:
    """Returns (blocks, metadata, title, number of pages). Raises PdfReadError (bilingual message) for an
    encrypted or damaged file."""
    data = _read_bytes(path_or_file)
    if isinstance(path_or_file, (str, os.PathLike)):
        name = str(path_or_file)
    else:
        name = str(getattr(path_or_file, "name", "") or "")
    doc = _open_pdfium(data)
    try:
        return _parse(doc, data, name)
    finally:
        doc.close()


def _parse(doc, data: bytes, name: str = "") -> tuple[list[Block], dict, str, int]:
    from ..isolation import still_working
    from . import pdf_objects  # imports pdfplumber: only when a PDF is read

    meta: dict = {}
    try:
        info = doc.get_metadata_dict(skip_empty=True)
    except Exception:  # noqa: BLE001 - a broken info dictionary is no reason to refuse the file
        info = {}
    for k_src, k in (("Title", "title"), ("CreationDate", "creation_date"), ("ModDate", "mod_date")):
        if info.get(k_src):
            s = _pdf_string(info[k_src])
            if s:
                meta[k] = s
    n_pages = len(doc)
    texts, textpages, pages = [], [], []
    for i in range(n_pages):
        try:
            pg = doc[i]
            tp = pg.get_textpage()
            texts.append(tp.get_text_range())
        except Exception as exc:  # noqa: BLE001
            raise _damaged(f"page {i + 1}: {exc}") from None
        pages.append(pg)
        textpages.append(tp)
    table_pages = {i for i, t in enumerate(texts) if is_table_text(t)}

    use_pdfium = pdf_objects.backend() == "pdfium"
    geos: list | None = None  # pdfium page geometry and pdfplumber's doctop of every page, when first needed
    plumber = None
    state: dict = {}
    blocks: list[Block] = []
    n_tables = 0
    image_pages: list[int] = []
    ocr_pages: list[int] = []
    ocr = None
    ocr_checked = False
    i = 0
    try:
        while i < n_pages:
            pno = i + 1
            got = None
            if i in table_pages and use_pdfium:
                # pdfplumber's table finder on objects built by pdfium (pdf_objects): no pdfminer parse
                try:
                    if geos is None:
                        geos = [pdf_objects.Geometry.of(pg) for pg in pages]
                        geos = list(zip(geos, pdf_objects.doctops(geos)))
                    geo, doctop = geos[i]
                    page = pdf_objects.PdfiumPage(pages[i], textpages[i], pno, doctop, geo, texts[i])
                    got = _plumber_page(page, pno, n_tables, state)
                    page.flush_cache()
                except Exception as exc:  # noqa: BLE001 - objects pdfium cannot give: this page through pdfminer
                    meta.setdefault("pdfium_object_errors", []).append(
                        f"page {pno}: {type(exc).__name__}: {exc}"[:300])
                    got = None
            if i in table_pages and got is None and plumber is None and "pdfplumber_error" not in meta:
                try:
                    plumber = _open_plumber(data)
                except PdfEncryptedError:
                    raise
                except PdfReadError as exc:  # pdfminer cannot read what pdfium could: keep pdfium's text
                    meta["pdfplumber_error"] = str(exc).split(" | ", 1)[-1]
            if i in table_pages and got is None and plumber is not None:
                try:
                    page = plumber.pages[i]
                    got = _plumber_page(page, pno, n_tables, state)
                    page.flush_cache()
                except Exception as exc:  # noqa: BLE001 - pdfminer on a page it cannot parse: pdfium's text
                    meta.setdefault("page_errors", []).append(f"page {pno}: {type(exc).__name__}: {exc}"[:300])
                    got = None
            if i in table_pages:
                if got is not None:
                    page_blocks, n_tables, reaches_bottom = got
                else:
                    page_blocks, reaches_bottom = _pdfium_lines(pages[i], textpages[i], pno), False
                    state.clear()
                blocks.extend(page_blocks)
                still_working()
                if i + 1 < n_pages and (reaches_bottom or starts_with_numbers(texts[i + 1])):
                    table_pages.add(i + 1)  # the table may go on over the page break
            elif textpages[i].count_chars() == 0 or not texts[i].strip():
                if _has_images(pages[i]):
                    if not ocr_checked:
                        ocr, ocr_checked = _ocr_module(), True
                    got = None
                    if ocr is not None:
                        try:
                            got = ocr.ocr_page(pages[i].render(scale=200 / 72).to_pil(), pno, name) or []
                        except Exception as exc:  # noqa: BLE001 - an OCR failure loses this page only
                            meta.setdefault("ocr_errors", []).append(f"page {pno}: {type(exc).__name__}: {exc}"[:300])
                        still_working()  # a long scan keeps its time limit moving, page by page
                    if got is None:
                        image_pages.append(pno)
                    else:
                        for b in got:
                            if b.page is None:
                                b.page = pno
                            if b.grid is not None and b.grid.page is None:
                                b.grid.page = pno
                        blocks.extend(got)
                        ocr_pages.append(pno)
            else:
                blocks.extend(_pdfium_lines(pages[i], textpages[i], pno))
            i += 1
    finally:
        if plumber is not None:
            plumber.close()
        for tp in textpages:
            tp.close()
        for pg in pages:
            pg.close()
    if image_pages:
        meta["image_pages"] = image_pages
    if ocr_pages:
        meta["ocr_pages"] = ocr_pages
    return blocks, meta, meta.get("title", ""), n_pages


def _open_plumber(data: bytes):
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
        _ = pdf.pages  # parses the page tree
        return pdf
    except PDFPasswordIncorrect:
        raise PdfEncryptedError(ENCRYPTED) from None
    except Exception as exc:  # noqa: BLE001
        raise _damaged(f"{type(exc).__name__}: {exc}") from None
