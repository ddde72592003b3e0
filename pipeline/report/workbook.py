"""audit.xlsx for analysts (Excel / WPS on Chinese Windows), Chinese headers throughout.

Sheets:

- 总览 — one row per report (agency-year): counts by severity, K-07 quality score, template, status and a link to
  its detail (a sheet of this workbook, or for large batches a sheet of ``workbooks/<机关>.xlsx``);
- 问题清单 — every finding (autofilter, frozen header, widths fitted to Chinese text, fill by severity);
- 指标 — the K-indicators per report;
- 规则说明 — the rule catalogue with its bases and how often each rule fired in this batch;
- one detail sheet per report (up to :data:`DETAIL_SHEETS_MAX` reports; above that one workbook per agency under
  ``OUT/workbooks/``): tables 二/三/四 redrawn in the template's layout, each cell a finding points at filled by
  severity with a comment carrying the message(s), blank and missing template cells visibly marked, followed by
  the report's findings.

Written with openpyxl in write-only mode (rows are streamed). Every text cell is written as a string cell
(data_type 's'): control characters Excel rejects are removed and values that would start a formula get a leading
``'`` (the same neutralisation as the CSVs), so no cell can ever become a formula.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
from concurrent.futures import ProcessPoolExecutor
import unicodedata
from copy import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink

from . import labels as L
from .csvout import _is_missing, neutralise

log = logging.getLogger(__name__)

SHEET_OVERVIEW = "总览"
SHEET_FINDINGS = "问题清单"
SHEET_INDICATORS = "指标"
SHEET_RULES = "规则说明"
FIXED_SHEETS = (SHEET_OVERVIEW, SHEET_FINDINGS, SHEET_INDICATORS, SHEET_RULES)
WORKBOOKS_DIR = "workbooks"

# Up to this many reports every report gets a sheet in audit.xlsx; above it, one workbook per agency under
# OUT/workbooks/ (a workbook with thousands of sheets is unusable in Excel/WPS and slow to open).
DETAIL_SHEETS_MAX = 200

SEVERITY_ZH = L.SEVERITY_ZH
REPORT_STATUS_ZH = L.REPORT_STATUS_ZH
FINDING_STATUS_ZH = L.FINDING_STATUS_ZH
TABLE_ZH = L.TABLE_ZH

SEVERITY_COLOR = {"error": "FFC7CE", "warning": "FFEB9C", "info": "DDEBF7"}
SEVERITY_FILL = {k: PatternFill("solid", fgColor=v) for k, v in SEVERITY_COLOR.items()}
BLANK_FILL = PatternFill("lightUp", fgColor="A6A6A6", bgColor="F2F2F2")     # hatched grey: blank but required
MISSING_FILL = PatternFill("darkUp", fgColor="808080", bgColor="D9D9D9")    # darker hatch: not in the document
HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
TITLE_FILL = PatternFill("solid", fgColor="B4C6E7")
HEADER_FONT = Font(bold=True)
TITLE_FONT = Font(bold=True, size=12)
MARK_FONT = Font(italic=True, color="595959", size=9)
LINK_FONT = Font(color="0563C1", underline="single")
HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
WRAP_ALIGN = Alignment(vertical="center", wrap_text=True)
CENTER_ALIGN = Alignment(horizontal="center", vertical="center")
HEADER_BORDER = Border(bottom=Side(style="thin", color="808080"))
_THIN = Side(style="thin", color="A6A6A6")
GRID_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)

BLANK_MARK = "空白"       # shown in a blank template cell
MISSING_MARK = "未找到"   # shown in a template cell absent from the document

MAX_WIDTH = 60
MIN_WIDTH = 6
WIDTH_SAMPLE_ROWS = 2000      # column widths are measured on the first rows only (keeps big batches fast)
MAX_CELL_CHARS = 32767        # Excel's limit per cell
MAX_ROWS = 1_048_576          # Excel's limit per sheet (incl. the header)
MAX_COMMENT_CHARS = 2000

# (header, source column, kind) — kind: text | int | num | bool | mapping (value translated)
FINDING_COLUMNS = [
    ("报告编号", "report_id", "text"),
    ("机关", "agency", "text"),
    ("年度", "year", "int"),
    ("规则", "rule_id", "text"),
    ("严重程度", "severity", SEVERITY_ZH),
    ("状态", "status", FINDING_STATUS_ZH),
    ("表", "table", TABLE_ZH),
    ("行", "row_id", "text"),
    ("列", "col_id", "text"),
    ("章节", "section_id", "text"),
    ("应为", "expected", "num"),
    ("实为", "actual", "num"),
    ("差值", "delta", "num"),
    ("说明", "message", "text"),
    ("依据", "basis", "text"),
    ("位置", "location", "text"),
    ("文件", "source_file", "text"),
    ("标题", "title", "text"),
    ("按零处理", "assumed_zero", "bool"),
]


def display_width(text: str) -> int:
    """Approximate Excel column width of *text*: CJK (wide/fullwidth) characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _clean_text(v) -> str | None:
    if _is_missing(v):
        return None
    s = v if isinstance(v, str) else str(v)
    s = ILLEGAL_CHARACTERS_RE.sub("", s)
    if len(s) > MAX_CELL_CHARS:
        s = s[: MAX_CELL_CHARS - 1] + "…"
    return neutralise(s)


