"""The validate stage: the whole batch's frames in, findings / indicators / report counts out.

    findings, indicators, reports = pipeline.validate.run(reports, cells, sections, agencies=None)

Rules are data in rules/ (see rulebook.py and rules/README.md): catalogue.yaml (severity, Chinese title/basis/
messages, evaluator tags of all 70 rules), identities.yaml + comparisons.yaml (arithmetic, inequalities and
cross-year identities), text_rules.yaml (text rules), checks.yaml (parameters of the named checks), weights.yaml
(K-07), and an office's local rule sets (rules/local/*.yaml, $AUDITOR_LOCAL_RULES). Evaluation is vectorised over the
batch; identities are checked with great-expectations (one validation per table type), the input frames with
pandera (violations become findings, never exceptions). `agencies` is the optional roster (agencies.csv: agency,
parent, agency_kind, level, aliases, rolls_up_into) used for name matching across years, kind/level overrides,
coverage (R-X-03) and roll-ups (R-X-05). Reports with status `failed` get no findings and NaN indicators.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pandas as pd

from pipeline.frames import FINDINGS_COLUMNS, SEVERITY_RANK

from . import arithmetic, context, crossreport, indicators, messages, metadata, rulebook, schemas, structure, tables
from . import textrules

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
    own = ["agency", "year"]   # findings without a report (R-X-03 coverage) carry their own agency and year
    f = pd.concat([p[structure.PART_COLUMNS + [c for c in own if c in p.columns]] for p in parts], ignore_index=True)
    for c in own:
        if c not in f.columns:
            f[c] = pd.NA
    f = f.rename(columns={"agency": "_agency", "year": "_year"})
    f = f[f["report_id"].isin(live_ids) | (f["report_id"].eq("") & f["_agency"].notna())]
    meta = reports[["report_id", "agency", "year", "source_file", "title"]]
    f = f.merge(meta, on="report_id", how="left")
    f["agency"] = f["agency"].where(f["report_id"].ne(""), f["_agency"])
    f["year"] = pd.to_numeric(f["year"], errors="coerce").where(f["report_id"].ne(""),
                                                               pd.to_numeric(f["_year"], errors="coerce"))
    f["basis"] = f["rule_id"].map({r.id: r.basis_zh for r in book.rules.values()})
    f = _types(f[FINDINGS_COLUMNS].copy())
    f["_sev"] = f["severity"].map(SEVERITY_RANK).fillna(9)
    f = f.sort_values(["report_id", "_sev", "rule_id", "table", "row_id", "col_id", "section_id", "message"],
                      kind="stable")
    return f.drop(columns="_sev").reset_index(drop=True)


def _suppress(parts: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """One structural problem, one finding: R-TPL-06 "table not found" gives way to R-STR-05 / R-EXT-04 (the section
    is there but its table has no data / no table at all), and R-TPL-06 on t4 to R-T4-06 (15 values expected)."""
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return parts
    f = pd.concat([p[["report_id", "rule_id", "table"]] for p in parts], ignore_index=True)
    ext04 = set(f.loc[f["rule_id"].eq("R-EXT-04"), "report_id"])
    str05 = set(zip(*f.loc[f["rule_id"].eq("R-STR-05"), ["report_id", "table"]].T.to_numpy())) \
        if f["rule_id"].eq("R-STR-05").any() else set()
    t406 = set(f.loc[f["rule_id"].eq("R-T4-06"), "report_id"])
    out = []
    for p in parts:
        if p["rule_id"].eq("R-T3-06").any() and ext04:   # no table at all: not "t3 without numbers"
            p = p[~(p["rule_id"].eq("R-T3-06") & p["report_id"].isin(ext04))]
        if not p["rule_id"].eq("R-TPL-06").any():
            out.append(p)
            continue
        tpl = p["rule_id"].eq("R-TPL-06")
        whole = tpl & p["row_id"].eq("") & p["col_id"].eq("")
        drop = whole & (p["report_id"].isin(ext04) | pd.Series([(a, b) in str05 for a, b in zip(p["report_id"],
                                                                                             p["table"])],
                                                               index=p.index))
        drop |= tpl & p["table"].eq("t4") & p["report_id"].isin(t406)
        out.append(p[~drop])
    return out


def _objects(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype != object and not pd.api.types.is_numeric_dtype(out[c]) and \
                not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype(object)
    return out


_CELL_KEYS = ("report_id", "table", "row_id", "col_id")
_CODED = (*_CELL_KEYS, "state")    # the columns CellView selects on
_ARITH_COLUMNS = ("report_id", "table", "row_id", "col_id", "value", "state", "location", "lt")


def _plain_cells(cells: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The cells with every text column as plain Python strings (the rules select many small row subsets: object
    columns copy pointers, Arrow strings are converted each time), and the mask of duplicate (report, table, row,
    col) keys, and the integer codes of the key columns (for CellView). Columns are factorised natively and rebuilt by `take` from their few distinct values, much faster
    than converting millions of Arrow strings one by one."""
    out, coded = {}, {}
    combined = np.zeros(len(cells), dtype=np.int64)
    for c in cells.columns:
        s = cells[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            out[c] = s
            continue
        codes, uniq = pd.factorize(s)
        values = np.empty(len(uniq) + 1, dtype=object)
        values[:-1] = np.asarray(uniq, dtype=object)
        values[-1] = np.nan
        out[c] = values[codes]
        if c in _CODED:
            coded[c] = (codes, values[:-1])
        if c in _CELL_KEYS:
            combined = combined * (len(uniq) + 1) + codes.astype(np.int64) + 1
    dup = pd.Series(combined).duplicated().to_numpy() if all(k in cells.columns for k in _CELL_KEYS) \
        else np.zeros(len(cells), dtype=bool)
    return pd.DataFrame(out, index=cells.index, columns=cells.columns), dup, coded


def _arith_codes(coded: dict, prev_parts: list[pd.DataFrame]) -> dict:
    """Integer codes {column: (codes, uniques)} of the arithmetic cells (the own cells, then the previous-year
    copies of context.prev_cells), derived from the own cells' codes instead of hashing millions of strings again."""
    out = {}
    for k in ("report_id", "table", "row_id", "col_id", "state"):
        codes, uniq = coded[k]
        uniq = np.asarray(uniq, dtype=object)
        chunks, extra = [codes], []
        if k in ("row_id", "col_id"):
            extra = ["prev:" + str(u) for u in uniq]
        for p in prev_parts:
            src = p["_src"].to_numpy()
            if k == "report_id":
                cur = p["_cur"].to_numpy().copy()
                lost = cur < 0                   # receiving report without cells of its own: new codes
                if lost.any():
                    c, u = pd.factorize(p["report_id"].to_numpy()[lost])
                    cur[lost] = c + len(uniq) + len(extra)
                    extra.extend(u)
                chunks.append(cur)
            else:
                c = codes[src]
                if k in ("row_id", "col_id"):
                    c = np.where(c >= 0, c + np.where(p["_dim"].to_numpy() == k, len(uniq), 0), -1)
                chunks.append(c)
        out[k] = (np.concatenate(chunks), np.concatenate([uniq, np.asarray(extra, dtype=object)]))
    return out


def _prev_needs(book: rulebook.Rulebook) -> list[tuple[str, str]]:
    """(table, dim) pairs whose previous-year cells the cross-year comparisons reference."""
    return sorted({(c.table, c.term_dim) for c in book.comparisons if c.cross_year})


def run(reports: pd.DataFrame, cells: pd.DataFrame, sections: pd.DataFrame,
        agencies: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*future.infer_string", category=Warning)
        with _plain_strings():
            # inside: plain Python strings. The rules select and rebuild many small frames, and pandas' Arrow
            # strings would be converted back and forth each time (measured: a fifth of the validation time)
            findings, ind, out = _run(reports, cells, sections, agencies)
    return _str_columns(findings), _str_columns(ind), out


def _plain_strings():
    """pandas' option to infer plain object strings (deprecated in pandas 3, gone in 4: then a no-op — slower,
    same results)."""
    try:
        pd.get_option("future.infer_string")
    except (KeyError, pd.errors.OptionError):
        return contextlib.nullcontext()
    return pd.option_context("future.infer_string", False)


def _str_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns back to pandas' default string dtype (what the other stages see everywhere else)."""
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype("str")
    return df


def _run(reports: pd.DataFrame, cells: pd.DataFrame, sections: pd.DataFrame,
         agencies: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Validate a batch. Inputs: one long frame each (frames.REPORTS_COLUMNS / CELLS_COLUMNS / SECTIONS_COLUMNS),
    and optionally the roster (agencies.csv as a frame).

    Returns (findings, indicators, reports): findings with frames.FINDINGS_COLUMNS sorted by report_id, severity
    (error < warning < info), rule_id, table, row_id, col_id, section_id; indicators with
    frames.INDICATORS_COLUMNS (one row per report, sorted by report_id); the input reports with
    n_errors/n_warnings/n_infos filled. Coverage findings (R-X-03: a roster agency without a report) have an empty
    report_id and carry the agency and year themselves.
    """
    book = rulebook.load()
    labels = messages.label_table(book)
    reports_in = reports
    rep, cl, sec = schemas.prepare(reports, cells, sections)
    rep, cl, sec, parts = schemas.check(rep, cl, sec, book, labels)

    live = rep[rep["status"].ne("failed")].copy()
    live["lt"] = messages.label_template(live["template"], book)
    cl, dup, coded = _plain_cells(cl)
    keep = cl["report_id"].isin(live["report_id"]).to_numpy() & ~dup
    cl = cl[keep].reset_index(drop=True)
    coded = {k: (codes[keep], uniq) for k, (codes, uniq) in coded.items()}
    cl["lt"] = cl["report_id"].map(dict(zip(live["report_id"], live["lt"])))
    sec = _objects(sec[sec["report_id"].isin(live["report_id"])])
    live = _objects(live)

    ctx = context.build(live, cl, sec, agencies)
    ctx.extra["cv"] = context.CellView(cl, coded)     # fast selections on the cells, shared by the rule modules
    raw = sec.drop_duplicates(["report_id", "section_id"]).pivot(index="report_id", columns="section_id",
                                                                  values="text") if len(sec) else None
    ctx.extra["raw_texts"] = raw.fillna("") if raw is not None else None
    parts.extend(metadata.rules(ctx, book))                 # R-META-05 compares with the roster first
    live = metadata.roster_overrides(live, ctx)
    ctx.reports = metadata.roster_overrides(ctx.reports, ctx)

    pc = [context.prev_cells(ctx, cl, {t: d}, ctx.extra["cv"]) for t, d in _prev_needs(book)]
    own = cl[[c for c in _ARITH_COLUMNS if c in cl.columns]]     # only what the identities read (less to copy)
    arith_cells = pd.concat([own.assign(_prev=False)] + [p[[c for c in own.columns if c in p.columns] + ["_prev"]]
                                                         for p in pc if len(p)], ignore_index=True) \
        if any(len(p) for p in pc) else own
    arith = arithmetic.evaluate(arith_cells, book, labels, ctx.prev_context(),
                                codes=_arith_codes(coded, [p for p in pc if len(p)]))
    del arith_cells, own
    ctx.extra["arith"] = arith
    parts.append(arith)
    parts.extend(structure.template_rules(live, book))
    parts.extend(structure.section_rules(live, sec, book))
    parts.extend(structure.cell_rules(live, cl, book, labels))
    parts.extend(structure.structure_rules(ctx, live, cl, sec, book))
    parts.extend(tables.rules(ctx, live, cl, book, labels))
    parts.extend(textrules.evaluate(ctx, cl, book))
    parts.extend(crossreport.rules(ctx, live, cl, book, labels))
    findings = _finalize(_suppress(parts), rep, live["report_id"], book)

    counts = (findings.groupby(["report_id", "severity"]).size().unstack("severity")
              .reindex(columns=["error", "warning", "info"]).fillna(0).astype("int64")
              .rename(columns={"error": "n_errors", "warning": "n_warnings", "info": "n_infos"}))
    counts = counts.reindex(rep["report_id"]).fillna(0).astype("int64").rename_axis("report_id").reset_index()

    ind = indicators.compute(rep, cl, counts, book, ctx.extra.get("cv"))
    ind = ind.sort_values("report_id", kind="stable").reset_index(drop=True)

    out = reports_in.copy()
    if "report_id" in out.columns:
        key = out["report_id"].astype(object).where(out["report_id"].notna(), "").astype(str)
        cmap = counts.set_index("report_id")
        for c in ("n_errors", "n_warnings", "n_infos"):
            out[c] = key.map(cmap[c]).fillna(0).astype("int64").to_numpy()
    return findings, ind, out
