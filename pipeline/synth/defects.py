"""Defect injection and the test oracle for synthetic reports.

The oracle (`check_identities`, `cross_year_findings`) evaluates the template identities on the PUBLISHED numbers
(blank/missing = 0, rules.md §6 conventions) and returns one finding per failing equation instance, in the form the
corpus truth uses ({"rule": "R-T3-04", "table": "t3", "row": ...} / {"rule": "R-T3-03", "table": "t3", "col": ...}).
It is deliberately small and independent from the project's validate stage: it is what the tests compare against.

Defect kinds (`KINDS`), each given as a kind string, a (kind, {params}) pair or a {"kind": ..., params} dict:

| kind | params | what changes | findings |
|---|---|---|---|
| t3_row_total | row, k | the 总计 cell of one t3 row off by k | R-T3-04 for the row (+ R-T3-02/03 col.total when the row is an intake/total/forward/result row) |
| t3_total_processed | col, k, keep_row | （七）总计 of one column off by k (keep_row: the row's 总计 moved too) | R-T3-03 + R-T3-02 for the column(s), R-T3-04 for the row unless keep_row |
| t3_carry | col, k, keep_row | 四、结转下年度继续办理 of one column off by k | R-T3-02 for the column(s), R-T3-04 for the row unless keep_row |
| t4_total | group, k, mode | the 总计 of one t4 group off by k (mode "zero": printed as 0) | R-T4-02 for the group |
| t3_all_blank | include_t4 | every t3 cell blank | R-T3-06 |
| missing_section | section | section 五 (sec.problems) or 六 (sec.other) left out | R-STR-01 |
| outdated_template | — | a ≥2021 report printed with the gb2019 tables | R-TPL-02 |
| missing_row | row, table | one row left out of the table (its values moved to a sibling row first) | R-TPL-06 |
| blank_cells | n, tables, pattern | some 0 cells printed blank | none |

Rule defects (`RULE_KINDS`, accepted wherever a kind is; each applies only where it makes sense — e.g. a body
without rule-making power, a previous-year report — and raises ValueError elsewhere):

| kind | params | what changes | findings |
|---|---|---|---|
| regulation_no_power | k | 规章 本年制发 k (and 现行有效) for a body without rule-making power | R-T2-02 (error for county/township, else warning) |
| in_force_below_issued | row | 现行有效件数 < 本年制发件数 | R-T2-03 (+ R-T2-04 with a previous year) |
| stock_break | row, k | 现行有效件数 off by k against last year (needs prev) | R-T2-04 |
| repeal_too_many | row | 本年废止 > last year's stock + issued (needs prev) | R-T2-05 (+ R-T2-04, R-T2-03) |
| fractional_count | row | a t2 decision count printed with a fraction | R-T2-01 |
| fee_magnitude | — | 收费金额 in 元 where 万元 is due (> 1e6) | R-T2-06 |
| item_count_break | row, k | gb2019 上一年项目数量 off against last year (needs prev) | R-T2-08 |
| published_exceeds_made | — | gb2019 本年新公开数量 > 本年新制作数量 | R-T2-09 |
| carry_mismatch | col, k | 上年结转 off by k against last year's 结转下年度 (identities kept; needs prev) | R-T3-05 (the column, and 总计) |
| overdue_fee_before_2021 | — | a 2020 report in the gb2021 layout with 逾期未缴费 > 0 | R-T3-09, R-TPL-05 |
| backlog | — | most applications carried forward | R-T3-10 |
| all_natural_person | — | every applicant counted as 自然人, the text mentions enterprises applying | R-T3-13 |
| fee_notice_contradiction | — | 逾期未缴费 > 0 and section 六 says no fee notice was issued | R-T3-08 |
| litigation_without_review | — | 复议后起诉 > 0 and no 行政复议 | R-T4-04 |
| t4_pending_dropped | — | all-zero t4 after last year's pending cases (needs prev with pending > 0) | R-T4-05 |
| narrative_mismatch | k | the 总体情况 quotes 新收申请 off by k | R-T3-11 |
| narrative_t2_mismatch | k | the 总体情况 quotes 制发行政规范性文件 off by k | R-T2-07 |
| narrative_t4_mismatch | — | the text says no review/litigation while t4 has cases (or quotes counts while t4 is 0) | R-T4-03 |
| late_publication | days | published (and signed) after the statutory deadline | R-META-04 |
| wrong_period_year | — | the statistical period names the previous year | R-META-03 (error) |
| missing_period | — | no statistical-period statement | R-META-03 (warning) |
| title_without_work | — | title "…年政府信息公开年度报告" | R-META-02 |
| wrong_year_text | — | 总体情况 opens with last year ("2021年，我局…" in 2022) | R-META-06 |
| missing_aspects | — | 总体情况 without the 依申请公开 part | R-SEC1-01 |
| no_assessment | — | a government's report without 考核/评议/责任追究 | R-SEC1-02 |
| problems_only | — | section 五 lists problems, no measures, no rectification | R-SEC5-01, R-SEC5-02 |
| no_rectification | — | section 五 without last year's rectification | R-SEC5-02 |
| same_problems_as_last_year | — | section 五 copied from last year's report (needs prev) | R-SEC5-03 |
| missing_fee_statement | — | section 六 silent on 信息处理费 | R-SEC6-01 (+ R-T3-08 when fee notices were issued) |
| empty_other | — | section 六 is "无。" | R-SEC6-02, R-SEC6-01 (≥ 2021), R-SEC6-04 |
| legacy_items | — | section 六 reports 收费及减免情况 | R-SEC6-03 |
| no_workplan | — | section 六 without 工作要点 / 建议提案 | R-SEC6-04 |
| section_order | — | sections 二 and 三 (with their tables) swapped | R-STR-02 |
| numbering_shift | — | sections 二…六 numbered 一…五 | R-STR-04 |
| heading_variant | — | “五、存在的主要问题及改进措施” | R-STR-03 |
| duplicate_table | table | one table printed twice | R-STR-06 |
| table_as_image | table | one table replaced by "见附件" | R-STR-05 |
| no_tables | — | all three tables replaced by "见附件" | R-EXT-04 |
| mirror_pinyin | — | pinyin injected into the text (公(gong)开(kai)) | R-X-04 |
| copied_text | source | the narrative of `source` (another agency's Report) with this agency's name | R-X-01 here and on `source` |
| identical_t3 | source | t3 copied from `source` (another agency's Report, ≥ 10 non-zero cells) | R-X-07 here and on `source` |
| yoy_jump | — | 本年新收 more than ×5 last year's (needs prev with ≥ 10) | R-X-06 |

Whatever the kind, the arithmetic findings are recomputed from the final numbers, never assumed; so are the t2
stock rules (R-T2-02/03/04/05) and the cross-year carry-over (R-T3-05).
"""
from __future__ import annotations

