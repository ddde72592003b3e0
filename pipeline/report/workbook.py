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

Written with XlsxWriter through :mod:`pipeline.report.xlsx` (rows streamed to disk as they are written). Every text
cell is written as a string cell (``write_string``, with XlsxWriter's string-to-formula/URL/number conversions off):
control characters Excel rejects are removed and values that would start a formula get a leading ``'`` (the same
neutralisation as the CSVs), so no cell can ever become a formula.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import multiprocessing as mp
import os
import re
from concurrent.futures import ProcessPoolExecutor
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from xlsxwriter.utility import xl_col_to_name

from . import labels as L
from . import xlsx
from .xlsx import Book, Link
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

# Cell looks as XlsxWriter format properties; a style key combines one font, fill, alignment and border.
SEVERITY_COLOR = {"error": "FFC7CE", "warning": "FFEB9C", "info": "DDEBF7"}


def _solid(rgb: str) -> dict:
    return {"pattern": 1, "bg_color": f"#{rgb}"}


SEVERITY_FILL = {k: _solid(v) for k, v in SEVERITY_COLOR.items()}
BLANK_FILL = {"pattern": 14, "fg_color": "#A6A6A6", "bg_color": "#F2F2F2"}    # lightUp hatch: blank but required
MISSING_FILL = {"pattern": 8, "fg_color": "#808080", "bg_color": "#D9D9D9"}   # darkUp hatch: not in the document
HEADER_FILL = _solid("D9E1F2")
TITLE_FILL = _solid("B4C6E7")
HEADER_FONT = {"bold": True}
TITLE_FONT = {"bold": True, "font_size": 12}
MARK_FONT = {"italic": True, "font_color": "#595959", "font_size": 9}
LINK_FONT = {"font_color": "#0563C1", "underline": 1}
HEADER_ALIGN = {"align": "center", "valign": "vcenter", "text_wrap": True}
WRAP_ALIGN = {"valign": "vcenter", "text_wrap": True}
CENTER_ALIGN = {"align": "center", "valign": "vcenter"}
HEADER_BORDER = {"bottom": 1, "bottom_color": "#808080"}
GRID_BORDER = {"border": 1, "border_color": "#A6A6A6"}

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


