"""pandera models of the input frames at the validate stage boundary.

Schema violations never raise out of the stage: `check()` validates lazily and turns `SchemaErrors.failure_cases`
into findings (a negative count -> R-T2-01/R-T3-01/R-T4-01 per catalogue.yaml `schema_rules`; anything else ->
R-EXT-01), then returns frames cleaned for the rules (unknown tables/ids dropped, unknown states treated as
UNPARSABLE, unknown templates as `unknown`).
"""
from __future__ import annotations

import logging

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline import templates
from pipeline.frames import (CELL_STATES, CELLS_COLUMNS, FORMATS, REPORT_STATUSES, REPORTS_COLUMNS,
                             SECTIONS_COLUMNS, TEMPLATES)

from . import messages as msg
from .rulebook import Rulebook

log = logging.getLogger(__name__)

TABLES = ("t2", "t3", "t4")


def _known() -> dict:
    rows, cols, blocks, signed, sections, decimal = set(), set(), set(), set(), {"sec.preamble"}, set()
    for t in templates.registry().values():
        for b in t.t2_blocks:
            blocks.add(b.id)
            rows.update(f"t2|{r.id}" for r in b.rows)
            cols.update(f"t2|{c.id}" for c in b.cols)
            signed.update(c.id for c in b.cols if c.signed)
            if b.dtype != "int":
                decimal.update(c.id for c in b.cols)
        for b in t.raw["t2"]["blocks"]:
            decimal.update(c["id"] for c in b["cols"] if c.get("decimal"))
        rows.update(f"t3|{r.id}" for r in t.t3_rows)
        rows.update(f"t3|{g}" for g in t.t3_collapsible)
        cols.update(f"t3|{c.id}" for c in t.t3_cols)
        rows.update(f"t4|{g.id}" for g in t.t4_groups)
        cols.update(f"t4|{c.id}" for c in t.t4_cols)
        sections.update(s["id"] for s in t.sections)
    return {"rows": sorted(rows), "cols": sorted(cols), "blocks": sorted(blocks), "signed": sorted(signed),
            "sections": sorted(sections), "decimal": sorted(decimal)}


KNOWN = _known()


class CellsModel(pa.DataFrameModel):
    report_id: Series[str] = pa.Field(str_length={"min_value": 1})
    table: Series[str] = pa.Field(isin=list(TABLES))
    row_id: Series[str]
    col_id: Series[str]
    value: Series[float] = pa.Field(nullable=True)
    state: Series[str] = pa.Field(isin=list(CELL_STATES))
    block: Series[str] = pa.Field(isin=[""] + KNOWN["blocks"])

    @pa.dataframe_check
    def known_row(cls, df: pd.DataFrame) -> Series[bool]:
        """row_id is an id of that table in the template registry."""
        return (df["table"] + "|" + df["row_id"]).isin(KNOWN["rows"])

    @pa.dataframe_check
    def known_col(cls, df: pd.DataFrame) -> Series[bool]:
        """col_id is an id of that table in the template registry."""
        return (df["table"] + "|" + df["col_id"]).isin(KNOWN["cols"])

    @pa.dataframe_check
    def non_negative(cls, df: pd.DataFrame) -> Series[bool]:
        """Counts and amounts are >= 0; only signed columns (gb2019 col.item_change) may be negative."""
        return df["value"].isna() | (df["value"] >= 0) | (df["table"].eq("t2") & df["col_id"].isin(KNOWN["signed"]))

    @pa.dataframe_check
    def integer_count(cls, df: pd.DataFrame) -> Series[bool]:
        """t3/t4 cells (applications, cases) and the t2 counts (documents, decisions) are whole numbers; only the
        t2 amount columns (万元, 采购总金额) may have decimals."""
        counts = df["table"].isin(["t3", "t4"]) | (df["table"].eq("t2") & ~df["col_id"].isin(KNOWN["decimal"]))
        return df["value"].isna() | ~counts | (df["value"] == df["value"].round())

    class Config:
        strict = False
        coerce = False


class ReportsModel(pa.DataFrameModel):
    report_id: Series[str] = pa.Field(str_length={"min_value": 1}, unique=True)
    status: Series[str] = pa.Field(isin=list(REPORT_STATUSES))
    template: Series[str] = pa.Field(isin=list(TEMPLATES))
    format: Series[str] = pa.Field(isin=list(FORMATS))
    year: Series[pd.Int64Dtype] = pa.Field(nullable=True, in_range={"min_value": 1990, "max_value": 2100})
    template_markers_2021: Series[float] = pa.Field(nullable=True, ge=0)
    template_markers_2019: Series[float] = pa.Field(nullable=True, ge=0)

    class Config:
        strict = False
        coerce = False


