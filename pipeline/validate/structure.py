"""Template, structure and extraction rules: R-TPL-01..06/08, R-STR-01..06, R-T3-06, R-EXT-01 (vectorised over the
batch where it matters; the section rules loop over the few sections of each report)."""
from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

from pipeline import templates
from pipeline.templates import norm_label

from . import messages as msg
from . import text as T
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


def cell_rules(rep: pd.DataFrame, cells: pd.DataFrame, book: Rulebook, labels: pd.DataFrame,
               cv=None) -> list[pd.DataFrame]:
    """R-T3-06 (t3 without any number), R-TPL-06 (template rows/columns/tables not found), R-EXT-01 (unparsable).
    `cv`: an optional context.CellView of `cells` (counts from its integer codes)."""
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
    cnt = _state_counts(c, "t3", cv).reindex(columns=["NUMBER", "BLANK", "DASH", "UNPARSABLE", "MISSING"],
                                             fill_value=0)
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


def _state_counts(c: pd.DataFrame, table: str, cv=None) -> pd.DataFrame:
    """Cells of `table` per report (index: the reports with such cells) and state (columns): pd.crosstab, or the
    same counts from the CellView's integer codes (no hashing of millions of strings)."""
    m = cv.mask(table=table) if cv is not None else None
    if m is None or not m.any():
        t = c.loc[c["table"].eq(table), ["report_id", "state"]]
        return pd.crosstab(t["report_id"], t["state"])
    rc, sc = cv.codes("report_id", m).astype(np.int64), cv.codes("state", m).astype(np.int64)
    if rc.min() < 0 or sc.min() < 0:
        t = c.loc[c["table"].eq(table), ["report_id", "state"]]
        return pd.crosstab(t["report_id"], t["state"])
    rids, states = cv.uniques("report_id"), cv.uniques("state")
    n = np.bincount(rc * len(states) + sc, minlength=len(rids) * len(states)).reshape(len(rids), len(states))
    have = n.sum(axis=1) > 0
    return pd.DataFrame(n[have], index=pd.Index(np.asarray(rids, dtype=object)[have], name="report_id"),
                        columns=pd.Index(states, name="state"))


def _all_missing(partial: pd.DataFrame, kind: str, lt: pd.DataFrame, book: Rulebook, labels: pd.DataFrame):
    """The (report, table, t2 block, *kind*_id) lines — kind "row" or "col" — whose cells are all MISSING, with the
    report's template (lt) and, when there are any, their Chinese labels (*kind*_zh, table_zh, block_zh)."""
    key = f"{kind}_id"
    g = partial.groupby(["report_id", "table", "blk", key], sort=False)["miss"].all().reset_index()
    g = g[g["miss"]].merge(lt, on="report_id", how="left")
    if len(g):
        g = g.rename(columns={"blk": "block"})
        g = msg.lookup(g, labels, kind, key, f"{kind}_zh")
        g["table_zh"] = msg.table_zh(g["table"], book)
        g["block_zh"] = msg.block_zh(g, labels)
    return g


def _missing_structure(rep: pd.DataFrame, c: pd.DataFrame, book: Rulebook, labels: pd.DataFrame):
    """R-TPL-06: per report and table, rows whose cells are all MISSING, columns all MISSING over the table
    (t2: within a block), and one finding for a table of which every cell is MISSING (instead of every row)."""
    parts = []
    if c.empty:
        return parts
    c = c[[k for k in ("report_id", "table", "row_id", "col_id", "state", "block", "lt") if k in c.columns]]
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

    rows = _all_missing(partial, "row", lt, book, labels)
    if len(rows):
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
    cols = _all_missing(partial, "col", lt, book, labels)
    if len(cols):
        parts.append(_part(cols, "R-TPL-06", book, variant="col", table=cols["table"], col_id=cols["col_id"]))
    return parts


# ---------------------------------------------------------------------------------------------------------------
# R-STR-02..06, R-TPL-08 (section order, heading wording, numbering, tables without data, duplicated tables,
# the t3 header note). Parameters: rules/checks.yaml.
_NUMERAL = re.compile(r"^(?P<n>[一二三四五六七八九十]{1,2})[、.．]")
_MINOR = re.compile(r"^[（(][一二三四五六七八九十]{1,2}[)）]")
_CN = "一二三四五六七八九十"


def _canon() -> dict:
    t = templates.get("gb2021")
    return {s["id"]: (k, s["heading"]) for k, s in enumerate(t.sections)}


def _strip_num(h: str) -> str:
    h = _NUMERAL.sub("", h)
    return _MINOR.sub("", h)


