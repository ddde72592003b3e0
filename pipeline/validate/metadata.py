"""Metadata rules: R-META-01 (year), R-META-04 (publication deadline), R-META-05 (kind/level), R-X-04 (source
domain). R-META-02/03/06 are text rules (rules/text_rules.yaml). Parameters: rules/checks.yaml."""
from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from .context import Context
from .rulebook import Rulebook
from .structure import _part

_TITLE_YEAR = re.compile(r"((?:19|20)\d{2})\s*年\s*度?")


def _zh(book: Rulebook, key: str, values: pd.Series) -> pd.Series:
    m = book.raw.get(key) or {}
    return values.fillna("").astype(str).map(lambda v: m.get(v, v or m.get("", ""))).astype(str)


def _year_txt(y: pd.Series) -> pd.Series:
    return pd.to_numeric(y, errors="coerce").astype("Int64").astype(str).replace("<NA>", "")


def rules(ctx: Context, book: Rulebook) -> list[pd.DataFrame]:
    r = ctx.reports.copy()
    if r.empty:
        return []
    r["year_txt"] = _year_txt(r["year_i"])
    r["title"] = r["title"].fillna("").astype(str)
    parts = [_meta01(r, book), _meta04(r, ctx, book), _meta05(r, ctx, book), _x04(r, book)]
    return [p for p in parts if p is not None and len(p)]


def _meta01(r, book):
    ty = r["title"].str.extract(_TITLE_YEAR, expand=False)
    ty = pd.to_numeric(ty, errors="coerce")
    f = r.assign(year=r["year_txt"], title_year=_year_txt(ty))
    out = []
    none = r["year_i"].isna()
    if none.any():
        out.append(_part(f[none], "R-META-01", book))
    mism = r["year_i"].notna() & ty.notna() & (ty != r["year_i"])
    if mism.any():
        out.append(_part(f[mism], "R-META-01", book, variant="mismatch"))
    return pd.concat(out, ignore_index=True) if out else None


def _parse_date(s: str):
    m = re.match(r"\s*((?:19|20)\d{2})[-/.年](\d{1,2})[-/.月](\d{1,2})", str(s or ""))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _meta04(r, ctx, book):
    p = book.params("R-META-04")
    dl = p.get("deadlines") or {}
    rows = []
    kinds = r["agency_kind"].fillna("").astype(str)
    for i, x in r.iterrows():
        y = x["year_i"]
        if pd.isna(y):
            continue
        y = int(y)
        kind = kinds.loc[i]
        md, variant = None, "default"
        for loc in p.get("local") or []:
            if re.search(loc.get("agency_pattern", "$^"), str(x["agency"] or "")) and \
                    (not loc.get("kind") or loc["kind"] == kind):
                md = loc.get("deadline")
                break
        if md is None:
            if y <= int(p.get("legacy_until", 2018)):
                md = p.get("legacy_deadline", "03-31")
            elif kind == "township":
                md = p.get("township")
                if md is None:
                    md, variant = p.get("township_fallback"), "township"
            else:
                md = dl.get(kind)
        if not md:
            continue
        mo, d = (int(v) for v in str(md).split("-"))
        deadline = date(y + 1, mo, d)
        pub = _parse_date(x["published_at"])
        rec = {"report_id": x["report_id"], "year": str(y), "deadline": deadline.isoformat(),
               "kind_zh": (book.raw.get("kinds_zh") or {}).get(kind, kind)}
        if pub is None:
            if variant == "township":
                continue  # no statutory date and none known: nothing to say
            rows.append({**rec, "published": "", "days_late": "", "_v": "uncertain", "_st": "UNCERTAIN"})
        elif pub > deadline:
            rows.append({**rec, "published": pub.isoformat(), "days_late": str((pub - deadline).days),
                         "_v": variant, "_st": "FAIL"})
    if not rows:
        return None
    f = pd.DataFrame(rows)
    out = []
    rule = book.rule("R-META-04")
    for (v, st), g in f.groupby(["_v", "_st"], sort=True):
        sev = rule.severity_of(v if v != "uncertain" else "default")
        part = _part(g, "R-META-04", book, variant=v, status=st)
        part["severity"] = book.uncertain_severity_for(sev) if st == "UNCERTAIN" else sev
        out.append(part)
    return pd.concat(out, ignore_index=True)


def _meta05(r, ctx, book):
    p = book.params("R-META-05")
    kinds, levels = set(p.get("kinds") or []), set(p.get("levels") or [])
    k = r["agency_kind"].fillna("").astype(str)
    lv = r["level"].fillna("").astype(str)
    f = r.assign(kind_zh=_zh(book, "kinds_zh", k), level_zh=_zh(book, "levels_zh", lv))
    out = []
    unknown = ~k.isin(kinds) | ~lv.isin(levels)
    if unknown.any():
        out.append(_part(f[unknown], "R-META-05", book))
    ro = ctx.roster
    if len(ro):
        ro = ro[(ro["agency_kind"].ne("")) | (ro["level"].ne(""))]
        m = f.merge(ro[["key", "agency_kind", "level"]].rename(columns={"agency_kind": "r_kind", "level": "r_level"}),
                    on="key", how="inner")
        diff = ((m["r_kind"].ne("") & m["r_kind"].ne(m["agency_kind"]))
                | (m["r_level"].ne("") & m["r_level"].ne(m["level"])))
        m = m[diff & ~m["report_id"].isin(f.loc[unknown, "report_id"])]
        if len(m):
            m = m.assign(roster_kind_zh=_zh(book, "kinds_zh", m["r_kind"].where(m["r_kind"].ne(""), m["agency_kind"])),
                         roster_level_zh=_zh(book, "levels_zh", m["r_level"].where(m["r_level"].ne(""), m["level"])))
            out.append(_part(m, "R-META-05", book, variant="roster"))
    return pd.concat(out, ignore_index=True) if out else None


def roster_overrides(live: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The reports with agency_kind/level taken from the roster where it gives them (R-META-05 reports the change)."""
    ro = ctx.roster
    if ro.empty:
        return live
    key = ctx.reports.set_index("report_id")["key"]
    k = live["report_id"].map(key)
    rk = ro.set_index("key")
    out = live.copy()
    for col in ("agency_kind", "level"):
        v = k.map(rk[col]).fillna("")
        out[col] = np.where(v.ne(""), v, out[col])
    return out


def _x04(r, book):
    allowed = tuple((book.params("R-X-04").get("allowed_domains") or []))
    url = r["url"].fillna("").astype(str).str.strip()
    host = url.map(lambda u: (urlparse(u if "//" in u else "//" + u).hostname or "") if u else "")
    bad = host.ne("") & ~host.map(lambda h: any(h == a.lstrip(".") or h.endswith(a) for a in allowed))
    if not bad.any():
        return None
    f = r[bad].assign(url=url[bad], allowed="、".join(allowed))
    return _part(f, "R-X-04", book)