@functools.lru_cache(maxsize=1 << 16)
def display_width(text: str) -> int:
    """Approximate Excel column width of *text*: CJK (wide/fullwidth) characters count 2."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _clean_text(v) -> str | None:
    if _is_missing(v):
        return None
    s = v if isinstance(v, str) else str(v)
    s = ILLEGAL_CHARACTERS_RE.sub("", s)
    if len(s) > MAX_CELL_CHARS:
        s = s[: MAX_CELL_CHARS - 1] + "…"
    return neutralise(s)


_FORMULA_FIRST = "=+-@\t\r"


def _cell_value(v, kind):
    """The Python value to put into the cell for a source value *v* of the given kind."""
    if type(v) is str and kind == "text":   # the common case, as _clean_text does it
        if v[:1] not in _FORMULA_FIRST and len(v) <= MAX_CELL_CHARS and not ILLEGAL_CHARACTERS_RE.search(v):
            return v
        return _clean_text(v)
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
_FILE_BAD = re.compile(r'[<>:"/\\|?*#%\x00-\x1f]')   # '#' and '%' would change the link to the file
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

# the named parts of a style key: the slots each sets (font, fill, alignment, border); a severity sets the fill
_STYLE_PARTS = {
    **{sev: {"fill": f} for sev, f in SEVERITY_FILL.items()},
    "header": {"font": HEADER_FONT, "fill": HEADER_FILL, "align": HEADER_ALIGN, "border": HEADER_BORDER},
    "title": {"font": TITLE_FONT, "fill": TITLE_FILL},
    "bold": {"font": HEADER_FONT},
    "link": {"font": LINK_FONT},
    "mark": {"font": MARK_FONT, "align": CENTER_ALIGN},
    "wrap": {"align": WRAP_ALIGN},
    "center": {"align": CENTER_ALIGN},
    "grid": {"border": GRID_BORDER},
    "blank": {"fill": BLANK_FILL},
    "missing": {"fill": MISSING_FILL},
    "hdrfill": {"fill": HEADER_FILL},
}


@functools.lru_cache(maxsize=None)
def _style_parts(key: str):
    """(font, fill, alignment, border, number_format) of a named style; key parts are joined with '+'."""
    slots = dict.fromkeys(("font", "fill", "align", "border", "fmt"))
    for part in key.split("+"):
        if part in _STYLE_PARTS:
            slots.update(_STYLE_PARTS[part])
        elif part.startswith("fmt:"):
            slots["fmt"] = part[4:]
    return slots["font"], slots["fill"], slots["align"], slots["border"], slots["fmt"]


def style_props(key: str | None) -> dict:
    """XlsxWriter format properties of the style *key* (empty for the default style)."""
    if not key:
        return {}
    font, fill, align, border, fmt = _style_parts(key)
    props = {**(font or {}), **(fill or {}), **(align or {}), **(border or {})}
    if fmt is not None:
        props["num_format"] = fmt
    return props


def _style(fill: str | None = None, number_format: str | None = None, header: bool = False) -> str | None:
    """The style key of a cell with an optional severity fill / number format / header look (None: no style)."""
    parts = ["header" if header else "", fill or "", f"fmt:{number_format}" if number_format else ""]
    return "+".join(p for p in parts if p) or None


def _new_book(path: Path, title: str, streamed: bool = True) -> Book:
    """A workbook; *streamed* for audit.xlsx (rows to disk as they are written), not for the small per-agency books
    (built in memory: faster)."""
    return Book(path, style_props, title=title, creator="gov-disclosure-auditor", streamed=streamed)


def _comment(text: str) -> xlsx.Comment:
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if len(text) > MAX_COMMENT_CHARS:
        text = text[: MAX_COMMENT_CHARS - 1] + "…"
    lines = sum(1 + display_width(x) // 44 for x in text.split("\n"))
    return xlsx.Comment(text, "审核工具", 300, min(400, 18 + 15 * lines))


def _cell(value, style: str | None = None, comment: str | None = None, link: Link | None = None) -> tuple:
    """A cell for :mod:`xlsx`: strings are written as they are (callers clean and neutralise them), numbers as
    numbers (NaN/inf: an empty cell), with an optional style key, comment text and link."""
    if comment or link is not None:
        return (value, style, _comment(comment) if comment else None, link)
    return (value, style)


def _table_sheet(book: Book, title: str, headers: list[str], rows: list[list],
                 widths: dict[int, float] | None = None) -> xlsx.Sheet:
    """A list sheet: column widths fitted to the first rows, frozen header, autofilter, the header row written."""
    auto: dict[int, float] = {}
    for i, h in enumerate(headers, start=1):
        w = display_width(h)
        for row in rows[:WIDTH_SAMPLE_ROWS]:
            v = row[i - 1]
            if v is None:
                continue
            text = v if isinstance(v, str) else (str(v) if not isinstance(v, float) else f"{v:g}")
            w = max(w, display_width(text.split("\n", 1)[0]))
        auto[i] = max(MIN_WIDTH, min(MAX_WIDTH, w + 2))
    auto.update(widths or {})
    ws = book.sheet(title, widths=auto, freeze="A2",
                    autofilter=f"A1:{xl_col_to_name(len(headers) - 1)}{max(1, len(rows)) + 1}")
    style = _style(header=True)
    ws.row([(h, style) for h in headers])
    return ws


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


def plan_details(reports: pd.DataFrame, max_sheets: int | None = None) -> dict[str, Detail]:
    """report_id -> Detail, deterministic (by agency, year, source_file). Per-report sheets of audit.xlsx up to
    *max_sheets* reports (default :data:`DETAIL_SHEETS_MAX`), else one workbook per agency under workbooks/ with
    one sheet per report."""
    if max_sheets is None:
        max_sheets = DETAIL_SHEETS_MAX
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


def _link_to(detail: Detail) -> Link:
    """A link from audit.xlsx to a report's detail sheet (in audit.xlsx or in workbooks/<机关>.xlsx)."""
    return Link(location=f"{_quote_sheet(detail.sheet)}!A1", target=detail.file)


# ------------------------------------------------------------------------------------------------ 总览

