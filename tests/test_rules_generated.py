"""Every rule defect of the generator (pipeline/synth/defects.py RULE_KINDS), rendered into real documents, audited
back through ingest → normalize → validate: each must yield its rule's finding (the truth lists it), nothing else
that is not informational, and the clean documents of the same batch none at all.

One batch for the whole module (documents of distinct agencies, plus the previous years and the copy sources the
cross-year and cross-agency defects need).
"""
from __future__ import annotations

import json

import pytest

from pipeline import batch as B
from pipeline import validate
from pipeline.synth import Agency, make_report, render
from pipeline.synth.defects import RULE_KINDS

EXT = {"html_word": "html", "txt_cells": "txt", "md": "md"}
INFO_OK = {"R-TPL-01"}   # always present


def county_dept(i):
    return Agency(f"测试{i}区司法局", "dept", "county", f"d{i}", "www.example.gov.cn", "测试区人民政府",
                  profile=(("apps", 40), ("license", (10, 600)), ("penalty", (5, 200))))


def city_gov(i):
    return Agency(f"测试{i}市人民政府", "gov", "city", f"g{i}", "www.example.gov.cn", f"测试{i}市人民政府")


def city_dept(i):
    return Agency(f"测试{i}市教育局", "dept", "city", f"e{i}", "www.example.gov.cn", f"测试{i}市教育局",
                  profile=(("apps", 60),))


def _pending_prev(i):
    """A 2022 city government report with pending t4 cases (for t4_pending_dropped)."""
    for seed in range(500, 600):
        prev = make_report(city_gov(i), 2022, "gb2021", seed)
        if sum(g["col.pending"] for g in prev.t4.values()) > 0:
            return prev
    raise AssertionError("no seed with pending cases")


def plan():
    """[(file name, Report)] — rendered in this order (sources after their copies: copying adds to their truth)."""
    docs = []
    i = 0

    def add(rep, fmt="html_word", name=None):
        docs.append((name or f"{rep.agency.slug}-{rep.year}.{EXT[fmt]}", rep, fmt))
        return rep

    # clean documents: every rule must stay silent on them
    for fmt in ("html_word", "txt_cells", "md"):
        i += 1
        add(make_report(county_dept(i), 2023, "gb2021", 10 + i), fmt)
        i += 1
        add(make_report(city_gov(i), 2023, "gb2021", 20 + i), fmt)
    i += 1
    add(make_report(city_dept(i), 2020, "gb2019", 30 + i), "txt_cells")

    single = {  # kind -> (agency factory, year, template, params)
        "regulation_no_power": (county_dept, 2023, "gb2021", {}),
        "in_force_below_issued": (city_dept, 2023, "gb2021", {}),
        "fractional_count": (county_dept, 2023, "gb2021", {}),
        "fee_magnitude": (city_dept, 2023, "gb2021", {}),
        "published_exceeds_made": (city_dept, 2020, "gb2019", {}),
        "overdue_fee_before_2021": (city_dept, 2020, "gb2021", {}),
        "backlog": (city_dept, 2023, "gb2021", {}),
        "all_natural_person": (city_dept, 2023, "gb2021", {}),
        "fee_notice_contradiction": (city_dept, 2023, "gb2021", {}),
        "litigation_without_review": (city_dept, 2023, "gb2021", {}),
        "narrative_mismatch": (county_dept, 2023, "gb2021", {}),
        "narrative_t2_mismatch": (county_dept, 2023, "gb2021", {}),
        "narrative_t4_mismatch": (city_gov, 2023, "gb2021", {}),
        "late_publication": (county_dept, 2023, "gb2021", {}),
        "wrong_period_year": (county_dept, 2023, "gb2021", {}),
        "missing_period": (city_gov, 2023, "gb2021", {}),
        "title_without_work": (county_dept, 2023, "gb2021", {}),
        "wrong_year_text": (county_dept, 2023, "gb2021", {}),
        "missing_aspects": (county_dept, 2023, "gb2021", {}),
        "no_assessment": (city_gov, 2023, "gb2021", {}),
        "problems_only": (county_dept, 2023, "gb2021", {}),
        "no_rectification": (city_gov, 2023, "gb2021", {}),
        "missing_fee_statement": (county_dept, 2023, "gb2021", {}),
        "empty_other": (county_dept, 2023, "gb2021", {}),
        "legacy_items": (county_dept, 2023, "gb2021", {}),
        "no_workplan": (county_dept, 2023, "gb2021", {}),
        "section_order": (county_dept, 2023, "gb2021", {}),
        "numbering_shift": (county_dept, 2023, "gb2021", {}),
        "heading_variant": (county_dept, 2023, "gb2021", {}),
        "duplicate_table": (county_dept, 2023, "gb2021", {"table": "t4"}),
        "table_as_image": (county_dept, 2023, "gb2021", {"table": "t4"}),
        "no_tables": (county_dept, 2023, "gb2021", {}),
        "mirror_pinyin": (county_dept, 2023, "gb2021", {}),
    }
    fmts = ["html_word", "txt_cells", "md"]
    for k, (kind, (fac, year, tpl, params)) in enumerate(single.items()):
        i += 1
        add(make_report(fac(i), year, tpl, 100 + i, defects=[(kind, params)]), fmts[k % 3])

    # cross-year kinds: a previous year and the defective year
    for kind, fac, tpl, y0 in (("stock_break", city_dept, "gb2021", 2022), ("repeal_too_many", city_dept, "gb2021", 2022),
                               ("carry_mismatch", city_dept, "gb2021", 2022),
                               ("same_problems_as_last_year", county_dept, "gb2021", 2022),
                               ("yoy_jump", city_dept, "gb2021", 2022),
                               ("item_count_break", city_dept, "gb2019", 2019)):
        i += 1
        prev = add(make_report(fac(i), y0, tpl, 300 + i), "html_word")
        add(make_report(fac(i), y0 + 1, tpl, 400 + i, prev=prev, defects=[kind]), "html_word")
    i += 1
    prev = add(_pending_prev(i), "html_word")
    add(make_report(city_gov(i), 2023, "gb2021", 450, prev=prev, defects=["t4_pending_dropped"]), "txt_cells")

    # cross-agency kinds: the copy is made first (it records the finding on its source too), rendered after
    i += 1
    src = make_report(city_dept(i), 2023, "gb2021", 500 + i)
    i += 1
    add(make_report(county_dept(i), 2023, "gb2021", 500 + i, defects=[("copied_text", {"source": src})]))
    add(src, "md")
    i += 1
    src = make_report(city_gov(i), 2023, "gb2021", 600 + i)
    i += 1
    add(make_report(city_gov(i), 2023, "gb2021", 600 + i, defects=[("identical_t3", {"source": src})]))
    add(src, "txt_cells")
    return docs


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    raw = tmp_path_factory.mktemp("rules-raw")
    truths = {}
    for name, rep, fmt in plan():
        data, truth = render(rep, fmt, file=name)
        (raw / name).write_bytes(data)
        truths[name] = truth
    files = B.discover(raw)
    results = B.run_documents(files, {}, workers=1, progress=False)
    fr = B.frames_from(results)
    findings, _, reports = validate.run(fr["reports"], fr["cells"], fr["sections"])
    return truths, reports, findings