from pipeline import templates
from pipeline.synth.numbers import (
    T3_FORWARD_ROW, T3_NON_RESULT, T3_TOTAL_ROW, T4_PARTS, TOTAL_COL, Report, applicant_cols, num, rng,
)

__all__ = ["KINDS", "RULE_KINDS", "ALL_KINDS", "FINDING_KINDS", "apply_defects", "check_identities",
           "expected_findings", "normalize_defects", "sort_findings", "structural_findings"]

KINDS = ("t3_row_total", "t3_total_processed", "t3_carry", "t4_total", "t3_all_blank", "missing_section",
         "outdated_template", "missing_row", "blank_cells")
FINDING_KINDS = {k for k in KINDS if k != "blank_cells"}   # kinds that must produce at least one finding
SECTION_IDS = ("sec.problems", "sec.other")
# rule defects: kind -> (rules it targets, needs the previous year's Report)
RULE_KINDS = {
    "regulation_no_power": (("R-T2-02",), False), "in_force_below_issued": (("R-T2-03",), False),
    "stock_break": (("R-T2-04",), True), "repeal_too_many": (("R-T2-05",), True),
    "fractional_count": (("R-T2-01",), False), "fee_magnitude": (("R-T2-06",), False),
    "item_count_break": (("R-T2-08",), True), "published_exceeds_made": (("R-T2-09",), False),
    "carry_mismatch": (("R-T3-05",), True), "overdue_fee_before_2021": (("R-T3-09", "R-TPL-05"), False),
    "backlog": (("R-T3-10",), False), "all_natural_person": (("R-T3-13",), False),
    "fee_notice_contradiction": (("R-T3-08",), False), "litigation_without_review": (("R-T4-04",), False),
    "t4_pending_dropped": (("R-T4-05",), True), "narrative_mismatch": (("R-T3-11",), False),
    "narrative_t2_mismatch": (("R-T2-07",), False), "narrative_t4_mismatch": (("R-T4-03",), False),
    "late_publication": (("R-META-04",), False), "wrong_period_year": (("R-META-03",), False),
    "missing_period": (("R-META-03",), False), "title_without_work": (("R-META-02",), False),
    "wrong_year_text": (("R-META-06",), False), "missing_aspects": (("R-SEC1-01",), False),
    "no_assessment": (("R-SEC1-02",), False), "problems_only": (("R-SEC5-01", "R-SEC5-02"), False),
    "no_rectification": (("R-SEC5-02",), False), "same_problems_as_last_year": (("R-SEC5-03",), True),
    "missing_fee_statement": (("R-SEC6-01",), False), "empty_other": (("R-SEC6-02",), False),
    "legacy_items": (("R-SEC6-03",), False), "no_workplan": (("R-SEC6-04",), False),
    "section_order": (("R-STR-02",), False), "numbering_shift": (("R-STR-04",), False),
    "heading_variant": (("R-STR-03",), False), "duplicate_table": (("R-STR-06",), False),
    "table_as_image": (("R-STR-05",), False), "no_tables": (("R-EXT-04",), False),
    "mirror_pinyin": (("R-X-04",), False), "copied_text": (("R-X-01",), False),
    "identical_t3": (("R-X-07",), False), "yoy_jump": (("R-X-06",), True),
}
ALL_KINDS = KINDS + tuple(RULE_KINDS)
# rule-making power (立法法; rules/checks.yaml R-T2-02): (kind, level) pairs, and the four 不设区的地级市
RULE_MAKING = {("dept", "central"), ("gov", "province"), ("gov", "city")}
RULE_MAKING_NAMES = {"东莞市人民政府", "中山市人民政府", "嘉峪关市人民政府", "三沙市人民政府"}
DEADLINES = {"dept": (1, 31), "gov": (3, 31), "township": (3, 31)}


# --- the oracle --------------------------------------------------------------------------------------------------

def _finding(rule, table=None, row=None, col=None, **extra) -> dict:
    f = {"rule": rule}
    if table:
        f["table"] = table
    if row:
        f["row"] = row
    if col:
        f["col"] = col
    f.update(extra)
    return f