class SectionsModel(pa.DataFrameModel):
    report_id: Series[str] = pa.Field(str_length={"min_value": 1})
    section_id: Series[str] = pa.Field(isin=KNOWN["sections"])

    class Config:
        strict = False
        coerce = False


# ---------------------------------------------------------------------------------------------------------------
_REPORT_NUM = ("year", "n_errors", "n_warnings", "n_infos", "template_markers_2021", "template_markers_2019")


def _strs(df: pd.DataFrame, cols) -> None:
    """Text columns as str without missing values ('' instead)."""
    for c in cols:
        s = df[c]
        if isinstance(s.dtype, pd.StringDtype):
            if s.hasnans:
                df[c] = s.fillna("")
        else:
            df[c] = s.astype(object).where(s.notna(), "").astype(str)


def prepare(reports: pd.DataFrame, cells: pd.DataFrame, sections: pd.DataFrame):
    """Copies with every frame column present and plain dtypes (str, float, Int64), index 0..n-1."""
    reports = reports.reset_index(drop=True).copy()
    for c in REPORTS_COLUMNS:
        if c not in reports.columns:
            reports[c] = pd.NA
    reports["year"] = pd.to_numeric(reports["year"], errors="coerce").round().astype("Int64")
    for c in ("template_markers_2021", "template_markers_2019"):
        reports[c] = pd.to_numeric(reports[c], errors="coerce").astype(float)
    _strs(reports, [c for c in reports.columns if c not in _REPORT_NUM])

    cells = cells.reset_index(drop=True).copy()
    for c in CELLS_COLUMNS:
        if c not in cells.columns:
            cells[c] = pd.NA
    cells["value"] = pd.to_numeric(cells["value"], errors="coerce").astype(float)
    _strs(cells, [c for c in cells.columns if c != "value"])

    sections = sections.reset_index(drop=True).copy()
    for c in SECTIONS_COLUMNS:
        if c not in sections.columns:
            sections[c] = pd.NA
    _strs(sections, ["report_id", "section_id", "heading", "canonical_heading"])
    return reports, cells, sections


def _failures(model, df: pd.DataFrame, what: str) -> pd.DataFrame:
    """failure_cases of a lazy validation (one row per check and failing row); frame-level failures are logged."""
    try:
        model.validate(df, lazy=True)
        return pd.DataFrame(columns=["check", "column", "failure_case", "index"])
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
    except Exception as e:  # pragma: no cover - pandera internals; never stop the run
        log.warning("validate: %s schema could not be checked: %s", what, e)
        return pd.DataFrame(columns=["check", "column", "failure_case", "index"])
    frame_level = fc["index"].isna()
    for _, r in fc[frame_level].iterrows():
        log.warning("validate: %s schema: %s %s %s", what, r["column"], r["check"], r["failure_case"])
    fc = fc[~frame_level].copy()
    fc["index"] = fc["index"].astype("int64")
    fc["check"] = fc["check"].astype(str)
    fc["column"] = fc["column"].astype(object).where(fc["column"].notna(), "").astype(str)
    # a frame-wide check is listed once per column; keep the column that names the failing field
    prefer = {"non_negative": "value", "integer_count": "value", "known_row": "row_id", "known_col": "col_id"}
    fc["_pref"] = fc["check"].map(prefer).fillna(fc["column"])
    fc = fc.sort_values(["index", "check"], kind="stable")
    fc = fc[fc["column"].eq(fc["_pref"]) | ~fc["check"].isin(list(prefer))]
    return fc.drop_duplicates(["check", "index"]).drop(columns="_pref").reset_index(drop=True)


def _check_label(check: pd.Series) -> pd.Series:
    return check.str.replace(r"^isin\(.*\)$", "不在允许取值之内", regex=True).str.replace(
        "field_uniqueness", "重复", regex=False).str.replace(r"^str_length.*$", "不能为空", regex=True)


