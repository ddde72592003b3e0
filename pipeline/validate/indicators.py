"""K-01..K-07 (rules.md §6.10), one row per report, computed over the batch with pivots.

Cell values: NUMBER as printed, BLANK/DASH as 0, MISSING/UNPARSABLE unknown (NaN). A table without any NUMBER
cell is "no data reported" (P-3), so indicators drawn from it are NaN, not 0. Ratios are fractions (0..1,
4 decimals); K-05 is per 100 applications (2 decimals); a zero or unknown denominator gives NaN.
Failed reports get NaN everywhere (K-07 included: nothing was assessed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.frames import INDICATORS_COLUMNS

from .rulebook import Rulebook

_T3_ROWS = ["t3.new_received", "t3.carried_over", "t3.granted", "t3.partially_granted", "t3.unable.not_held",
            "t3.total_processed", "t3.carried_forward"]
_T4_GROUPS = ["t4.review", "t4.litigation_direct", "t4.litigation_after_review"]
_T4_COLS = ["col.upheld", "col.corrected", "col.other_result", "col.total"]


def _ratio(num: pd.Series, den: pd.Series, digits: int = 4, scale: float = 1.0) -> pd.Series:
    den = den.where(den > 0)
    return (num / den * scale).round(digits)


def compute(reports: pd.DataFrame, cells: pd.DataFrame, counts: pd.DataFrame, book: Rulebook,
            cv=None) -> pd.DataFrame:
    """`reports`: all reports; `cells`: cells of non-failed reports; `counts`: report_id -> n_errors/n_warnings/n_infos;
    `cv`: an optional context.CellView of `cells` (fast selections)."""
    from .context import CellView

    ok = reports["status"].ne("failed").to_numpy()
    ids = pd.Index(reports["report_id"], name="report_id")
    cv = cv if cv is not None else CellView(cells)
    reported = pd.DataFrame({t: ids.isin(cv.reports_with(table=t, state="NUMBER")) for t in ("t3", "t4")},
                            index=ids)

    t3 = cv.sel(table="t3", col_id="col.total", row_id=_T3_ROWS).drop_duplicates(["report_id", "row_id"])
    v3 = t3.pivot(index="report_id", columns="row_id", values="eff").reindex(index=ids, columns=_T3_ROWS)
    v3 = v3.where(reported["t3"], axis=0)
    t4 = cv.sel(table="t4", row_id=_T4_GROUPS, col_id=_T4_COLS).drop_duplicates(["report_id", "row_id", "col_id"])
    v4 = t4.pivot(index="report_id", columns=["row_id", "col_id"], values="eff")
    v4 = v4.reindex(index=ids, columns=pd.MultiIndex.from_product([_T4_GROUPS, _T4_COLS]))
    v4 = v4.where(reported["t4"], axis=0)

    def col4(col):
        return v4.xs(col, axis=1, level=1).sum(axis=1, skipna=False)

    k = pd.DataFrame(index=ids)
    k["K-01"] = v3["t3.new_received"]
    k["K-02"] = _ratio(v3["t3.granted"] + v3["t3.partially_granted"], v3["t3.total_processed"])
    k["K-03"] = _ratio(v3["t3.unable.not_held"], v3["t3.total_processed"])
    k["K-04"] = _ratio(v3["t3.carried_forward"], v3["t3.new_received"] + v3["t3.carried_over"])
    k["K-05"] = _ratio(col4("col.total"), v3["t3.new_received"], digits=2, scale=100.0)
    den = col4("col.upheld") + col4("col.corrected") + col4("col.other_result")
    k["K-06"] = (col4("col.corrected") / den.where(den >= 5)).round(4)

    w = book.weights
    n = counts.set_index("report_id").reindex(ids).fillna(0)
    penalty = (n["n_errors"] * w["weights"]["error"] + n["n_warnings"] * w["weights"]["warning"]
               + n["n_infos"] * w["weights"]["info"])
    k["K-07"] = (w["base"] - penalty).clip(lower=w["floor"])
    k = k.astype(float)
    k[~ok] = np.nan
    out = k.reset_index()
    out["agency"] = reports["agency"].to_numpy()
    out["year"] = reports["year"].astype("Int64").to_numpy()
    return out[INDICATORS_COLUMNS]
