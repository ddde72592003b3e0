"""Template, structure and extraction rules: R-TPL-01..06, R-STR-01, R-T3-06, R-EXT-01 (vectorised over the batch)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import templates

from . import messages as msg
from .rulebook import Rulebook

PART_COLUMNS = ["report_id", "rule_id", "severity", "status", "table", "row_id", "col_id", "section_id",
                "expected", "actual", "delta", "message", "location", "assumed_zero"]


def _part(df: pd.DataFrame, rule_id: str, book: Rulebook, variant: str = "default", status="FAIL", **cols):
    """Finding rows for `df` (which holds the message fields): columns of PART_COLUMNS."""
    rule = book.rule(rule_id)
    out = pd.DataFrame({
        "report_id": df["report_id"].to_numpy(), "rule_id": rule_id, "severity": rule.severity,
        "status": status.to_numpy() if isinstance(status, pd.Series) else status,
        "table": "", "row_id": "", "col_id": "", "section_id": "", "expected": np.nan, "actual": np.nan,
        "delta": np.nan, "message": msg.vformat(rule.message(variant), df).to_numpy(), "location": "",
        "assumed_zero": "",
    })
    for k, v in cols.items():
        out[k] = v.to_numpy() if isinstance(v, pd.Series) else v
    return out[PART_COLUMNS]


def _num_text(s: pd.Series) -> pd.Series:
    return msg.fmt_num(s.fillna(0))


# ---------------------------------------------------------------------------------------------------------------
def template_rules(rep: pd.DataFrame, book: Rulebook) -> list[pd.DataFrame]:
    """R-TPL-01 (info per report) and the year/template rules R-TPL-02..05 (data: catalogue `check`).
    `rep`: non-failed reports."""
    if rep.empty:
        return []
    r = rep.copy()
    r["template_zh"] = r["template"].map(book.template_zh).astype(str)
    r["m21"] = _num_text(r["template_markers_2021"])
    r["m19"] = _num_text(r["template_markers_2019"])
    years = r["year"].dropna().unique()
    exp_zh = {int(y): book.template_zh(templates.expected_template(int(y)) or "unknown") for y in years}
    r["expected_zh"] = r["year"].map(exp_zh).astype(object).fillna("").astype(str)
    r["year_txt"] = r["year"].astype("Int64").astype(str).replace("<NA>", "")
    r = r.assign(year=r["year_txt"])  # message field {year}
    parts = [_part(r, "R-TPL-01", book, status=pd.Series(np.where(rep["template"].eq("unknown"), "UNCERTAIN",
                                                                    "FAIL"), index=r.index))]
    year = rep["year"].astype("Float64")
    m21 = rep["template_markers_2021"].fillna(0)
    m19 = rep["template_markers_2019"].fillna(0)
    for rid in sorted(book.rules):
        chk = book.rule(rid).check
        if not chk:
            continue
        m = rep["template"].isin(chk.get("templates") or [])
        if "year_min" in chk:
            m &= (year >= chk["year_min"]).fillna(False).astype(bool)
        if "year_max" in chk:
            m &= (year <= chk["year_max"]).fillna(False).astype(bool)
        if "markers_both_min" in chk:
            n = chk["markers_both_min"]
            m |= (m21 >= n) & (m19 >= n)
        m = m.to_numpy(dtype=bool)
        if m.any():
            parts.append(_part(r[m], rid, book))
    return parts


def section_rules(rep: pd.DataFrame, sections: pd.DataFrame, book: Rulebook) -> list[pd.DataFrame]:
    """R-STR-01: one error per canonical section missing from `sections` (not for legacy2008 reports)."""
    r = rep[~rep["template"].eq("legacy2008")][["report_id", "lt"]]
    if r.empty:
        return []
    ords = book.phrase("ordinals")
    canon = pd.DataFrame([(t.id, s["id"], k, s["heading"]) for t in templates.registry().values()
                          for k, s in enumerate(t.sections)], columns=["lt", "section_id", "k", "heading"])
    need = r.merge(canon, on="lt", how="inner")
    have = sections[["report_id", "section_id"]].drop_duplicates().assign(_have=True)
    need = need.merge(have, on=["report_id", "section_id"], how="left")
    miss = need[need["_have"].isna()].copy()
    if miss.empty:
        return []
    miss["ordinal"] = miss["k"].map(dict(enumerate(ords))).astype(object).fillna((miss["k"] + 1).astype(str))
    return [_part(miss, "R-STR-01", book, section_id=miss["section_id"])]


def cell_rules(rep: pd.DataFrame, cells: pd.DataFrame, book: Rulebook, labels: pd.DataFrame) -> list[pd.DataFrame]:
    """R-T3-06 (t3 without any number), R-TPL-06 (template rows/columns/tables not found), R-EXT-01 (unparsable)."""
    parts = []
    c = cells
    # ---- R-EXT-01: every UNPARSABLE cell (cells with an invalid state were reported by the schema check)
    u = c[c["state"].eq("UNPARSABLE") & ~c["_bad"]].copy()
    if len(u):
        u = msg.lookup(u, labels, "row", "row_id", "row_zh")
        u = msg.lookup(u, labels, "col", "col_id", "col_zh")
        u["table_zh"] = msg.table_zh(u["table"], book)
        u["block_zh"] = msg.block_zh(u, labels)
        u["note_zh"] = msg.note_zh(u["note"], book)
        parts.append(_part(u, "R-EXT-01", book, table=u["table"], row_id=u["row_id"], col_id=u["col_id"],
                           location=u["location"], actual=u["value"]))

    # ---- R-T3-06: the report's template has t3 (or the report has t3 cells) and no t3 cell is NUMBER/UNPARSABLE
    t3_templates = [t.id for t in templates.registry().values() if t.t3_rows]
    t3 = c[c["table"].eq("t3")]
    cnt = pd.crosstab(t3["report_id"], t3["state"]).reindex(columns=["NUMBER", "BLANK", "DASH", "UNPARSABLE",
                                                                     "MISSING"], fill_value=0)
    r = rep[["report_id", "template"]].merge(cnt, left_on="report_id", right_index=True, how="left")
    has_cells = r["MISSING"].notna()
    r = r.fillna({k: 0 for k in cnt.columns})
    fire = (r["template"].isin(t3_templates) | has_cells) & r["NUMBER"].eq(0) & r["UNPARSABLE"].eq(0)
    if not has_cells.all():  # a template with t3 but no t3 cell emitted: count the template's cells as missing
        n_tpl = {t.id: len(t.t3_rows) * len(t.t3_cols) for t in templates.registry().values()}
        r.loc[~has_cells, "MISSING"] = r.loc[~has_cells, "template"].map(n_tpl).fillna(0)
    f = r[fire].copy()
    if len(f):
        f["table_zh"] = book.table_zh("t3")
        f["n_cells"] = _num_text(f[["BLANK", "DASH", "MISSING"]].sum(axis=1))
        f["n_blank"], f["n_dash"], f["n_missing"] = _num_text(f["BLANK"]), _num_text(f["DASH"]), _num_text(f["MISSING"])
        parts.append(_part(f, "R-T3-06", book, table="t3"))

    parts.extend(_missing_structure(rep, c, book, labels))
    return parts


def _missing_structure(rep: pd.DataFrame, c: pd.DataFrame, book: Rulebook, labels: pd.DataFrame):
    """R-TPL-06: per report and table, rows whose cells are all MISSING, columns all MISSING over the table
    (t2: within a block), and one finding for a table of which every cell is MISSING (instead of every row)."""
    parts = []
    if c.empty:
        return parts
    miss = c["state"].eq("MISSING")
    c = c[c["report_id"].isin(pd.unique(c.loc[miss, "report_id"]))]  # only reports with a missing cell
    if c.empty:
        return parts
    c = c.assign(miss=c["state"].eq("MISSING"), blk=np.where(c["table"].eq("t2"), c["block"], ""))
    tbl = c.groupby(["report_id", "table"], sort=False)["miss"].agg(["all", "size"]).reset_index()
    whole = tbl[tbl["all"]].rename(columns={"size": "n"})
    if len(whole):
        whole["table_zh"] = msg.table_zh(whole["table"], book)
        whole["n_cells"] = _num_text(whole["n"])
        parts.append(_part(whole, "R-TPL-06", book, variant="table", table=whole["table"]))
    partial = c.merge(tbl[~tbl["all"]][["report_id", "table"]], on=["report_id", "table"], how="inner")
    if partial.empty:
        return parts
    lt = partial[["report_id", "lt"]].drop_duplicates("report_id")

    rows = partial.groupby(["report_id", "table", "blk", "row_id"], sort=False)["miss"].all().reset_index()
    rows = rows[rows["miss"]].merge(lt, on="report_id", how="left")
    if len(rows):
        rows = rows.rename(columns={"blk": "block"})
        rows = msg.lookup(rows, labels, "row", "row_id", "row_zh")
        rows["table_zh"] = msg.table_zh(rows["table"], book)
        rows["block_zh"] = msg.block_zh(rows, labels)
        # collapsed group: the row's group (e.g. t3.other) is itself present as a row with a value cell
        group_of = pd.DataFrame([(t.id, r.id, r.group) for t in templates.registry().values()
                                 for r in t.t3_rows if r.group], columns=["lt", "row_id", "group_id"])
        rows = rows.merge(group_of, on=["lt", "row_id"], how="left")
        present = partial[~partial["miss"]][["report_id", "row_id"]].drop_duplicates().rename(
            columns={"row_id": "group_id"}).assign(_gp=True)
        rows = rows.merge(present, on=["report_id", "group_id"], how="left")
        rows["group_zh"] = msg.lookup(rows.assign(_g=rows["group_id"].fillna("")), labels, "row", "_g", "_gz")["_gz"]
        rows = msg.lookup(rows, labels, "item", "row_id", "item_zh")
        coll = rows["_gp"].eq(True).to_numpy()
        for variant, m in (("collapsed", coll), ("default", ~coll)):
            if m.any():
                s = rows[m]
                parts.append(_part(s, "R-TPL-06", book, variant=variant, table=s["table"], row_id=s["row_id"]))

    # columns: not inside a t2 block that is missing as a whole (its rows are reported above)
    blk = partial.groupby(["report_id", "table", "blk"], sort=False)["miss"].all().rename("_blk_all").reset_index()
    partial = partial.merge(blk, on=["report_id", "table", "blk"], how="left")
    partial = partial[~partial["_blk_all"]]
    cols = partial.groupby(["report_id", "table", "blk", "col_id"], sort=False)["miss"].all().reset_index()
    cols = cols[cols["miss"]].merge(lt, on="report_id", how="left")
    if len(cols):
        cols = cols.rename(columns={"blk": "block"})
        cols = msg.lookup(cols, labels, "col", "col_id", "col_zh")
        cols["table_zh"] = msg.table_zh(cols["table"], book)
        cols["block_zh"] = msg.block_zh(cols, labels)
        parts.append(_part(cols, "R-TPL-06", book, variant="col", table=cols["table"], col_id=cols["col_id"]))
    return parts
