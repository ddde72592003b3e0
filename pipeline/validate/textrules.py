"""Text rules (rules/text_rules.yaml): named checks over the normalised section texts, parameters as data.

A rule is a list of clauses; each clause has a `kind` (the named check), a `scope` (section ids; `sec.preamble` is
the text before 一、总体情况, `title` the report title), optional `when` conditions, a message `variant` and an
optional `severity`. A clause whose scope sections are all absent from a report is not assessed there (the missing
section is R-STR-01's finding). Kinds:

- require_any       FAIL when none of `patterns` occurs in the scope text
- require_groups    FAIL when some of `groups` ({name_zh, patterns}) has no pattern in the scope text (lists them)
- forbid            FAIL for each sentence matching one of `patterns` (unless it matches `unless`); `year_group`
                    + `year_relation` (before|after|other) compare a captured year with the report year
- length            FAIL when the scope text is shorter than `min_chars` (or matches `empty_patterns`) or longer
                    than `max_chars`
- narrative_number  `items`: numbers quoted in the text (pattern group n) must equal one of the table values
                    (`values`: alternatives, each a sum of cells); `zero_patterns` mean the value must be 0
- period            the statistical-period statement (pattern group y = its year): missing -> variant `missing`,
                    another year -> variant `mismatch`
- title             the title matches one of `patterns`

`when`: year_min, year_max, agency_kinds, levels, templates, not_templates, and `cells`: a list of
{cells: [[table, row, col], ...], op: > >= == != < <=, value: n} on the sum of the cells (blank counts 0; a MISSING
or UNPARSABLE cell makes the condition false). Patterns may use {year}, {prev_year} and {next_year}.
Text is normalised first (pipeline/validate/text.py): no whitespace, Chinese full-width punctuation, ASCII digits.
"""
from __future__ import annotations

import operator
import re

import numpy as np
import pandas as pd

from pipeline import templates

from . import messages as msg
from . import text as T
from .context import CellView, Context
from .rulebook import Rulebook
from .structure import PART_COLUMNS

OPS = {">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
       "<=": operator.le}
DEFAULT_SCOPE = {"title": ["title"], "period": ["sec.preamble", "sec.overview"]}


def _headings_zh() -> dict:
    h = {s["id"]: s["heading"] for s in templates.get("gb2021").sections}
    h["sec.preamble"] = "报告开头（标题至“一、总体情况”之前）"
    h["title"] = "标题"
    return h


