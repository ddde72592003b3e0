"""The validate stage: the whole batch's frames in, findings / indicators / report counts out.

    findings, indicators, reports = pipeline.validate.run(reports, cells, sections)

Rules are data in rules/catalogue.yaml (severity, Chinese title/basis/messages, evaluator tags),
rules/identities.yaml (arithmetic identities) and rules/weights.yaml (K-07). Evaluation is vectorised over the batch;
arithmetic identities are checked with great-expectations (one validation per table type), the input frames
with pandera (violations become findings, never exceptions). Reports with status `failed` get no findings and
NaN indicators.
"""
from __future__ import annotations

import os

import pandas as pd

from pipeline.frames import FINDINGS_COLUMNS, SEVERITY_RANK

from . import arithmetic, indicators, messages, rulebook, schemas, structure

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

__all__ = ["run", "empty_findings"]

_TEXT = [c for c in FINDINGS_COLUMNS if c not in ("year", "expected", "actual", "delta")]


def empty_findings() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in FINDINGS_COLUMNS})
    return _types(df)


def _types(df: pd.DataFrame) -> pd.DataFrame:
    for c in _TEXT:
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    df["year"] = pd.to_numeric(df["year"], errors="coerce").astype("Int64")
    for c in ("expected", "actual", "delta"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def _finalize(parts: list[pd.DataFrame], reports: pd.DataFrame, live_ids: pd.Series,
              book: rulebook.Rulebook) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return empty_findings()
    f = pd.concat([p[structure.PART_COLUMNS] for p in parts], ignore_index=True)
    f = f[f["report_id"].isin(live_ids)]
    meta = reports[["report_id", "agency", "year", "source_file", "title"]]
    f = f.merge(meta, on="report_id", how="left")
    f["basis"] = f["rule_id"].map({r.id: r.basis_zh for r in book.rules.values()})
    f = _types(f[FINDINGS_COLUMNS].copy())
    f["_sev"] = f["severity"].map(SEVERITY_RANK).fillna(9)
    f = f.sort_values(["report_id", "_sev", "rule_id", "table", "row_id", "col_id", "section_id", "message"],
                      kind="stable")
    return f.drop(columns="_sev").reset_index(drop=True)


def run(reports: pd.DataFrame, cells: pd.DataFrame, sections: pd.DataFrame
        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Validate a batch. Inputs: one long frame each (frames.REPORTS_COLUMNS / CELLS_COLUMNS / SECTIONS_COLUMNS).

    Returns (findings, indicators, reports): findings with frames.FINDINGS_COLUMNS sorted by report_id, severity
    (error < warning < info), rule_id, table, row_id, col_id, section_id; indicators with
    frames.INDICATORS_COLUMNS (one row per report, sorted by report_id); the input reports with
    n_errors/n_warnings/n_infos filled.
    """
    book = rulebook.load()
    labels = messages.label_table(book)
    reports_in = reports
    rep, cl, sec = schemas.prepare(reports, cells, sections)
    rep, cl, sec, parts = schemas.check(rep, cl, sec, book, labels)

    live = rep[rep["status"].ne("failed")].copy()
    live["lt"] = messages.label_template(live["template"], book)
    cl = cl.merge(live[["report_id", "lt"]], on="report_id", how="inner")
    cl = cl[~cl.duplicated(["report_id", "table", "row_id", "col_id"])].reset_index(drop=True)
    sec = sec[sec["report_id"].isin(live["report_id"])]

    parts.append(arithmetic.evaluate(cl, book, labels))
    parts.extend(structure.template_rules(live, book))
    parts.extend(structure.section_rules(live, sec, book))
    parts.extend(structure.cell_rules(live, cl, book, labels))
    findings = _finalize(parts, rep, live["report_id"], book)

    counts = (findings.groupby(["report_id", "severity"]).size().unstack("severity")
              .reindex(columns=["error", "warning", "info"]).fillna(0).astype("int64")
              .rename(columns={"error": "n_errors", "warning": "n_warnings", "info": "n_infos"}))
    counts = counts.reindex(rep["report_id"]).fillna(0).astype("int64").rename_axis("report_id").reset_index()

    ind = indicators.compute(rep, cl, counts, book)
    ind = ind.sort_values("report_id", kind="stable").reset_index(drop=True)

    out = reports_in.copy()
    if "report_id" in out.columns:
        key = out["report_id"].astype(object).where(out["report_id"].notna(), "").astype(str)
        cmap = counts.set_index("report_id")
        for c in ("n_errors", "n_warnings", "n_infos"):
            out[c] = key.map(cmap[c]).fillna(0).astype("int64").to_numpy()
    return findings, ind, out
