"""audit.xlsx for analysts: sheet 总览 (one row per report) and 问题清单 (every finding).

Written with openpyxl in write-only mode (streams rows: fine for hundreds of thousands of findings).
Every text cell is written as a string cell (data_type 's'): control characters Excel rejects are removed and
values that would start a formula get a leading ``'`` (the same neutralisation as the CSVs), so no cell can ever
become a formula.
"""

from __future__ import annotations

import logging
import unicodedata
from copy import copy
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter

from .csvout import _is_missing, neutralise

log = logging.getLogger(__name__)

SHEET_OVERVIEW = "总览"
SHEET_FINDINGS = "问题清单"

SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
REPORT_STATUS_ZH = {"ok": "正常", "partial": "部分识别", "failed": "读取失败"}
FINDING_STATUS_ZH = {"FAIL": "不通过", "UNCERTAIN": "存疑"}
TABLE_ZH = {"t2": "表二", "t3": "表三", "t4": "表四"}

SEVERITY_FILL = {
    "error": PatternFill("solid", fgColor="FFC7CE"),    # light red
    "warning": PatternFill("solid", fgColor="FFEB9C"),  # light amber
    "info": PatternFill("solid", fgColor="DDEBF7"),     # light blue
}
HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
HEADER_FONT = Font(bold=True)
HEADER_ALIGN = Alignment(horizontal="center", vertical="center")
HEADER_BORDER = Border(bottom=Side(style="thin", color="808080"))

MAX_WIDTH = 60
MIN_WIDTH = 6
WIDTH_SAMPLE_ROWS = 2000      # column widths are measured on the first rows only (keeps big batches fast)
MAX_CELL_CHARS = 32767        # Excel's limit per cell
MAX_ROWS = 1_048_576          # Excel's limit per sheet (incl. the header)

# (header, source column, kind) — kind: text | int | num | code (value translated by a mapping)
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
        return f if pd.notna(f) and abs(f) != float("inf") else None
    if kind == "bool":
        if isinstance(v, str):
            return _clean_text(v)
        return "是" if bool(v) else "否"
    return _clean_text(v)


class _Styles:
    """Style arrays registered once per (fill, number format, header) and copied onto each cell.

    Assigning ``cell.fill`` hashes the style objects every time; copying a registered StyleArray is ~20x faster.
    """

    def __init__(self, ws):
        self.ws = ws
        self.cache: dict[tuple, StyleArray] = {}

    def get(self, fill: str | None = None, number_format: str | None = None, header: bool = False) -> StyleArray:
        key = (fill, number_format, header)
        style = self.cache.get(key)
        if style is None:
            c = WriteOnlyCell(self.ws)
            if header:
                c.font, c.fill, c.alignment, c.border = HEADER_FONT, HEADER_FILL, HEADER_ALIGN, HEADER_BORDER
            elif fill is not None:
                c.fill = SEVERITY_FILL[fill]
            if number_format is not None:
                c.number_format = number_format
            style = self.cache[key] = c._style
        return style


def _make_cell(ws, value, style: StyleArray | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws)
    if isinstance(value, str):
        cell._value = value   # bypass value parsing: a string cell, never a formula
        cell.data_type = "s"
    elif value is not None:
        cell.value = value
    if style is not None:
        cell._style = copy(style)
    return cell


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


def _overview_sheet(wb: Workbook, reports: pd.DataFrame, findings: pd.DataFrame,
                    indicators: pd.DataFrame) -> None:
    ws = wb.create_sheet(SHEET_OVERVIEW)

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
    headers += ["发布日期", "错误说明", "报告编号"]

    rows = []
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
            _cell_value(r["template"], "text"),
            _cell_value(r["status"], REPORT_STATUS_ZH),
            *counts,
        ]
        if has_quality:
            row.append(quality.get(rid))
        row += [_cell_value(r["published_at"], "text"), _cell_value(r["error"], "text"), _cell_value(rid, "text")]
        rows.append(row)
    rows = _limit_rows(rows, SHEET_OVERVIEW)

    _setup_sheet(ws, headers, rows, len(rows))
    styles = _Styles(ws)
    _append_header(ws, headers, styles)
    count_fills = {5: "error", 6: "warning", 7: "info"}
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            fill = count_fills.get(i) if isinstance(v, int) and v > 0 else None
            fmt = "0" if i == 2 else ("0.0" if has_quality and i == 8 else None)
            style = styles.get(fill, fmt) if (fill or fmt) else None
            cells.append(_make_cell(ws, v, style))
        ws.append(cells)


def _findings_sheet(wb: Workbook, findings: pd.DataFrame) -> None:
    ws = wb.create_sheet(SHEET_FINDINGS)
    headers = [h for h, _, _ in FINDING_COLUMNS]
    records = findings.to_dict("records")
    rows = []
    severities = []
    for r in records:
        rows.append([_cell_value(r.get(col), kind) for _, col, kind in FINDING_COLUMNS])
        severities.append(r.get("severity"))
    rows = _limit_rows(rows, SHEET_FINDINGS)

    _setup_sheet(ws, headers, rows, len(rows))
    styles = _Styles(ws)
    _append_header(ws, headers, styles)
    year_idx = headers.index("年度")
    for row, sev in zip(rows, severities):
        fill = sev if sev in SEVERITY_FILL else None
        plain, year = styles.get(fill), styles.get(fill, "0")
        ws.append([_make_cell(ws, v, year if i == year_idx else plain) for i, v in enumerate(row)])


def write_workbook(path: Path, reports: pd.DataFrame, findings: pd.DataFrame, indicators: pd.DataFrame) -> None:
    """Write audit.xlsx from the conformed, ordered frames."""
    wb = Workbook(write_only=True)
    wb.properties.creator = "gov-disclosure-auditor"
    wb.properties.title = "政府信息公开工作年度报告审核结果"
    _overview_sheet(wb, reports, findings, indicators)
    _findings_sheet(wb, findings)
    wb.save(path)