def check_identities(template_id: str, t3: dict, t4: dict) -> list[dict]:
    """One finding per failing instance of I-T3-1 (R-T3-02), I-T3-2 (R-T3-03), I-T3-3 (R-T3-04), I-T4-1 (R-T4-02)."""
    tpl = templates.get(template_id)
    out = []
    cols = [c.id for c in tpl.t3_cols]
    apps = applicant_cols(tpl)
    results = [r for r in t3 if r not in T3_NON_RESULT]

    def v(row, col):
        return num((t3.get(row) or {}).get(col))

    for c in cols:
        if v("t3.new_received", c) + v("t3.carried_over", c) != v(T3_TOTAL_ROW, c) + v(T3_FORWARD_ROW, c):
            out.append(_finding("R-T3-02", "t3", col=c))
    for c in cols:
        if v(T3_TOTAL_ROW, c) != sum(v(r, c) for r in results):
            out.append(_finding("R-T3-03", "t3", col=c))
    for r in t3:
        if v(r, TOTAL_COL) != sum(v(r, c) for c in apps):
            out.append(_finding("R-T3-04", "t3", row=r))
    for g, cells in t4.items():
        if num(cells.get(TOTAL_COL)) != sum(num(cells.get(c)) for c in T4_PARTS):
            out.append(_finding("R-T4-02", "t4", row=g))
    return out


def cross_year_findings(rep: Report, prev: Report | None) -> list[dict]:
    """X-1 (R-T3-05): this year's 上年结转 equals last year's 结转下年度继续办理, per column (published, blank = 0)."""
    if prev is None or prev.year != rep.year - 1:
        return []
    out = []
    for c in [c.id for c in rep.template.t3_cols]:
        now = num(rep.t3.get("t3.carried_over", {}).get(c))
        before = num(prev.t3.get(T3_FORWARD_ROW, {}).get(c))
        if now != before:
            out.append(_finding("R-T3-05", "t3", row="t3.carried_over", col=c))
    return out


def sort_findings(findings: list[dict], template_id: str) -> list[dict]:
    tpl = templates.get(template_id)
    order = {}
    for i, r in enumerate([r.id for r in tpl.t3_rows] + [g.id for g in tpl.t4_groups]):
        order.setdefault(r, i)
    for i, c in enumerate([c.id for c in tpl.t3_cols] + [c.id for c in tpl.t4_cols]):
        order.setdefault(c, i)
    seen, out = set(), []
    for f in sorted(findings, key=lambda f: (f["rule"], f.get("table", ""), order.get(f.get("row"), 999),
                                             f.get("row", ""), order.get(f.get("col"), 999), f.get("col", ""),
                                             f.get("section", ""))):
        key = tuple(sorted(f.items()))
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def structural_findings(rep: Report) -> list[dict]:
    out = []
    for d in rep.defects:
        kind = d["kind"]
        if kind == "t3_all_blank":
            out.append(_finding("R-T3-06", "t3"))
        elif kind == "missing_section":
            out.append(_finding("R-STR-01", section=d["section"]))
        elif kind == "outdated_template":
            out.append(_finding("R-TPL-02"))
        elif kind == "missing_row":
            out.append(_finding("R-TPL-06", d["table"], row=d["row"]))
    return out


def has_power(agency) -> bool:
    return (agency.kind, agency.level) in RULE_MAKING or agency.name in RULE_MAKING_NAMES


def t2_findings(rep: Report, prev: Report | None) -> list[dict]:
    """The t2 rules on the published numbers: R-T2-02 (规章 without rule-making power), R-T2-03 (P-5), and with the
    previous year (both gb2021) R-T2-04 (X-2) and R-T2-05 (X-3)."""
    out = []
    reg = rep.t2.get("t2.regulation") or {}
    cols = [c for c in ("col.issued_count", "col.repealed_count", "col.in_force_count", "col.new_made_count",
                        "col.new_published_count", "col.total_published_count") if c in reg]
    nonzero = [c for c in cols if num(reg.get(c)) > 0]
    if nonzero and not has_power(rep.agency) and ("t2", "t2.regulation") not in rep.missing_rows:
        out.append(_finding("R-T2-02", "t2", row="t2.regulation", col=nonzero[0]))
    if rep.template_id != "gb2021":
        return out
    for r in ("t2.regulation", "t2.normative_doc"):
        cells = rep.t2.get(r) or {}
        if ("t2", r) in rep.missing_rows or "col.in_force_count" not in cells:
            continue
        issued, repealed, stock = (num(cells.get(c)) for c in ("col.issued_count", "col.repealed_count",
                                                                "col.in_force_count"))
        if stock < issued:
            out.append(_finding("R-T2-03", "t2", row=r, col="col.in_force_count"))
        if prev is not None and prev.year == rep.year - 1 and prev.template_id == "gb2021" \
                and ("t2", r) not in prev.missing_rows:
            before = num((prev.t2.get(r) or {}).get("col.in_force_count"))
            if stock != before + issued - repealed:
                out.append(_finding("R-T2-04", "t2", row=r, col="col.in_force_count"))
            if repealed > before + issued:
                out.append(_finding("R-T2-05", "t2", row=r, col="col.repealed_count"))
    return out


def _t4_sum(rep: Report, group: str) -> float:
    return num((rep.t4.get(group) or {}).get(TOTAL_COL))


