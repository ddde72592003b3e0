"""Rules across reports: R-X-01 (copying between agencies), R-SEC5-03 (same as last year), R-X-02 (versions of
one agency-year differ), R-X-03 (coverage vs the roster), R-X-05 (roll-up), R-X-06 (year-over-year jump), R-X-07
(identical t3), R-X-08 (peer outliers). Parameters: rules/checks.yaml; agencies matched as in context.py."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from . import messages as msg
from .context import CellView, Context, alias_map, full_key
from .rulebook import Rulebook
from .similarity import ShingleIndex, jaccard_sets, shingles
from .structure import _part


def rules(ctx: Context, rep: pd.DataFrame, cells: pd.DataFrame, book: Rulebook, labels: pd.DataFrame):
    cv = ctx.extra.get("cv") or CellView(cells)
    parts = []
    for fn in (_x01, _sec5_03, _x02, _x03, _x05, _x06, _x07, _x08):
        res = fn(ctx, rep, cv, book, labels)
        if res is not None:
            parts.extend(res if isinstance(res, list) else [res])
    return [p for p in parts if p is not None and len(p)]


# ---------------------------------------------------------------------------------------------------------------
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def _sim_text(text: str, names: list[str]) -> str:
    """Text for similarity: the agency's name (and its place stem) removed, numbers folded to 0."""
    for n in names:
        if n and len(n) >= 2:
            text = text.replace(n, "")
    return _DIGITS.sub("0", text)


def _names(agency: str) -> list[str]:
    a = str(agency or "")
    out = [a]
    for suf in ("人民政府办公室", "人民政府", "办公室"):
        if a.endswith(suf) and len(a) > len(suf) + 1:
            out.append(a[: -len(suf)])
    m = re.match(r"^(.{2,8}?(?:省|市|州|县|区|旗|镇|乡|街道))", a)
    if m:
        out.append(m.group(1))
    return sorted(set(out), key=len, reverse=True)


def _texts(ctx: Context, ids, sections) -> list[str]:
    t = ctx.texts.reindex(ids).fillna("")
    cols = [s for s in sections if s in t.columns]
    agency = ctx.reports.set_index("report_id")["agency"].reindex(ids).fillna("")
    return [_sim_text("。".join(row), _names(a)) for row, a in zip(t[cols].to_numpy().tolist(), agency)]


def _x01(ctx, rep, cv, book, labels):
    """Identical texts are first collapsed (one representative per distinct shingle set), so that mass copying
    costs one comparison per distinct text; the representatives go through MinHash/LSH and exact verification.
    One finding per report, naming up to three of the other agencies' reports it matches."""
    p = book.params("R-X-01")
    sp = book.params("similarity")
    r = ctx.reports
    if len(r) < 2:
        return None
    ids = r["report_id"].tolist()
    texts = _texts(ctx, ids, p.get("sections") or ["sec.overview", "sec.problems", "sec.other"])
    mn = int(p.get("min_chars", 200))
    k = int(sp.get("shingle", 5))
    cluster: dict[str, int] = {}
    cid = np.empty(len(ids), dtype=np.int64)
    reps = []
    for i, t in enumerate(texts):     # identical texts collapse to one representative
        if len(t) < mn:
            cid[i] = -1
            continue
        if t not in cluster:
            cluster[t] = len(reps)
            reps.append(i)
        cid[i] = cluster[t]
    if not reps:
        return None
    index = ShingleIndex.build([texts[i] for i in reps], k=k)
    thr = float(p.get("threshold", 0.9))
    links: dict[int, dict[int, float]] = {}
    for a, b, s in index.similar_pairs(thr, int(sp.get("permutations", 96)), int(sp.get("bands", 12)),
                                       int(sp.get("seed", 1)), float(sp.get("estimate_slack", 0.15)),
                                       int(sp.get("sample", 4))):
        links.setdefault(a, {})[b] = s
        links.setdefault(b, {})[a] = s
    members: dict[int, list[int]] = {}
    for i, cl in enumerate(cid):
        if cl >= 0:
            members.setdefault(int(cl), []).append(i)
    keys = r["key"].to_numpy()
    key_count = {cl: Counter(keys[m]) for cl, m in members.items()}
    rows = []
    for i in range(len(ids)):
        cl = int(cid[i])
        if cl < 0:
            continue
        groups = [(cl, 1.0)] + sorted(((o, sv) for o, sv in links.get(cl, {}).items()), key=lambda x: -x[1])
        # same agency (versions, years): R-X-02 / R-SEC5-03, not copying
        n = sum(len(members[g]) - key_count.get(g, Counter()).get(keys[i], 0) for g, _ in groups)
        if n <= 0:
            continue
        first, best = [], None
        for g, sv in groups:
            for j in members[g]:
                if keys[j] != keys[i]:
                    best = sv if best is None else best
                    if len(first) < 3:
                        first.append(j)
            if len(first) >= 3:
                break
        refs = "；".join(ctx.ref(ids[j]) for j in first) + (f"等 {n} 份" if n > 3 else "")
        rows.append({"report_id": ids[i], "other_ref": refs, "similarity": f"{best:.2f}",
                     "threshold": f"{thr:.2f}", "_s": best})
    if not rows:
        return None
    f = pd.DataFrame(rows)
    return _part(f, "R-X-01", book, actual=f["_s"], expected=thr)


