"""Conforming, ordering and CSV/parquet writing of the output frames.

- Columns exactly as in ``pipeline/frames.py`` (missing ones are added empty, unknown ones dropped with a warning).
- Rows in the deterministic order of the contract (see the ``order_*`` functions).
- CSV: UTF-8 with BOM, comma-separated, ``\\n`` line ends, one header row; numbers as plain digits (no exponent, no
  trailing ``.0``), NaN/NA as empty; text fields neutralised against formula injection (leading ``'``).
- Parquet (pyarrow): the conformed, ordered frames with their raw values (no neutralisation: parquet is not opened by
  spreadsheet programs, and consumers want the data as published).
"""

from __future__ import annotations

import csv
import logging
import math
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import frames as F

log = logging.getLogger(__name__)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PREFIX_CHARS = "".join(FORMULA_PREFIXES)

# Plain-number columns: written as numbers, never neutralised. K-xx indicators are matched by pattern.
NUMBER_COLUMNS = frozenset({
    "value", "expected", "actual", "delta", "n_errors", "n_warnings", "n_infos", "year", "page",
})
_INDICATOR_RE = re.compile(r"K-\d+")

# name -> columns, as in frames.py
FRAME_COLUMNS = {
    "reports": F.REPORTS_COLUMNS,
    "cells": F.CELLS_COLUMNS,
    "sections": F.SECTIONS_COLUMNS,
    "findings": F.FINDINGS_COLUMNS,
    "indicators": F.INDICATORS_COLUMNS,
}


def is_number_column(name: str) -> bool:
    return name in NUMBER_COLUMNS or bool(_INDICATOR_RE.fullmatch(name))


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, np.floating):
        return bool(np.isnan(v))
    return False


def neutralise(text: str) -> str:
    """Prefix ``'`` to a text that a spreadsheet program would read as a formula."""
    if text and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def format_number(v) -> str:
    """A number as plain digits with an optional decimal point: 70, 24252.311082, -3, 0.0000001; '' for NaN/NA.

    Floats use their shortest round-trip representation (``repr``), expanded without exponent.
    """
    if type(v) is float and v == v and v.is_integer() and abs(v) < 2**63:  # fast path (NaN != NaN)
        return str(int(v))
    if _is_missing(v):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, str):  # defensive: a stray string in a number column
        s = v.strip()
        if not s:
            return ""
        try:
            return format_number(float(s))
        except ValueError:
            return neutralise(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return neutralise(str(v))
    if not math.isfinite(x):
        return ""
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 2**63:
        return str(int(x))
    s = repr(x)
    if "e" in s or "E" in s:
        s = format(Decimal(s), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def format_text(v) -> str:
    """A text field for CSV: '' for missing, booleans as true/false, numbers plain, strings neutralised."""
    if _is_missing(v):
        return ""
    if isinstance(v, str):
        return neutralise(v)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return format_number(v)
    return neutralise(str(v))


# --------------------------------------------------------------------------------------------- conforming/ordering

def conform(df: pd.DataFrame | None, name: str) -> pd.DataFrame:
    """Return a copy of *df* with exactly the frames.py columns of frame *name*, in order, with a fresh index."""
    columns = FRAME_COLUMNS[name]
    if df is None:
        df = pd.DataFrame(columns=columns)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"frame {name!r} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    extra = [c for c in df.columns if c not in columns]
    if missing:
        log.warning("frame %s: missing columns %s written empty", name, missing)
    if extra:
        log.warning("frame %s: columns not in frames.py dropped: %s", name, extra)
    out = df.reindex(columns=columns).reset_index(drop=True)
    return out


def _key(series: pd.Series) -> pd.Series:
    """A sort key that never contains NaN: missing -> '' and everything else as its text."""
    return series.astype(object).map(lambda v: "" if _is_missing(v) else str(v))


def _sorted(df: pd.DataFrame, keys: dict[str, pd.Series]) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    k = pd.DataFrame(keys)
    k["__pos"] = np.arange(len(df))  # final tie-breaker: incoming order (makes the sort fully determined)
    order = k.sort_values(list(k.columns), kind="stable").index
    return df.take(order).reset_index(drop=True)


def order_reports(df: pd.DataFrame) -> pd.DataFrame:
    """By source_file (report_id breaks ties)."""
    return _sorted(df, {"source_file": _key(df["source_file"]), "report_id": _key(df["report_id"])})


def order_by_report(df: pd.DataFrame) -> pd.DataFrame:
    """Stable by report_id only (the caller's order within a report is kept: template order for cells)."""
    return _sorted(df, {"report_id": _key(df["report_id"])})


def severity_rank(series: pd.Series) -> pd.Series:
    return series.astype(object).map(lambda v: F.SEVERITY_RANK.get(v, len(F.SEVERITY_RANK)))


def order_findings(df: pd.DataFrame) -> pd.DataFrame:
    """report_id, severity rank (error, warning, info), rule_id, table, row_id, col_id, section_id (then message)."""
    keys = {"report_id": _key(df["report_id"]), "severity": severity_rank(df["severity"])}
    for c in ("rule_id", "table", "row_id", "col_id", "section_id", "message", "location"):
        keys[c] = _key(df[c])
    return _sorted(df, keys)


ORDERERS = {
    "reports": order_reports,
    "cells": order_by_report,
    "sections": order_by_report,
    "findings": order_findings,
    "indicators": order_by_report,
}


def prepare(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Conform and order every output frame."""
    return {name: ORDERERS[name](conform(frames.get(name), name)) for name in FRAME_COLUMNS}


# ------------------------------------------------------------------------------------------------------ writers

def _format_column(name: str, values: list) -> list[str]:
    if is_number_column(name):
        return [format_number(v) for v in values]
    # fast path: a plain string that cannot start a formula is written as is ("" falls through: "" in "..." holds)
    out = [v if type(v) is str and v[:1] not in _PREFIX_CHARS else format_text(v) for v in values]
    # a bare CR would end the row for CSV readers (the writer only quotes fields holding the "\n" terminator)
    return [v.replace("\r\n", "\n").replace("\r", "\n") if "\r" in v else v for v in out]


def _formatted_columns(df: pd.DataFrame) -> list[list[str]]:
    return [_format_column(name, df[name].astype(object).tolist()) for name in df.columns]


CSV_CHUNK_ROWS = 100_000


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """Write *df* (already conformed and ordered) as a contract CSV. Rows are formatted a chunk at a time: the
    formatted text of 2 million cells would otherwise take about 1 GB at once."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow([str(c) for c in df.columns])
        for start in range(0, len(df), CSV_CHUNK_ROWS):
            w.writerows(zip(*_formatted_columns(df.iloc[start:start + CSV_CHUNK_ROWS])))


def _arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Make object columns with mixed value types representable in arrow (everything not str/bool -> text)."""
    out = df.copy()
    for name in out.columns:
        s = out[name]
        if s.dtype != object:
            continue
        vals = [v for v in s.tolist() if not _is_missing(v)]
        if not vals:
            continue
        if all(isinstance(v, str) for v in vals) or all(isinstance(v, (bool, np.bool_)) for v in vals):
            continue
        if is_number_column(name):
            out[name] = pd.to_numeric(s, errors="coerce")
        else:
            out[name] = s.map(lambda v: None if _is_missing(v) else (v if isinstance(v, str) else format_text(v)))
    return out


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        table = pa.Table.from_pandas(_arrow_safe(df), preserve_index=False)
    pq.write_table(table, path)
