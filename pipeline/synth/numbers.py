"""Consistent report numbers for one agency-year: t2, t3 and t4 values that satisfy every template identity.

Labels and canonical ids come from `pipeline.templates` (rules/templates/*.yaml); nothing here re-types a label.
Everything is deterministic from the seed (all randomness goes through `rng(seed, *tags)`).

Identities guaranteed by `build_numbers` (template.md §2.1):
- I-T3-1  new_received + carried_over = total_processed + carried_forward, per column;
- I-T3-2  total_processed = sum of the result rows, per column;
- I-T3-3  col.total = sum of the six applicant columns, per row;
- I-T4-1  col.total = upheld + corrected + other_result + pending, per group;
and across years (when `prev` is given): X-1 carried_over(t) = carried_forward(t-1) per column, X-2 stock
continuity of 现行有效件数 (gb2021 → gb2021), X-4 上一年项目数量 continuity (gb2019 → gb2019).
"""
from __future__ import annotations

import copy
import hashlib
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

from pipeline import templates

# --- small helpers ---------------------------------------------------------------------------------------------

T3_INTAKE_ROWS = ("t3.new_received", "t3.carried_over")
T3_TOTAL_ROW = "t3.total_processed"
T3_FORWARD_ROW = "t3.carried_forward"
T3_NON_RESULT = {"t3.new_received", "t3.carried_over", "t3.total_processed", "t3.carried_forward"}
TOTAL_COL = "col.total"
T4_PARTS = ("col.upheld", "col.corrected", "col.other_result", "col.pending")
DECIMAL_COLS = {"col.fee_amount_wan", "col.procurement_total_amount"}
SIGNED_COLS = {"col.item_change"}


