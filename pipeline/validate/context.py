"""What several rules share: who is who across the batch (agency keys, versions, previous years), the roster,
the normalised section texts, and the previous year's cells for the cross-year comparisons.

Agency matching (rules.md §2.2 "join on agency_id, year−1"):
- a name is first mapped through the roster (agencies.csv: `agency` and its `;`-separated `aliases`);
- the comparison key is the name without spaces and punctuation (NFKC); a leading city/province prefix before a
  county-level unit is dropped ("淮安市洪泽区人民政府" ~ "洪泽区人民政府") only where it is unambiguous in the batch:
  when the batch holds the same short name with two different prefixes ("福州市鼓楼区…", "南京市鼓楼区…") they stay
  apart, and so does a bare "鼓楼区…" next to them.
- several reports of one agency-year (republished versions, copies in several formats) are versions; the
  *primary* one (fewest unreadable cells, then most numbers, then report_id) stands for the agency-year in
  cross-year comparisons.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.templates import norm_label

from . import text as T

_PREFIX = re.compile(r"^(?P<p>[\u4e00-\u9fff]{2,6}?(?:省|自治区)?[\u4e00-\u9fff]{0,6}?(?:市|州|盟|地区))"
                     r"(?P<rest>[\u4e00-\u9fff]{1,8}?(?:区|县|旗|市)(?!场|政|级|委|直).*)$")
SECTION_IDS = ("sec.preamble", "sec.overview", "sec.proactive", "sec.applications", "sec.review_litigation",
               "sec.problems", "sec.other")


def full_key(name: str) -> str:
    return norm_label(name or "")


def split_prefix(key: str) -> tuple[str, str]:
    """(prefix, short) — "淮安市洪泽区人民政府" → ("淮安市", "洪泽区人民政府"); no county-level unit → ("", key)."""
    m = _PREFIX.match(key)
    if not m or len(m.group("rest")) < 3:
        return "", key
    return m.group("p"), m.group("rest")


def roster_frame(agencies: pd.DataFrame | None) -> pd.DataFrame:
    """agencies.csv as a frame with the contract columns (missing ones empty) and the comparison key."""
    cols = ["agency", "parent", "agency_kind", "level", "aliases", "rolls_up_into"]
    if agencies is None or len(agencies) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols + ["key"]})
    r = agencies.copy()
    r.columns = [str(c).strip() for c in r.columns]
    for c in cols:
        if c not in r.columns:
            r[c] = ""
        r[c] = r[c].astype(object).where(r[c].notna(), "").astype(str).str.strip()
    r = r[r["agency"].ne("")].drop_duplicates("agency").reset_index(drop=True)
    r["key"] = r["agency"].map(full_key)
    return r[cols + ["key"]]


def alias_map(roster: pd.DataFrame) -> dict[str, str]:
    """comparison key of every roster name and alias -> the roster agency's key."""
    m = {}
    for a, aliases in zip(roster["agency"], roster["aliases"]):
        k = full_key(a)
        m[k] = k
        for al in re.split(r"[;；]", aliases or ""):
            if al.strip():
                m.setdefault(full_key(al), k)
    return m


def agency_keys(names: pd.Series, roster: pd.DataFrame) -> pd.Series:
    """One key per agency across the batch (see module doc)."""
    amap = alias_map(roster)
    fk = names.fillna("").astype(str).map(full_key)
    fk = fk.map(lambda k: amap.get(k, k))
    uniq = pd.unique(fk)
    parts = {k: split_prefix(k) for k in uniq}
    by_short: dict[str, set] = {}
    for k, (p, s) in parts.items():
        by_short.setdefault(s, set()).add(p)
    resolved = {}
    for k, (p, s) in parts.items():
        prefixes = by_short[s] - {""}
        if len(prefixes) <= 1 and k not in amap:
            pre = next(iter(prefixes)) if prefixes else ""
            resolved[k] = pre + s      # the one spelling with the prefix (or the bare name)
        else:
            resolved[k] = k
    # a roster name always keeps its own key; names that resolved onto it follow
    return fk.map(resolved)