def rule_findings(rep: Report, prev: Report | None) -> list[dict]:
    """The findings of the rule defects (RULE_KINDS) injected into `rep`."""
    out = []
    for d in rep.defects:
        kind = d["kind"]
        if kind not in RULE_KINDS:
            continue
        if kind == "fractional_count":
            out.append(_finding("R-T2-01", "t2", row=d["row"], col="col.decision_count"))
        elif kind == "fee_magnitude":
            out.append(_finding("R-T2-06", "t2", row="t2.admin_fee", col="col.fee_amount_wan"))
        elif kind == "item_count_break":
            out.append(_finding("R-T2-08", "t2", row=d["row"], col="col.prev_year_item_count"))
        elif kind == "published_exceeds_made":
            out.append(_finding("R-T2-09", "t2", row="t2.normative_doc", col="col.new_published_count"))
        elif kind == "overdue_fee_before_2021":
            out += [_finding("R-T3-09", "t3", row="t3.other.overdue_fee"), _finding("R-TPL-05")]
        elif kind == "backlog":
            out.append(_finding("R-T3-10", "t3", row=T3_FORWARD_ROW, col=TOTAL_COL))
        elif kind == "all_natural_person":
            out.append(_finding("R-T3-13", section="sec.overview"))
        elif kind == "fee_notice_contradiction":
            out.append(_finding("R-T3-08", section="sec.other"))
        elif kind == "litigation_without_review":
            out.append(_finding("R-T4-04", "t4", row="t4.litigation_after_review", col=TOTAL_COL))
        elif kind == "t4_pending_dropped":
            out.append(_finding("R-T4-05", "t4"))
        elif kind == "narrative_mismatch":
            out.append(_finding("R-T3-11", "t3", row="t3.new_received", col=TOTAL_COL, section="sec.overview"))
        elif kind == "narrative_t2_mismatch":
            out.append(_finding("R-T2-07", "t2", row="t2.normative_doc", col="col.issued_count",
                                section="sec.overview"))
        elif kind == "narrative_t4_mismatch":
            if d.get("review"):
                out.append(_finding("R-T4-03", "t4", row="t4.review", col=TOTAL_COL, section="sec.overview"))
            if d.get("litigation"):
                out.append(_finding("R-T4-03", "t4", row="t4.litigation_direct", col=TOTAL_COL,
                                    section="sec.overview"))
        elif kind == "late_publication":
            out.append(_finding("R-META-04"))
        elif kind in ("wrong_period_year", "missing_period"):
            out.append(_finding("R-META-03"))
        elif kind == "title_without_work":
            out.append(_finding("R-META-02"))
        elif kind == "wrong_year_text":
            out.append(_finding("R-META-06", section="sec.overview"))
        elif kind == "missing_aspects":
            out.append(_finding("R-SEC1-01", section="sec.overview"))
        elif kind == "no_assessment":
            out.append(_finding("R-SEC1-02", section="sec.overview"))
        elif kind == "problems_only":
            out += [_finding("R-SEC5-01", section="sec.problems"), _finding("R-SEC5-02", section="sec.problems")]
        elif kind == "no_rectification":
            out.append(_finding("R-SEC5-02", section="sec.problems"))
        elif kind == "same_problems_as_last_year":
            out.append(_finding("R-SEC5-03", section="sec.problems"))
        elif kind == "missing_fee_statement":
            out.append(_finding("R-SEC6-01", section="sec.other"))
            if num((rep.t3.get("t3.other.overdue_fee") or {}).get(TOTAL_COL)) > 0:
                out.append(_finding("R-T3-08", section="sec.other"))
        elif kind == "empty_other":
            out += [_finding("R-SEC6-02", section="sec.other"), _finding("R-SEC6-04", section="sec.other")]
            if rep.year >= 2021:
                out.append(_finding("R-SEC6-01", section="sec.other"))
            if num((rep.t3.get("t3.other.overdue_fee") or {}).get(TOTAL_COL)) > 0:
                out.append(_finding("R-T3-08", section="sec.other"))
        elif kind == "legacy_items":
            out.append(_finding("R-SEC6-03", section="sec.other"))
        elif kind == "no_workplan":
            out.append(_finding("R-SEC6-04", section="sec.other"))
        elif kind == "section_order":
            out.append(_finding("R-STR-02"))
        elif kind == "numbering_shift":
            out.append(_finding("R-STR-04"))
        elif kind == "heading_variant":
            out.append(_finding("R-STR-03", section="sec.problems"))
        elif kind == "duplicate_table":
            out.append(_finding("R-STR-06", d["table"]))
        elif kind == "table_as_image":
            out.append(_finding("R-STR-05", d["table"], section=d["section"]))
        elif kind == "no_tables":
            out.append(_finding("R-EXT-04"))
        elif kind == "mirror_pinyin":
            out.append(_finding("R-X-04"))
        elif kind == "copied_text":
            out.append(_finding("R-X-01"))
        elif kind == "identical_t3":
            out.append(_finding("R-X-07", "t3"))
        elif kind == "yoy_jump":
            out.append(_finding("R-X-06", "t3", row="t3.new_received", col=TOTAL_COL))
    return out


def expected_findings(rep: Report, prev: Report | None = None) -> list[dict]:
    """Everything the published document must produce: structural findings of the injected defects, the rule
    defects' findings, plus the arithmetic, t2 and cross-year identities that really fail on the final numbers."""
    found = (structural_findings(rep) + check_identities(rep.template_id, rep.t3, rep.t4)
             + cross_year_findings(rep, prev) + t2_findings(rep, prev) + rule_findings(rep, prev))
    return sort_findings(found, rep.template_id)