def _sec5_03(ctx, rep, cv, book, labels):
    """Section 五 against the same agency's previous report: MinHash estimates for all pairs at once, exact
    Jaccard for the pairs near the threshold."""
    p = book.params("R-SEC5-03")
    sp = book.params("similarity")
    k = int(sp.get("shingle", 5))
    pv = ctx.prev_of[ctx.prev_of.ne("")]
    if pv.empty:
        return None
    secs = p.get("sections") or ["sec.problems"]
    thr = float(p.get("threshold", 0.9))
    mn = int(p.get("min_chars", 60))
    both = list(dict.fromkeys(list(pv.index) + list(pv)))
    pos = {r: i for i, r in enumerate(both)}
    texts = _texts(ctx, both, secs)
    texts = [t if len(t) >= mn else "" for t in texts]
    index = ShingleIndex.build(texts, k=k)
    pairs = np.array([(pos[a], pos[b]) for a, b in zip(pv.index, pv)], dtype=np.int64)
    sig = index.signatures(int(sp.get("permutations", 96)), int(sp.get("seed", 1)), int(sp.get("sample", 4)))
    est = index.estimate(sig, pairs)
    ok = (index.sizes()[pairs[:, 0]] > 0) & (index.sizes()[pairs[:, 1]] > 0) & \
        (est >= thr - float(sp.get("estimate_slack", 0.15)))
    rows = []
    for (a, b), rid, prid in zip(pairs[ok], pv.index[ok], pv[ok]):
        s = index.jaccard(int(a), int(b))
        if s >= thr:
            rows.append({"report_id": rid, "other_ref": ctx.ref(prid), "similarity": f"{s:.2f}",
                         "threshold": f"{thr:.2f}", "_s": s})
    if not rows:
        return None
    f = pd.DataFrame(rows)
    sid = secs[0] if len(secs) == 1 else ""
    f["heading"] = [ctx.headings.at[x, sid] if sid else "" for x in f["report_id"]] if sid else ""
    return _part(f, "R-SEC5-03", book, section_id=sid, actual=f["_s"], expected=thr,
                 location=f["heading"] if sid else "")


def _x02(ctx, rep, cv, book, labels):
    p = book.params("R-X-02")
    k = int(book.params("similarity").get("shingle", 5))
    r = ctx.reports[ctx.reports["key"].ne("") & ctx.reports["year_i"].notna()]
    dup = r[r.duplicated(["key", "year_i"], keep=False)]
    if dup.empty:
        return None
    thr = float(p.get("threshold", 0.95))
    secs = p.get("sections") or ["sec.overview", "sec.problems"]
    num = cv.sel(["report_id", "table", "row_id", "col_id", "value"], state="NUMBER",
                 report_id=dup["report_id"].tolist()).set_index(["report_id", "table", "row_id", "col_id"])["value"]
    rows = []
    for _, g in dup.groupby(["key", "year_i"], sort=True):
        ids = g["report_id"].tolist()
        sha = dict(zip(g["report_id"], g["sha256"]))
        txt = dict(zip(ids, _texts(ctx, ids, secs)))
        for a in ids:
            for b in ids:
                if a == b or (sha[a] and sha[a] == sha[b]):
                    continue
                diffs = []
                va = num.xs(a, level=0, drop_level=True) if a in num.index.get_level_values(0) else pd.Series(
                    dtype=float)
                vb = num.xs(b, level=0, drop_level=True) if b in num.index.get_level_values(0) else pd.Series(
                    dtype=float)
                both = va.index.intersection(vb.index)
                nd = int((va.loc[both] - vb.loc[both]).abs().gt(1e-9).sum()) if len(both) else 0
                if nd:
                    diffs.append(f"{nd} 个统计表单元格的数值不同")
                s = jaccard_sets(shingles(txt[a], k), shingles(txt[b], k)) if txt[a] and txt[b] else 1.0
                if s < thr:
                    diffs.append(f"正文相似度 {s:.2f}")
                if diffs:
                    rows.append({"report_id": a, "other_ref": ctx.ref(b), "diff": "，".join(diffs)})
    if not rows:
        return None
    f = pd.DataFrame(rows)
    return _part(f, "R-X-02", book)


