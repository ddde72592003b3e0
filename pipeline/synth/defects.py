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

Whatever the kind, the arithmetic findings are recomputed from the final numbers, never assumed.
"""
from __future__ import annotations

from pipeline import templates
from pipeline.synth.numbers import (
    T3_FORWARD_ROW, T3_NON_RESULT, T3_TOTAL_ROW, T4_PARTS, TOTAL_COL, Report, applicant_cols, num, rng,
)

KINDS = ("t3_row_total", "t3_total_processed", "t3_carry", "t4_total", "t3_all_blank", "missing_section",
         "outdated_template", "missing_row", "blank_cells")
FINDING_KINDS = {k for k in KINDS if k != "blank_cells"}   # kinds that must produce at least one finding
SECTION_IDS = ("sec.problems", "sec.other")


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


def expected_findings(rep: Report, prev: Report | None = None) -> list[dict]:
    """Everything the published document must produce: structural findings of the injected defects, plus the
    arithmetic and cross-year identities that really fail on the final numbers."""
    found = structural_findings(rep) + check_identities(rep.template_id, rep.t3, rep.t4) + cross_year_findings(rep, prev)
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
        if spec["kind"] not in KINDS:
            raise ValueError(f"unknown defect kind {spec['kind']!r}; known: {', '.join(KINDS)}")
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


def apply_defects(rep: Report, specs: list[dict]) -> None:
    """Apply the (normalised) defect specs in order, recording each with its details in `rep.defects`."""
    for i, spec in enumerate(specs):
        kind = spec["kind"]
        if kind == "outdated_template":
            if rep.year < 2021 or rep.template_id != "gb2019":
                raise ValueError("outdated_template needs a report year >= 2021 built with the gb2019 tables")
            rep.defects.append({"kind": kind, "rendered_template": "gb2019",
                                "expected_template": templates.expected_template(rep.year)})
            continue
        details = _APPLY[kind](rep, spec, rng(rep.seed, "defect", i, kind))
        rep.defects.append({"kind": kind, **details})
