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
import io
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
    if _all_text(series):
        if series.dtype != object:   # a string dtype: stays in pyarrow (no Python object per row)
            return series.fillna("")
        return series.where(series.notna(), "")
    return series.astype(object).map(lambda v: "" if _is_missing(v) else str(v))


def _all_text(series: pd.Series) -> bool:
    """Every value is a str or missing (then the key of a value is the value itself)."""
    from pandas.api.types import infer_dtype

    return infer_dtype(series, skipna=True) in ("string", "empty")


def _rank(key: pd.Series) -> np.ndarray:
    """Integer ranks of a key column in sorting order (equal values, equal ranks)."""
    if key.dtype.kind in "biuf":
        return key.to_numpy()
    codes, _ = pd.factorize(key, sort=True)
    return np.asarray(codes)


def _order(df: pd.DataFrame, keys: dict[str, pd.Series]) -> np.ndarray | None:
    """The permutation that sorts the rows stably by *keys* (first key first; the incoming order breaks ties, so
    the order is fully determined); None when they are already in that order."""
    if df.empty:
        return None
    ranks = [_rank(k) for k in keys.values()]
    order = np.lexsort(ranks[::-1])   # lexsort: last key first; stable, so ties keep the incoming order
    if (order[1:] > order[:-1]).all():
        return None
    return order


def _sorted(df: pd.DataFrame, keys: dict[str, pd.Series]) -> pd.DataFrame:
    """Rows stably sorted by *keys* (see :func:`_order`); the frame itself when it is already in that order."""
    order = _order(df, keys)
    return df.reset_index(drop=True) if order is None else df.take(order).reset_index(drop=True)


def _report_keys(df: pd.DataFrame) -> dict[str, pd.Series]:
    """reports: by source_file (report_id breaks ties)."""
    return {"source_file": _key(df["source_file"]), "report_id": _key(df["report_id"])}


def _by_report_keys(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Stable by report_id only (the caller's order within a report is kept: template order for cells)."""
    return {"report_id": _key(df["report_id"])}


def severity_rank(series: pd.Series) -> pd.Series:
    return series.astype(object).map(lambda v: F.SEVERITY_RANK.get(v, len(F.SEVERITY_RANK)))


def _findings_keys(df: pd.DataFrame) -> dict[str, pd.Series]:
    """report_id, severity rank (error, warning, info), rule_id, table, row_id, col_id, section_id (then message)."""
    keys = {"report_id": _key(df["report_id"]), "severity": severity_rank(df["severity"])}
    for c in ("rule_id", "table", "row_id", "col_id", "section_id", "message", "location"):
        keys[c] = _key(df[c])
    return keys


ORDER_KEYS = {
    "reports": _report_keys,
    "cells": _by_report_keys,
    "sections": _by_report_keys,
    "findings": _findings_keys,
    "indicators": _by_report_keys,
}


def order_reports(df: pd.DataFrame) -> pd.DataFrame:
    return _sorted(df, _report_keys(df))


def order_by_report(df: pd.DataFrame) -> pd.DataFrame:
    return _sorted(df, _by_report_keys(df))


def order_findings(df: pd.DataFrame) -> pd.DataFrame:
    return _sorted(df, _findings_keys(df))


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


LAZY_MIN_ROWS = 200_000


def prepare_lazy(frames: dict[str, pd.DataFrame], lazy: tuple[str, ...] = ("cells", "sections")
                 ) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """As :func:`prepare`, except that a *lazy* frame of :data:`LAZY_MIN_ROWS` rows or more that is not in order
    is returned as it is, with its order (row positions) in the second dict: its writers take the rows in that
    order a chunk at a time instead of holding a sorted copy (the cells of 10,000 reports: ~400 MB)."""
    out: dict[str, pd.DataFrame] = {}
    orders: dict[str, np.ndarray] = {}
    for name in FRAME_COLUMNS:
        df = conform(frames.get(name), name)
        if name not in lazy or len(df) < LAZY_MIN_ROWS:
            out[name] = ORDERERS[name](df)
            continue
        order = _order(df, ORDER_KEYS[name](df))
        out[name] = df
        if order is not None:
            orders[name] = order
    return out, orders


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


def write_csv(path: Path, df: pd.DataFrame, order: np.ndarray | None = None) -> None:
    """Write *df* (already conformed and ordered, or in the row *order* given) as a contract CSV.

    Each column's distinct values are formatted once (the same formatting as row by row) and the rows are put
    together by pyarrow: the bytes are those of :func:`write_csv_rows`, an order of magnitude faster for the 2
    million cells of 10,000 reports. A frame with a column of mixed value types is written row by row."""
    columns = _distinct_fields(df) if len(df.columns) > 1 else None
    if columns is None:
        write_csv_rows(path, df, order)
        return
    import pyarrow as pa
    import pyarrow.compute as pc

    with open(path, "wb") as fh:
        fh.write(_csv_line([str(c) for c in df.columns]).encode("utf-8-sig"))
        texts = [pa.array(t, pa.string()) for _, t in columns]
        for start in range(0, len(df), CSV_CHUNK_ROWS):
            rows = slice(start, start + CSV_CHUNK_ROWS) if order is None else order[start:start + CSV_CHUNK_ROWS]
            parts = [pc.take(t, pa.array(codes[rows])) for t, (codes, _) in zip(texts, columns)]
            lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*parts, ","), "\n", "")
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1,
                                    offset=lines.offset * 4)
            fh.write(memoryview(lines.buffers()[2])[int(offsets[0]):int(offsets[-1])])