def _years(ctx, book):
    y = book.params("R-X-03").get("years", "batch")
    if isinstance(y, list):
        return [int(v) for v in y]
    return sorted(int(v) for v in ctx.reports["year_i"].dropna().unique())


def _x03(ctx, rep, cv, book, labels):
    ro = ctx.roster
    if ro.empty:
        return None
    have = set(zip(ctx.reports["key"], ctx.reports["year_i"].dropna().astype(int).reindex(ctx.reports.index)))
    rows = []
    for y in _years(ctx, book):
        for name, key in zip(ro["agency"], ro["key"]):
            if (key, y) not in have:
                rows.append({"report_id": "", "agency": name, "year": str(y), "_year": y})
    if not rows:
        return None
    f = pd.DataFrame(rows)
    part = _part(f, "R-X-03", book)
    part["agency"] = f["agency"].to_numpy()
    part["year"] = f["_year"].to_numpy()
    return part


def _primary(ctx) -> pd.DataFrame:
    r = ctx.reports
    return r[r["primary"]][["report_id", "key", "year_i"]]


def _x05(ctx, rep, cv, book, labels):
    ro = ctx.roster
    if ro.empty or not ro["rolls_up_into"].ne("").any():
        return None
    p = book.params("R-X-05")
    amap = alias_map(ro)
    ro = ro.assign(parent_key=ro["rolls_up_into"].map(lambda x: amap.get(full_key(x), full_key(x)) if x else ""))
    prim = _primary(ctx)
    by_key_year = {(k, int(y)): rid for rid, k, y in zip(prim["report_id"], prim["key"], prim["year_i"])}
    cells_t3 = cv.sel(table="t3", col_id=p.get("t3_col", "col.total"), row_id=list(p.get("t3_rows") or []))
    cells_t4 = cv.sel(table="t4", col_id=p.get("t4_col", "col.total"), row_id=list(p.get("t4_groups") or []))
    vals = pd.concat([cells_t3, cells_t4]).set_index(["report_id", "table", "row_id", "col_id"])
    out_rows, miss_rows = [], []
    for pk, children in ro[ro["parent_key"].ne("")].groupby("parent_key"):
        for (k, y), prid in by_key_year.items():
            if k != pk:
                continue
            kids = [(n, ck) for n, ck in zip(children["agency"], children["key"])]
            missing = [n for n, ck in kids if (ck, y) not in by_key_year]
            if missing:
                miss_rows.append({"report_id": prid, "n_missing": str(len(missing)), "year": str(y),
                                  "missing_names": "、".join(missing[:10]) + ("等" if len(missing) > 10 else "")})
                continue
            kid_ids = [by_key_year[(ck, y)] for _, ck in kids]
            if prid not in vals.index.get_level_values(0):
                continue
            mine = vals.loc[prid]
            for (table, row, col), x in mine.iterrows():
                tot, unknown = 0.0, False
                for kid in kid_ids:
                    key = (kid, table, row, col)
                    v = vals["eff"].get(key, np.nan)
                    if pd.isna(v):
                        unknown = True
                        break
                    tot += v
                if unknown or pd.isna(x["eff"]) or abs(x["eff"] - tot) < 1e-9:
                    continue
                out_rows.append({"report_id": prid, "table": table, "row_id": row, "col_id": col,
                                 "location": x["location"], "_a": x["eff"], "_e": tot, "n_children": str(len(kids))})
    parts = []
    if out_rows:
        f = pd.DataFrame(out_rows)
        f = f.merge(rep[["report_id", "lt"]], on="report_id", how="left")
        f = msg.lookup(f, labels, "row", "row_id", "row_zh")
        f = msg.lookup(f, labels, "col", "col_id", "col_zh")
        f["table_zh"] = msg.table_zh(f["table"], book)
        f["actual"], f["expected"] = msg.fmt_num(f["_a"]), msg.fmt_num(f["_e"])
        f["delta"] = msg.fmt_num(f["_a"] - f["_e"], signed=True)
        parts.append(_part(f, "R-X-05", book, table=f["table"], row_id=f["row_id"], col_id=f["col_id"],
                           location=f["location"], actual=f["_a"], expected=f["_e"], delta=f["_a"] - f["_e"]))
    if miss_rows:
        f = pd.DataFrame(miss_rows)
        part = _part(f, "R-X-05", book, variant="missing")
        part["severity"] = book.rule("R-X-05").severity_of("missing")
        parts.append(part)
    return parts