def structure_rules(ctx, live: pd.DataFrame, cells: pd.DataFrame, sections: pd.DataFrame,
                    book: Rulebook) -> list[pd.DataFrame]:
    rep = live[~live["template"].eq("legacy2008")]
    if rep.empty:
        return []
    canon = _canon()
    ords = book.phrase("ordinals")
    parts = []
    s = sections[sections["report_id"].isin(rep["report_id"]) & sections["section_id"].isin(list(canon))]
    s = s.drop_duplicates(["report_id", "section_id"])
    if len(s):
        heads = ctx.headings.stack()
        heads.index.names = ["report_id", "section_id"]
        s = s.merge(heads.rename("full_head").reset_index(), on=["report_id", "section_id"], how="left")
        s["full_head"] = s["full_head"].fillna(s["heading"].map(T.norm))
        s["k"] = s["section_id"].map(lambda x: canon[x][0])
        s["canonical"] = s["section_id"].map(lambda x: canon[x][1])
        parts += _order(s, canon, ords, book)
        parts += _wording(s, book, ords)
        parts += _numbering(s, ctx, book, ords)
    parts += _tables_without_data(ctx, rep, cells, book)
    parts += _duplicated_tables(ctx, rep, book)
    parts += _t3_note(ctx, rep, cells, book)
    return [p for p in parts if p is not None and len(p)]


def _order(s, canon, ords, book):
    s = s.sort_values(["report_id", "char_start"], kind="stable")
    back = s.groupby("report_id", sort=False)["k"].diff().lt(0)
    bad = set(s.loc[back, "report_id"])
    if not bad:
        return []
    x = s[s["report_id"].isin(bad)]
    x = x.assign(_lab=[ords[k] + "、" + _strip_num(h) for k, h in zip(x["k"], x["canonical"])])
    f = x.groupby("report_id", sort=True)["_lab"].agg(" → ".join).rename("actual_order").reset_index()
    return [_part(f, "R-STR-02", book)]


def _wording(s, book, ords):
    canon = {c: norm_label(_strip_num(c)) for c in set(s["canonical"])}
    ok = [norm_label(_strip_num(f)).startswith(canon[c]) for f, c in zip(s["full_head"].tolist(),
                                                                       s["canonical"].tolist())]
    m = ~pd.Series(ok, index=s.index)
    if not m.any():
        return []
    f = s[m].copy()
    f["ordinal"] = f["k"].map(lambda k: ords[k])
    f["heading"] = f["full_head"]
    return [_part(f, "R-STR-03", book, section_id=f["section_id"], location=f["full_head"])]


def _numbering(s, ctx, book, ords):
    out = []
    num = s["full_head"].str.extract(_NUMERAL, expand=False)
    s = s.assign(numeral=num.fillna(""))
    s["num_k"] = s["numeral"].map(lambda n: _CN.index(n) if n and len(n) == 1 else (9 if n else -1))
    numbered = s[s["num_k"] >= 0]
    rest = numbered[numbered["k"] > 0]
    agg = rest.assign(_sh=rest["num_k"].eq(rest["k"] - 1)).groupby("report_id")["_sh"].agg(["all", "size"])
    shifted_reports = set(agg.index[agg["all"] & (agg["size"] >= 2)])
    if shifted_reports:
        x = rest[rest["report_id"].isin(shifted_reports)]
        x = x.assign(_d=[f"「{_strip_num(h)}」写作“{n}、”" for h, n in zip(x["full_head"], x["numeral"])])
        f = x.groupby("report_id", sort=True)["_d"].agg("；".join).rename("detail").reset_index()
        out.append(_part(f, "R-STR-04", book, variant="shift"))
    mism = numbered[(numbered["num_k"] != numbered["k"]) & ~numbered["report_id"].isin(shifted_reports)].copy()
    if len(mism):
        mism["ordinal"] = mism["k"].map(lambda k: ords[k])
        mism["heading"] = mism["full_head"]
        out.append(_part(mism, "R-STR-04", book, section_id=mism["section_id"], location=mism["full_head"]))
    # restart: a body line of a narrative section opening with "一、"
    raw = ctx.extra.get("raw_texts")
    scopes = book.params("R-STR-04").get("restart_scopes") or []
    if raw is not None:
        rx = re.compile(r"(?:^|\n)[ \t\u3000]*(一[、.．][^\n。]{0,20})")
        rows = []
        for sid in scopes:
            if sid not in raw.columns:
                continue
            for rid, t in zip(raw.index.tolist(), raw[sid].astype(object).tolist()):
                if not t or "一" not in t:
                    continue
                m = rx.search(t)
                if m and not re.match(r"一[、.．]\s*本年新收", m.group(1)):
                    rows.append({"report_id": rid, "section_id": sid, "found": T.norm(m.group(1)),
                                 "section_zh": _canon()[sid][1]})
        if rows:
            f = pd.DataFrame(rows).drop_duplicates("report_id")
            out.append(_part(f, "R-STR-04", book, variant="restart", section_id=f["section_id"],
                             location=f["section_zh"] + "：「" + f["found"] + "」"))
    return out