def _match(f, exp) -> bool:
    return (f["rule_id"] in exp["rule"].split("|") and f["table"] in ("", exp.get("table", f["table"]))
            and ("row" not in exp or f["row_id"] == exp["row"]) and ("col" not in exp or f["col_id"] == exp["col"])
            and ("section" not in exp or f["section_id"] == exp["section"]))


def _problems(truths, reports, findings) -> list[str]:
    out = []
    by_file = dict(zip(reports["source_file"], reports["report_id"]))
    for name, truth in truths.items():
        rid = by_file[name]
        mine = findings[findings["report_id"].eq(rid)].to_dict("records")
        used = set()
        for exp in truth["expected_findings"]:
            hit = next((k for k, f in enumerate(mine) if k not in used and _match(f, exp)), None)
            if hit is None:
                out.append(f"{name}: expected {exp} not found; got {[f['rule_id'] for f in mine]}")
            else:
                used.add(hit)
        expected_rules = {r for e in truth["expected_findings"] for r in e["rule"].split("|")}
        for k, f in enumerate(mine):
            if k in used or f["severity"] == "info" or f["rule_id"] in expected_rules:
                continue
            out.append(f"{name}: unexpected {f['rule_id']} {f['severity']} {f['status']} {f['table']} "
                       f"{f['row_id']} {f['col_id']} {f['section_id']}: {f['message'][:120]}")
    return out


def test_every_rule_defect_is_found_and_nothing_else(audited):
    truths, reports, findings = audited
    assert set(reports["status"]) <= {"ok", "partial"}
    problems = _problems(truths, reports, findings)
    assert not problems, "\n".join(problems)


def test_every_rule_kind_is_in_the_batch(audited):
    truths, _, _ = audited
    kinds = {d["kind"] for t in truths.values() for d in t["defects"]}
    assert set(RULE_KINDS) <= kinds


def test_clean_documents_have_no_findings_but_infos(audited):
    truths, reports, findings = audited
    by_file = dict(zip(reports["source_file"], reports["report_id"]))
    clean = [by_file[n] for n, t in truths.items() if not t["defects"] and not t["expected_findings"]]
    assert len(clean) >= 8
    f = findings[findings["report_id"].isin(clean)]
    assert f["severity"].eq("info").all(), f[~f["severity"].eq("info")][["source_file", "rule_id", "message"]]
    # the only infos on clean documents: the template, and facts about the batch (no previous year in it)
    assert set(f["rule_id"]) <= {"R-TPL-01", "R-T3-12", "R-T4-04", "R-T4-05", "R-T2-06"}, set(f["rule_id"])


def test_truth_files_are_json(audited):
    truths, _, _ = audited
    for t in truths.values():
        json.dumps(t, ensure_ascii=False)