@dataclass
class Context:
    reports: pd.DataFrame                 # live reports + key, year_i, n_number, n_bad, primary (bool)
    roster: pd.DataFrame
    prev_of: pd.Series                    # report_id -> report_id of the previous year's primary report ('' none)
    texts: pd.DataFrame                   # index report_id, columns SECTION_IDS: normalised section bodies
    headings: pd.DataFrame                # index report_id, columns SECTION_IDS: detected heading (+ continuation)
    present: pd.DataFrame                 # index report_id, columns SECTION_IDS: bool
    extra: dict = field(default_factory=dict)

    def prev_context(self) -> pd.DataFrame:
        """report_id, prev_ref (how messages name the previous report)."""
        p = self.prev_of[self.prev_of.ne("")]
        return pd.DataFrame({"report_id": p.index, "prev_ref": [self.ref(x) for x in p]})

    def ref(self, rid: str) -> str:
        """How a message names another report: agency, year and file."""
        refs = self.extra.get("_refs")
        if refs is None:
            r = self.reports
            y = pd.to_numeric(r["year"], errors="coerce").astype("Int64").astype(str).replace("<NA>", "")
            y = y.where(y.eq(""), y + "年")
            refs = dict(zip(r["report_id"], r["agency"].astype(str) + y + "报告（" + r["source_file"].astype(str)
                            + "）"))
            self.extra["_refs"] = refs
        return refs.get(rid, rid)


_CONT = re.compile(r"^([及和与][^。，,：:\n]{0,8}?(?:情况|措施|事项))")


def section_frames(sections: pd.DataFrame, ids: pd.Index):
    """(texts, headings, present): normalised section bodies (the heading's continuation on the next line, e.g.
    "及改进情况", moved to the heading), full headings, presence — one row per report."""
    s = sections[sections["section_id"].isin(SECTION_IDS)].drop_duplicates(["report_id", "section_id"])
    body = [T.norm(x) for x in s["text"].astype(object).where(s["text"].notna(), "").tolist()]
    head = [T.norm(x) for x in s["heading"].astype(object).where(s["heading"].notna(), "").tolist()]
    cont = []
    for b, h in zip(body, head):
        m = _CONT.match(b) if h else None
        cont.append(m.group(1) if m else "")
    s = s.assign(body=pd.Series([b[len(c):] for b, c in zip(body, cont)], index=s.index, dtype=object),
                 head=pd.Series([h + c for h, c in zip(head, cont)], index=s.index, dtype=object))
    texts = s.pivot(index="report_id", columns="section_id", values="body").reindex(index=ids, columns=SECTION_IDS)
    heads = s.pivot(index="report_id", columns="section_id", values="head").reindex(index=ids, columns=SECTION_IDS)
    present = texts.notna()
    return texts.fillna(""), heads.fillna(""), present


