"""Arithmetic identities (rules/identities.yaml) over the whole batch, checked with great-expectations.

For each table type one long frame is built with one row per identity instance per report (e.g. R-T3-02 ×
7 columns × every report), holding the precomputed sums of both sides; it is validated in ONE great-expectations
validation (`ExpectColumnPairValuesToBeEqual(actual, expected)`), and `unexpected_index_list` becomes findings.
Sums and cell-state flags are computed with pandas pivots and numpy over the whole batch (no per-report loop).
Large batches are evaluated by chunks of whole reports (validate._arithmetic: ~500k cells each, so one validation
per table type and chunk): a report's findings do not depend on the other reports, and the pivots stay small.
"""
from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import messages as msg
from .rulebook import Identity, OneOf, Rulebook, expand

log = logging.getLogger(__name__)

STATE_CODE = {"NUMBER": 0, "BLANK": 1, "DASH": 2, "UNPARSABLE": 3, "MISSING": 4}
BLANK, DASH, UNPARSABLE, MISSING = 1, 2, 3, 4

_GX_CACHE: dict = {}


# ---------------------------------------------------------------------------------------------------------------
# great-expectations
def _gx():
    """(batch definition, expectation), built once per process. GX is imported lazily (~2.5 s)."""
    if not _GX_CACHE:
        os.environ["GX_ANALYTICS_ENABLED"] = "false"
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        bd = (ctx.data_sources.add_pandas("validate_identities")
              .add_dataframe_asset("identity_instances")
              .add_batch_definition_whole_dataframe("whole_batch"))
        exp = gx.expectations.ExpectColumnPairValuesToBeEqual(column_A="actual", column_B="expected")
        _GX_CACHE.update(bd=bd, exp=exp)
    return _GX_CACHE["bd"], _GX_CACHE["exp"]


def unequal(frame: pd.DataFrame) -> np.ndarray:
    """Boolean array: rows of `frame` (columns actual, expected, optional op; RangeIndex) that fail, by GX.

    Inequalities are turned into equalities so that one expectation checks every row: `actual >= expected` holds
    iff actual == max(actual, expected) (`le`: min)."""
    df = frame[["actual", "expected"]].reset_index(drop=True)
    if "op" in frame.columns:
        op = frame["op"].to_numpy()
        a, e = df["actual"].to_numpy(), df["expected"].to_numpy()
        df["expected"] = np.where(op == "ge", np.maximum(a, e), np.where(op == "le", np.minimum(a, e), e))
    try:
        bd, exp = _gx()
        res = bd.get_batch(batch_parameters={"dataframe": df}).validate(exp, result_format="COMPLETE")
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise RuntimeError(res.exception_info.get("exception_message"))
        out = np.zeros(len(df), dtype=bool)
        idx = res.result.get("unexpected_index_list") or []
        if idx:
            out[np.asarray(idx, dtype="int64")] = True
        return out
    except Exception as e:  # never lose the check because of the framework: same comparison in numpy
        log.warning("validate: great-expectations failed (%s); comparing in pandas", e)
        return (df["actual"].to_numpy() != df["expected"].to_numpy())


# ---------------------------------------------------------------------------------------------------------------
@dataclass
class _Instances:
    ident: Identity
    frame: pd.DataFrame        # report_id, inst, actual, expected, unparsable, missing (kept instances only)
    ids: list[str]             # term ids (columns of the arrays below)
    side: np.ndarray           # per id: True = lhs (actual side)
    coef: np.ndarray           # per id: +1 or -1 (a term written '-id')
    states: np.ndarray         # n × ids, state codes
    involved: np.ndarray       # n × ids, bool


