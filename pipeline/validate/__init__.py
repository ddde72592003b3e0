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


def _objects(df: pd.DataFrame, skip=()) -> pd.DataFrame:
    """Text columns as Python objects (but those in `skip`); equal values share one string object (factorised and
    rebuilt from the distinct values, as the cells: report ids and headings repeat on every section row)."""
    out = df.copy()
    for c in out.columns:
        if c not in skip and out[c].dtype != object and not pd.api.types.is_numeric_dtype(out[c]) and \
                not pd.api.types.is_bool_dtype(out[c]):
            codes, uniq = pd.factorize(out[c])
            values = np.empty(len(uniq) + 1, dtype=object)
            values[:-1] = np.asarray(uniq, dtype=object)
            values[-1] = np.nan
            out[c] = pd.Series(values[codes], index=out.index, dtype=object)
    return out


def _raw_texts(sec: pd.DataFrame, book: rulebook.Rulebook) -> pd.DataFrame | None:
    """Section texts as printed (index report_id, one column per section id), for the sections whose raw lines a
    rule reads (R-STR-04 restart_scopes; the other rules read the normalised ctx.texts)."""
    if not len(sec):
        return None
    scopes = list(book.params("R-STR-04").get("restart_scopes") or [])
    s = sec.loc[sec["section_id"].isin(scopes), ["report_id", "section_id", "text"]]
    s = s.drop_duplicates(["report_id", "section_id"])
    s = s.assign(text=s["text"].astype(object))
    return s.pivot(index="report_id", columns="section_id", values="text").fillna("")


_CELL_KEYS = ("report_id", "table", "row_id", "col_id")
_CODED = (*_CELL_KEYS, "state")    # the columns CellView selects on


_NOT_READ = ("page",)             # cell columns no rule reads: not carried into validation


def _plain_cells(cells: pd.DataFrame, live_ids=None) -> tuple[pd.DataFrame, dict]:
    """The cells the rules see: every text column as plain Python strings (the rules select many small row
    subsets: object columns copy pointers, Arrow strings are converted each time), only the rows of `live_ids`
    (None: every report) and the first of duplicate (report, table, row, col) keys; and the integer codes (int32) of
    the key columns of those rows (for CellView). Columns are factorised natively and rebuilt by `take` from their
    few distinct values (much faster than converting millions of Arrow strings one by one), straight into one
    object block for the kept rows (no intermediate per-column arrays, no second copy to drop rows)."""
    text = [c for c in cells.columns if c not in _NOT_READ and not (
        pd.api.types.is_numeric_dtype(cells[c]) or pd.api.types.is_bool_dtype(cells[c]))]

    def factor(c):
        codes, uniq = pd.factorize(cells[c])
        values = np.empty(len(uniq) + 1, dtype=object)
        values[:-1] = np.asarray(uniq, dtype=object)
        values[-1] = np.nan
        return codes, values

    fact = {c: factor(c) for c in _CODED if c in text}
    keep = np.ones(len(cells), dtype=bool)
    if all(k in fact for k in _CELL_KEYS):
        combined = np.zeros(len(cells), dtype=np.int64)
        for k in _CELL_KEYS:
            codes, values = fact[k]
            combined = combined * len(values) + codes.astype(np.int64) + 1
        keep &= ~pd.Series(combined).duplicated().to_numpy()
        del combined
    if live_ids is not None and "report_id" in fact:
        codes, values = fact["report_id"]
        live = np.append(pd.Series(values[:-1]).isin(live_ids).to_numpy(dtype=bool), False)
        keep &= live[codes]
    rows = None if keep.all() else np.nonzero(keep)[0]
    n = len(cells) if rows is None else len(rows)
    block = np.empty((len(text), n), dtype=object)
    coded = {}
    for i, c in enumerate(text):
        codes, values = fact.pop(c) if c in fact else factor(c)
        if rows is not None:
            codes = codes[rows]
        np.take(values, codes, out=block[i])
        if c in _CODED:
            coded[c] = (codes.astype(np.int32), values[:-1])
    out = pd.DataFrame(block.T, columns=text, dtype=object, copy=False)
    del block
    for pos, c in enumerate([c for c in cells.columns if c not in _NOT_READ]):
        if c not in text:
            col = cells[c]
            out.insert(pos, c, col.array if rows is None else col.array[rows])
    return out, coded


def _arith_codes(coded: dict, links: list) -> dict:
    """Integer codes {column: (codes, uniques)} of the arithmetic cells (the own cells, then the previous-year
    copies given by context.prev_links), derived from the own cells' codes instead of hashing millions of strings
    again. Codes are int32."""
    out = {}
    for k in ("report_id", "table", "row_id", "col_id", "state"):
        codes, uniq = coded[k]
        uniq = np.asarray(uniq, dtype=object)
        chunks, extra = [np.asarray(codes, dtype=np.int32)], []
        if k in ("row_id", "col_id"):
            extra = ["prev:" + str(u) for u in uniq]
        for lk in links:
            if k == "report_id":
                cur = lk.cur.astype(np.int32)
                lost = cur < 0                   # receiving report without cells of its own: new codes
                if lost.any():
                    c, u = pd.factorize(lk.cur_id[lost])
                    cur[lost] = c + len(uniq) + len(extra)
                    extra.extend(u)
                chunks.append(cur)
            else:
                c = chunks[0][lk.src]
                if k in ("row_id", "col_id") and lk.dim == k:
                    c = np.where(c >= 0, c + np.int32(len(uniq)), np.int32(-1)).astype(np.int32)
                chunks.append(c)
        out[k] = (np.concatenate(chunks), np.concatenate([uniq, np.asarray(extra, dtype=object)]))
    return out


ARITH_CHUNK_ROWS = 500_000        # arithmetic cells per chunk of reports (bounds the pivots' working memory)