def build(live: pd.DataFrame, cells: pd.DataFrame, sections: pd.DataFrame,
          agencies: pd.DataFrame | None) -> Context:
    roster = roster_frame(agencies)
    r = live.copy()
    r["key"] = agency_keys(r["agency"], roster).to_numpy() if len(r) else pd.Series(dtype=object)
    r["year_i"] = pd.to_numeric(r["year"], errors="coerce")
    st = cells.assign(n_number=cells["state"].eq("NUMBER"),
                      n_bad=cells["state"].isin(["UNPARSABLE", "MISSING"])).groupby("report_id")[
        ["n_number", "n_bad"]].sum() if len(cells) else pd.DataFrame({"n_number": pd.Series(dtype="int64"), "n_bad": pd.Series(dtype="int64")},
                                      index=pd.Index([], dtype=object, name="report_id"))
    r = r.merge(st, left_on="report_id", right_index=True, how="left").fillna({"n_number": 0, "n_bad": 0})
    ok = r["key"].ne("") & r["year_i"].notna()
    order = r[ok].sort_values(["key", "year_i", "n_bad", "n_number", "report_id"],
                              ascending=[True, True, True, False, True], kind="stable")
    prim = order.drop_duplicates(["key", "year_i"], keep="first")
    r["primary"] = r["report_id"].isin(prim["report_id"])
    nxt = prim[["key", "year_i", "report_id"]].assign(year_i=prim["year_i"] + 1).rename(
        columns={"report_id": "prev_id"})
    r = r.merge(nxt, on=["key", "year_i"], how="left")
    r["prev_id"] = r["prev_id"].fillna("").astype(object)
    ok = (r["key"].ne("") & r["year_i"].notna()).to_numpy()
    r.loc[~ok, "prev_id"] = ""
    prev_of = pd.Series(r["prev_id"].to_numpy(), index=r["report_id"].to_numpy())
    texts, heads, present = section_frames(sections, pd.Index(r["report_id"], name="report_id"))
    return Context(reports=r, roster=roster, prev_of=prev_of, texts=texts, headings=heads, present=present)


PREV_COLUMNS = ("report_id", "table", "row_id", "col_id", "value", "state", "block", "lt")


@dataclass
class PrevLinks:
    """Which cells of `cells` are copied as previous-year cells of which report, for one (table, dim) need."""
    table: str
    dim: str                  # "row_id" or "col_id": the dimension whose ids get the `prev:` prefix
    src: np.ndarray           # row of the copied cell in `cells`
    cur: np.ndarray           # code of the receiving report in the cells' report codes (-1: it has no cells)
    cur_id: np.ndarray        # id of the receiving report (object)


def prev_links(ctx: Context, needs: dict[str, str], cv: "CellView") -> list[PrevLinks]:
    """The previous year's cells of each report as index arrays into the cells (see prev_cells): one PrevLinks per
    table of `needs`, in the order of `needs`; tables without any link are left out. No cell is copied."""
    p = ctx.prev_of[ctx.prev_of.ne("")]
    if p.empty or not needs:
        return []
    codes, lookup = cv._codes["report_id"]
    link = pd.DataFrame({"code": [lookup.get(x, -1) for x in p.to_numpy()], "cur": p.index.to_numpy(),
                         "_cur": [lookup.get(x, -1) for x in p.index.to_numpy()]})
    link = link[link["code"] >= 0]
    out = []
    for table, dim in needs.items():
        tm = cv.mask(table=table)
        with_numbers = np.unique(codes[tm & cv.mask(state="NUMBER")])
        sel = np.nonzero(tm & np.isin(codes, with_numbers))[0]
        m = pd.DataFrame({"code": codes[sel].astype(np.int64), "pos": sel}).merge(link, on="code", how="inner")
        if m.empty:
            continue
        out.append(PrevLinks(table, dim, np.array(m["pos"], dtype=np.int64), np.array(m["_cur"], dtype=np.int64),
                             np.array(m["cur"], dtype=object)))     # copies: the merged frame is freed
    return out


def prev_cells(ctx: Context, cells: pd.DataFrame, needs: dict[str, str], cv: "CellView | None" = None
               ) -> pd.DataFrame:
    """The previous year's cells of each report, as extra cells of that report with `prev:`-prefixed ids.

    `needs`: table -> "row_id" or "col_id" (the dimension the cross-year terms of that table prefix). Only tables
    of the previous report that hold at least one NUMBER are copied (a blank table is "no data", not zeros).
    Row selection and the join go through integer codes (CellView), not string keys. (Validation itself uses
    prev_links, which copies nothing.)"""
    cv = cv or CellView(cells)
    out = []
    # only what the identities read (the previous report's own locations and raw text are never shown)
    take = [k for k, c in enumerate(cells.columns) if c in PREV_COLUMNS]
    for lk in prev_links(ctx, needs, cv):
        x = cells.iloc[lk.src, take].copy()
        x["report_id"] = lk.cur_id
        k = cv.codes(lk.dim)[lk.src]
        x[lk.dim] = np.array(["prev:" + str(u) for u in cv.uniques(lk.dim)] + [""], dtype=object)[k]
        x["_prev"] = True
        x["_src"] = lk.src                 # row of the copied cell in `cells`
        x["_cur"] = lk.cur                 # code of the receiving report (-1: it has no cells itself)
        x["_dim"] = lk.dim
        out.append(x)
    res = pd.concat(out, ignore_index=True) if out else \
        cells.iloc[0:0].assign(_prev=True, _src=0, _cur=0, _dim="")
    return res[list(cells.columns.intersection(res.columns)) + ["_prev", "_src", "_cur", "_dim"]]