def _pivot(ct: pd.DataFrame, inst_dim: str, term_dim: str):
    """(values, state codes): one row per (report, instance), one column per term id. Built with numpy from the
    integer codes (report_id is already coded; the id columns are categorical) instead of set_index/unstack.
    State codes are int8, MISSING where the report has no such cell."""
    inst, term = ct[inst_dim].array, ct[term_dim].array
    ic, tc = np.asarray(inst.codes, dtype=np.int64), np.asarray(term.codes, dtype=np.int64)
    ni = max(1, len(inst.categories))
    key = ct["report_id"].to_numpy(dtype=np.int64) * ni + ic
    ukey, row = _dense_unique(key)
    shape = (len(ukey), len(term.categories))
    val = np.full(shape, np.nan)
    st = np.full(shape, MISSING, dtype=np.int8)         # no cell: MISSING (as a NaN state would be read)
    val[row, tc] = ct["value"].to_numpy(dtype=float)
    st[row, tc] = ct["state_code"].to_numpy(dtype=np.int8)
    index = pd.MultiIndex.from_arrays([ukey // ni, np.asarray(inst.categories, dtype=object)[ukey % ni]],
                                      names=["report_id", inst_dim])
    columns = pd.Index(np.asarray(term.categories, dtype=object), name=term_dim)
    return pd.DataFrame(val, index=index, columns=columns), pd.DataFrame(st, index=index, columns=columns)


def _split_sign(term):
    if isinstance(term, str) and term.startswith("-"):
        return term[1:], -1.0
    return term, 1.0


def _instances(ident: Identity, val: pd.DataFrame, st: pd.DataFrame, order: list[str]) -> _Instances | None:
    inst = val.index.get_level_values(1)
    uniq = pd.unique(inst)
    if ident.over is not None:
        ok = {u for u in uniq if any(fnmatch.fnmatchcase(u, p) for p in ident.over)}
    else:
        ok = {u for u in uniq if ":" not in u}   # prev:… instances only exist to be referenced as terms
    keep = np.asarray(inst.isin(list(ok)))
    if not keep.any():
        return None
    cols = [c for c in val.columns if ":" not in c or c.startswith("prev:")]
    available = [i for i in order if i in cols] + sorted(set(cols) - set(order))

    ids: list[str] = []
    side: list[bool] = []
    coef: list[float] = []
    fixed: list[bool] = []
    choices = []  # (list of alternatives as id lists)
    for is_lhs, terms in ((True, ident.lhs), (False, ident.rhs)):
        for t in terms:
            if isinstance(t, OneOf):
                continue
            t, sign = _split_sign(t)
            for i in expand([t], available):
                if i not in ids:
                    ids.append(i), side.append(is_lhs), coef.append(sign), fixed.append(True)
        for t in terms:
            if isinstance(t, OneOf):
                alts = []
                for alt in t.alternatives:
                    a = [i for i in expand(alt, available) if i not in ids]
                    for i in a:
                        ids.append(i), side.append(is_lhs), coef.append(1.0), fixed.append(False)
                    alts.append(a)
                choices.append(alts)

    V = val.reindex(columns=ids)[keep]
    S = st.reindex(columns=ids)[keep]
    n = len(V)
    sa = np.nan_to_num(S.to_numpy(dtype=float), nan=MISSING).astype(np.int8)
    inv = np.zeros((n, len(ids)), dtype=bool)
    inv[:, np.asarray(fixed, dtype=bool)] = True
    report = V.index.get_level_values(0)
    pos = {i: k for k, i in enumerate(ids)}
    for alts in choices:
        present = []
        for a in alts:
            if a:
                p = pd.Series((sa[:, [pos[i] for i in a]] != MISSING).any(axis=1), index=report)
                present.append(p.groupby(level=0).transform("any").to_numpy())
            else:
                present.append(np.zeros(n, dtype=bool))
        chosen = np.full(n, len(alts) - 1)
        for k in reversed(range(len(alts))):
            chosen = np.where(present[k], k, chosen)
        for k, a in enumerate(alts):
            for i in a:
                inv[:, pos[i]] |= chosen == k

    cf = np.asarray(coef, dtype=float)
    vals = np.nan_to_num(V.to_numpy(dtype=float), nan=0.0) * inv * cf[None, :]
    sd = np.asarray(side, dtype=bool)
    actual = np.round(vals[:, sd].sum(axis=1), 6)
    expected = np.round(vals[:, ~sd].sum(axis=1), 6)
    present_any = ((sa != MISSING) & inv).any(axis=1)
    frame = pd.DataFrame({
        "report_id": report.to_numpy(), "inst": V.index.get_level_values(1).to_numpy(),
        "actual": actual, "expected": expected, "op": getattr(ident, "op", "eq"),
        "unparsable": ((sa == UNPARSABLE) & inv).any(axis=1), "missing": ((sa == MISSING) & inv).any(axis=1),
    })
    m = present_any
    for group in getattr(ident, "skip_if_all_missing", ()):
        # e.g. every prev: term MISSING = no previous-year report: not assessable, no finding
        sel = np.array([any(fnmatch.fnmatchcase(i, p) for p in group) for i in ids], dtype=bool)
        m = m & (((sa[:, sel] != MISSING) & inv[:, sel]).any(axis=1) if sel.any() else False)
    if not m.any():
        return None
    return _Instances(ident, frame[m].reset_index(drop=True), ids, sd, cf, sa[m], inv[m])


def evaluate(cells: pd.DataFrame, book: Rulebook, labels: pd.DataFrame,
             context: pd.DataFrame | None = None, codes: dict | None = None) -> pd.DataFrame:
    """Findings of every identity and comparison in the rulebook. `cells`: cells of non-failed reports, unique per
    (report_id, table, row_id, col_id), with the frame columns and lt (label template of the report); cross-year
    comparisons need the previous year's cells added with `prev:`-prefixed ids (see context.prev_cells).
    `context`: optional per-report message fields (report_id, prev_ref ...). `codes`: optional precomputed
    {column: (codes, uniques)} of report_id, table, row_id, col_id and state (as pd.factorize would give)."""
    if cells.empty:
        return pd.DataFrame()
    given = codes or {}

    def factorize(col):
        c, u = given.get(col) or pd.factorize(cells[col])
        return np.asarray(c), np.asarray(u, dtype=object)

    lt = cells["lt"].to_numpy() if "lt" in cells.columns else None
    return evaluate_coded({k: factorize(k) for k in ("report_id", "table", "row_id", "col_id", "state")},
                          cells["value"].to_numpy(dtype=float),
                          cells["_prev"].to_numpy(dtype=bool) if "_prev" in cells.columns else None,
                          cells["location"].to_numpy(dtype=object) if "location" in cells.columns else None,
                          (lambda pos: lt[pos]) if lt is not None else None, book, labels, context)


def evaluate_coded(coded: dict, value: np.ndarray, is_prev: np.ndarray | None, location: np.ndarray | None,
                   lt_at, book: Rulebook, labels: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.DataFrame:
    """`evaluate` on cells given as arrays (no frame of the cells is built): `coded` {column: (integer codes,
    uniques)} of report_id, table, row_id, col_id and state; `value` (float); `is_prev` (previous-year copies);
    `location` of the cells (only the rows that are not previous-year copies are read: it may be shorter, when the
    copies come last); `lt_at(positions)` the label template of the cells at those positions (None: '')."""
    out = []
    n = len(value)
    if not n:
        return pd.DataFrame()
    codes, uniq = coded["state"]
    code_of = np.array([STATE_CODE.get(u, UNPARSABLE) for u in uniq] + [UNPARSABLE], dtype=np.int8)
    # report ids as integer codes while pivoting (the findings get the ids back); prev: copies flagged
    rcodes, rids = coded["report_id"]
    if len(rcodes) and rcodes.min() >= 0:      # codes 0..n-1 of the reports present, in code order
        used, rcodes = _dense_unique(rcodes)
        rids = rids[used]
    else:
        rcodes, rids = pd.factorize(np.append(np.asarray(rids, dtype=object), np.nan)[rcodes])
    first = np.unique(rcodes, return_index=True)[1]
    lt_of = pd.DataFrame({"report_id": np.arange(len(rids)), "report": np.asarray(rids, dtype=object),
                          "lt": lt_at(first) if lt_at is not None else ""})
    if context is not None and len(context):
        code = {r: i for i, r in enumerate(rids)}
        ctx = context.assign(report_id=context["report_id"].map(code)).dropna(subset=["report_id"])
        lt_of = lt_of.merge(ctx.assign(report_id=ctx["report_id"].astype(np.int64)), on="report_id", how="left")
    is_prev = is_prev if is_prev is not None else np.zeros(n, dtype=bool)
    # every id column as integer codes once; per table only int arrays are sliced (no string copies)
    tcodes, tnames = coded["table"]
    row_codes, row_ids = coded["row_id"]
    col_codes, col_ids = coded["col_id"]
    state = code_of[codes]
    all_idents = tuple(book.identities) + tuple(book.comparisons)
    tlist = list(tnames)
    for table in sorted({i.table for i in all_idents}):
        if table not in tlist:
            continue
        pos = np.nonzero(tcodes == tlist.index(table))[0]
        ct = pd.DataFrame({"report_id": rcodes[pos], "row_id": _categorical(row_codes[pos], row_ids),
                           "col_id": _categorical(col_codes[pos], col_ids), "value": value[pos],
                           "state_code": state[pos], "_prev": is_prev[pos], "_pos": pos})
        pivots: dict = {}
        groups: list[_Instances] = []
        idents = [i for i in all_idents if i.table == table]
        last = {i.for_each: k for k, i in enumerate(idents)}     # a pivot is dropped after its last identity
        for k, ident in enumerate(idents):
            if ident.for_each not in pivots:
                pivots[ident.for_each] = _pivot(ct, ident.inst_dim, ident.term_dim)
            kind = "row" if ident.term_dim == "row_id" else "col"
            order = list(pd.unique(labels.loc[(labels["table"] == table) & (labels["kind"] == kind), "id"]))
            g = _instances(ident, *pivots[ident.for_each], order)
            if g is not None:
                groups.append(g)
            if last[ident.for_each] == k:
                del pivots[ident.for_each]
        if not groups:
            continue
        frame = pd.concat([g.frame for g in groups], ignore_index=True)
        fail = unequal(frame)              # ONE great-expectations validation for this table
        own = ct[~ct["_prev"].to_numpy()]  # the table's own cells (not the prev: copies), for the locations
        del ct
        start = 0
        for g in groups:
            n = len(g.frame)
            f = fail[start:start + n]
            start += n
            if not f.any() and not g.frame["unparsable"].any():
                continue
            res = _findings(g, f, own, location, lt_of, book, labels)
            if res is not None:
                out.append(res)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _dense_unique(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_inverse=True) for non-negative integer keys of a small range, in linear time."""
    if not len(keys):
        return keys.astype(np.int64), keys.astype(np.int64)
    seen = np.bincount(keys, minlength=int(keys.max()) + 1) > 0
    used = np.nonzero(seen)[0]
    remap = np.zeros(len(seen), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return used, remap[keys]


def _categorical(codes: np.ndarray, uniques) -> pd.Categorical:
    """A categorical over the codes that occur (global factorize codes → the subset's own categories)."""
    used, inv = _dense_unique(codes)
    return pd.Categorical.from_codes(inv, categories=pd.Index(np.asarray(uniques, dtype=object)[used]))


def _findings(g: _Instances, fail: np.ndarray, ct: pd.DataFrame, location: np.ndarray | None, lt_of: pd.DataFrame,
              book: Rulebook, labels: pd.DataFrame) -> pd.DataFrame | None:
    fr = g.frame
    unc = fr["unparsable"].to_numpy() | (fail & fr["missing"].to_numpy())
    sel = unc | fail
    if not sel.any():
        return None
    ident, table = g.ident, g.ident.table
    rule = book.rule(ident.rule)
    f = fr[sel].reset_index(drop=True)
    st, inv = g.states[sel], g.involved[sel]
    f["status"] = np.where(unc[sel], "UNCERTAIN", "FAIL")
    sev = getattr(ident, "severity", None) or rule.severity
    f["severity"] = np.where(unc[sel], book.uncertain_severity_for(sev), sev)
    f = f.merge(lt_of, on="report_id", how="left")
    if "prev_ref" not in f.columns:
        f["prev_ref"] = ""
    f["lt"] = f["lt"].fillna(book.label_template)
    f["table"] = table
    if ident.for_each == "col":
        f["row_id"], f["col_id"] = ident.anchor, f["inst"]
    else:
        f["row_id"], f["col_id"] = f["inst"], ident.anchor
    f = msg.lookup(f, labels, "row", "row_id", "row_zh")
    f = msg.lookup(f, labels, "col", "col_id", "col_zh")
    f["table_zh"] = msg.table_zh(f["table"], book)

    kind = "row" if ident.term_dim == "row_id" else "col"
    names = msg.term_labels(f["lt"], labels, table, kind, g.ids)
    quoted = {i: "「" + s + "」" for i, s in names.items()}
    if ident.for_each == "col":
        cell_ids = {i: i + "/" + f["inst"].astype(str) for i in g.ids}
    else:
        cell_ids = {i: f["inst"].astype(str) + "/" + i for i in g.ids}

    def masks(m):
        return {i: m[:, k] for k, i in enumerate(g.ids)}

    sep = book.phrase("name_sep")
    lhs_m = masks(inv & g.side[None, :])
    rhs_m = masks(inv & ~g.side[None, :])
    blank = masks(((st == BLANK) | (st == DASH)) & inv)
    unp = masks((st == UNPARSABLE) & inv)
    mis = masks((st == MISSING) & inv)
    f["lhs_desc"] = ident.lhs_desc_zh or msg.join_signed(lhs_m, quoted, dict(zip(g.ids, g.coef)), f.index)
    f["rhs_desc"] = ident.rhs_desc_zh or msg.join_signed(rhs_m, quoted, dict(zip(g.ids, g.coef)), f.index)
    f["terms"] = msg.join_names(rhs_m, names, sep, f.index)
    f["assumed_zero"] = msg.join_names(masks((st != 0) & inv), cell_ids, ";", f.index)

    def phrase(key, m):
        n = msg.join_names(m, names, sep, f.index)
        return msg.vformat(book.phrase(key), pd.DataFrame({"names": n})).where(n.ne(""), "")

    f["assumed_zero_zh"] = phrase("assumed_zero", blank)
    u, mm = phrase("unparsable", unp), phrase("missing", mis)
    f["uncertain_zh"] = (u + np.where(u.ne("") & mm.ne(""), "；", "") + mm).astype(str)
    f["expected_num"], f["actual_num"] = f["expected"], f["actual"]
    f["delta_num"] = f["actual"] - f["expected"]
    f["op_zh"] = {"eq": "应等于", "ge": "应不小于", "le": "应不大于"}[getattr(ident, "op", "eq")]
    f["expected"] = msg.fmt_num(f["expected_num"])
    f["actual"] = msg.fmt_num(f["actual_num"])
    f["delta"] = msg.fmt_num(f["delta_num"], signed=True)
    message = pd.Series("", index=f.index, dtype=object)
    for variant, m in (("default", f["status"].eq("FAIL")), ("uncertain", f["status"].eq("UNCERTAIN"))):
        if m.any():
            message[m] = msg.vformat(rule.message(variant), f[m])
    if location is not None:
        loc = ct[np.isin(ct["report_id"].to_numpy(), f["report_id"].unique())]
        loc = pd.DataFrame({"report_id": loc["report_id"].to_numpy(), "row_id": loc["row_id"].to_numpy(dtype=object),
                            "col_id": loc["col_id"].to_numpy(dtype=object),
                            "location": location[loc["_pos"].to_numpy()]})
        f = f.merge(loc, on=["report_id", "row_id", "col_id"], how="left")
    else:
        f["location"] = ""
    return pd.DataFrame({
        "report_id": f["report"], "rule_id": ident.rule, "severity": f["severity"], "status": f["status"],
        "table": table, "row_id": f["row_id"], "col_id": f["col_id"], "section_id": "",
        "expected": f["expected_num"].astype(float), "actual": f["actual_num"].astype(float),
        "delta": f["delta_num"].astype(float), "message": message.astype(str).to_numpy(),
        "location": f["location"].fillna("").astype(str), "assumed_zero": f["assumed_zero"],
    })