def _overview_sheet(book: Book, reports: pd.DataFrame, findings: pd.DataFrame,
                    indicators: pd.DataFrame, details: dict[str, Detail]) -> None:
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

    ws = _table_sheet(book, SHEET_OVERVIEW, headers, rows)
    count_fills = {5: "error", 6: "warning", 7: "info"}
    for row, link in zip(rows, links):
        cells = []
        for i, v in enumerate(row):
            if i == link_idx:
                cells.append((v, "link", None, link) if link is not None else (v, "link"))
                continue
            fill = count_fills.get(i) if isinstance(v, int) and v > 0 else None
            fmt = "0" if i == 2 else ("0.0" if has_quality and i == 8 else None)
            cells.append((v, _style(fill, fmt) if (fill or fmt) else None))
        ws.row(cells)


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


def _findings_sheet(book: Book, findings: pd.DataFrame | list[dict], title: str = SHEET_FINDINGS) -> None:
    headers = [h for h, _, _ in FINDING_COLUMNS]
    if isinstance(findings, list):
        rows, severities = _findings_rows_from_records(findings)
    else:
        rows, severities = _findings_rows(findings)
    rows = _limit_rows(rows, title)

    ws = _table_sheet(book, title, headers, rows)
    year_idx = headers.index("年度")
    for row, sev in zip(rows, severities):
        fill = sev if sev in SEVERITY_FILL else None
        plain, year = _style(fill), _style(fill, "0")
        ws.row([(v, year if i == year_idx else plain) for i, v in enumerate(row)])


# ------------------------------------------------------------------------------------------------ 指标