class _Cells:
    """The cells the clauses need, by (table, row, col): eff value per report (blank 0, missing/unparsable NaN),
    and per report and table whether any cell holds a number."""

    def __init__(self, cells: pd.DataFrame, refs: set, cv: CellView | None = None):
        self.val = {}
        self.numbers = pd.DataFrame(columns=["t2", "t3", "t4"], dtype=bool)
        if not refs or cells.empty:
            return
        cv = cv or CellView(cells)
        m = cv.mask(state="NUMBER")
        rids, tabs = cv.uniques("report_id"), cv.uniques("table")
        nt = max(1, len(tabs))
        key = np.unique(cv.codes("report_id", m).astype(np.int64) * nt + cv.codes("table", m))
        num = pd.DataFrame({"report_id": [rids[k // nt] for k in key], "table": [tabs[k % nt] for k in key]})
        self.numbers = (num.assign(_n=True).pivot(index="report_id", columns="table", values="_n")
                        .reindex(columns=["t2", "t3", "t4"]).fillna(False).astype(bool))
        for r in refs:
            x = cv.sel(table=r[0], row_id=r[1], col_id=r[2]).drop_duplicates("report_id")
            self.val["|".join(r)] = pd.Series(x["eff"].to_numpy(), index=x["report_id"].to_numpy())

    def sum(self, refs, ids: pd.Index) -> pd.Series:
        """Sum of the cells per report (NaN when one is MISSING/UNPARSABLE or absent)."""
        out = pd.Series(0.0, index=ids)
        for r in refs:
            k = "|".join(r)
            out = out + (self.val[k].reindex(ids).to_numpy() if k in self.val else np.nan)
        return out


def _refs(clauses: list[dict]) -> set:
    out = set()
    for c in clauses:
        for cond in (c.get("when") or {}).get("cells") or []:
            out.update(tuple(x) for x in cond["cells"])
        for it in c.get("items") or []:
            for alt in it.get("values") or []:
                out.update(tuple(x) for x in alt)
    return out


def _when(c: dict, rep: pd.DataFrame, cells: _Cells) -> pd.Series:
    w = c.get("when") or {}
    m = pd.Series(True, index=rep.index)
    y = rep["year_i"]
    if "year_min" in w:
        m &= (y >= w["year_min"]).fillna(False)
    if "year_max" in w:
        m &= (y <= w["year_max"]).fillna(False)
    if "agency_kinds" in w:
        m &= rep["agency_kind"].isin(w["agency_kinds"])
    if "levels" in w:
        m &= rep["level"].isin(w["levels"])
    if "templates" in w:
        m &= rep["template"].isin(w["templates"])
    if "not_templates" in w:
        m &= ~rep["template"].isin(w["not_templates"])
    for cond in w.get("cells") or []:
        s = cells.sum([tuple(x) for x in cond["cells"]], rep.index)
        m &= OPS[cond.get("op", ">")](s, float(cond.get("value", 0))).fillna(False)
    return m.astype(bool)


def _compiled(patterns, years) -> dict:
    """year -> [compiled pattern] (placeholders filled per report year; each pattern compiled on its own, so that
    several patterns may use the same group name)."""
    out = {}
    for y in pd.unique(years):
        yi = int(y) if pd.notna(y) else 0
        fields = {"year": yi, "prev_year": yi - 1, "next_year": yi + 1} if yi else \
            {"year": "\x00", "prev_year": "\x00", "next_year": "\x00"}
        out[y] = [T.compile_pattern(p, **fields) for p in patterns]
    return out


def _contains(texts: pd.Series, years: pd.Series, patterns) -> pd.Series:
    if not patterns:
        return pd.Series(False, index=texts.index)
    tl = texts.tolist()
    if not any("{" in p for p in patterns):
        rx = re.compile("|".join(f"(?:{_ungroup(p)})" for p in patterns))
        return pd.Series([rx.search(t) is not None for t in tl], index=texts.index, dtype=bool)
    # one alternation per report year (placeholders filled), so each text is scanned once
    joined = {y: re.compile("|".join(f"(?:{_ungroup(rx.pattern)})" for rx in rxs))
              for y, rxs in _compiled(patterns, years).items()}
    return pd.Series([joined[y].search(t) is not None for t, y in zip(tl, years.tolist())],
                     index=texts.index, dtype=bool)


_NAMED = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


def _ungroup(p: str) -> str:
    """A pattern with its named groups made anonymous (so that alternatives can be joined into one regex)."""
    return _NAMED.sub("(?:", p)


def evaluate(ctx: Context, cells: pd.DataFrame, book: Rulebook) -> list[pd.DataFrame]:
    rep = ctx.reports.set_index("report_id", drop=False)
    rep = rep[~rep["template"].eq("legacy2008")]
    if rep.empty or not book.text_rules:
        return []
    allc = [c for cl in book.text_rules.values() for c in cl]
    cv = _Cells(cells, _refs(allc), ctx.extra.get("cv"))
    heads_zh = _headings_zh()
    texts = ctx.texts.reindex(rep.index).fillna("")
    tcols = {c: texts[c].astype(object).tolist() for c in texts.columns}
    present = ctx.present.reindex(rep.index).fillna(False)
    heads = ctx.headings.reindex(rep.index).fillna("")
    title = pd.Series([T.norm(x) for x in rep["title"].fillna("").astype(str).tolist()], index=rep.index,
                      dtype=object)
    parts = []
    for rid, clauses in sorted(book.text_rules.items()):
        rule = book.rule(rid)
        for c in clauses:
            kind = c["kind"]
            scope = list(c.get("scope") or DEFAULT_SCOPE.get(kind, ["sec.overview"]))
            if scope == ["title"]:
                have = title.ne("")
                stext = title
            else:
                sc = [s for s in scope if s in texts.columns]
                have = present[sc].any(axis=1) if sc else pd.Series(False, index=rep.index)
                joined = ["。".join(x) for x in zip(*[tcols[k] for k in sc])] if sc else [""] * len(rep)
                stext = pd.Series(joined, index=rep.index, dtype=object)
            elig = _when(c, rep, cv) & (have | bool(c.get("assess_when_absent")))
            if not elig.any():
                continue
            r = rep[elig]
            st = stext[elig]
            first = scope[0]
            sec_id = first if first.startswith("sec.") and first != "sec.preamble" else ""
            base = pd.DataFrame({"report_id": r["report_id"].to_numpy(), "year": r["year_i"].astype("Int64").astype(str)
                                 .replace("<NA>", ""),
                                 "prev_year": (r["year_i"] - 1).astype("Int64").astype(str).replace("<NA>", ""),
                                 "section_zh": heads_zh.get(first, first), "title": r["title"].to_numpy()},
                                index=pd.Index(r.index.to_numpy()))
            hd = heads[first] if first in heads.columns else pd.Series("", index=rep.index)
            base["heading"] = hd.reindex(r.index).where(lambda s: s.ne(""), heads_zh.get(first, first))
            variant = c.get("variant", "default")
            sev = c.get("severity") or rule.severity_of(variant)
            sc_list = [k for k in scope if k in texts.columns]
            if len(sc_list) > 1:   # which section a sentence came from (findings carry their section)
                idx = np.nonzero(elig.to_numpy())[0]
                hl = {k: heads[k].tolist() for k in sc_list}
                base["_scope"] = [tuple((k, tcols[k][j], hl[k][j] or heads_zh.get(k, k)) for k in sc_list)
                                  for j in idx]
            res = _KINDS[kind](c, r, st, base, cv)
            if res is None or res.empty:
                continue
            res["variant"] = res.get("variant", variant)
            if "location" not in res.columns:
                res["location"] = res["heading"]
            for v, g in res.groupby("variant", sort=False):
                vs = c.get("severity") or rule.severity_of(v) if v != variant else sev
                status = g["status"] if "status" in g.columns else pd.Series("FAIL", index=g.index)
                severity = np.where(status.eq("UNCERTAIN"), book.uncertain_severity_for(vs), vs)
                parts.append(pd.DataFrame({
                    "report_id": g["report_id"].to_numpy(), "rule_id": rid, "severity": severity,
                    "status": status.to_numpy(), "table": g.get("table", pd.Series("", index=g.index)).to_numpy(),
                    "row_id": g.get("row_id", pd.Series("", index=g.index)).to_numpy(),
                    "col_id": g.get("col_id", pd.Series("", index=g.index)).to_numpy(),
                    "section_id": g["section_id"].fillna(sec_id).to_numpy() if "section_id" in g.columns else sec_id,
                    "expected": g.get("expected_num", pd.Series(np.nan, index=g.index)).astype(float).to_numpy(),
                    "actual": g.get("actual_num", pd.Series(np.nan, index=g.index)).astype(float).to_numpy(),
                    "delta": (g.get("actual_num", pd.Series(np.nan, index=g.index)).astype(float)
                              - g.get("expected_num", pd.Series(np.nan, index=g.index)).astype(float)).to_numpy(),
                    "message": _messages(rule, v, g, status).to_numpy(), "location": g["location"].to_numpy(),
                    "assumed_zero": "",
                })[PART_COLUMNS])
    return parts


def _messages(rule, variant: str, g: pd.DataFrame, status: pd.Series) -> pd.Series:
    """The variant's message; UNCERTAIN rows use the rule's `uncertain` message when it has one."""
    out = msg.vformat(rule.message(variant), g)
    unc = status.eq("UNCERTAIN").to_numpy()
    if unc.any() and "uncertain" in rule.messages:
        out[unc] = msg.vformat(rule.message("uncertain"), g[unc]).to_numpy()
    return out


# ---------------------------------------------------------------------------------------------------------------
def _require_any(c, r, st, base, cv):
    hit = _contains(st, r["year_i"], c.get("patterns") or [])
    return base[~hit.to_numpy()].copy()


def _require_groups(c, r, st, base, cv):
    missing = pd.Series("", index=r.index, dtype=object)
    n = pd.Series(0, index=r.index)
    for g in c.get("groups") or []:
        hit = _contains(st, r["year_i"], g.get("patterns") or [])
        name = g.get("name_zh", "")
        missing = missing.where(hit, np.where(missing.eq(""), name, missing + "、" + name))
        n = n + (~hit).astype(int)
    out = base.assign(missing_zh=missing.to_numpy(), n_missing=n.astype(str).to_numpy())
    return out[n.to_numpy() > 0].copy()


def _forbid(c, r, st, base, cv):
    pats = c.get("patterns") or []
    hit = _contains(st, r["year_i"], pats)
    if not hit.any():
        return None
    comp = _compiled(pats, r["year_i"][hit])
    unless = [re.compile(u) for u in c.get("unless") or []]
    ygroup, yrel = c.get("year_group"), c.get("year_relation", "other")
    limit = int(c.get("max_per_report", 3))
    rows = []
    b = base
    for rid, t, y in zip(r.index[hit.to_numpy()], st[hit], r["year_i"][hit]):
        seen, k = set(), 0
        matches = sorted((m for rx in comp[y] for m in rx.finditer(t)), key=lambda m: m.start())
        for m in matches:
            if ygroup and m.groupdict().get(ygroup):
                fy = int(m.group(ygroup))
                if pd.isna(y):
                    continue
                ok = {"before": fy < y, "after": fy > y, "other": fy != y}[yrel]
                if not ok:
                    continue
            sent = T.sentence_at(t, m.start(), m.end())
            if sent in seen or any(u.search(sent) for u in unless):
                continue
            seen.add(sent)
            row = dict(b.loc[rid])
            _locate(row, m.group(0))
            row.update(sentence=sent, found=m.group(0), location=f"{row['heading']}：「{sent}」",
                       found_year=(m.group(ygroup) if ygroup and m.groupdict().get(ygroup) else ""))
            rows.append(row)
            k += 1
            if k >= limit:
                break
    return pd.DataFrame(rows) if rows else None


def _locate(row: dict, snippet: str) -> None:
    """For a multi-section scope: the section (and its heading) in which `snippet` occurs."""
    for sid, text, head in row.get("_scope") or ():
        if snippet and snippet.strip("…") and snippet.strip("…")[:20] in text:
            row["section_id"], row["heading"] = (sid if sid != "sec.preamble" else ""), head
            return


def _length(c, r, st, base, cv):
    if c.get("strip_patterns"):
        rxs = [re.compile(p) for p in c["strip_patterns"]]
        tl = st.tolist()
        for rx in rxs:
            tl = [rx.sub("", t) for t in tl]
        st = pd.Series(tl, index=st.index, dtype=object)
    n = st.map(len)
    out = base.assign(n_chars=n.astype(str).to_numpy(), limit="")
    fail = pd.Series(False, index=r.index)
    if c.get("min_chars") is not None:
        fail |= n < int(c["min_chars"])
        out["limit"] = str(c["min_chars"])
    if c.get("empty_patterns"):
        rx = re.compile("|".join(f"(?:{p})" for p in c["empty_patterns"]))
        fail |= st.map(lambda t: rx.fullmatch(t) is not None)
    if c.get("max_chars") is not None:
        fail |= n > int(c["max_chars"])
        out["limit"] = str(c["max_chars"])
    return out[fail.to_numpy()].copy()


def _title(c, r, st, base, cv):
    hit = _contains(st, r["year_i"], c.get("patterns") or [])
    return base[~hit.to_numpy()].copy()


def _period(c, r, st, base, cv):
    comp = [re.compile(p) for p in c.get("patterns") or []]
    rows = []
    b = base
    for rid, t, y in zip(r.index.tolist(), st.tolist(), r["year_i"].tolist()):
        ms = sorted((m for rx in comp for m in rx.finditer(t)), key=lambda m: m.start())
        years = [m.group("y") for m in ms if m.groupdict().get("y")]
        found = ms[0] if ms else None
        if not found:
            row = dict(b.loc[rid])
            row.update(variant="missing", found="")
            rows.append(row)
            continue
        if pd.notna(y) and years and all(int(x) != int(y) for x in years):
            row = dict(b.loc[rid])
            sent = T.sentence_at(t, found.start(), found.end())
            row.update(variant="mismatch", found=years[0], sentence=sent, actual_num=float(years[0]),
                       expected_num=float(y), location=f"{row['heading']}：「{sent}」")
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def _narrative_number(c, r, st, base, cv):
    rows = []
    b = base
    req_clause = [re.compile(p) for p in c.get("sentence_requires") or []]
    tl = st.tolist()
    for it in c.get("items") or []:
        req = [re.compile(p) for p in it["sentence_requires"]] if "sentence_requires" in it else req_clause
        pats = [(re.compile(p), False) for p in it.get("patterns") or []] + \
            [(re.compile(p), True) for p in it.get("zero_patterns") or []]
        alts = [[tuple(x) for x in alt] for alt in it.get("values") or []]
        if not alts or not pats:
            continue
        any_rx = re.compile("|".join(f"(?:{_ungroup(rx.pattern)})" for rx, _ in pats))
        hits = [i for i, t in enumerate(tl) if t and any_rx.search(t)]
        if not hits:
            continue
        table = alts[0][0][0]
        ids = r.index[hits]
        V = np.column_stack([cv.sum(a, ids).to_numpy(dtype=float) for a in alts])
        reported = (cv.numbers[table].reindex(ids).fillna(False).to_numpy(dtype=bool)
                    if table in cv.numbers.columns else np.zeros(len(ids), dtype=bool))
        Vl = V.tolist()
        rep_l = reported.tolist()
        for k, i in enumerate(hits):
            if not rep_l[k]:
                continue   # a table without any number is "not reported" (R-T3-06), nothing to compare with
            t = tl[i]
            acc = Vl[k]
            known = sorted({x for x in acc if x == x})
            for rx, zero in pats:
                bad = None
                for m in rx.finditer(t):
                    n = 0.0 if zero else float(m.group("n"))
                    if known and any(abs(x - n) < 1e-6 for x in known):
                        continue
                    sent = T.sentence_at(t, m.start(), m.end())
                    if req and not any(q.search(sent) for q in req):
                        continue
                    bad = (n, sent)
                    break
                if bad is None:
                    continue
                n, sent = bad
                row = dict(b.iloc[i])
                _locate(row, sent)
                row.update(name_zh=it.get("name_zh", ""), sentence=sent, found=msg.fmt_num(pd.Series([n]))[0],
                           expected=("或".join(msg.fmt_num(pd.Series(known)).tolist()) if known else "（无法确定）"),
                           actual_num=n, expected_num=(known[0] if known else np.nan),
                           location=f"{row['heading']}：「{sent}」", table=alts[0][0][0], row_id=alts[0][0][1],
                           col_id=alts[0][0][2], status="UNCERTAIN" if len(known) < len({*acc}) or
                           any(x != x for x in acc) else "FAIL")
                rows.append(row)
                break   # one finding per item and report
    return pd.DataFrame(rows) if rows else None


_KINDS = {"require_any": _require_any, "require_groups": _require_groups, "forbid": _forbid, "length": _length,
          "title": _title, "period": _period, "narrative_number": _narrative_number}