# --- defect specs ------------------------------------------------------------------------------------------------

def normalize_defects(defects) -> list[dict]:
    out = []
    for d in defects or ():
        if isinstance(d, str):
            spec = {"kind": d}
        elif isinstance(d, dict):
            spec = dict(d)
        else:
            kind, params = d
            spec = {"kind": kind, **(params or {})}
        if spec["kind"] not in ALL_KINDS:
            raise ValueError(f"unknown defect kind {spec['kind']!r}; known: {', '.join(ALL_KINDS)}")
        out.append(spec)
    return out


def _offset(r, value: int, k) -> int:
    """A non-zero k that keeps value + k >= 0."""
    if k is None:
        k = r.choice([1, 1, 2, 3, -1, -2, 5, 10])
    if k == 0:
        raise ValueError("defect offset k must not be 0")
    if value + k < 0:
        k = abs(k)
    return k


def _shift(rep: Report, table: str, row: str, col: str, k: int) -> dict:
    cells = rep.table(table)[row]
    before = cells[col]
    cells[col] = num(before) + k
    return {"row": row, "col": col, "from": before, "to": cells[col]}


def _t3_row_total(rep: Report, spec: dict, r) -> dict:
    rows = [row.id for row in rep.template.t3_rows if row.id in rep.t3]
    row = spec.get("row") or r.choice(rows)
    k = _offset(r, num(rep.t3[row][TOTAL_COL]), spec.get("k"))
    return {"table": "t3", "k": k, "changes": [_shift(rep, "t3", row, TOTAL_COL, k)], "row": row}


def _t3_column_cell(rep: Report, spec: dict, r, row: str) -> dict:
    cols = [c.id for c in rep.template.t3_cols]
    col = spec.get("col") or r.choice(["col.natural_person", "col.natural_person", TOTAL_COL] + cols[1:3])
    keep_row = bool(spec.get("keep_row")) and col != TOTAL_COL
    k = _offset(r, min(num(rep.t3[row][col]), num(rep.t3[row][TOTAL_COL])) if keep_row else num(rep.t3[row][col]),
                spec.get("k"))
    changes = [_shift(rep, "t3", row, col, k)]
    if keep_row:
        changes.append(_shift(rep, "t3", row, TOTAL_COL, k))
    return {"table": "t3", "row": row, "col": col, "k": k, "keep_row": keep_row, "changes": changes}


def _t3_total_processed(rep: Report, spec: dict, r) -> dict:
    return _t3_column_cell(rep, spec, r, T3_TOTAL_ROW)


def _t3_carry(rep: Report, spec: dict, r) -> dict:
    return _t3_column_cell(rep, spec, r, T3_FORWARD_ROW)


def _t4_total(rep: Report, spec: dict, r) -> dict:
    groups = list(rep.t4)
    nonzero = [g for g in groups if sum(num(rep.t4[g].get(c)) for c in T4_PARTS) > 0]
    group = spec.get("group") or r.choice(nonzero or groups)
    mode = spec.get("mode", "add")
    parts = sum(num(rep.t4[group].get(c)) for c in T4_PARTS)
    if mode == "zero" and parts > 0:
        before = rep.t4[group][TOTAL_COL]
        rep.t4[group][TOTAL_COL] = 0
        change = {"row": group, "col": TOTAL_COL, "from": before, "to": 0}
        k = -parts
    else:
        mode = "add"
        k = _offset(r, num(rep.t4[group][TOTAL_COL]), spec.get("k"))
        change = _shift(rep, "t4", group, TOTAL_COL, k)
    return {"table": "t4", "group": group, "mode": mode, "k": k, "changes": [change]}


def _t3_all_blank(rep: Report, spec: dict, r) -> dict:
    tables = ["t3"] + (["t4"] if spec.get("include_t4") else [])
    for t in tables:
        for row in rep.table(t).values():
            for c in row:
                row[c] = None
    return {"tables": tables}


def _missing_section(rep: Report, spec: dict, r) -> dict:
    section = spec.get("section") or r.choice(SECTION_IDS)
    if section not in SECTION_IDS:
        raise ValueError(f"missing_section supports {SECTION_IDS}, not {section!r}")
    if section not in rep.dropped_sections:
        rep.dropped_sections.append(section)
    heading = next(s["heading"] for s in rep.template.sections if s["id"] == section)
    return {"section": section, "heading": heading,
            "note": "narrative rules on the dropped section (R-SEC5-*/R-SEC6-01) may fail as a consequence"}


def _missing_row(rep: Report, spec: dict, r) -> dict:
    table = spec.get("table", "t3")
    tpl = rep.template
    row_id = spec.get("row") or ("t3.unable.unclear_after_correction" if table == "t3" else "t2.admin_coercion")
    data = rep.table(table)
    if row_id not in data:
        raise ValueError(f"row {row_id!r} is not in {table} of {tpl.id}")
    moved_to = None
    if table == "t3":
        if row_id in T3_NON_RESULT:
            raise ValueError("missing_row supports t3 result rows only (their values are moved to a sibling)")
        group = next(x.group for x in tpl.t3_rows if x.id == row_id)
        siblings = [x.id for x in tpl.t3_rows if x.group == group and x.id != row_id and x.id in data] if group else []
        moved_to = siblings[0] if siblings else "t3.granted"
        for c, val in data[row_id].items():
            if num(val):
                data[moved_to][c] = num(data[moved_to][c]) + val
    for c in data[row_id]:
        data[row_id][c] = None
    if (table, row_id) not in rep.missing_rows:
        rep.missing_rows.append((table, row_id))
    label = next((x.label for x in tpl.t3_rows if x.id == row_id), None) if table == "t3" else \
        next((x.label for b in tpl.t2_blocks for x in b.rows if x.id == row_id), None)
    return {"table": table, "row": row_id, "label": label, "values_moved_to": moved_to}