def _indicators_sheet(book: Book, indicators: pd.DataFrame, reports: pd.DataFrame) -> None:
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
    widths = {i: max(12, min(18, display_width(h) // 2 + 4))
              for i, h in enumerate(headers[2:2 + len(L.INDICATORS)], start=3)}
    ws = _table_sheet(book, SHEET_INDICATORS, headers, rows, widths)
    fmt_styles = [_style(None, f) if f else None for f in formats]
    for row in rows:
        ws.row([(v, fmt_styles[j]) for j, v in enumerate(row)])


# ------------------------------------------------------------------------------------------------ 规则说明

def _rules_sheet(book: Book, findings: pd.DataFrame) -> None:
    headers = ["规则编号", "规则类别", "严重程度", "规则名称", "依据", "本批次问题数", "涉及报告数"]
    counts: dict[str, int] = {}
    reports: dict[str, int] = {}
    if not findings.empty:
        rid = findings["rule_id"].astype(object)
        counts = {str(k): int(v) for k, v in rid.value_counts().items()}
        reports = {str(k): int(v) for k, v in findings.groupby(rid)["report_id"].nunique().items()}
    book_ = L.rulebook()
    rules = dict(book_.rules) if book_ is not None else {}
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
    ws = _table_sheet(book, SHEET_RULES, headers, rows, {4: 50, 5: 70})
    sev_styles = {v: k for k, v in SEVERITY_ZH.items()}
    for row in rows:
        ws.row([(v, sev_styles.get(v) if j == 2 else ("wrap" if j in (3, 4) else None)) for j, v in enumerate(row)])


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
_CELL_COLUMNS = ("table", "row_id", "col_id", "state", "raw")


class _Batch:
    """Cells and findings of the whole batch, with the row positions of each report.

    The text columns of the cells are kept as integer codes into their (few) distinct values: a report's cells are
    rebuilt from them when its sheet is written, instead of holding ~10 million Python strings for a 10,000-report
    batch (the forked workers share these arrays with the parent)."""

    def __init__(self, cells: pd.DataFrame | None, findings: pd.DataFrame):
        self.codes: list[np.ndarray] = []
        self.uniques: list[list] = []
        if cells is not None and len(cells):
            for c in _CELL_COLUMNS:
                codes, uniques = _codes(cells[c])
                self.codes.append(codes)
                self.uniques.append(uniques)
            self.values = cells["value"].to_numpy()
        else:
            self.codes = [np.zeros(0, dtype=np.int32) for _ in _CELL_COLUMNS]
            self.uniques = [[None] for _ in _CELL_COLUMNS]
            self.values = np.zeros(0)
        self.cell_idx = _group_index(cells)
        self.findings = findings.to_dict("records") if len(findings) else []
        self.find_idx = _group_index(findings)

    def report_cells(self, rid: str) -> dict[tuple, tuple]:
        """(table, row_id, col_id) -> (value, state, raw) of one report (a later duplicate wins)."""
        idx = self.cell_idx.get(rid)
        if idx is None:
            return {}
        (tu, ru, cu, su, wu), (tc, rc, cc, sc, wc) = self.uniques, self.codes
        if isinstance(idx, slice):
            cols = [tc[idx].tolist(), rc[idx].tolist(), cc[idx].tolist(), sc[idx].tolist(), wc[idx].tolist()]
            values = self.values[idx].tolist()
        else:
            cols = [tc.take(idx).tolist(), rc.take(idx).tolist(), cc.take(idx).tolist(), sc.take(idx).tolist(),
                    wc.take(idx).tolist()]
            values = self.values.take(idx).tolist()
        return {(tu[t], ru[r], cu[c]): (v, su[s], wu[w]) for t, r, c, s, w, v in zip(*cols, values)}

    def report_findings(self, rid: str) -> list[dict]:
        return [self.findings[i] for i in _positions(self.find_idx.get(rid))]

    def findings_of(self, rids: list[str]) -> list[dict]:
        """The findings of several reports in the order of the findings frame."""
        return [self.findings[i] for i in sorted(p for rid in rids for p in _positions(self.find_idx.get(rid)))]

    def report(self, rid: str) -> _ReportData:
        return _ReportData(self.report_cells(rid), self.report_findings(rid))


def _positions(idx) -> range | list:
    if idx is None:
        return ()
    return range(idx.start, idx.stop) if isinstance(idx, slice) else idx.tolist()


def _codes(series: pd.Series) -> tuple[np.ndarray, list]:
    """Integer codes of *series* and the list of its values by code; code -1 (the last entry) is its missing
    value exactly as ``tolist()`` gives it. Values of mixed types are kept apart (1, 1.0 and True stay three)."""
    codes = uniq = None
    if series.dtype != object:
        try:   # text columns: pyarrow's dictionary encoding (several times faster than pd.factorize)
            import pyarrow as pa
            import pyarrow.compute as pc

            arr = pa.array(series, from_pandas=True)
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                enc = arr.dictionary_encode()
                codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
                uniq = enc.dictionary.to_pylist()
        except (TypeError, ValueError, ImportError, AttributeError, NotImplementedError):
            codes = uniq = None
    if codes is None:
        obj = series.astype(object)
        try:
            codes, uniques = pd.factorize(obj, use_na_sentinel=True)
            uniq = uniques.tolist()
            if len({type(v) for v in uniq}) > 1:
                raise TypeError("mixed types")
        except TypeError:
            keys = {}
            vals = obj.tolist()
            codes = np.empty(len(vals), dtype=np.int64)
            uniq = []
            for i, v in enumerate(vals):
                k = (type(v), v) if not _is_missing(v) else None
                if k is None:
                    codes[i] = -1
                    continue
                j = keys.get(k)
                if j is None:
                    j = keys[k] = len(uniq)
                    uniq.append(v)
                codes[i] = j
    codes = np.asarray(codes, dtype=np.int32)
    missing = np.flatnonzero(codes < 0)
    uniq.append(series.astype(object).iloc[int(missing[0])] if len(missing) else None)
    return codes, uniq


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


CELL_TEXT = {"DASH": "—", "UNPARSABLE": "？"}


def _plain_value_cell(found: tuple | None) -> tuple:
    """The cell of a template cell no finding points at: value as published, blank/missing marked."""
    if found is None:
        return _GRID_EMPTY
    value, state, raw = found
    if state == "NUMBER" and (value == value if type(value) is float else not _is_missing(value)):
        v = float(value)
        return (int(v) if v.is_integer() and abs(v) < 2**53 else v, "grid+center")
    if state == "BLANK":
        return _BLANK_CELL
    if state == "MISSING":
        return _MISSING_CELL
    return (_clean_text(raw) if raw else CELL_TEXT.get(state, state), "grid+center")


_GRID_EMPTY = (None, "grid")
_BLANK_CELL = (BLANK_MARK, "grid+mark+blank")
_MISSING_CELL = (MISSING_MARK, "grid+mark+missing")


def _value_cell(data: _ReportData, key: tuple, used: set) -> tuple:
    """The cell of template cell *key*: value as published, blank/missing marked, findings filled + commented."""
    found = data.cells.get(key)
    items = data.on_cell.get(key)
    if not items:
        return _plain_value_cell(found)
    used.add(key)
    comment, sev = _comment_and_fill(items)
    if found is None:
        return _cell(None, f"grid+{sev}", comment)
    value, state, raw = found
    if state == "NUMBER" and not _is_missing(value):
        v = float(value)
        out = int(v) if v.is_integer() and abs(v) < 2**53 else v
        key_style = f"grid+center+{sev}"
    elif state == "BLANK":
        out, key_style = BLANK_MARK, f"grid+mark+{sev}"
    elif state == "MISSING":
        out, key_style = MISSING_MARK, f"grid+mark+{sev}"
    else:   # DASH / UNPARSABLE: the text as published
        out = _clean_text(raw) if raw else CELL_TEXT.get(state, state)
        key_style = f"grid+center+{sev}"
    return _cell(out, key_style, comment)


_DETAIL_WIDTHS = {1: LABEL_WIDTH, **{2 + j: VALUE_WIDTH for j in range(VALUE_COLS)}}
_FULL_MERGE = ((0, VALUE_COLS - 1),)


def _detail_sheet(book: Book, title: str, report: dict, data: _ReportData, back: Link | None) -> None:
    ws = book.sheet(title, widths=_DETAIL_WIDTHS, freeze="B1", landscape_fit=True)  # print: A4 landscape, 1 page wide

    def put(cells: list, merges: tuple = (), height: float | None = None):
        n = ws.row_count + 1
        ws.row(cells, height, tuple(f"{_COL[a]}{n}:{_COL[b]}{n}" for a, b in merges if b > a))

    agency = "" if _is_missing(report.get("agency")) else str(report.get("agency"))
    year = "" if _is_missing(report.get("year")) else f"{int(report.get('year'))}年"
    put([(_clean_text(f"{agency}{year}政府信息公开工作年度报告 表格核对"), "title")], _FULL_MERGE)
    info = [
        ("文件", report.get("source_file")), ("模板", L.TEMPLATE_ZH.get(report.get("template"), report.get("template"))),
        ("状态", REPORT_STATUS_ZH.get(report.get("status"), report.get("status"))),
        ("问题", "，".join(f"{SEVERITY_ZH[sev]} {n} 条" for sev, n in _counts(data.findings).items())),
    ]
    if not _is_missing(report.get("error")) and report.get("error"):
        info.append(("错误说明", report.get("error")))
    for k, v in info:
        put([(k, "bold"), (_clean_text(v), None)], _FULL_MERGE)
    if back is not None:
        put([("← 返回总览", "link", None, back)])
    # legend
    put([("图例", "bold"), ("错误", "grid+center+error"), ("警告", "grid+center+warning"),
         ("提示", "grid+center+info"), (BLANK_MARK, "grid+mark+blank"), (MISSING_MARK, "grid+mark+missing"),
         ("有问题的单元格带批注（鼠标移到单元格上查看）；“空白”为格式要求填写而原文未填的单元格。", None)])

    used: set = set()
    if data.cells:
        on_cell, cells = data.on_cell, data.cells
        cells_get = cells.get
        for lr in L.layout(report.get("template") or "gb2021"):
            if lr.kind == "title":
                put([])
                items = on_cell.get((lr.table, "", ""), [])
                comment, sev = _comment_and_fill(items)
                if items:
                    used.add((lr.table, "", ""))
                put([_cell(lr.label, "title" + (f"+{sev}" if sev else ""), comment)], _FULL_MERGE)
            elif lr.kind == "caption":
                put([(lr.label, "bold")])
            elif lr.kind == "header":
                hdr = [(lr.label or None, "header+grid")]
                for j, text in enumerate(lr.cells):
                    items = on_cell.get(lr.keys[j], []) if lr.keys else []   # a finding on a whole column
                    comment, sev = _comment_and_fill(items)
                    hdr.append(_cell(text or None, "header+grid" + (f"+{sev}" if sev else ""), comment))
                put(hdr, lr.merge)
            else:  # data / group rows
                items = on_cell.get((lr.table, lr.row_id, ""), []) if lr.row_id else []
                if items:
                    used.add((lr.table, lr.row_id, ""))
                comment, sev = _comment_and_fill(items)
                base = "bold+grid+wrap" if lr.kind == "group" else "grid+wrap"
                row = [_cell(lr.label, base + (f"+{sev}" if sev else ""), comment)]
                if lr.kind == "group" and not any(k in cells for k in lr.cells):
                    row += [(None, "grid+hdrfill") if key not in on_cell else _value_cell(data, key, used)
                            for key in lr.cells]
                else:
                    row += [_value_cell(data, key, used) if key in on_cell else _plain_value_cell(cells_get(key))
                            for key in lr.cells]
                put(row)
    elif report.get("status") != "failed":
        put([])
        put([("未识别到表二、表三、表四的单元格。", None)])

    # the report's findings (every one, incl. those on sections or the whole report)
    put([])
    put([("本报告的问题", "title")], _FULL_MERGE)
    put([(h, "header+grid") for h in ("位置", "严重程度", "规则", "说明")], ((2, VALUE_COLS - 1),))
    for f in sorted(data.findings, key=lambda f: (_SEV_RANK.get(f.get("severity"), 3), str(f.get("rule_id")))):
        sev = f.get("severity")
        where = L.place(f.get("table"), f.get("row_id"), f.get("col_id"), f.get("section_id"),
                        report.get("template") or "gb2021")
        put([(_clean_text(where), "grid+wrap"),
             (SEVERITY_ZH.get(sev, _clean_text(sev)), f"grid+center+{sev}" if sev in SEVERITY_FILL else "grid"),
             (_clean_text(f.get("rule_id")), "grid"),
             (_clean_text(f.get("message")), "grid+wrap")],
            ((2, VALUE_COLS - 1),), _row_height(f.get("message"), (VALUE_COLS - 2) * VALUE_WIDTH, where))
    if not data.findings:
        put([("未发现问题。", None)])


_COL = [xl_col_to_name(1 + j) for j in range(200)]


def _row_height(text, width: float, label: str = "") -> float | None:
    """Height (points) of a row whose merged cell of *width* characters wraps *text* (merged cells do not
    grow by themselves in Excel)."""
    t = "" if _is_missing(text) else str(text)
    lines = max(1 + display_width(t) // max(1, int(width)), 1 + display_width(label) // LABEL_WIDTH)
    return None if lines <= 1 else 15.0 * lines + 2


def _group_index(df: pd.DataFrame | None) -> dict[str, np.ndarray | slice]:
    """report_id -> its row positions (a slice when they are contiguous, as in the ordered output frames)."""
    if df is None or df.empty:
        return {}
    codes, uniques = _codes(df["report_id"])   # no Python object per row (2 million cells)
    keys = [str(k) for k in uniques[:-1]]
    valid = codes >= 0
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes[valid], minlength=len(keys))
    starts = np.concatenate(([0], np.cumsum(counts)))[:-1] + int((~valid).sum())
    out: dict[str, np.ndarray | slice] = {}
    for k, key in enumerate(keys):
        idx = order[starts[k]:starts[k] + counts[k]]
        first = int(idx[0])
        out[key] = slice(first, first + len(idx)) if int(idx[-1]) - first + 1 == len(idx) else idx
    return out


def _write_details(book: Book, reports: list[dict], details: dict[str, Detail], batch: _Batch,
                   in_audit: bool) -> None:
    back = Link(location=f"{_quote_sheet(SHEET_OVERVIEW if in_audit else SHEET_FINDINGS)}!A1")
    for r in reports:
        rid = str(r["report_id"])
        _detail_sheet(book, details[rid].sheet, r, batch.report(rid), back)


def _agency_workbook(path: Path, reports: list[dict], details: dict[str, Detail], batch: _Batch) -> None:
    agency = "" if _is_missing(reports[0].get("agency")) else str(reports[0].get("agency"))
    book = _new_book(path, f"{agency} 政府信息公开工作年度报告审核结果", streamed=False)
    try:
        _findings_sheet(book, batch.findings_of([str(r["report_id"]) for r in reports]))
        _write_details(book, reports, details, batch, in_audit=False)
    except BaseException:
        book.abort()
        raise
    book.save()


def _agency_key(reports: list[dict], details: dict[str, Detail], batch: _Batch) -> list:
    """Exactly the data an agency's workbook shows (the reuse cache's key is a digest of it)."""
    rids = [str(r["report_id"]) for r in reports]
    return [[(r, rid, details[rid].file, details[rid].sheet, batch.report_cells(rid)) for r, rid in zip(reports, rids)],
            batch.findings_of(rids)]


# ------------------------------------------------------------------------------------------------ parallel files

PARALLEL_MIN_FILES = 40   # below this many files, writing them in this process is quicker than starting workers
_SHARED: tuple | None = None


def run_parallel(job, items: list, shared: tuple) -> list:
    """Run ``job(item, *shared)`` for every item: in forked worker processes (they inherit *shared* without
    copying it through a pipe) when there are many items and the platform forks, else here. Each job writes its
    own file, so the result does not depend on the order in which they finish. Returns the jobs' results in
    the order of *items*."""
    global _SHARED
    workers = min(os.cpu_count() or 1, 8)
    if len(items) < PARALLEL_MIN_FILES or workers < 2 or "fork" not in mp.get_all_start_methods():
        return [job(it, *shared) for it in items]
    _SHARED = (job, shared)
    try:
        with frozen_heap(), ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            chunk = max(1, len(items) // (workers * 8))
            return list(pool.map(_run_shared, items, chunksize=chunk))
    finally:
        _SHARED = None


@contextlib.contextmanager
def frozen_heap():
    """Objects that exist now are left out of garbage collection while forked workers run (``gc.freeze``): the
    workers' collections then never walk the batch's millions of inherited objects — ~15 % of their CPU time —
    nor touch (and so copy) the pages holding them."""
    release_free_memory(collect=False)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def release_free_memory(collect: bool = True) -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; after a garbage collection when
    *collect*): after validation the process holds a few hundred MB of freed but resident memory, which forked
    workers would otherwise share and count."""
    if collect:
        gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _run_shared(item):
    job, shared = _SHARED
    return job(item, *shared)


def _agency_job(item, details, batch, store) -> bool:
    """Write one agency's workbook (or copy it from the reuse cache); True when it was reused."""
    target, reps = item
    target = Path(target)
    key = store.key(_agency_key(reps, details, batch)) if store is not None else None
    if key is not None and store.fetch(key, target):
        return True
    _agency_workbook(target, reps, details, batch)
    if key is not None:
        store.put(key, target)
    return False


def write_workbook(path: Path, reports: pd.DataFrame, findings: pd.DataFrame, indicators: pd.DataFrame,
                   cells: pd.DataFrame | None = None, max_sheets: int | None = None,
                   cache=None, progress=None) -> list[Path]:
    """Write audit.xlsx (and, for batches above *max_sheets* reports, workbooks/<机关>.xlsx beside it) from the
    conformed, ordered frames. Returns the per-agency workbooks written.

    *progress*, if given, is called with the number of per-agency workbooks before they are written.
    *cache* (a :class:`reuse.Cache`, optional) keeps each agency's workbook under a digest of exactly the data it
    shows: an agency whose reports, cells and findings are unchanged gets a copy of the cached file."""
    path = Path(path)
    details = plan_details(reports, max_sheets) if cells is not None else {}
    book = _new_book(path, "政府信息公开工作年度报告审核结果")
    written: list[Path] = []
    try:
        _overview_sheet(book, reports, findings, indicators, details)
        _findings_sheet(book, findings)
        _indicators_sheet(book, indicators, reports)
        _rules_sheet(book, findings)
        if details:
            batch = _Batch(cells, findings)
            recs = {str(r["report_id"]): r for r in reports.to_dict("records")}
            _write_details(book, [recs[rid] for rid in details if details[rid].file is None], details, batch, True)
            by_file: dict[str, list[dict]] = {}
            for rid in details:   # already in (agency, year, file) order
                if details[rid].file is not None:
                    by_file.setdefault(details[rid].file, []).append(recs[rid])
            if by_file:
                (path.parent / WORKBOOKS_DIR).mkdir(exist_ok=True)
            jobs = [(str(path.parent / file), reps) for file, reps in by_file.items()]
            if jobs and progress is not None:
                progress(len(jobs))
            store = cache.kind("workbooks", len(jobs)) if cache is not None else None
            reused = run_parallel(_agency_job, jobs, (details, batch, store))
            if store is not None:
                store.done(sum(reused), len(reused))
            written = [Path(target) for target, _ in jobs]
    except BaseException:
        book.abort()
        raise
    book.save()
    return written