def rng(seed, *tags) -> random.Random:
    """A random.Random seeded from (seed, *tags): independent, reproducible streams (no hash randomisation)."""
    if not tags:
        return random.Random(seed)
    digest = hashlib.sha256(repr((seed,) + tuple(tags)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def result_rows(tpl) -> list[str]:
    """t3 rows whose values sum to （七）总计 (template order)."""
    return [r.id for r in tpl.t3_rows if r.id not in T3_NON_RESULT]


def applicant_cols(tpl) -> list[str]:
    return [c.id for c in tpl.t3_cols if c.id != TOTAL_COL]


def is_decimal(col_id: str) -> bool:
    return col_id in DECIMAL_COLS


def num(v) -> float | int:
    """Arithmetic value of a published cell: blank/dash/missing (None) counts as 0 (template.md P-3)."""
    return 0 if v is None else v


# --- agencies ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Agency:
    """Who publishes the report. `kind` gov|dept|township, `level` central|province|city|county|township."""
    name: str
    kind: str = ""
    level: str = ""
    slug: str = "report"
    site: str = ""              # e.g. "www.qinghe.gov.cn" (used for links and crawler chrome)
    site_name: str = ""         # e.g. "青禾市人民政府" (the portal the report is published on)
    profile: tuple = ()         # optional overrides as (key, value) pairs, see PROFILE_DEFAULTS

    def prof(self) -> dict:
        p = dict(PROFILE_DEFAULTS[(self.kind or "dept", self.level or "county")])
        p.update(dict(self.profile))
        return p

    @property
    def self_ref(self) -> str:
        """How the report refers to its author: 我局, 我委, 我市, 我县, 我区, 我街道, 我镇 ..."""
        n = self.name
        if n.endswith("人民政府"):
            stem = n[: -len("人民政府")]
            return "我" + (stem[-1] if stem else "市")
        if n.endswith("街道办事处"):
            return "我街道"
        if n.endswith("办事处"):
            return "我处"
        for suffix in ("局", "委", "办", "厅", "院", "镇", "乡", "中心", "所"):
            if n.endswith(suffix):
                return "我" + suffix[-1]
        return "本单位"


def infer_agency(name: str, slug: str = "report") -> Agency:
    """Kind and level from the name (rules.md R-META-05 heuristics), for callers that pass a plain string."""
    if "街道办事处" in name or name.endswith(("镇人民政府", "乡人民政府", "镇", "乡")):
        return Agency(name=name, kind="township", level="township", slug=slug)
    kind = "gov" if name.endswith("人民政府") else "dept"
    stem = name[: -len("人民政府")] if kind == "gov" else name
    if kind == "gov":
        last = stem[-1:] if stem else "市"
        level = {"省": "province", "市": "city", "县": "county", "区": "county", "旗": "county"}.get(last, "county")
    elif "县" in stem or "区" in stem:
        level = "county"
    elif "市" in stem:
        level = "city"
    elif "省" in stem:
        level = "province"
    else:
        level = "central"
    return Agency(name=name, kind=kind, level=level, slug=slug)


# Typical magnitudes per (kind, level): annual applications, t2 decision counts (ranges), fee in 万元 (None = 0).
PROFILE_DEFAULTS = {
    ("gov", "province"): dict(apps=1500, license=(50000, 300000), penalty=(20000, 150000), coercion=(500, 5000),
                              fee=(5000.0, 90000.0), normative=(20, 60), regulation=True),
    ("gov", "city"): dict(apps=500, license=(8000, 90000), penalty=(3000, 30000), coercion=(50, 900),
                          fee=(800.0, 30000.0), normative=(8, 40), regulation=True),
    ("gov", "county"): dict(apps=120, license=(1500, 20000), penalty=(500, 6000), coercion=(10, 300),
                            fee=(100.0, 8000.0), normative=(3, 18), regulation=False),
    ("dept", "central"): dict(apps=800, license=(1000, 20000), penalty=(0, 500), coercion=(0, 20),
                              fee=(0.0, 2000.0), normative=(5, 30), regulation=True),
    ("dept", "province"): dict(apps=200, license=(500, 8000), penalty=(50, 2000), coercion=(0, 50),
                               fee=(0.0, 3000.0), normative=(3, 20), regulation=False),
    ("dept", "city"): dict(apps=40, license=(50, 3000), penalty=(10, 900), coercion=(0, 30),
                           fee=(0.0, 600.0), normative=(1, 10), regulation=False),
    ("dept", "county"): dict(apps=12, license=(0, 600), penalty=(0, 200), coercion=(0, 10),
                             fee=None, normative=(0, 5), regulation=False),
    ("township", "township"): dict(apps=3, license=(0, 40), penalty=(0, 30), coercion=(0, 3),
                                   fee=None, normative=(0, 2), regulation=False),
}
for _k in ("county", "city", "province", "central"):
    PROFILE_DEFAULTS.setdefault(("township", _k), PROFILE_DEFAULTS[("township", "township")])
PROFILE_DEFAULTS.setdefault(("gov", "township"), PROFILE_DEFAULTS[("township", "township")])
PROFILE_DEFAULTS.setdefault(("dept", "township"), PROFILE_DEFAULTS[("township", "township")])
PROFILE_DEFAULTS.setdefault(("gov", "central"), PROFILE_DEFAULTS[("dept", "central")])


# --- the data object ---------------------------------------------------------------------------------------------

@dataclass
class Report:
    """One synthetic report: the numbers as PUBLISHED (after defects) plus everything the renderers need.

    t2/t3/t4: {row_id: {col_id: value or None}} in template order; None = blank cell (or a MISSING row, listed in
    `missing_rows`). `clean` keeps the consistent numbers before defects.
    """
    agency: Agency
    year: int
    template_id: str
    seed: int
    t2: dict
    t3: dict
    t4: dict
    clean: dict = field(default_factory=dict)
    missing_rows: list = field(default_factory=list)        # [(table, row_id)] omitted from the document
    dropped_sections: list = field(default_factory=list)    # [section_id] whose heading and text are omitted
    defects: list = field(default_factory=list)             # [{"kind": ..., details}]
    expected_findings: list = field(default_factory=list)
    published_at: str = ""                                  # "YYYY-MM-DD HH:MM"
    signed_at: str = ""                                     # 落款 date "YYYY-MM-DD"
    story: dict = field(default_factory=dict)               # narrative state carried to the next year

    @property
    def template(self):
        return templates.get(self.template_id)

    @property
    def title(self) -> str:
        if any(d.get("kind") == "title_without_work" for d in self.defects):
            return f"{self.agency.name}{self.year}年政府信息公开年度报告"     # R-META-02: not the statutory name
        return f"{self.agency.name}{self.year}年政府信息公开工作年度报告"

    def has_defect(self, kind: str) -> bool:
        return any(d.get("kind") == kind for d in self.defects)

    def defect(self, kind: str) -> dict:
        return next((d for d in self.defects if d.get("kind") == kind), {})

    def table(self, name: str) -> dict:
        return {"t2": self.t2, "t3": self.t3, "t4": self.t4}[name]

    def copy(self) -> "Report":
        return copy.deepcopy(self)


# --- generation --------------------------------------------------------------------------------------------------

# Relative frequency of each t3 result row (per application processed). Unknown rows get a small weight.
RESULT_WEIGHTS = {
    "t3.granted": 0.36, "t3.partially_granted": 0.07,
    "t3.denied.state_secret": 0.002, "t3.denied.law_prohibited": 0.006, "t3.denied.security_stability": 0.004,
    "t3.denied.third_party_rights": 0.012, "t3.denied.internal_affairs": 0.015, "t3.denied.process_info": 0.02,
    "t3.denied.enforcement_case_file": 0.01, "t3.denied.admin_query": 0.012,
    "t3.unable.not_held": 0.22, "t3.unable.needs_creation": 0.05, "t3.unable.unclear_after_correction": 0.02,
    "t3.not_processed.complaint_petition": 0.03, "t3.not_processed.duplicate": 0.02,
    "t3.not_processed.publication": 0.003, "t3.not_processed.mass_repetitive": 0.005,
    "t3.not_processed.confirm_or_reissue": 0.01,
    "t3.other.overdue_correction": 0.05, "t3.other.overdue_fee": 0.003, "t3.other.other": 0.05,
    "t3.other": 0.10,
}
# Share of applications per applicant column (natural persons dominate).
COL_WEIGHTS = {
    "col.natural_person": 0.86, "col.commercial_enterprise": 0.08, "col.research_institution": 0.006,
    "col.public_interest_org": 0.008, "col.legal_service_org": 0.03, "col.other_org": 0.016,
}


def _multinomial(r: random.Random, n: int, keys: list, weights: list) -> dict:
    out = dict.fromkeys(keys, 0)
    if n > 0:
        for k in r.choices(keys, weights=weights, k=n):
            out[k] += 1
    return out


def _jitter(r: random.Random, lo: float = 0.5, hi: float = 1.6) -> float:
    return r.uniform(lo, hi)


def _prev_value(prev: Report | None, table: str, row: str, col: str):
    if prev is None:
        return None
    return num(prev.table(table).get(row, {}).get(col))


def build_t3(tpl, r: random.Random, prof: dict, prev: Report | None, year: int) -> dict:
    cols = applicant_cols(tpl)
    results = result_rows(tpl)
    apps = prof["apps"]
    if prev is not None:
        prev_new = num(prev.clean.get("t3", prev.t3).get("t3.new_received", {}).get(TOTAL_COL))
        base = prev_new if prev_new else apps
        n_new = max(0, round(base * r.uniform(0.75, 1.3)))
    else:
        n_new = max(0, round(apps * r.uniform(0.5, 1.5)))
    if n_new == 0 and r.random() < 0.7:
        n_new = r.randint(1, 3)
    # which applicant columns this agency sees at all (many stay at 0 for small bodies)
    cw = {c: COL_WEIGHTS.get(c, 0.01) * _jitter(r, 0.3, 1.8) for c in cols}
    for c in cols[1:]:
        if r.random() < (0.55 if apps < 50 else 0.2):
            cw[c] = 0.0
    new = _multinomial(r, n_new, cols, [cw[c] for c in cols])

    if prev is not None:
        carried = {c: int(_prev_value(prev, "t3", T3_FORWARD_ROW, c)) for c in cols}
    else:
        carried = {c: (round(new[c] * r.uniform(0.0, 0.08)) if r.random() < 0.5 else 0) for c in cols}

    rw = {row: RESULT_WEIGHTS.get(row, 0.005) * _jitter(r) for row in results}
    if year < 2021:
        rw.pop("t3.other.overdue_fee", None)
    elif r.random() < 0.8 and "t3.other.overdue_fee" in rw:
        rw["t3.other.overdue_fee"] = 0.0          # most agencies never send a fee notice
    keys = list(rw)
    p_forward = r.choice([0.0, 0.0, 0.02, 0.04, 0.07])

    t3 = {row.id: dict.fromkeys([c.id for c in tpl.t3_cols], 0) for row in tpl.t3_rows}
    for c in cols:
        intake = new[c] + carried[c]
        forward = sum(1 for _ in range(intake) if r.random() < p_forward)
        processed = intake - forward
        dist = _multinomial(r, processed, keys, [rw[k] for k in keys])
        t3["t3.new_received"][c] = new[c]
        t3["t3.carried_over"][c] = carried[c]
        for row in results:
            t3[row][c] = dist.get(row, 0)
        t3[T3_TOTAL_ROW][c] = processed
        t3[T3_FORWARD_ROW][c] = forward
    for row in t3:
        t3[row][TOTAL_COL] = sum(t3[row][c] for c in cols)
    return t3


def build_t4(tpl, r: random.Random, n_apps: int) -> dict:
    t4 = {}
    rate = {"t4.review": r.uniform(0.0, 0.06), "t4.litigation_direct": r.uniform(0.0, 0.03),
            "t4.litigation_after_review": r.uniform(0.0, 0.015)}
    part_w = [0.62, 0.1, 0.14, 0.14]
    for g in tpl.t4_groups:
        expected = n_apps * rate.get(g.id, 0.01)
        n = int(expected) + (1 if r.random() < expected - int(expected) else 0)
        parts = _multinomial(r, n, list(T4_PARTS), part_w)
        row = {c.id: parts.get(c.id, 0) for c in tpl.t4_cols}
        row[TOTAL_COL] = sum(parts.values())
        t4[g.id] = row
    return t4


def _fee(r: random.Random, rng_pair) -> float:
    if rng_pair is None or r.random() < 0.25:
        return 0
    lo, hi = rng_pair
    decimals = r.choice([2, 2, 2, 4, 1])
    return round(r.uniform(lo, hi), decimals)


def _count(r: random.Random, pair) -> int:
    lo, hi = pair
    if lo == 0 and r.random() < 0.3:
        return 0
    # log-uniform inside the range: magnitudes spread like real reports
    if hi <= 10:
        return r.randint(lo, hi)
    v = math.exp(r.uniform(math.log(max(lo, 1)), math.log(hi)))
    return int(round(v))


def build_t2(tpl, r: random.Random, prof: dict, prev: Report | None) -> dict:
    t2 = {}
    same_template_prev = prev if (prev is not None and prev.template_id == tpl.id) else None
    for block in tpl.t2_blocks:
        for row in block.rows:
            t2[row.id] = {c.id: 0 for c in block.cols}
    rows = t2
    if tpl.id == "gb2021" or "col.issued_count" in rows.get("t2.normative_doc", {}):
        for row_id in ("t2.regulation", "t2.normative_doc"):
            if row_id == "t2.regulation" and not prof.get("regulation"):
                continue
            lo, hi = (0, 3) if row_id == "t2.regulation" else prof["normative"]
            issued = r.randint(lo, hi)
            prev_stock = _prev_value(same_template_prev, "t2", row_id, "col.in_force_count")
            if prev_stock is None:
                prev_stock = r.randint(hi, hi * 6 + 5) if hi else 0
            repealed = min(int(prev_stock), r.randint(0, max(1, hi // 2)))
            rows[row_id].update({"col.issued_count": issued, "col.repealed_count": repealed,
                                 "col.in_force_count": int(prev_stock) + issued - repealed})
        rows["t2.admin_license"]["col.decision_count"] = _count(r, prof["license"])
        rows["t2.admin_penalty"]["col.decision_count"] = _count(r, prof["penalty"])
        rows["t2.admin_coercion"]["col.decision_count"] = _count(r, prof["coercion"])
        rows["t2.admin_fee"]["col.fee_amount_wan"] = _fee(r, prof.get("fee"))
    else:  # gb2019 layout
        for row_id in ("t2.regulation", "t2.normative_doc"):
            if row_id == "t2.regulation" and not prof.get("regulation"):
                continue
            lo, hi = (0, 3) if row_id == "t2.regulation" else prof["normative"]
            made = r.randint(lo, hi)
            published = made if r.random() < 0.8 else max(0, made - r.randint(0, 2))
            prev_total = _prev_value(same_template_prev, "t2", row_id, "col.total_published_count")
            total = (int(prev_total) if prev_total is not None else r.randint(hi, hi * 6 + 5)) + published
            rows[row_id].update({"col.new_made_count": made, "col.new_published_count": published,
                                 "col.total_published_count": total})
        size = min(1.5, max(0.15, prof["apps"] / 60))
        items = {k: (lo, max(lo + 1, int(hi * size))) for k, (lo, hi) in
                 {"t2.admin_license": (5, 120), "t2.other_admin_service": (0, 60), "t2.admin_penalty": (10, 400),
                  "t2.admin_coercion": (0, 30), "t2.admin_fee": (0, 12)}.items()}
        decisions = {"t2.admin_license": prof["license"], "t2.other_admin_service": (0, max(1, prof["license"][1] // 3)),
                     "t2.admin_penalty": prof["penalty"], "t2.admin_coercion": prof["coercion"]}
        for row_id, (lo, hi) in items.items():
            if row_id not in rows:
                continue
            pv = _prev_value(same_template_prev, "t2", row_id, "col.prev_year_item_count")
            if pv is not None:
                pv = int(pv) + int(num(same_template_prev.t2[row_id].get("col.item_change")))
            else:
                pv = r.randint(lo, hi)
            change = r.choice([0, 0, 0, 1, 2, -1, 3, -2]) if pv else r.choice([0, 0, 1])
            rows[row_id]["col.prev_year_item_count"] = pv
            rows[row_id]["col.item_change"] = max(change, -pv)
            if "col.decision_count" in rows[row_id]:
                rows[row_id]["col.decision_count"] = _count(r, decisions[row_id])
        if "t2.gov_procurement" in rows:
            n_items = r.randint(0, 40) if r.random() < 0.8 else 0
            amount = round(r.uniform(5, 3000), 2) if n_items else 0
            rows["t2.gov_procurement"].update({"col.procurement_item_count": n_items,
                                               "col.procurement_total_amount": amount})
    return t2


def publish_dates(agency: Agency, year: int, r: random.Random) -> tuple[str, str]:
    """(published_at 'YYYY-MM-DD HH:MM', signed_at 'YYYY-MM-DD') inside the statutory deadline (template.md §4.1)."""
    if agency.kind == "gov":
        month = r.choice([1, 2, 2, 3, 3])
        day = r.randint(5, 28 if month != 3 else 30)
    elif agency.kind == "township":
        month = r.choice([1, 1, 2])
        day = r.randint(8, 27)
    else:
        month, day = 1, r.randint(9, 30)
    sign_day = max(1, day - r.choice([0, 1, 2, 3, 5]))
    pub = f"{year + 1:04d}-{month:02d}-{day:02d} {r.randint(8, 17):02d}:{r.randint(0, 59):02d}"
    return pub, f"{year + 1:04d}-{month:02d}-{sign_day:02d}"


def build_numbers(agency: Agency, year: int, template_id: str, seed: int, prev: Report | None = None) -> Report:
    """A consistent (defect-free) report data set."""
    tpl = templates.get(template_id)
    prof = agency.prof()
    t3 = build_t3(tpl, rng(seed, "t3"), prof, prev, year)
    t4 = build_t4(tpl, rng(seed, "t4"), t3["t3.new_received"][TOTAL_COL])
    t2 = build_t2(tpl, rng(seed, "t2"), prof, prev)
    pub, signed = publish_dates(agency, year, rng(seed, "dates"))
    rep = Report(agency=agency, year=year, template_id=template_id, seed=seed, t2=t2, t3=t3, t4=t4,
                 published_at=pub, signed_at=signed)
    rep.clean = copy.deepcopy({"t2": t2, "t3": t3, "t4": t4})
    return rep


def fmt_value(v, col_id: str = "", signed_plus: bool = False) -> str:
    """The published text of a value: ints plain, decimals without float noise, '' for blank."""
    if v is None:
        return ""
    if isinstance(v, float):
        s = format(Decimal(repr(v)), "f")
        return s
    if col_id in SIGNED_COLS and signed_plus and v > 0:
        return f"+{v}"
    return str(v)