def _blank_cells(rep: Report, spec: dict, r) -> dict:
    tables = tuple(spec.get("tables") or ("t3",))
    missing = {row for _, row in rep.missing_rows}
    pattern = spec.get("pattern")
    candidates = []
    for t in tables:
        for row, cells in rep.table(t).items():
            if row in missing:
                continue
            for c, val in cells.items():
                if val == 0:
                    if pattern == "legal_person" and (t != "t3" or c in ("col.natural_person", TOTAL_COL)):
                        continue
                    candidates.append([t, row, c])
    if pattern == "legal_person":
        chosen = candidates
    else:
        n = spec.get("n") or r.randint(3, 8)
        chosen = sorted(r.sample(candidates, min(n, len(candidates))),
                        key=lambda x: candidates.index(x))
    for t, row, c in chosen:
        rep.table(t)[row][c] = None
    return {"cells": chosen, "pattern": pattern}


_APPLY = {
    "t3_row_total": _t3_row_total, "t3_total_processed": _t3_total_processed, "t3_carry": _t3_carry,
    "t4_total": _t4_total, "t3_all_blank": _t3_all_blank, "missing_section": _missing_section,
    "missing_row": _missing_row, "blank_cells": _blank_cells,
}


def apply_defects(rep: Report, specs: list[dict], prev: Report | None = None) -> None:
    """Apply the (normalised) defect specs in order, recording each with its details in `rep.defects`."""
    for i, spec in enumerate(specs):
        kind = spec["kind"]
        if kind == "outdated_template":
            if rep.year < 2021 or rep.template_id != "gb2019":
                raise ValueError("outdated_template needs a report year >= 2021 built with the gb2019 tables")
            rep.defects.append({"kind": kind, "rendered_template": "gb2019",
                                "expected_template": templates.expected_template(rep.year)})
            continue
        if kind in RULE_KINDS:
            if RULE_KINDS[kind][1] and (prev is None or prev.year != rep.year - 1):
                raise ValueError(f"defect {kind} needs the previous year's report (prev)")
            details = _RULE_APPLY[kind](rep, spec, rng(rep.seed, "defect", i, kind), prev)
            if "source_report" in details:     # the other agency's Report whose prose is copied (not in the truth)
                rep.copy_source = details.pop("source_report")
            rep.defects.append({"kind": kind, **details})
            continue
        details = _APPLY[kind](rep, spec, rng(rep.seed, "defect", i, kind))
        rep.defects.append({"kind": kind, **details})


# --- rule defects --------------------------------------------------------------------------------------------------

def _row_add(rep: Report, row: str, col: str, k: int) -> None:
    """Add k to one t3 cell and to the same row's 总计 (keeps I-T3-3)."""
    rep.t3[row][col] = num(rep.t3[row][col]) + k
    if col != TOTAL_COL:
        rep.t3[row][TOTAL_COL] = num(rep.t3[row][TOTAL_COL]) + k


def _need_gb2021(rep: Report, kind: str) -> None:
    if rep.template_id != "gb2021":
        raise ValueError(f"defect {kind} applies to the gb2021 tables")


def _regulation_no_power(rep, spec, r, prev):
    _need_gb2021(rep, "regulation_no_power")
    if has_power(rep.agency):
        raise ValueError(f"{rep.agency.name} has rule-making power: regulation_no_power does not apply")
    k = int(spec.get("k") or 1)
    cells = rep.t2["t2.regulation"]
    before = num((prev.t2.get("t2.regulation") or {}).get("col.in_force_count")) if prev is not None and \
        prev.template_id == "gb2021" else 0
    cells.update({"col.issued_count": k, "col.repealed_count": 0, "col.in_force_count": before + k})
    return {"table": "t2", "row": "t2.regulation", "issued": k}


def _in_force_below_issued(rep, spec, r, prev):
    _need_gb2021(rep, "in_force_below_issued")
    row = spec.get("row", "t2.normative_doc")
    cells = rep.t2[row]
    issued = max(2, num(cells["col.issued_count"]))
    cells["col.issued_count"] = issued
    cells["col.in_force_count"] = issued - 1
    return {"table": "t2", "row": row}


def _stock_break(rep, spec, r, prev):
    _need_gb2021(rep, "stock_break")
    row = spec.get("row", "t2.normative_doc")
    k = int(spec.get("k") or 7)
    rep.t2[row]["col.in_force_count"] = num(rep.t2[row]["col.in_force_count"]) + k
    return {"table": "t2", "row": row, "k": k}


def _repeal_too_many(rep, spec, r, prev):
    _need_gb2021(rep, "repeal_too_many")
    row = spec.get("row", "t2.normative_doc")
    before = num((prev.t2.get(row) or {}).get("col.in_force_count")) if prev.template_id == "gb2021" else 0
    cells = rep.t2[row]
    cells["col.repealed_count"] = before + num(cells["col.issued_count"]) + 2
    return {"table": "t2", "row": row}


