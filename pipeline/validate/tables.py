"""Cell rules beyond the identities, vectorised over the batch:
R-T2-02 (规章 rule-making power), R-T2-06 (fee unit), R-T3-07 (blank cells), R-T3-09 (fee rows before 2021),
R-T3-10 (backlog), R-T3-12 (carried over without a previous report), R-T4-04/05 (t4 across years), R-T4-06 (15
values), R-EXT-02 (normalisations), R-EXT-03 (digits split / merged), R-EXT-04 (no table at all).
Parameters: rules/checks.yaml."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import messages as msg
from .context import CellView, Context
from .rulebook import Rulebook
from .structure import _part

T4_GROUPS = ["t4.review", "t4.litigation_direct", "t4.litigation_after_review"]
T4_PARTS = ["col.upheld", "col.corrected", "col.other_result", "col.pending"]
APPLICANTS = ["col.natural_person", "col.commercial_enterprise", "col.research_institution",
              "col.public_interest_org", "col.legal_service_org", "col.other_org"]


def _labelled(df: pd.DataFrame, labels: pd.DataFrame, book: Rulebook) -> pd.DataFrame:
    df = msg.lookup(df, labels, "row", "row_id", "row_zh")
    df = msg.lookup(df, labels, "col", "col_id", "col_zh")
    df["table_zh"] = msg.table_zh(df["table"], book)
    if "block" in df.columns:
        df["block_zh"] = msg.block_zh(df, labels)
    return df


def _zh(book, key, s):
    m = book.raw.get(key) or {}
    return s.fillna("").astype(str).map(lambda v: m.get(v, v)).astype(str)


def rules(ctx: Context, rep: pd.DataFrame, cells: pd.DataFrame, book: Rulebook, labels: pd.DataFrame):
    """`rep`: live reports (roster kind/level applied) with lt; `cells`: their cells (unique keys, lt column)."""
    cv = ctx.extra.get("cv") or CellView(cells)
    parts = []
    for fn in (_t2_02, _t2_06, _t3_07, _t3_09, _t3_10, _t3_12, _t4_04_05, _t4_06, _ext02, _ext03_split, _ext04):
        res = fn(ctx, rep, cv, book, labels)
        if res is not None:
            parts.extend(res if isinstance(res, list) else [res])
    return [p for p in parts if p is not None and len(p)]


# ---------------------------------------------------------------------------------------------------------------
def _t2_02(ctx, rep, cv, book, labels):
    p = book.params("R-T2-02")
    row = p.get("row", "t2.regulation")
    x = cv.sel(table="t2", row_id=row, col_id=list(p.get("cols") or []), state="NUMBER")
    x = x[x["value"] > 0]
    if x.empty:
        return None
    order = {k: i for i, k in enumerate(p.get("cols") or [])}
    x = x.assign(_o=x["col_id"].map(order)).sort_values(["report_id", "_o"]).drop_duplicates("report_id")
    r = rep.set_index("report_id")
    x = x.assign(agency=x["report_id"].map(r["agency"]), agency_kind=x["report_id"].map(r["agency_kind"]).fillna(""),
                 level=x["report_id"].map(r["level"]).fillna(""))
    power = pd.Series(False, index=x.index)
    for spec in p.get("rule_making") or []:
        power |= x["agency_kind"].eq(spec.get("agency_kind")) & x["level"].isin(spec.get("levels") or [])
    names = set(p.get("names") or [])
    power |= x["agency"].isin(names)
    x = x[~power]
    if x.empty:
        return None
    x = _labelled(x, labels, book)
    x["actual"] = msg.fmt_num(x["value"])
    x["kind_zh"] = _zh(book, "kinds_zh", x["agency_kind"])
    x["level_zh"] = _zh(book, "levels_zh", x["level"])
    unknown = x["agency_kind"].eq("") | x["level"].eq("")
    err = ~unknown & x["level"].isin(p.get("error_levels") or []) & x["col_id"].isin(
        ["col.issued_count", "col.new_made_count"])
    out = []
    rule = book.rule("R-T2-02")
    for variant, m, st in (("default", err, "FAIL"), ("warning", ~err & ~unknown, "FAIL"),
                           ("uncertain", unknown, "UNCERTAIN")):
        if m.any():
            g = x[m]
            part = _part(g, "R-T2-02", book, variant=variant, status=st, table="t2", row_id=g["row_id"],
                         col_id=g["col_id"], location=g["location"], actual=g["value"])
            sev = rule.severity_of(variant if variant != "uncertain" else "warning")
            part["severity"] = book.uncertain_severity_for(sev) if st == "UNCERTAIN" else sev
            out.append(part)
    return out


def _t2_06(ctx, rep, cv, book, labels):
    p = book.params("R-T2-06")
    col = p.get("col", "col.fee_amount_wan")
    x = cv.sel(table="t2", col_id=col, state="NUMBER")
    if x.empty:
        return None
    x = _labelled(x, labels, book)
    kind = x["report_id"].map(rep.set_index("report_id")["level"]).fillna("")
    notes = x["note"].fillna("").astype(str)
    yuan = notes.str.contains("unit_yuan") | x["unit"].fillna("").astype(str).eq("元")
    big = ~yuan & kind.ne("central") & (x["value"] > float(p.get("max_wan_non_central", 1e6)))
    digits = x["raw"].fillna("").astype(str).str.extract(r"\.(\d+)", expand=False).fillna("")
    dec = ~yuan & ~big & (digits.str.len() > int(p.get("max_decimals", 4)))
    x["actual"] = msg.fmt_num(x["value"])
    x["expected"] = msg.fmt_num(x["value"] / 10000.0)
    x["limit"] = msg.fmt_num(pd.Series(float(p.get("max_wan_non_central", 1e6)), index=x.index))
    x["n_decimals"] = digits.str.len().astype(str)
    out = []
    rule = book.rule("R-T2-06")
    for variant, m in (("default", yuan), ("magnitude", big), ("decimals", dec)):
        if m.any():
            g = x[m]
            part = _part(g, "R-T2-06", book, variant=variant, table="t2", row_id=g["row_id"], col_id=g["col_id"],
                         location=g["location"], actual=g["value"],
                         expected=(g["value"] / 10000.0) if variant == "default" else np.nan)
            part["severity"] = rule.severity_of(variant)
            out.append(part)
    return out


def _t3_07(ctx, rep, cv, book, labels):
    c = cv.c
    p = book.params("R-T3-07")
    n_list = int(p.get("max_listed", 8))
    blank = cv.mask(state=["BLANK", "DASH"])
    num = cv.mask(state="NUMBER")
    rc, tc = cv.codes("report_id"), cv.codes("table")
    nt = max(1, len(cv.uniques("table")))
    key = rc.astype(np.int64) * nt + tc
    size = int(key.max()) + 1 if len(key) else 0
    n_blank = np.bincount(key[blank], minlength=size)
    n_num = np.bincount(key[num], minlength=size)
    n_all = np.bincount(key, minlength=size)
    rids, tabs = cv.uniques("report_id"), cv.uniques("table")
    g = pd.DataFrame({"report_id": [rids[k // nt] for k in range(size)], "table": [tabs[k % nt] for k in range(size)],
                      "n_blank": n_blank, "n_number": n_num, "n_cells": n_all})
    g = g[g["n_cells"] > 0]
    out = []
    # whole table blank (t3 is R-T3-06)
    whole = g[g["table"].ne("t3") & g["n_number"].eq(0) & g["n_blank"].gt(0)].copy()
    if len(whole):
        whole["table_zh"] = msg.table_zh(whole["table"], book)
        whole["n_cells"] = whole["n_blank"].astype(int).astype(str)
        out.append(_part(whole, "R-T3-07", book, variant="table", table=whole["table"]))
    part = g[g["n_number"].gt(0) & g["n_blank"].gt(0)].copy()
    if len(part):
        want = np.zeros(size, dtype=bool)
        want[(part["report_id"].map({r: i for i, r in enumerate(rids)}).to_numpy() * nt
              + part["table"].map({t: i for i, t in enumerate(tabs)}).to_numpy())] = True
        cb = c[blank & want[key]]
        cb = _labelled(cb, labels, book)
        cb["name"] = cb["row_zh"] + "/" + cb["col_zh"]
        cb["_k"] = cb.groupby(["report_id", "table"]).cumcount()
        names = cb[cb["_k"] < n_list].groupby(["report_id", "table"])["name"].agg("；".join)
        part = part.merge(names.rename("cells").reset_index(), on=["report_id", "table"], how="left")
        more = part["n_blank"] > n_list
        part["cells"] = part["cells"].fillna("") + np.where(more, "等", "")
        part["table_zh"] = msg.table_zh(part["table"], book)
        part["n_blank"] = part["n_blank"].astype(int).astype(str)
        out.append(_part(part, "R-T3-07", book, table=part["table"]))
    # a total blank while its components are filled
    tot = _blank_totals(cv)
    if tot is not None and len(tot):
        tot = _labelled(tot, labels, book)
        tot["expected"] = msg.fmt_num(tot["parts"])
        out.append(_part(tot, "R-T3-07", book, variant="total", table=tot["table"], row_id=tot["row_id"],
                         col_id=tot["col_id"], location=tot["location"], expected=tot["parts"]))
    return out


def _blank_totals(cv):
    res = []
    for table, parts_cols in (("t3", APPLICANTS), ("t4", T4_PARTS)):
        tot = cv.sel(table=table, col_id="col.total", state=["BLANK", "DASH"])
        if tot.empty:
            continue
        parts = cv.sel(table=table, col_id=parts_cols, state="NUMBER",
                       report_id=sorted(set(tot["report_id"]))).groupby(["report_id", "row_id"])["value"].sum()
        x = tot.merge(parts.rename("parts").reset_index(), on=["report_id", "row_id"], how="inner")
        res.append(x[x["parts"] > 0])
    return pd.concat(res, ignore_index=True) if res else None


def _t3_09(ctx, rep, cv, book, labels):
    x = cv.sel(table="t3", row_id="t3.other.overdue_fee", state="NUMBER")
    x = x[x["value"] > 0]
    if x.empty:
        return None
    y = x["report_id"].map(rep.set_index("report_id")["year"])
    y = pd.to_numeric(y, errors="coerce")
    x = x[(y < 2021).fillna(False).to_numpy()]
    if x.empty:
        return None
    # one finding per report: the 总计 column if filled, else the first column
    x = x.assign(_o=(~x["col_id"].eq("col.total")).astype(int)).sort_values(["report_id", "_o"]).drop_duplicates(
        "report_id")
    x = _labelled(x, labels, book)
    x["actual"] = msg.fmt_num(x["value"])
    x["year"] = pd.to_numeric(x["report_id"].map(rep.set_index("report_id")["year"]), errors="coerce").astype(
        "Int64").astype(str)
    return _part(x, "R-T3-09", book, table="t3", row_id=x["row_id"], col_id=x["col_id"], location=x["location"],
                 actual=x["value"])


def _wide(cv, table, rows, col):
    x = cv.sel(table=table, row_id=list(rows), col_id=col)
    return x.pivot_table(index="report_id", columns="row_id", values="eff", aggfunc="first").reindex(columns=rows)


def _t3_10(ctx, rep, cv, book, labels):
    p = book.params("R-T3-10")
    w = _wide(cv, "t3", ["t3.new_received", "t3.carried_over", "t3.carried_forward"], "col.total")
    if w.empty:
        return None
    intake = w["t3.new_received"] + w["t3.carried_over"]
    cf = w["t3.carried_forward"]
    ratio = float(p.get("ratio", 0.5))
    m = (intake > float(p.get("min_intake", 10))) & (cf > ratio * intake)
    if not m.any():
        return None
    f = pd.DataFrame({"report_id": w.index[m], "actual": msg.fmt_num(cf[m]).to_numpy(),
                      "intake": msg.fmt_num(intake[m]).to_numpy(),
                      "pct": [f"{v:.0%}" for v in (cf[m] / intake[m])], "ratio": f"{ratio:.0%}",
                      "_a": cf[m].to_numpy()})
    loc = cv.sel(table="t3", row_id="t3.carried_forward", col_id="col.total").set_index(
        "report_id")["location"]
    return _part(f, "R-T3-10", book, table="t3", row_id="t3.carried_forward", col_id="col.total",
                 location=f["report_id"].map(loc).fillna(""), actual=f["_a"])


def _t3_12(ctx, rep, cv, book, labels):
    p = book.params("R-T3-12")
    row, col = p.get("row", "t3.carried_over"), p.get("col", "col.total")
    x = cv.sel(table="t3", row_id=row, col_id=col, state="NUMBER")
    x = x[x["value"] > 0]
    if x.empty:
        return None
    prev = ctx.prev_of.reindex(x["report_id"]).fillna("")
    t3num = list(cv.reports_with(table="t3", state="NUMBER"))
    has_prev = prev.isin(t3num).to_numpy() & prev.ne("").to_numpy()
    x = x[~has_prev]
    if x.empty:
        return None
    r = ctx.reports.set_index("report_id")
    x = x.assign(actual=msg.fmt_num(x["value"]), agency=x["report_id"].map(r["agency"]),
                 prev_year=(x["report_id"].map(r["year_i"]) - 1).astype("Int64").astype(str).replace("<NA>", ""))
    return _part(x, "R-T3-12", book, table="t3", row_id=row, col_id=col, location=x["location"], actual=x["value"])


def _t4_04_05(ctx, rep, cv, book, labels):
    out = []
    w = cv.sel(table="t4", col_id="col.total").pivot_table(
        index="report_id", columns="row_id", values="eff", aggfunc="first").reindex(columns=T4_GROUPS)
    if w.empty:
        return None
    t4num = list(cv.reports_with(table="t4", state="NUMBER"))
    prev = ctx.prev_of.reindex(w.index).fillna("")
    prev_ok = prev.isin(t4num) & prev.ne("")
    prev_review = w["t4.review"].reindex(prev.to_numpy()).to_numpy()
    # R-T4-04: after-review litigation without any review in t and t-1
    m = (w["t4.litigation_after_review"] > 0) & w["t4.review"].eq(0) & \
        (~prev_ok | pd.Series(prev_review == 0, index=w.index))
    if m.any():
        f = pd.DataFrame({"report_id": w.index[m], "actual": msg.fmt_num(w.loc[m, "t4.litigation_after_review"])
                          .to_numpy(), "_a": w.loc[m, "t4.litigation_after_review"].to_numpy()})
        f["prev_txt"] = np.where(prev_ok[m].to_numpy(), "及上年报告", "")
        loc = cv.sel(table="t4", row_id="t4.litigation_after_review", col_id="col.total")
        f["location"] = f["report_id"].map(loc.set_index("report_id")["location"]).fillna("")
        out.append(_part(f, "R-T4-04", book, table="t4", row_id="t4.litigation_after_review", col_id="col.total",
                         location=f["location"], actual=f["_a"]))
    # R-T4-05: last year's pending cases and an all-zero/blank t4 this year
    pend = cv.sel(table="t4", col_id="col.pending").groupby("report_id")["eff"].sum()
    t4c = cv.sel(table="t4")
    allzero = t4c["eff"].fillna(0).eq(0).groupby(t4c["report_id"]).all()
    cur = allzero.reindex(w.index).fillna(False).astype(bool)
    prev_pend = pend.reindex(prev.to_numpy()).to_numpy()
    m = cur & prev_ok & pd.Series(np.nan_to_num(prev_pend) > 0, index=w.index)
    if m.any():
        f = pd.DataFrame({"report_id": w.index[m], "_e": prev_pend[m.to_numpy()]})
        f["expected"] = msg.fmt_num(f["_e"])
        f["prev_ref"] = [ctx.ref(x) for x in prev[m]]
        out.append(_part(f, "R-T4-05", book, table="t4", expected=f["_e"]))
    return out


def _t4_06(ctx, rep, cv, book, labels):
    n = int(book.params("R-T4-06").get("expected_values", 15))
    t4 = cv.sel(table="t4")
    if t4.empty:
        return None
    g = t4.assign(_f=t4["state"].ne("MISSING")).groupby("report_id")["_f"].agg(["sum", "size"])
    m = (g["sum"] > 0) & (g["sum"] < n)
    if not m.any():
        return None
    x = t4[t4["report_id"].isin(g.index[m]) & t4["state"].eq("MISSING")]
    x = _labelled(x, labels, book)
    x["name"] = x["row_zh"] + "/" + x["col_zh"]
    names = x.groupby("report_id")["name"].agg("；".join)
    f = pd.DataFrame({"report_id": g.index[m], "n_found": g.loc[m, "sum"].astype(int).astype(str).to_numpy()})
    f["missing"] = f["report_id"].map(names).fillna("")
    return _part(f, "R-T4-06", book, table="t4")


def _ext02(ctx, rep, cv, book, labels):
    codes = list(book.params("R-EXT-02").get("notes") or [])
    names = book.raw.get("notes_zh") or {}
    x = cv.noted()
    if x.empty:
        return None
    rows = []
    split = x["note"].astype(str).str.split(";")
    for code in codes:
        m = split.map(lambda l, code=code: code in l).astype(bool)
        if m.any():
            rows.append(x[m].groupby(["report_id", "table"]).size().rename("n").reset_index().assign(code=code))
    if not rows:
        return None
    f = pd.concat(rows, ignore_index=True)
    f["txt"] = f["n"].astype(str) + " 个单元格" + f["code"].map(lambda k: names.get(k, k))
    f = f.groupby(["report_id", "table"], sort=True)["txt"].agg("，".join).rename("detail").reset_index()
    f["table_zh"] = msg.table_zh(f["table"], book)
    return _part(f, "R-EXT-02", book, table=f["table"])


def _ext03_split(ctx, rep, cv, book, labels):
    """R-EXT-03 (info): cells recovered from digits printed without separators (note digits_split), per table;
    (warning): a failing t3/t4 row total that balances when one cell's digits are re-split with a blank neighbour,
    or when two neighbouring cells are joined."""
    p = book.params("R-EXT-03")
    out = []
    code = p.get("split_note", "digits_split")
    x = cv.noted()
    x = x[x["note"].astype(str).str.split(";").map(lambda l: code in l).astype(bool)]
    if len(x):
        x = _labelled(x, labels, book)
        k = int(p.get("max_listed", 6))
        rows = x.drop_duplicates(["report_id", "table", "row_id"])
        rows = rows.assign(_k=rows.groupby(["report_id", "table"]).cumcount())
        lst = rows[rows["_k"] < k].groupby(["report_id", "table"])["row_zh"].agg("、".join)
        nrows = rows.groupby(["report_id", "table"]).size()
        f = x.groupby(["report_id", "table"]).size().rename("n_").reset_index()
        f["rows"] = [lst.get((a, b), "") + ("等" if nrows.get((a, b), 0) > k else "") for a, b in
                     zip(f["report_id"], f["table"])]
        f["rows"] = "行：" + f["rows"]
        f["n"] = f["n_"].astype(str)
        f["table_zh"] = msg.table_zh(f["table"], book)
        part = _part(f, "R-EXT-03", book, variant="split", table=f["table"])
        part["severity"] = book.rule("R-EXT-03").severity_of("split")
        out.append(part)
    out.extend(_resplit(cv, book, labels, ctx.extra.get("arith")))
    return out


def _resplit(cv, book, labels, arith=None):
    """Rows (t3 applicant columns + 总计, t4 parts + 总计) whose total fails by the effect of a split/merge. Only the
    rows whose row total failed (R-T3-04 / R-T4-02 findings of the identities, when given) are examined."""
    c = cv.c
    res = []
    for table, parts, rule in (("t3", APPLICANTS, "R-T3-04"), ("t4", T4_PARTS, "R-T4-02")):
        if arith is not None:
            a = arith[arith["rule_id"].eq(rule) & arith["status"].eq("FAIL")] if len(arith) else arith
            if not len(a):
                continue
            t = cv.sel(table=table, col_id=parts + ["col.total"], report_id=sorted(set(a["report_id"])))
            t = t[t["row_id"].isin(set(a["row_id"]))]
        else:
            t = cv.sel(table=table, col_id=parts + ["col.total"])
        if t.empty:
            continue
        ti = t.set_index(["report_id", "row_id", "col_id"])
        w = ti["value"].unstack("col_id").reindex(columns=parts + ["col.total"])
        s = ti["state"].unstack("col_id")
        s = s.reindex(columns=parts + ["col.total"])
        vals = w[parts].fillna(0)
        tot = w["col.total"]
        fail = tot.notna() & ((vals.sum(axis=1) - tot).abs() > 1e-9) & s[parts].isin(
            ["NUMBER", "BLANK", "DASH"]).all(axis=1)
        for (rid, row), v in vals[fail].iterrows():
            total = tot.loc[(rid, row)]
            st = s.loc[(rid, row)]
            hit = _explain(v.to_numpy(), st[parts].to_numpy(), total)
            if hit is None:
                continue
            kind, i, a, b = hit
            res.append({"report_id": rid, "table": table, "row_id": row, "col_id": parts[i], "col2": parts[i + 1],
                        "_v": kind, "a": a, "b": b, "actual_v": v.iloc[i]})
    if not res:
        return []
    f = pd.DataFrame(res)
    lt = c[["report_id", "lt"]].drop_duplicates("report_id")
    f = _labelled(f.merge(lt, on="report_id", how="left"), labels, book)
    f = msg.lookup(f, labels, "col", "col2", "col2_zh")
    loc = cv.sel(["report_id", "table", "row_id", "col_id", "location"], report_id=sorted(set(f["report_id"]))
                 ).set_index(["report_id", "table", "row_id", "col_id"])["location"]
    f["location"] = [loc.get((a, b, r, k), "") for a, b, r, k in zip(f["report_id"], f["table"], f["row_id"],
                                                                     f["col_id"])]
    f["actual"] = msg.fmt_num(f["actual_v"])
    out = []
    for v, g in f.groupby("_v"):
        g = g.copy()
        if v == "merge":
            g["split"] = g["a"].astype(str)
            g["split2"] = g["b"].astype(str)
            out.append(_part(g, "R-EXT-03", book, table=g["table"], row_id=g["row_id"], col_id=g["col_id"],
                             location=g["location"], actual=g["actual_v"]))
        else:
            g["merged"] = g["a"].astype(str) + g["b"].astype(str)
            g["a"], g["b"] = g["a"].astype(str), g["b"].astype(str)
            out.append(_part(g, "R-EXT-03", book, variant="join", table=g["table"], row_id=g["row_id"],
                             col_id=g["col_id"], location=g["location"], actual=g["actual_v"]))
    return out


def _explain(v: np.ndarray, st: np.ndarray, total: float):
    """('merge', i, a, b): cell i holds digits that, split as a|b over cells i and i+1 (the latter blank/0), make the
    row sum equal `total`; ('join', i, a, b): cells i and i+1 hold a and b whose concatenation makes it balance."""
    s = float(v.sum())
    for i in range(len(v) - 1):
        a, b = v[i], v[i + 1]
        if not (float(a).is_integer() and float(b).is_integer()):
            continue
        a, b = int(a), int(b)
        if b == 0 and a >= 10:
            d = str(a)
            for k in range(1, len(d)):
                x, y = d[:k], d[k:]
                if y.startswith("0") and len(y) > 1:
                    continue
                if abs(s - a + int(x) + int(y) - total) < 1e-9:
                    return ("merge", i, int(x), int(y))
        if a > 0 and b > 0 and st[i] == "NUMBER" and st[i + 1] == "NUMBER":
            if abs(s - a - b + int(f"{a}{b}") - total) < 1e-9:
                return ("join", i, a, b)
    return None


def _ext04(ctx, rep, cv, book, labels):
    c = cv.c
    r = rep[~rep["template"].isin(["legacy2008"])]
    if r.empty:
        return None
    found = c.loc[~cv.mask(state="MISSING"), "report_id"].unique()
    m = ~r["report_id"].isin(found)
    if not m.any():
        return None
    return _part(r[m], "R-EXT-04", book)