def _csv_line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(fields)
    return buf.getvalue()


def _csv_field(text: str) -> str:
    """*text* as the csv module writes it as one field of a row of several (quoted when it must be)."""
    if not any(c in text for c in ',"\n'):
        return text
    return _csv_line([text, ""])[:-2]


_HOMOGENEOUS = ("string", "empty")


def _distinct_fields(df: pd.DataFrame) -> list[tuple[np.ndarray, list[str]]] | None:
    """Per column: the code of each row and the CSV field of each code (the last one for missing values); None
    when a column holds values of mixed types (which factorising could merge: 1, 1.0 and True are equal)."""
    from pandas.api.types import infer_dtype, is_bool_dtype, is_numeric_dtype, is_string_dtype

    out = []
    for name in df.columns:
        s = df[name]
        if s.dtype == object:
            if infer_dtype(s, skipna=True) not in _HOMOGENEOUS:
                return None
        elif not (is_numeric_dtype(s.dtype) or is_bool_dtype(s.dtype) or is_string_dtype(s.dtype)):
            return None
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        values = uniques.tolist()
        if len({type(v) for v in values}) > 1:
            return None
        fields = [_csv_field(t) for t in _format_column(str(name), values)] + [""]
        codes = np.asarray(codes, dtype=np.int32)
        codes[codes < 0] = len(fields) - 1
        out.append((codes, fields))
    return out


def write_csv_rows(path: Path, df: pd.DataFrame, order: np.ndarray | None = None) -> None:
    """The contract CSV written row by row by the csv module (reference for :func:`write_csv`; used for frames
    with mixed-type columns). Rows are formatted a chunk at a time: the formatted text of 2 million cells would
    otherwise take about 1 GB at once."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow([str(c) for c in df.columns])
        for start in range(0, len(df), CSV_CHUNK_ROWS):
            chunk = df.iloc[start:start + CSV_CHUNK_ROWS] if order is None else \
                df.take(order[start:start + CSV_CHUNK_ROWS])
            w.writerows(zip(*_formatted_columns(chunk)))


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


PARQUET_ROW_GROUP = 1024 * 1024   # pyarrow's default row group length


def write_parquet(path: Path, df: pd.DataFrame, order: np.ndarray | None = None) -> None:
    """Write *df* as parquet; with *order*, its rows in that order, taken a row group at a time (the file is the
    one ``write_table`` writes for the sorted frame, byte for byte)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        table = pa.Table.from_pandas(_arrow_safe(df), preserve_index=False)
    if order is None:
        pq.write_table(table, path)
        return
    with pq.ParquetWriter(path, table.schema) as writer:
        for start in range(0, len(order), PARQUET_ROW_GROUP):
            writer.write_table(table.take(pa.array(order[start:start + PARQUET_ROW_GROUP])))
    pa.default_memory_pool().release_unused()