def _x06(ctx, rep, cv, book, labels):
    p = book.params("R-X-06")
    pv = ctx.prev_of[ctx.prev_of.ne("")]
    if pv.empty:
        return None
    hi, lo, floor = float(p.get("high", 5)), float(p.get("low", 0.2)), float(p.get("floor", 10))
    out = []
    for table, row, col in p.get("cells") or []:
        x = cv.sel(table=table, row_id=row, col_id=col, state="NUMBER")
        v = x.set_index("report_id")["value"]
        cur = v.reindex(pv.index)
        old = v.reindex(pv.to_numpy())
        old.index = pv.index
        ok = cur.notna() & old.notna() & (cur >= floor) & (old >= floor)
        ratio = cur / old
        m = ok & ((ratio > hi) | (ratio < lo))
        if not m.any():
            continue
        f = pd.DataFrame({"report_id": pv.index[m], "table": table, "row_id": row, "col_id": col,
                          "_a": cur[m].to_numpy(), "_e": old[m].to_numpy()})
        f = f.merge(rep[["report_id", "lt"]], on="report_id", how="left")
        f = msg.lookup(f, labels, "row", "row_id", "row_zh")
        f = msg.lookup(f, labels, "col", "col_id", "col_zh")
        f["table_zh"] = msg.table_zh(f["table"], book)
        f["actual"], f["expected"] = msg.fmt_num(f["_a"]), msg.fmt_num(f["_e"])
        f["ratio_txt"] = ["为上年的 %.1f 倍" % (a / e) for a, e in zip(f["_a"], f["_e"])]
        f["prev_ref"] = [ctx.ref(pv[x]) for x in f["report_id"]]
        loc = x.set_index("report_id")["location"]
        out.append(_part(f, "R-X-06", book, table=table, row_id=row, col_id=col,
                         location=f["report_id"].map(loc).fillna(""), actual=f["_a"], expected=f["_e"],
                         delta=f["_a"] - f["_e"]))
    return out


def _x07(ctx, rep, cv, book, labels):
    """Identical t3: an order-independent 64-bit hash of each report's non-zero (row, column, value) cells, grouped;
    groups spanning several agencies are verified cell by cell."""
    mn = int(book.params("R-X-07").get("min_nonzero", 10))
    m = cv.mask(table="t3", state="NUMBER") & (np.nan_to_num(cv.c["value"].to_numpy(dtype=float)) != 0)
    if not m.any():
        return None
    rc = cv.codes("report_id", m)
    # non-trivial: enough non-zero cells that are not sums of others (总计 column, （七）总计 row)
    pr = book.params("R-X-07")
    counted = m & ~cv.mask(col_id=list(pr.get("exclude_cols") or [])) & ~cv.mask(row_id=list(pr.get("exclude_rows") or []))
    n_per = np.bincount(cv.codes("report_id", counted), minlength=int(rc.max()) + 1 if len(rc) else 0)
    big = n_per[rc] >= mn
    if not big.any():
        return None
    pos = np.nonzero(m)[0][big]
    rc = rc[big]
    cell = (cv.codes("row_id", m)[big].astype(np.uint64) * np.uint64(4096) + cv.codes("col_id", m)[big].astype(np.uint64))
    vb = np.round(cv.c["value"].to_numpy(dtype=float)[pos] * 10000).astype(np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _mix64(cell * np.uint64(0x9E3779B97F4A7C15) ^ _mix64(vb))
    order = np.argsort(rc, kind="stable")
    rc_s, h_s = rc[order], h[order]
    starts = np.r_[0, np.nonzero(rc_s[1:] != rc_s[:-1])[0] + 1]
    rids = cv.uniques("report_id")
    hs = pd.Series(np.bitwise_xor.reduceat(h_s, starts), index=[rids[i] for i in rc_s[starts]])
    n = pd.Series(n_per[rc_s[starts]], index=hs.index)
    keys = ctx.reports.set_index("report_id")["key"]
    g = pd.DataFrame({"report_id": hs.index, "h": hs.to_numpy(), "key": keys.reindex(hs.index).to_numpy(),
                      "n": n.reindex(hs.index).to_numpy()})
    g = g[g.groupby("h")["key"].transform("nunique") > 1]
    if g.empty:
        return None
    lookup = cv._codes["report_id"][1]
    mine = np.isin(rc, [lookup[r] for r in g["report_id"]])     # the cells of the grouped reports only
    x = cv.c[["report_id", "row_id", "col_id", "value"]].iloc[pos[mine]]
    vec = {rid: frozenset(zip(d["row_id"], d["col_id"], d["value"])) for rid, d in x.groupby("report_id")}
    rows = []
    for _, grp in g.groupby("h"):
        for rid, k, nn in zip(grp["report_id"], grp["key"], grp["n"]):
            others = [o for o, ok in zip(grp["report_id"], grp["key"]) if ok != k and vec[o] == vec[rid]]
            if others:
                rows.append({"report_id": rid, "other_ref": "；".join(ctx.ref(o) for o in others[:3])
                             + (f"等 {len(others)} 份" if len(others) > 3 else ""), "n_nonzero": str(int(nn))})
    if not rows:
        return None
    f = pd.DataFrame(rows)
    return _part(f, "R-X-07", book, table="t3")


def _mix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(33))
        x = x * np.uint64(0xFF51AFD7ED558CCD)
        x = x ^ (x >> np.uint64(33))
    return x