def _tables_without_data(ctx, rep, cells, book):
    tables = book.params("R-STR-05").get("tables") or {}
    cv = ctx.extra.get("cv")
    if cv is not None:
        present_states = ["NUMBER", "BLANK", "DASH", "UNPARSABLE"]
        found = pd.DataFrame([(r, t) for t in ("t2", "t3", "t4")
                              for r in cv.reports_with(table=t, state=present_states)], columns=["report_id", "table"])
    else:
        found = cells[cells["state"].ne("MISSING")][["report_id", "table"]].drop_duplicates()
    has_any = set(found["report_id"])   # reports without any table: R-EXT-04
    ids = [r for r in rep["report_id"] if r in has_any and r in ctx.present.index]
    if not ids:
        return []
    have = set(zip(found["report_id"], found["table"]))
    pres = ctx.present.reindex(ids)
    heads = ctx.headings.reindex(ids)
    rows = []
    for t, sid in tables.items():
        if sid not in pres.columns:
            continue
        for rid, p, h in zip(ids, pres[sid].tolist(), heads[sid].tolist()):
            if p and (rid, t) not in have:
                rows.append({"report_id": rid, "table": t, "section_id": sid, "heading": h,
                             "table_zh": book.table_zh(t)})
    if not rows:
        return []
    f = pd.DataFrame(rows)
    return [_part(f, "R-STR-05", book, table=f["table"], section_id=f["section_id"], location=f["heading"])]


def _full_texts(ctx, ids) -> list[str]:
    t = ctx.texts.reindex(ids).fillna("")
    return ["。".join(x) for x in zip(*[t[c].astype(object).tolist() for c in t.columns])] if len(t.columns) else \
        [""] * len(ids)


def _duplicated_tables(ctx, rep, book):
    anchors = book.params("R-STR-06").get("anchors") or {}
    if not anchors:
        return []
    ids = rep["report_id"].tolist()
    full = _full_texts(ctx, ids)
    rows = []
    for t, a in anchors.items():
        key = T.norm(a)
        for rid, x in zip(ids, full):
            k = x.count(key)
            if k >= 2:
                rows.append({"report_id": rid, "table": t, "n": str(k), "table_zh": book.table_zh(t)})
    if not rows:
        return []
    f = pd.DataFrame(rows)
    return [_part(f, "R-STR-06", book, table=f["table"])]


def _t3_note(ctx, rep, cells, book):
    ratio = float(book.params("R-TPL-08").get("min_ratio", 0.8))
    cv = ctx.extra.get("cv")
    t3 = list(cv.reports_with(table="t3", state=["NUMBER", "BLANK", "DASH", "UNPARSABLE"])) if cv is not None else \
        cells[cells["table"].eq("t3") & cells["state"].ne("MISSING")]["report_id"].unique()
    r = rep[rep["report_id"].isin(t3) & rep["template"].isin(list(templates.registry()))]
    if r.empty:
        return []
    rows = []
    ids = r["report_id"].tolist()
    app = ctx.texts.reindex(ids)["sec.applications"].fillna("").astype(object).tolist() \
        if "sec.applications" in ctx.texts.columns else [""] * len(ids)
    full = None
    keys = {t: norm_label(templates.get(t).t3_note) for t in set(r["template"])}
    fast = {t: T.norm(templates.get(t).t3_note).strip("（）") for t in set(r["template"])}
    for k, (rid, tpl_id) in enumerate(zip(ids, r["template"].tolist())):
        if fast[tpl_id] in app[k]:
            continue
        note = templates.get(tpl_id).t3_note
        key = keys[tpl_id]
        if full is None:
            full = _full_texts(ctx, ids)
        body = norm_label(full[k])
        if key in body:
            continue
        i = body.find("勾稽")
        if i < 0:
            rows.append({"report_id": rid, "note": note, "found": "", "_v": "default"})
            continue
        lo = max(0, i - 8)
        window = body[lo:lo + len(key) + 12]
        best = max((difflib.SequenceMatcher(None, key, window[j:j + len(key)]).ratio()
                    for j in range(0, max(1, len(window) - len(key) + 1))), default=0.0)
        if best < ratio:
            rows.append({"report_id": rid, "note": note, "found": window, "_v": "altered"})
    if not rows:
        return []
    f = pd.DataFrame(rows)
    return [_part(g, "R-TPL-08", book, variant=v, table="t3") for v, g in f.groupby("_v")]