def has_numbers(cells: pd.DataFrame, table: str) -> pd.Series:
    """report_id -> the report's table holds at least one NUMBER cell."""
    c = cells[cells["table"].eq(table)]
    return c.assign(n=c["state"].eq("NUMBER")).groupby("report_id")["n"].any()


def eff_values(cells: pd.DataFrame) -> pd.Series:
    """Arithmetic value of each cell: NUMBER as printed, BLANK/DASH 0, MISSING/UNPARSABLE NaN."""
    return cells["value"].where(cells["state"].eq("NUMBER"),
                                np.where(cells["state"].isin(["BLANK", "DASH"]), 0.0, np.nan))


class CellView:
    """Fast row selection on the (large) cells frame: the key columns are factorised once, so that a selection
    such as sel(table="t3", row_id="t3.carried_over", state="NUMBER") compares integer codes, not strings."""

    KEYS = ("report_id", "table", "row_id", "col_id", "state")

    def __init__(self, cells: pd.DataFrame, coded: dict | None = None):
        """`coded`: optional precomputed {column: (codes, uniques)} of the key columns (as pd.factorize)."""
        self.c = cells
        self.eff = eff_values(cells).to_numpy(dtype=float) if len(cells) else np.zeros(0)
        self._codes = {}
        for k in self.KEYS:
            if k in cells.columns:
                codes, uniq = (coded or {}).get(k) or pd.factorize(cells[k], use_na_sentinel=True)
                self._codes[k] = (codes, {u: i for i, u in enumerate(uniq)})

    def mask(self, **eq) -> np.ndarray:
        m = np.ones(len(self.c), dtype=bool)
        for k, v in eq.items():
            codes, lookup = self._codes[k]
            if isinstance(v, (list, tuple, set, frozenset)):
                want = [lookup[x] for x in v if x in lookup]
                m &= np.isin(codes, want) if want else False
            else:
                m &= (codes == lookup[v]) if v in lookup else False
        return m

    def codes(self, key: str, mask: np.ndarray | None = None) -> np.ndarray:
        c = self._codes[key][0]
        return c if mask is None else c[mask]

    def uniques(self, key: str) -> list:
        """The distinct values of a key column, in code order."""
        return list(self._codes[key][1])

    def reports_with(self, **eq) -> set:
        """The report ids having at least one cell that matches."""
        codes = np.unique(self._codes["report_id"][0][self.mask(**eq)])
        uniq = self._codes["report_id"][1]
        ids = list(uniq)
        return {ids[c] for c in codes if c >= 0}

    def noted(self) -> pd.DataFrame:
        """The cells with a parse note (few: most cells have none), computed once."""
        if "_noted" not in self.__dict__:
            note = self.c["note"].to_numpy(dtype=object) if "note" in self.c.columns else np.zeros(0, dtype=object)
            m = pd.notna(note) & (note != "")
            self._noted = self.c[m]
        return self._noted

    def sel(self, columns=None, **eq) -> pd.DataFrame:
        """The selected cells, with their arithmetic value in column `eff`; `columns`: only these columns of the
        cells (and eff) are copied — for large selections such as a whole table."""
        m = self.mask(**eq)
        c = self.c if columns is None else self.c[list(columns)]
        return c[m].assign(eff=self.eff[m])