def _cell_value(v, kind):
    """The Python value to put into the cell for a source value *v* of the given kind."""
    if _is_missing(v):
        return None
    if isinstance(kind, dict):
        return _clean_text(kind.get(v, v))
    if kind == "int":
        try:
            f = float(v)
            return int(f) if f.is_integer() else f
        except (TypeError, ValueError):
            return _clean_text(v)
    if kind == "num":
        try:
            f = float(v)
        except (TypeError, ValueError):
            return _clean_text(v)
        if not pd.notna(f) or abs(f) == float("inf"):
            return None
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    if kind == "bool":
        if isinstance(v, str):
            return _clean_text(v)
        return "是" if bool(v) else "否"
    return _clean_text(v)


# ------------------------------------------------------------------------------------------------ names

_SHEET_BAD = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_FILE_BAD = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_WIN_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
SHEET_NAME_MAX = 31
FILE_STEM_MAX = 60


def sheet_name(base: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name from *base*: no []:*?/\\, not starting/ending with ', at most 31 chars,
    unique ignoring case (Excel compares case-insensitively), never 'History'. *used* (lower-cased) is updated."""
    name = _SHEET_BAD.sub("_", str(base or "")).strip().strip("'").strip() or "报告"
    name = name[:SHEET_NAME_MAX].strip().strip("'") or "报告"
    if name.lower() == "history":
        name = "History_"
    candidate, i = name, 1
    while candidate.lower() in used:
        i += 1
        suffix = f"({i})"
        candidate = name[: SHEET_NAME_MAX - len(suffix)].rstrip().rstrip("'") + suffix
    used.add(candidate.lower())
    return candidate


def file_stem(base: str, used: set[str]) -> str:
    """A file name stem valid on Windows and Linux, unique ignoring case (*used*, lower-cased, is updated)."""
    stem = _FILE_BAD.sub("_", unicodedata.normalize("NFC", str(base or ""))).strip().strip(".").strip()
    stem = stem[:FILE_STEM_MAX].rstrip(" .") or "未识别机关"
    if stem[0] in "=+-@~":
        stem = "_" + stem
    if stem.split(".")[0].upper() in _WIN_RESERVED:
        stem = "_" + stem
    candidate, i = stem, 1
    while candidate.lower() in used:
        i += 1
        candidate = f"{stem}-{i}"
    used.add(candidate.lower())
    return candidate


def _quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


# ------------------------------------------------------------------------------------------------ styles

def _style_parts(key: str):
    """(font, fill, alignment, border, number_format) of a named style; key parts are joined with '+'."""
    font = fill = align = border = fmt = None
    for part in key.split("+"):
        if not part:
            continue
        if part == "header":
            font, fill, align, border = HEADER_FONT, HEADER_FILL, HEADER_ALIGN, HEADER_BORDER
        elif part == "title":
            font, fill = TITLE_FONT, TITLE_FILL
        elif part == "bold":
            font = HEADER_FONT
        elif part == "link":
            font = LINK_FONT
        elif part == "mark":
            font, align = MARK_FONT, CENTER_ALIGN
        elif part == "wrap":
            align = WRAP_ALIGN
        elif part == "center":
            align = CENTER_ALIGN
        elif part == "grid":
            border = GRID_BORDER
        elif part == "blank":
            fill = BLANK_FILL
        elif part == "missing":
            fill = MISSING_FILL
        elif part == "hdrfill":
            fill = HEADER_FILL
        elif part in SEVERITY_FILL:
            fill = SEVERITY_FILL[part]
        elif part.startswith("fmt:"):
            fmt = part[4:]
    return font, fill, align, border, fmt


class _Styles:
    """Style arrays registered once per key and copied onto each cell.

    Assigning ``cell.fill`` hashes the style objects every time; copying a registered StyleArray is ~20x faster.
    """

    def __init__(self, ws):
        self.ws = ws
        self.cache: dict[str, StyleArray] = {}

    def get(self, fill: str | None = None, number_format: str | None = None, header: bool = False) -> StyleArray:
        parts = ["header" if header else "", fill or "", f"fmt:{number_format}" if number_format else ""]
        return self.named("+".join(p for p in parts if p))

    def named(self, key: str) -> StyleArray:
        style = self.cache.get(key)
        if style is None:
            c = WriteOnlyCell(self.ws)
            font, fill, align, border, fmt = _style_parts(key)
            if font is not None:
                c.font = font
            if fill is not None:
                c.fill = fill
            if align is not None:
                c.alignment = align
            if border is not None:
                c.border = border
            if fmt is not None:
                c.number_format = fmt
            style = self.cache[key] = c._style
        return style


def _make_cell(ws, value, style: StyleArray | None = None, comment: str | None = None,
               link: Hyperlink | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws)
    if isinstance(value, str):
        cell._value = value   # bypass value parsing: a string cell, never a formula
        cell.data_type = "s"
    elif type(value) is int or type(value) is float:
        if value == value and value not in (float("inf"), float("-inf")):   # NaN/inf: no valid Excel number
            cell._value = value   # plain numbers need no parsing either
            cell.data_type = "n"
    elif value is not None:
        cell.value = value
    if style is not None:
        cell._style = style   # shared, never mutated: the writer only reads it
    if comment:
        text = ILLEGAL_CHARACTERS_RE.sub("", comment)
        if len(text) > MAX_COMMENT_CHARS:
            text = text[: MAX_COMMENT_CHARS - 1] + "…"
        c = Comment(text, "审核工具")
        lines = sum(1 + display_width(x) // 44 for x in text.split("\n"))
        c.width, c.height = 300, min(400, 18 + 15 * lines)
        cell.comment = c
    if link is not None:
        cell.hyperlink = link
    return cell


def _cells_to_row(ws):
    """Row conversion for sheets that only receive WriteOnlyCell lists (replaces openpyxl's, which first tries to
    parse every cell as a plain value and formats an exception for each one: a third of the writing time)."""
    def convert(values, row_idx):
        for col_idx, cell in enumerate(values, 1):
            if cell is None:
                continue
            cell.column = col_idx
            cell.row = row_idx
            if cell.hyperlink is not None:
                cell.hyperlink.ref = cell.coordinate
            yield cell
    return convert


def _create_sheet(wb: Workbook, title: str):
    ws = wb.create_sheet(title)
    ws._values_to_row = _cells_to_row(ws)
    return ws


def _setup_sheet(ws, headers: list[str], rows: list[list], n_rows: int) -> None:
    """Column widths, frozen header, autofilter — must be set before rows are appended in write-only mode."""
    for i, h in enumerate(headers, start=1):
        w = display_width(h)
        for row in rows[:WIDTH_SAMPLE_ROWS]:
            v = row[i - 1]
            if v is None:
                continue
            text = v if isinstance(v, str) else (str(v) if not isinstance(v, float) else f"{v:g}")
            w = max(w, display_width(text.split("\n", 1)[0]))
        ws.column_dimensions[get_column_letter(i)].width = max(MIN_WIDTH, min(MAX_WIDTH, w + 2))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(1, n_rows) + 1}"


def _append_header(ws, headers: list[str], styles: _Styles) -> None:
    style = styles.get(header=True)
    ws.append([_make_cell(ws, h, style) for h in headers])


def _limit_rows(rows: list, sheet: str) -> list:
    if len(rows) > MAX_ROWS - 1:
        log.warning("sheet %s: %d rows exceed Excel's limit; only the first %d are written",
                    sheet, len(rows), MAX_ROWS - 1)
        return rows[: MAX_ROWS - 1]
    return rows


def _text_list(series: pd.Series) -> list[str]:
    return ["" if _is_missing(v) else str(v) for v in series.astype(object).tolist()]


# ------------------------------------------------------------------------------------------------ detail targets

@dataclass(frozen=True)
class Detail:
    """Where a report's detail sheet is: *file* (None = audit.xlsx itself, else relative to OUT) and *sheet*."""
    file: str | None
    sheet: str


def plan_details(reports: pd.DataFrame, max_sheets: int = DETAIL_SHEETS_MAX) -> dict[str, Detail]:
    """report_id -> Detail, deterministic (by agency, year, source_file). Per-report sheets of audit.xlsx up to
    *max_sheets* reports, else one workbook per agency under workbooks/ with one sheet per report."""
    if reports.empty:
        return {}
    agency = _text_list(reports["agency"])
    year = ["" if _is_missing(v) else str(int(v)) for v in reports["year"].astype(object).tolist()]
    src = _text_list(reports["source_file"])
    rid = _text_list(reports["report_id"])
    order = sorted(range(len(rid)), key=lambda i: (agency[i], year[i], src[i], rid[i]))
    out: dict[str, Detail] = {}
    if len(rid) <= max_sheets:
        used = {s.lower() for s in FIXED_SHEETS}
        for i in order:
            base = f"{agency[i]}{year[i]}" if agency[i] else Path(src[i]).stem or rid[i]
            out[rid[i]] = Detail(None, sheet_name(base, used))
        return out
    used_files: set[str] = set()
    files: dict[str, str] = {}
    sheets_used: dict[str, set[str]] = {}
    for i in order:
        key = agency[i]
        if key not in files:
            files[key] = f"{WORKBOOKS_DIR}/{file_stem(key or '未识别机关', used_files)}.xlsx"
            sheets_used[key] = {SHEET_FINDINGS.lower()}
        base = (year[i] + "年") if year[i] else (Path(src[i]).stem or rid[i])
        if not agency[i]:
            base = Path(src[i]).stem or rid[i]
        out[rid[i]] = Detail(files[key], sheet_name(base, sheets_used[key]))
    return out


def _link_to(detail: Detail) -> Hyperlink:
    """A link from audit.xlsx to a report's detail sheet (in audit.xlsx or in workbooks/<机关>.xlsx)."""
    location = f"{_quote_sheet(detail.sheet)}!A1"
    if detail.file is None:
        return Hyperlink(ref="", location=location)
    return Hyperlink(ref="", target=detail.file, location=location)


# ------------------------------------------------------------------------------------------------ 总览

def _overview_sheet(wb: Workbook, reports: pd.DataFrame, findings: pd.DataFrame,
                    indicators: pd.DataFrame, details: dict[str, Detail]) -> None:
    ws = _create_sheet(wb, SHEET_OVERVIEW)

    quality: dict[str, float] = {}
    if "K-07" in indicators.columns and indicators["K-07"].notna().any():
        for rid, q in zip(indicators["report_id"].tolist(), indicators["K-07"].tolist()):
            if not _is_missing(q) and not _is_missing(rid):
                quality.setdefault(rid, float(q))
    has_quality = bool(quality)

    # counts from findings, used when the reports frame has none
    counted: dict[tuple[str, str], int] = {}
    if not findings.empty:
        g = findings.groupby([findings["report_id"].astype(object), findings["severity"].astype(object)],
                             dropna=True).size()
        counted = {k: int(v) for k, v in g.items()}

    headers = ["文件", "机关", "年度", "模板", "状态", "错误", "警告", "提示"]
    if has_quality:
        headers.append("质量分")
    headers.append("详情")
    headers += ["发布日期", "错误说明", "报告编号"]
    link_idx = headers.index("详情")

    rows, links = [], []
    for r in reports.to_dict("records"):
        rid = r["report_id"]
        counts = []
        for col, sev in (("n_errors", "error"), ("n_warnings", "warning"), ("n_infos", "info")):
            v = r[col]
            counts.append(int(v) if not _is_missing(v) else counted.get((rid, sev), 0))
        row = [
            _cell_value(r["source_file"], "text"),
            _cell_value(r["agency"], "text"),
            _cell_value(r["year"], "int"),
            _cell_value(r["template"], L.TEMPLATE_ZH),
            _cell_value(r["status"], REPORT_STATUS_ZH),
            *counts,
        ]
        if has_quality:
            q = quality.get(rid)
            row.append(int(q) if q is not None and q.is_integer() else q)
        d = details.get(rid)
        if d is None:
            row.append(None)
        else:
            row.append(f"查看 {d.sheet}" if d.file is None else f"查看 {d.file}（{d.sheet}）")
        links.append(_link_to(d) if d is not None else None)
        row += [_cell_value(r["published_at"], "text"), _cell_value(r["error"], "text"), _cell_value(rid, "text")]
        rows.append(row)
    rows = _limit_rows(rows, SHEET_OVERVIEW)

    _setup_sheet(ws, headers, rows, len(rows))
    styles = _Styles(ws)
    _append_header(ws, headers, styles)
    count_fills = {5: "error", 6: "warning", 7: "info"}
    link_style = styles.named("link")
    for row, link in zip(rows, links):
        cells = []
        for i, v in enumerate(row):
            if i == link_idx:
                cells.append(_make_cell(ws, v, link_style, link=copy(link) if link is not None else None))
                continue
            fill = count_fills.get(i) if isinstance(v, int) and v > 0 else None
            fmt = "0" if i == 2 else ("0.0" if has_quality and i == 8 else None)
            style = styles.get(fill, fmt) if (fill or fmt) else None
            cells.append(_make_cell(ws, v, style))
        ws.append(cells)


# ------------------------------------------------------------------------------------------------ 问题清单

def _findings_rows(findings: pd.DataFrame) -> tuple[list[list], list]:
    cols = []
    for _, col, kind in FINDING_COLUMNS:
        values = findings[col].astype(object).tolist() if col in findings.columns else [None] * len(findings)
        if kind == "text":
            cols.append([None if _is_missing(v) or v == "" else
                         (v if type(v) is str and v[:1] not in "=+-@\t\r" and not ILLEGAL_CHARACTERS_RE.search(v)
                          and len(v) <= MAX_CELL_CHARS else _clean_text(v)) for v in values])
        else:
            cols.append([_cell_value(v, kind) for v in values])
    rows = [list(r) for r in zip(*cols)] if cols else []
    severities = findings["severity"].astype(object).tolist() if "severity" in findings.columns else []
    return rows, severities


def _findings_rows_from_records(records: list[dict]) -> tuple[list[list], list]:
    """As _findings_rows, from records (a few findings of one agency: cheaper than slicing the frame)."""
    rows = [[_cell_value(r.get(col), kind) for _, col, kind in FINDING_COLUMNS] for r in records]
    return rows, [r.get("severity") for r in records]


def _findings_sheet(wb: Workbook, findings: pd.DataFrame | list[dict], title: str = SHEET_FINDINGS) -> None:
    ws = _create_sheet(wb, title)
    headers = [h for h, _, _ in FINDING_COLUMNS]
    if isinstance(findings, list):
        rows, severities = _findings_rows_from_records(findings)
    else:
        rows, severities = _findings_rows(findings)
    rows = _limit_rows(rows, title)

    _setup_sheet(ws, headers, rows, len(rows))
    styles = _Styles(ws)
    _append_header(ws, headers, styles)
    year_idx = headers.index("年度")
    for row, sev in zip(rows, severities):
        fill = sev if sev in SEVERITY_FILL else None
        plain, year = styles.get(fill), styles.get(fill, "0")
        ws.append([_make_cell(ws, v, year if i == year_idx else plain) for i, v in enumerate(row)])


# ------------------------------------------------------------------------------------------------ 指标

def _indicators_sheet(wb: Workbook, indicators: pd.DataFrame, reports: pd.DataFrame) -> None:
    ws = _create_sheet(wb, SHEET_INDICATORS)
    src = dict(zip(_text_list(reports["report_id"]), _text_list(reports["source_file"])))
    headers = ["机关", "年度", *(h for _, h, _ in L.INDICATORS), "文件", "报告编号"]
    kinds = ["text", "int", *("num" for _ in L.INDICATORS), "text", "text"]
    formats = [None, "0", *(f for _, _, f in L.INDICATORS), None, None]
    ids = _text_list(indicators["report_id"])
    columns = [indicators["agency"].astype(object).tolist(), indicators["year"].astype(object).tolist()]
    for k, _, _ in L.INDICATORS:
        columns.append(pd.to_numeric(indicators[k], errors="coerce").tolist() if k in indicators.columns
                       else [None] * len(indicators))
    columns += [[src.get(i, "") for i in ids], ids]
    rows = [[_cell_value(v, kinds[j]) for j, v in enumerate(r)] for r in zip(*columns)]
    rows = _limit_rows(rows, SHEET_INDICATORS)
    _setup_sheet(ws, headers, rows, len(rows))
    for i, h in enumerate(headers[2:2 + len(L.INDICATORS)], start=3):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(18, display_width(h) // 2 + 4))
    styles = _Styles(ws)
    _append_header(ws, headers, styles)
    fmt_styles = [styles.get(None, f) if f else None for f in formats]
    for row in rows:
        ws.append([_make_cell(ws, v, fmt_styles[j]) for j, v in enumerate(row)])


# ------------------------------------------------------------------------------------------------ 规则说明

def _rules_sheet(wb: Workbook, findings: pd.DataFrame) -> None:
    ws = _create_sheet(wb, SHEET_RULES)
    headers = ["规则编号", "规则类别", "严重程度", "规则名称", "依据", "本批次问题数", "涉及报告数"]
    counts: dict[str, int] = {}
    reports: dict[str, int] = {}
    if not findings.empty:
        rid = findings["rule_id"].astype(object)
        counts = {str(k): int(v) for k, v in rid.value_counts().items()}
        reports = {str(k): int(v) for k, v in findings.groupby(rid)["report_id"].nunique().items()}
    book = L.rulebook()
    rules = dict(book.rules) if book is not None else {}
    ids = sorted(set(rules) | set(counts), key=_rule_sort_key)
    rows = []
    for r in ids:
        rule = rules.get(r)
        rows.append([
            _clean_text(r), L.RULE_GROUP_ZH.get(L.rule_group(r), "其他"),
            SEVERITY_ZH.get(rule.severity, rule.severity) if rule else None,
            _clean_text(rule.title_zh) if rule else "（规则目录中没有此规则）",
            _clean_text(rule.basis_zh) if rule else None,
            counts.get(r, 0), reports.get(r, 0),
        ])
    _setup_sheet(ws, headers, rows, len(rows))
    ws.column_dimensions["D"].width = 50
    ws.column_dimensions["E"].width = 70
    styles = _Styles(ws)
    _append_header(ws, headers, styles)
    wrap = styles.named("wrap")
    sev_styles = {v: styles.named(k) for k, v in SEVERITY_ZH.items()}
    for row in rows:
        ws.append([_make_cell(ws, v, sev_styles.get(v) if j == 2 else (wrap if j in (3, 4) else None))
                   for j, v in enumerate(row)])


def _rule_sort_key(rule_id: str):
    order = [g for g, _ in L.RULE_GROUPS]
    g = L.rule_group(rule_id)
    nums = [int(x) for x in re.findall(r"\d+", rule_id)]
    return (order.index(g) if g in order else len(order), nums, rule_id)


# ------------------------------------------------------------------------------------------------ detail sheets

_SEV_RANK = {"error": 0, "warning": 1, "info": 2}
VALUE_COLS = 15          # t4 prints 15 values in one row: the widest table
LABEL_WIDTH = 46
VALUE_WIDTH = 11


class _Batch:
    """Cells and findings of the whole batch as plain lists, with the row positions of each report."""

    def __init__(self, cells: pd.DataFrame | None, findings: pd.DataFrame):
        if cells is not None and len(cells):
            self.cell_cols = [cells[c].tolist() for c in ("table", "row_id", "col_id", "value", "state", "raw")]
        else:
            self.cell_cols = [[] for _ in range(6)]
        self.cell_idx = _group_index(cells)
        self.findings = findings.to_dict("records") if len(findings) else []
        self.find_idx = _group_index(findings)

    def report(self, rid: str) -> _ReportData:
        t, r, c, v, s, raw = self.cell_cols
        cells = {(t[i], r[i], c[i]): (v[i], s[i], raw[i]) for i in self.cell_idx.get(rid, ())}
        return _ReportData(cells, [self.findings[i] for i in self.find_idx.get(rid, ())])


class _ReportData:
    """Cells and findings of one report, indexed for the detail sheet."""

    def __init__(self, cells: dict[tuple, tuple], findings: list[dict]):
        self.cells = cells                     # (table,row_id,col_id) -> (value, state, raw)
        self.on_cell: dict[tuple, list] = {}   # (table,row_id,col_id) / (table,row_id,'') / (table,'','') / ...
        self.findings = findings
        for f in findings:
            key = tuple("" if _is_missing(f.get(c)) else str(f.get(c)) for c in ("table", "row_id", "col_id"))
            if key[0]:
                self.on_cell.setdefault(key, []).append(f)


def _counts(findings: list[dict]) -> dict[str, int]:
    out = dict.fromkeys(SEVERITY_ZH, 0)
    for f in findings:
        if f.get("severity") in out:
            out[f["severity"]] += 1
    return out


def _comment_and_fill(items: list[dict]) -> tuple[str | None, str | None]:
    if not items:
        return None, None
    items = sorted(items, key=lambda f: (_SEV_RANK.get(f.get("severity"), 3), str(f.get("rule_id"))))
    worst = items[0].get("severity")
    text = "\n".join(f"【{SEVERITY_ZH.get(f.get('severity'), f.get('severity'))}】{f.get('rule_id')} "
                     f"{'' if _is_missing(f.get('message')) else f.get('message')}" for f in items)
    return text, (worst if worst in SEVERITY_FILL else "info")


def _value_cell(ws, styles: _Styles, data: _ReportData, key: tuple, used: set):
    """The cell of template cell *key*: value as published, blank/missing marked, findings filled + commented."""
    found = data.cells.get(key)
    items = data.on_cell.get(key, [])
    if items:
        used.add(key)
    comment, sev = _comment_and_fill(items)
    if found is None:
        if not items:
            return _make_cell(ws, None, styles.named("grid"))
        return _make_cell(ws, None, styles.named(f"grid+{sev}"), comment)
    value, state, raw = found
    if state == "NUMBER" and not _is_missing(value):
        v = float(value)
        out = int(v) if v.is_integer() and abs(v) < 2**53 else v
        key_style = "grid+center" + (f"+{sev}" if sev else "")
    elif state == "BLANK":
        out = BLANK_MARK
        key_style = "grid+mark+" + (sev or "blank")
    elif state == "MISSING":
        out = MISSING_MARK
        key_style = "grid+mark+" + (sev or "missing")
    else:   # DASH / UNPARSABLE: the text as published
        out = _clean_text(raw) if raw else CELL_TEXT.get(state, state)
        key_style = "grid+center" + (f"+{sev}" if sev else "")
    return _make_cell(ws, out, styles.named(key_style), comment)


CELL_TEXT = {"DASH": "—", "UNPARSABLE": "？"}


def _detail_sheet(wb: Workbook, title: str, report: dict, data: _ReportData, back: Hyperlink | None) -> None:
    ws = _create_sheet(wb, title)
    ws.column_dimensions["A"].width = LABEL_WIDTH
    for j in range(VALUE_COLS):
        ws.column_dimensions[get_column_letter(2 + j)].width = VALUE_WIDTH
    ws.freeze_panes = "B1"
    ws.page_setup.orientation = "landscape"          # print: A4 landscape, all columns on one page width
    ws.page_setup.paperSize = 9                      # A4 (Worksheet.PAPERSIZE_A4)
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    styles = _Styles(ws)
    row_no = 0

    def put(cells: list, merges: tuple = (), height: float | None = None):
        nonlocal row_no
        row_no += 1
        if height:
            ws.row_dimensions[row_no].height = height
        ws.append(cells)
        for a, b in merges:
            if b > a:
                ws.merged_cells.add(f"{get_column_letter(2 + a)}{row_no}:{get_column_letter(2 + b)}{row_no}")

    agency = "" if _is_missing(report.get("agency")) else str(report.get("agency"))
    year = "" if _is_missing(report.get("year")) else f"{int(report.get('year'))}年"
    put([_make_cell(ws, _clean_text(f"{agency}{year}政府信息公开工作年度报告 表格核对"), styles.named("title"))],
        ((0, VALUE_COLS - 1),))
    info = [
        ("文件", report.get("source_file")), ("模板", L.TEMPLATE_ZH.get(report.get("template"), report.get("template"))),
        ("状态", REPORT_STATUS_ZH.get(report.get("status"), report.get("status"))),
        ("问题", "，".join(f"{SEVERITY_ZH[sev]} {n} 条" for sev, n in _counts(data.findings).items())),
    ]
    if not _is_missing(report.get("error")) and report.get("error"):
        info.append(("错误说明", report.get("error")))
    for k, v in info:
        put([_make_cell(ws, k, styles.named("bold")), _make_cell(ws, _clean_text(v))], ((0, VALUE_COLS - 1),))
    if back is not None:
        put([_make_cell(ws, "← 返回总览", styles.named("link"), link=back)])
    # legend
    put([_make_cell(ws, "图例", styles.named("bold")),
         _make_cell(ws, "错误", styles.named("grid+center+error")),
         _make_cell(ws, "警告", styles.named("grid+center+warning")),
         _make_cell(ws, "提示", styles.named("grid+center+info")),
         _make_cell(ws, BLANK_MARK, styles.named("grid+mark+blank")),
         _make_cell(ws, MISSING_MARK, styles.named("grid+mark+missing")),
         _make_cell(ws, "有问题的单元格带批注（鼠标移到单元格上查看）；“空白”为格式要求填写而原文未填的单元格。")])

    used: set = set()
    if data.cells:
        for lr in L.layout(report.get("template") or "gb2021"):
            if lr.kind == "title":
                put([])
                items = data.on_cell.get((lr.table, "", ""), [])
                comment, sev = _comment_and_fill(items)
                if items:
                    used.add((lr.table, "", ""))
                put([_make_cell(ws, lr.label, styles.named("title" + (f"+{sev}" if sev else "")), comment)],
                    ((0, VALUE_COLS - 1),))
            elif lr.kind == "caption":
                put([_make_cell(ws, lr.label, styles.named("bold"))])
            elif lr.kind == "header":
                hdr = [_make_cell(ws, lr.label or None, styles.named("header+grid"))]
                for j, text in enumerate(lr.cells):
                    items = data.on_cell.get(lr.keys[j], []) if lr.keys else []   # a finding on a whole column
                    comment, sev = _comment_and_fill(items)
                    hdr.append(_make_cell(ws, text or None, styles.named("header+grid" + (f"+{sev}" if sev else "")),
                                          comment))
                put(hdr, lr.merge)
            else:  # data / group rows
                items = data.on_cell.get((lr.table, lr.row_id, ""), []) if lr.row_id else []
                if items:
                    used.add((lr.table, lr.row_id, ""))
                comment, sev = _comment_and_fill(items)
                base = "bold+grid+wrap" if lr.kind == "group" else "grid+wrap"
                row = [_make_cell(ws, lr.label, styles.named(base + (f"+{sev}" if sev else "")), comment)]
                has_values = any(k in data.cells for k in lr.cells)
                for key in lr.cells:
                    if lr.kind == "group" and not has_values and key not in data.on_cell:
                        row.append(_make_cell(ws, None, styles.named("grid+hdrfill")))
                    else:
                        row.append(_value_cell(ws, styles, data, key, used))
                put(row)
    elif report.get("status") != "failed":
        put([])
        put([_make_cell(ws, "未识别到表二、表三、表四的单元格。")])

    # the report's findings (every one, incl. those on sections or the whole report)
    put([])
    put([_make_cell(ws, "本报告的问题", styles.named("title"))], ((0, VALUE_COLS - 1),))
    put([_make_cell(ws, h, styles.named("header+grid")) for h in ("位置", "严重程度", "规则", "说明")],
        ((2, VALUE_COLS - 1),))
    for f in sorted(data.findings, key=lambda f: (_SEV_RANK.get(f.get("severity"), 3), str(f.get("rule_id")))):
        sev = f.get("severity")
        where = L.place(f.get("table"), f.get("row_id"), f.get("col_id"), f.get("section_id"),
                        report.get("template") or "gb2021")
        put([_make_cell(ws, _clean_text(where), styles.named("grid+wrap")),
             _make_cell(ws, SEVERITY_ZH.get(sev, _clean_text(sev)), styles.named(f"grid+center+{sev}")
                        if sev in SEVERITY_FILL else styles.named("grid")),
             _make_cell(ws, _clean_text(f.get("rule_id")), styles.named("grid")),
             _make_cell(ws, _clean_text(f.get("message")), styles.named("grid+wrap"))],
            ((2, VALUE_COLS - 1),), _row_height(f.get("message"), (VALUE_COLS - 2) * VALUE_WIDTH, where))
    if not data.findings:
        put([_make_cell(ws, "未发现问题。")])


def _row_height(text, width: float, label: str = "") -> float | None:
    """Height (points) of a row whose merged cell of *width* characters wraps *text* (merged cells do not
    grow by themselves in Excel)."""
    t = "" if _is_missing(text) else str(text)
    lines = max(1 + display_width(t) // max(1, int(width)), 1 + display_width(label) // LABEL_WIDTH)
    return None if lines <= 1 else 15.0 * lines + 2


def _group_index(df: pd.DataFrame | None) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {}
    return {str(k): v for k, v in df.groupby(df["report_id"].astype(object), sort=False).indices.items()}


def _write_details(wb: Workbook, reports: list[dict], details: dict[str, Detail], batch: _Batch,
                   in_audit: bool) -> None:
    back_sheet = SHEET_OVERVIEW if in_audit else SHEET_FINDINGS
    for r in reports:
        rid = str(r["report_id"])
        back = Hyperlink(ref="", location=f"{_quote_sheet(back_sheet)}!A1")
        _detail_sheet(wb, details[rid].sheet, r, batch.report(rid), back)


def _agency_workbook(path: Path, reports: list[dict], details: dict[str, Detail], batch: _Batch,
                     findings: pd.DataFrame) -> None:
    wb = Workbook(write_only=True)
    wb.properties.creator = "gov-disclosure-auditor"
    agency = "" if _is_missing(reports[0].get("agency")) else str(reports[0].get("agency"))
    wb.properties.title = f"{agency} 政府信息公开工作年度报告审核结果"
    idx = sorted(i for r in reports for i in batch.find_idx.get(str(r["report_id"]), ()))
    _findings_sheet(wb, [batch.findings[i] for i in idx])
    _write_details(wb, reports, details, batch, in_audit=False)
    wb.save(path)


# ------------------------------------------------------------------------------------------------ parallel files

PARALLEL_MIN_FILES = 40   # below this many files, writing them in this process is quicker than starting workers
_SHARED: tuple | None = None


def run_parallel(job, items: list, shared: tuple) -> None:
    """Run ``job(item, *shared)`` for every item: in forked worker processes (they inherit *shared* without
    copying it through a pipe) when there are many items and the platform forks, else here. Each job writes its
    own file, so the result does not depend on the order in which they finish."""
    global _SHARED
    workers = min(os.cpu_count() or 1, 8)
    if len(items) < PARALLEL_MIN_FILES or workers < 2 or "fork" not in mp.get_all_start_methods():
        for it in items:
            job(it, *shared)
        return
    _SHARED = (job, shared)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            chunk = max(1, len(items) // (workers * 8))
            for _ in pool.map(_run_shared, items, chunksize=chunk):
                pass
    finally:
        _SHARED = None


def _run_shared(item) -> None:
    job, shared = _SHARED
    job(item, *shared)


def _agency_job(item, details, batch, findings) -> None:
    target, reps = item
    _agency_workbook(Path(target), reps, details, batch, findings)


def write_workbook(path: Path, reports: pd.DataFrame, findings: pd.DataFrame, indicators: pd.DataFrame,
                   cells: pd.DataFrame | None = None, max_sheets: int = DETAIL_SHEETS_MAX) -> list[Path]:
    """Write audit.xlsx (and, for batches above *max_sheets* reports, workbooks/<机关>.xlsx beside it) from the
    conformed, ordered frames. Returns the per-agency workbooks written."""
    path = Path(path)
    details = plan_details(reports, max_sheets) if cells is not None else {}
    wb = Workbook(write_only=True)
    wb.properties.creator = "gov-disclosure-auditor"
    wb.properties.title = "政府信息公开工作年度报告审核结果"
    _overview_sheet(wb, reports, findings, indicators, details)
    _findings_sheet(wb, findings)
    _indicators_sheet(wb, indicators, reports)
    _rules_sheet(wb, findings)
    written: list[Path] = []
    if details:
        batch = _Batch(cells, findings)
        recs = {str(r["report_id"]): r for r in reports.to_dict("records")}
        _write_details(wb, [recs[rid] for rid in details if details[rid].file is None], details, batch, True)
        by_file: dict[str, list[dict]] = {}
        for rid in details:   # already in (agency, year, file) order
            if details[rid].file is not None:
                by_file.setdefault(details[rid].file, []).append(recs[rid])
        if by_file:
            (path.parent / WORKBOOKS_DIR).mkdir(exist_ok=True)
        jobs = [(str(path.parent / file), reps) for file, reps in by_file.items()]
        run_parallel(_agency_job, jobs, (details, batch, findings))
        written = [Path(target) for target, _ in jobs]
    wb.save(path)
    return written