def _x08(ctx, rep, cv, book, labels):
    p = book.params("R-X-08")
    min_peers = int(p.get("min_peers", 5))
    r = rep[["report_id", "agency_kind", "level", "year"]].copy()
    r["year"] = pd.to_numeric(r["year"], errors="coerce")
    t3 = cv.sel(["report_id", "row_id"], table="t3", col_id="col.total")
    reported = list(cv.reports_with(table="t3", state="NUMBER"))
    w = t3[t3["report_id"].isin(reported)].pivot_table(index="report_id", columns="row_id", values="eff",
                                                       aggfunc="first")
    if w.empty:
        return None
    r = r[r["report_id"].isin(w.index)].set_index("report_id")
    kinds_zh = book.raw.get("kinds_zh") or {}
    levels_zh = book.raw.get("levels_zh") or {}
    out = []
    zt, zr, zc = p.get("zero_cell") or ["t3", "t3.new_received", "col.total"]
    zero_rows, rate_rows = [], []
    for (kind, level, year), grp in r.groupby(["agency_kind", "level", "year"], dropna=True):
        ids = grp.index
        if len(ids) < min_peers + 1:
            continue
        peer_zh = f"{levels_zh.get(level, level)}{kinds_zh.get(kind, kind)}、{int(year)}年"
        v = w.reindex(ids)[zr] if zr in w.columns else pd.Series(np.nan, index=ids)
        for rid in ids[(v == 0).to_numpy()]:
            others = v.drop(rid).dropna()
            if len(others) >= min_peers and others.mean() > float(p.get("zero_peer_mean", 100)):
                zero_rows.append({"report_id": rid, "peer_zh": peer_zh, "n_peers": str(len(others)),
                                  "peer_mean": f"{others.mean():.0f}"})
        need = {"t3.granted", "t3.partially_granted", "t3.total_processed"}
        if need <= set(w.columns):
            ww = w.reindex(ids)
            proc = ww["t3.total_processed"]
            rate = ((ww["t3.granted"] + ww["t3.partially_granted"]) / proc).where(
                proc >= float(p.get("rate_min_processed", 20)))
            rate = rate.dropna()
            if len(rate) >= min_peers + 1:
                med = rate.median()
                mad = (rate - med).abs().median()
                if mad > 0:
                    z = 0.6745 * (rate - med) / mad
                    for rid in z.index[(z.abs() > float(p.get("z", 3.5))).to_numpy()]:
                        rate_rows.append({"report_id": rid, "rate_zh": "实质公开率（予以公开＋部分公开）/办理总数",
                                          "value": f"{rate[rid]:.1%}", "median": f"{med:.1%}", "z": f"{z[rid]:.1f}",
                                          "peer_zh": peer_zh, "n_peers": str(len(rate) - 1)})
    if zero_rows:
        f = pd.DataFrame(zero_rows)
        out.append(_part(f, "R-X-08", book, table=zt, row_id=zr, col_id=zc))
    if rate_rows:
        f = pd.DataFrame(rate_rows)
        out.append(_part(f, "R-X-08", book, variant="rate", table="t3", row_id="t3.total_processed",
                         col_id="col.total"))
    return out