def _fractional_count(rep, spec, r, prev):
    row = spec.get("row", "t2.admin_penalty")
    rep.t2[row]["col.decision_count"] = num(rep.t2[row]["col.decision_count"]) + 0.5
    return {"table": "t2", "row": row}


def _fee_magnitude(rep, spec, r, prev):
    _need_gb2021(rep, "fee_magnitude")
    if rep.agency.level == "central":
        raise ValueError("fee_magnitude applies to non-central bodies")
    rep.t2["t2.admin_fee"]["col.fee_amount_wan"] = 2510000.0
    return {"table": "t2", "row": "t2.admin_fee"}


def _item_count_break(rep, spec, r, prev):
    if rep.template_id != "gb2019" or prev.template_id != "gb2019":
        raise ValueError("item_count_break applies to two gb2019 years")
    row = spec.get("row", "t2.admin_license")
    k = int(spec.get("k") or 3)
    rep.t2[row]["col.prev_year_item_count"] = num(rep.t2[row]["col.prev_year_item_count"]) + k
    return {"table": "t2", "row": row, "k": k}


def _published_exceeds_made(rep, spec, r, prev):
    if rep.template_id != "gb2019":
        raise ValueError("published_exceeds_made applies to the gb2019 tables")
    cells = rep.t2["t2.normative_doc"]
    cells["col.new_published_count"] = num(cells["col.new_made_count"]) + 2
    cells["col.total_published_count"] = num(cells["col.total_published_count"]) + 2
    return {"table": "t2", "row": "t2.normative_doc"}


def _carry_mismatch(rep, spec, r, prev):
    col = spec.get("col", "col.natural_person")
    k = int(spec.get("k") or 2)
    # 上年结转 +k, balanced inside the report: （一）予以公开 and （七）总计 +k (identities hold; X-1 breaks)
    for row in ("t3.carried_over", "t3.granted", T3_TOTAL_ROW):
        _row_add(rep, row, col, k)
    return {"table": "t3", "col": col, "k": k}


def _overdue_fee_before_2021(rep, spec, r, prev):
    if rep.year > 2020 or rep.template_id != "gb2021":
        raise ValueError("overdue_fee_before_2021 needs a report year <= 2020 printed with the gb2021 tables")
    for row in ("t3.other.overdue_fee", "t3.new_received", T3_TOTAL_ROW):
        _row_add(rep, row, "col.natural_person", 1)
    return {"table": "t3", "row": "t3.other.overdue_fee"}


def _backlog(rep, spec, r, prev):
    intake = num(rep.t3["t3.new_received"][TOTAL_COL]) + num(rep.t3["t3.carried_over"][TOTAL_COL])
    k = 3 * intake + 20
    for row in ("t3.new_received", T3_FORWARD_ROW):
        _row_add(rep, row, "col.natural_person", k)
    return {"table": "t3", "k": k}


def _all_natural_person(rep, spec, r, prev):
    cols = applicant_cols(rep.template)
    for row, cells in rep.t3.items():
        moved = sum(num(cells.get(c)) for c in cols[1:])
        for c in cols[1:]:
            cells[c] = 0
        cells["col.natural_person"] = num(cells.get("col.natural_person")) + moved
    if num(rep.t3["t3.new_received"]["col.natural_person"]) == 0:
        for row in ("t3.new_received", "t3.granted", T3_TOTAL_ROW):
            _row_add(rep, row, "col.natural_person", 3)
    return {"table": "t3"}


def _fee_notice_contradiction(rep, spec, r, prev):
    _need_gb2021(rep, "fee_notice_contradiction")
    if rep.year < 2021:
        raise ValueError("fee_notice_contradiction applies to report years >= 2021")
    for row in ("t3.other.overdue_fee", "t3.new_received", T3_TOTAL_ROW):
        _row_add(rep, row, "col.natural_person", 1)
    return {"table": "t3", "section": "sec.other"}


def _litigation_without_review(rep, spec, r, prev):
    if prev is not None and prev.year == rep.year - 1 and _t4_sum(prev, "t4.review") > 0:
        raise ValueError("litigation_without_review: the previous year has 行政复议 cases")
    rep.t4["t4.review"] = {c: 0 for c in rep.t4["t4.review"]}
    g = rep.t4["t4.litigation_after_review"]
    g["col.upheld"] = num(g.get("col.upheld")) + 1
    g[TOTAL_COL] = sum(num(g.get(c)) for c in T4_PARTS)
    return {"table": "t4"}


def _t4_pending_dropped(rep, spec, r, prev):
    if sum(num(g.get("col.pending")) for g in prev.t4.values()) <= 0:
        raise ValueError("t4_pending_dropped needs a previous year with 尚未审结 cases")
    for g in rep.t4.values():
        for c in g:
            g[c] = 0
    return {"table": "t4"}


def _narrative(kind, **extra):
    def apply(rep, spec, r, prev):
        return {"narrative": True, **{k: spec.get(k, v) for k, v in extra.items()}}
    return apply


def _narrative_t4_mismatch(rep, spec, r, prev):
    review = _t4_sum(rep, "t4.review")
    lit = _t4_sum(rep, "t4.litigation_direct") + _t4_sum(rep, "t4.litigation_after_review")
    if review == 0 and lit == 0:   # the text will quote cases that the table does not have
        return {"narrative": True, "mode": "counts", "review": True, "litigation": True}
    return {"narrative": True, "mode": "none", "review": review > 0, "litigation": lit > 0}