def check(reports: pd.DataFrame, cells: pd.DataFrame, sections: pd.DataFrame, book: Rulebook, labels: pd.DataFrame):
    """Validate the (prepared) inputs; returns cleaned (reports, cells, sections) and the schema findings."""
    parts = []
    rules = book.raw.get("schema_rules") or {}
    other = rules.get("other", "R-EXT-01")

    # ---- reports
    fc = _failures(ReportsModel, reports, "reports")
    if len(fc):
        r = reports.loc[fc["index"].to_numpy(), ["report_id"]].reset_index(drop=True)
        r["field"] = fc["column"].to_numpy()
        r["value"] = fc["failure_case"].astype(str).to_numpy()
        r["check"] = _check_label(fc["check"]).to_numpy()
        r["where"] = ""
        parts.append(_meta_findings(r, other, book))
    reports = reports.drop_duplicates("report_id", keep="first").reset_index(drop=True)
    reports.loc[~reports["template"].isin(TEMPLATES), "template"] = "unknown"
    reports.loc[~reports["status"].isin(REPORT_STATUSES), "status"] = "partial"

    # ---- cells
    fc = _failures(CellsModel, cells, "cells")
    bad_keys = pd.Series(False, index=cells.index)
    bad_state = pd.Series(False, index=cells.index)
    if len(fc):
        c = cells.loc[fc["index"].to_numpy()].reset_index(drop=True)
        c["_check"] = fc["check"].to_numpy()
        c["_column"] = fc["column"].to_numpy()
        c["_case"] = fc["failure_case"].astype(str).to_numpy()
        idx = fc["index"].to_numpy()
        keymask = c["_check"].isin(["known_row", "known_col"]) | c["_column"].isin(["table", "report_id", "block"])
        bad_keys.loc[idx[keymask.to_numpy()]] = True
        bad_state.loc[idx[c["_column"].eq("state").to_numpy()]] = True
        c["rule_id"] = other
        c["variant"] = "schema"
        for chk, variant in (("non_negative", "default"), ("integer_count", "fraction")):
            by_table = rules.get(chk) or {}
            m = c["_check"].eq(chk) & c["table"].isin(list(by_table))
            c.loc[m, "rule_id"] = c.loc[m, "table"].map(by_table)
            c.loc[m, "variant"] = variant
        c["_idx"] = idx
        c = c.drop_duplicates(["_idx", "rule_id"]).reset_index(drop=True)  # one finding per cell and rule
        lt = reports[["report_id"]].assign(lt=msg.label_template(reports["template"], book))
        parts.append(_cell_findings(c.merge(lt.drop_duplicates("report_id"), on="report_id", how="left"), book, labels))
    cells = cells.assign(_bad=bad_state.to_numpy())
    cells.loc[bad_state, "state"] = "UNPARSABLE"
    cells = cells[~bad_keys].reset_index(drop=True)

    # ---- sections
    fc = _failures(SectionsModel, sections, "sections")
    if len(fc):
        s = sections.loc[fc["index"].to_numpy(), ["report_id"]].reset_index(drop=True)
        s["field"] = fc["column"].to_numpy()
        s["value"] = fc["failure_case"].astype(str).to_numpy()
        s["check"] = _check_label(fc["check"]).to_numpy()
        s["where"] = "（章节）"
        parts.append(_meta_findings(s, other, book))
        sections = sections.drop(index=fc["index"].unique()).reset_index(drop=True)
    return reports, cells, sections, parts


def _cell_findings(c: pd.DataFrame, book: Rulebook, labels: pd.DataFrame) -> pd.DataFrame:
    """Findings for failing cells; `c` carries the cell columns, lt (label template) and the failure."""
    c = c.copy()
    c["lt"] = c["lt"].fillna(book.label_template).astype(str)
    c = msg.lookup(c, labels, "row", "row_id", "row_zh")
    c = msg.lookup(c, labels, "col", "col_id", "col_zh")
    c["table_zh"] = msg.table_zh(c["table"], book)
    c["block_zh"] = msg.block_zh(c, labels)
    c["actual_num"] = c["value"]
    c["actual"] = msg.fmt_num(c["value"])
    c["field"] = c["_column"]
    c["value"] = c["_case"]
    c["check"] = _check_label(c["_check"])
    c["where"] = "（" + c["table"] + " " + c["row_id"] + " " + c["col_id"] + "）"
    out = []
    for (rid, variant), g in c.groupby(["rule_id", "variant"], sort=True):
        rule = book.rule(rid)
        out.append(pd.DataFrame({
            "report_id": g["report_id"], "rule_id": rid, "severity": rule.severity, "status": "FAIL",
            "table": g["table"].where(g["table"].isin(TABLES), ""), "row_id": g["row_id"], "col_id": g["col_id"],
            "section_id": "", "expected": float("nan"),
            "actual": g["actual_num"] if variant != "schema" else float("nan"), "delta": float("nan"),
            "message": msg.vformat(rule.message(variant), g), "location": g["location"], "assumed_zero": "",
        }))
    return pd.concat(out, ignore_index=True)


def _meta_findings(r: pd.DataFrame, rule_id: str, book: Rulebook) -> pd.DataFrame:
    rule = book.rule(rule_id)
    return pd.DataFrame({
        "report_id": r["report_id"], "rule_id": rule_id, "severity": rule.severity, "status": "FAIL", "table": "",
        "row_id": "", "col_id": "", "section_id": "", "expected": float("nan"), "actual": float("nan"),
        "delta": float("nan"), "message": msg.vformat(rule.message("schema"), r), "location": "", "assumed_zero": "",
    })
