"""Metadata rules: R-META-01 (year), R-META-04 (publication deadline), R-META-05 (kind/level), R-X-04 (source
domain). R-META-02/03/06 are text rules (rules/text_rules.yaml). Parameters: rules/checks.yaml."""
from __future__ import annotations

import re
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


def _meta04(r, ctx, book):
    """Deadline by agency kind (vectorised): local dates first, the 2007 条例 date up to 2018, townships against the
    configured local date or (info) the 本级政府 date."""
    p = book.params("R-META-04")
    dl = p.get("deadlines") or {}
    kind = r["agency_kind"].fillna("").astype(str)
    y = pd.to_numeric(r["year_i"], errors="coerce")
    md = kind.map(dl).astype(object)
    variant = pd.Series("default", index=r.index, dtype=object)
    town = kind.eq("township")
    if p.get("township"):
        md[town] = p["township"]
    else:
        md[town] = p.get("township_fallback")
        variant[town] = "township"
    legacy = y <= int(p.get("legacy_until", 2018))
    md[legacy] = p.get("legacy_deadline", "03-31")
    variant[legacy] = "default"
    agency = r["agency"].fillna("").astype(str)
    for loc in reversed(p.get("local") or []):        # the first matching local entry wins
        m = agency.str.contains(loc.get("agency_pattern", "$^"), regex=True)
        if loc.get("kind"):
            m &= kind.eq(loc["kind"])
        md[m] = loc.get("deadline")
        variant[m] = "default"
    ok = y.notna() & md.notna() & md.astype(str).ne("") & md.astype(str).ne("None")
    if not ok.any():
        return None
    r, md, variant, y, kind = r[ok], md[ok].astype(str), variant[ok], y[ok].astype(int), kind[ok]
    deadline = pd.to_datetime((y + 1).astype(str) + "-" + md, errors="coerce")
    pub = pd.to_datetime(r["published_at"].fillna("").astype(str).str.extract(
        r"((?:19|20)\d{2}-\d{1,2}-\d{1,2})", expand=False), errors="coerce")
    late = pub.notna() & (pub > deadline)
    unknown = pub.isna() & variant.ne("township")
    f = pd.DataFrame({"report_id": r["report_id"], "year": y.astype(str),
                      "deadline": deadline.dt.strftime("%Y-%m-%d"),
                      "kind_zh": kind.map(book.raw.get("kinds_zh") or {}).fillna(kind),
                      "published": pub.dt.strftime("%Y-%m-%d").fillna(""),
                      "days_late": (pub - deadline).dt.days.astype("Int64").astype(str).replace("<NA>", ""),
                      "_v": np.where(unknown, "uncertain", variant), "_st": np.where(unknown, "UNCERTAIN", "FAIL")})
    f = f[(late | unknown).to_numpy()]
    if f.empty:
        return None
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