def _late_publication(rep, spec, r, prev):
    days = int(spec.get("days") or 12)
    import datetime as dt
    m, d = DEADLINES.get(rep.agency.kind or "dept", (1, 31))
    late = dt.date(rep.year + 1, m, d) + dt.timedelta(days=days)
    rep.published_at = f"{late.isoformat()} 10:00"
    rep.signed_at = late.isoformat()
    return {"published_at": late.isoformat(), "days": days}


def _no_assessment(rep, spec, r, prev):
    if rep.agency.kind not in ("gov", "township"):
        raise ValueError("no_assessment applies to governments' reports (各级人民政府)")
    return {"narrative": True}


def _same_problems(rep, spec, r, prev):
    if "sec.problems" in prev.dropped_sections:
        raise ValueError("same_problems_as_last_year: the previous report has no section 五")
    changed = {"problems_only", "no_rectification", "heading_variant", "copied_text"} & {d["kind"] for d in prev.defects}
    if changed:   # last year's section 五 was printed differently from its story: nothing to repeat verbatim
        raise ValueError(f"same_problems_as_last_year: the previous report's section 五 has the defect {sorted(changed)}")
    return {"narrative": True}


def _table_choice(default, sections=True):
    def apply(rep, spec, r, prev):
        t = spec.get("table", default)
        if t not in ("t2", "t3", "t4"):
            raise ValueError("table must be t2, t3 or t4")
        sec = {"t2": "sec.proactive", "t3": "sec.applications", "t4": "sec.review_litigation"}[t]
        return {"table": t, "section": sec}
    return apply


def _copied_text(rep, spec, r, prev):
    src = spec.get("source")
    if src is None or src.agency.name == rep.agency.name:
        raise ValueError("copied_text needs `source`: another agency's Report")
    src.expected_findings = sort_findings(list(src.expected_findings) + [_finding("R-X-01")], src.template_id)
    return {"narrative": True, "source": src.agency.name, "source_year": src.year, "source_report": src}


def _identical_t3(rep, spec, r, prev):
    import copy as _copy
    src = spec.get("source")
    if src is None or src.agency.name == rep.agency.name or src.template_id != rep.template_id:
        raise ValueError("identical_t3 needs `source`: another agency's Report with the same template")
    nonzero = sum(1 for row in src.t3.values() for v in row.values() if v)
    if nonzero < 10:
        raise ValueError("identical_t3: the source table has fewer than 10 non-zero cells")
    rep.t3 = _copy.deepcopy(src.t3)
    src.expected_findings = sort_findings(list(src.expected_findings) + [_finding("R-X-07", "t3")], src.template_id)
    return {"table": "t3", "source": src.agency.name, "source_year": src.year}


def _yoy_jump(rep, spec, r, prev):
    before = num(prev.t3["t3.new_received"][TOTAL_COL])
    if before < 10:
        raise ValueError("yoy_jump needs a previous year with at least 10 applications")
    now = num(rep.t3["t3.new_received"][TOTAL_COL])
    k = int(6 * before - now + 5)
    for row in ("t3.new_received", "t3.granted", T3_TOTAL_ROW):
        _row_add(rep, row, "col.natural_person", k)
    return {"table": "t3", "k": k}


_RULE_APPLY = {
    "regulation_no_power": _regulation_no_power, "in_force_below_issued": _in_force_below_issued,
    "stock_break": _stock_break, "repeal_too_many": _repeal_too_many, "fractional_count": _fractional_count,
    "fee_magnitude": _fee_magnitude, "item_count_break": _item_count_break,
    "published_exceeds_made": _published_exceeds_made, "carry_mismatch": _carry_mismatch,
    "overdue_fee_before_2021": _overdue_fee_before_2021, "backlog": _backlog,
    "all_natural_person": _all_natural_person, "fee_notice_contradiction": _fee_notice_contradiction,
    "litigation_without_review": _litigation_without_review, "t4_pending_dropped": _t4_pending_dropped,
    "narrative_mismatch": _narrative("narrative_mismatch", k=7),
    "narrative_t2_mismatch": _narrative("narrative_t2_mismatch", k=3),
    "narrative_t4_mismatch": _narrative_t4_mismatch, "late_publication": _late_publication,
    "wrong_period_year": _narrative("wrong_period_year"), "missing_period": _narrative("missing_period"),
    "title_without_work": _narrative("title_without_work"), "wrong_year_text": _narrative("wrong_year_text"),
    "missing_aspects": _narrative("missing_aspects"), "no_assessment": _no_assessment,
    "problems_only": _narrative("problems_only"), "no_rectification": _narrative("no_rectification"),
    "same_problems_as_last_year": _same_problems, "missing_fee_statement": _narrative("missing_fee_statement"),
    "empty_other": _narrative("empty_other"), "legacy_items": _narrative("legacy_items"),
    "no_workplan": _narrative("no_workplan"), "section_order": _narrative("section_order"),
    "numbering_shift": _narrative("numbering_shift"), "heading_variant": _narrative("heading_variant"),
    "duplicate_table": _table_choice("t4"), "table_as_image": _table_choice("t4"),
    "no_tables": _narrative("no_tables"), "mirror_pinyin": _narrative("mirror_pinyin"),
    "copied_text": _copied_text, "identical_t3": _identical_t3, "yoy_jump": _yoy_jump,
}