def _arithmetic(ctx: context.Context, cl: pd.DataFrame, coded: dict, book: rulebook.Rulebook,
                labels: pd.DataFrame, chunk_rows: int | None = None) -> pd.DataFrame:
    """The identities and comparisons over the own cells and the previous-year cells (context.prev_links), given to
    arithmetic.evaluate_coded as arrays: the previous-year cells are index arrays into the own cells, not copies.

    Evaluated per chunk of reports of about `chunk_rows` cells (every cell of a report, its previous-year copies
    included, in one chunk): the identities of a report only read its own cells, so the findings of each report
    are those (and in the order) of one evaluation over the whole batch, while the pivots and instance matrices
    stay the size of a chunk."""
    chunk_rows = chunk_rows or ARITH_CHUNK_ROWS
    cv = ctx.extra["cv"]
    links = [lk for t, d in _prev_needs(book) for lk in context.prev_links(ctx, {t: d}, cv)]
    n_own = len(cl)
    src = np.concatenate([lk.src for lk in links]) if links else np.zeros(0, dtype=np.int64)
    value_own = cl["value"].to_numpy(dtype=float)
    value = np.concatenate([value_own, value_own[src]]) if len(src) else value_own
    is_prev = np.zeros(len(value), dtype=bool)
    is_prev[n_own:] = True
    lt_own = cl["lt"].to_numpy(dtype=object) if "lt" in cl.columns else None
    location = cl["location"].to_numpy(dtype=object) if "location" in cl.columns else None
    codes = _arith_codes(coded, links)
    del links

    def lt_at(pos: np.ndarray) -> np.ndarray:       # a copy carries the label template of the cell it copies
        pos = np.asarray(pos, dtype=np.int64)
        own = pos < n_own
        return lt_own[np.where(own, pos, src[np.where(own, 0, pos - n_own)] if len(src) else 0)]

    # chunk of every cell: reports (by id: a report has one id, sometimes several codes) in code order, cut
    # every `chunk_rows` cells
    rc, rids = codes["report_id"]
    if len(rc) <= chunk_rows or rc.min() < 0:
        return arithmetic.evaluate_coded(codes, value, is_prev, location, lt_at if lt_own is not None else None,
                                         book, labels, ctx.prev_context())
    sid = pd.factorize(np.asarray(rids, dtype=object))[0]                # code -> id index
    per_id = np.bincount(sid[rc], minlength=int(sid.max()) + 1)
    chunk_of_id = (np.cumsum(per_id) - per_id) // chunk_rows
    chunk = chunk_of_id.astype(np.int32)[sid[rc]]
    del per_id
    prev_ctx = ctx.prev_context()
    out = []
    for q in np.unique(chunk):
        sel = np.flatnonzero(chunk == q)
        k_own = int(np.searchsorted(sel, n_own))      # own cells come first (positions < n_own)
        res = arithmetic.evaluate_coded(
            {k: (c[sel], u) for k, (c, u) in codes.items()}, value[sel], is_prev[sel],
            location[sel[:k_own]] if location is not None else None,
            (lambda pos, sel=sel: lt_at(sel[pos])) if lt_own is not None else None, book, labels, prev_ctx)
        if len(res):
            out.append(res)
        del sel, res
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


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


def _release() -> None:
    """Give the memory freed by the step just done back to the system. glibc keeps freed blocks inside its heap
    (and, once a large array has been freed, its dynamic mmap threshold puts arrays of up to 32 MB there too), so
    without a trim every step's transient arrays stay resident and the next step's are added on top; pyarrow's
    pool keeps what it had in the same way. Best effort, a few milliseconds."""
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL(None).malloc_trim
            _TRIM.argtypes, _TRIM.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):   # not glibc: nothing to call
            _TRIM = False
    if _TRIM:
        _TRIM(0)
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # noqa: BLE001 - best effort
        pass


_TRIM = None


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
    _release()

    live = rep[rep["status"].ne("failed")].copy()
    live["lt"] = messages.label_template(live["template"], book)
    cl, coded = _plain_cells(cl, live["report_id"])
    _release()
    cl["lt"] = cl["report_id"].map(dict(zip(live["report_id"], live["lt"])))
    # section texts stay as they came (Arrow strings shared with the input): only the normalised texts of the
    # context and the few raw sections a rule reads are held as Python strings
    sec = _objects(sec[sec["report_id"].isin(live["report_id"])], skip=("text",))
    live = _objects(live)

    ctx = context.build(live, cl, sec, agencies)
    _release()
    ctx.extra["cv"] = context.CellView(cl, coded)     # fast selections on the cells, shared by the rule modules
    ctx.extra["raw_texts"] = _raw_texts(sec, book)
    sec = sec.drop(columns="text")          # no rule reads the raw texts beyond this point
    parts.extend(metadata.rules(ctx, book))                 # R-META-05 compares with the roster first
    live = metadata.roster_overrides(live, ctx)
    ctx.reports = metadata.roster_overrides(ctx.reports, ctx)

    arith = _arithmetic(ctx, cl, coded, book, labels) if len(cl) else pd.DataFrame()
    ctx.extra["arith"] = arith
    parts.append(arith)
    _release()
    parts.extend(structure.template_rules(live, book))
    parts.extend(structure.section_rules(live, sec, book))
    parts.extend(structure.cell_rules(live, cl, book, labels, ctx.extra["cv"]))
    _release()
    parts.extend(structure.structure_rules(ctx, live, cl, sec, book))
    _release()
    parts.extend(tables.rules(ctx, live, cl, book, labels))
    _release()
    parts.extend(textrules.evaluate(ctx, cl, book))
    _release()
    parts.extend(crossreport.rules(ctx, live, cl, book, labels))
    _release()
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
