"""Tests of the validate stage (pipeline/validate, rules/catalogue.yaml, rules/identities.yaml, rules/weights.yaml)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import frames, templates
from pipeline import validate
from pipeline.validate import rulebook

APPLICANTS = ["col.natural_person", "col.commercial_enterprise", "col.research_institution",
              "col.public_interest_org", "col.legal_service_org", "col.other_org"]
INTAKE = ("t3.new_received", "t3.carried_over", "t3.total_processed", "t3.carried_forward")
T3_TITLE = "表三（收到和处理政府信息公开申请情况）"


# ---------------------------------------------------------------------------------------------------------------
# builders
def t3_values(template_id: str, seed: int = 0, collapse_other: bool = False) -> dict:
    """A consistent t3: {(row_id, col_id): value}. With collapse_other (gb2021) the （六） sub-rows are folded
    into a t3.other row (the sub-rows are then absent from the dict)."""
    tpl = templates.get(template_id)
    results = [r.id for r in tpl.t3_rows if r.id not in INTAKE]
    v = {}
    for j, c in enumerate(APPLICANTS):
        for i, r in enumerate(results):
            v[(r, c)] = (i * 3 + j * 5 + seed) % 4 + (10 if j == 0 and i < 2 else 0)
        tp = sum(v[(r, c)] for r in results)
        co, cf = j % 3, (j + 1) % 2
        v[("t3.total_processed", c)] = tp
        v[("t3.carried_over", c)] = co
        v[("t3.carried_forward", c)] = cf
        v[("t3.new_received", c)] = tp + cf - co
    if collapse_other:
        for c in APPLICANTS:
            v[("t3.other", c)] = sum(v.pop((r, c)) for r in results if r.startswith("t3.other."))
    rows = {r for r, _ in v}
    for r in rows:
        v[(r, "col.total")] = sum(v[(r, c)] for c in APPLICANTS)
    return v


def t4_values(seed: int = 0) -> dict:
    v = {}
    for k, g in enumerate(["t4.review", "t4.litigation_direct", "t4.litigation_after_review"]):
        parts = {"col.upheld": 3 + k + seed % 2, "col.corrected": 1 + k, "col.other_result": k, "col.pending": 2}
        v.update({(g, c): x for c, x in parts.items()})
        v[(g, "col.total")] = sum(parts.values())
    return v


T2_VALUES = {  # consistent t2 of a county department (no 规章, stock >= issued), both templates
    ("t2.normative_doc", "col.issued_count"): 2, ("t2.normative_doc", "col.repealed_count"): 1,
    ("t2.normative_doc", "col.in_force_count"): 12, ("t2.admin_license", "col.decision_count"): 35,
    ("t2.admin_penalty", "col.decision_count"): 8, ("t2.admin_coercion", "col.decision_count"): 1,
    ("t2.admin_fee", "col.fee_amount_wan"): 1.5,
    ("t2.normative_doc", "col.new_made_count"): 2, ("t2.normative_doc", "col.new_published_count"): 2,
    ("t2.normative_doc", "col.total_published_count"): 12, ("t2.admin_license", "col.prev_year_item_count"): 20,
    ("t2.other_admin_service", "col.prev_year_item_count"): 4, ("t2.admin_penalty", "col.prev_year_item_count"): 30,
    ("t2.admin_fee", "col.prev_year_item_count"): 2, ("t2.gov_procurement", "col.procurement_item_count"): 3,
    ("t2.gov_procurement", "col.procurement_total_amount"): 12.5,
}
_POOL = "山水木火土石田禾竹米云风雨雪花草鸟鱼虫马牛羊江河湖海松柏桃李杏梅兰菊荷柳桑麻豆麦粟稻茶"


def filler(rid: str, n: int = 300) -> str:
    """Text unique to one report (so that compliant test reports are not near-duplicates of each other)."""
    import random
    r = random.Random(rid)
    return "".join(r.choice(_POOL) for _ in range(n)) + "。"


def section_texts(rid: str, agency: str, year: int) -> dict:
    """Compliant narrative: five aspects, problems + measures + last year's rectification, a fee statement."""
    return {
        "sec.preamble": f"{agency}{year}年政府信息公开工作年度报告\n本报告根据《中华人民共和国政府信息公开条例》编制。"
                        f"本年度报告中所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。",
        "sec.overview": "（一）主动公开。通过门户网站主动公开政府信息。（二）依申请公开。依法办理政府信息公开申请。"
                        "（三）政府信息管理。落实公开属性源头认定。（四）政府信息公开平台建设。加强政务新媒体管理。"
                        "（五）监督保障。将政务公开纳入绩效考核，开展社会评议，全年未发生责任追究情况。" + filler(rid),
        "sec.proactive": "……", "sec.applications": "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）……",
        "sec.review_litigation": "……",
        "sec.problems": "（一）存在的主要问题：政策解读形式不够丰富。（二）改进情况：上一年度报告提出的问题已整改到位。"
                        "下一步将加强政策解读。" + filler(rid + "p", 120),
        "sec.other": f"本年度未收取信息处理费。认真落实{year}年政务公开工作要点。" + filler(rid + "o", 80),
    }


def make_report(rid: str, template_id: str = "gb2021", year: int = 2022, seed: int = 0, collapse_other=False,
                status: str = "ok", report_template: str | None = None, markers=(7, 0)):
    """(reports row dict, cells DataFrame, sections DataFrame) of a consistent, compliant report."""
    tpl = templates.get(template_id)
    t3 = t3_values(template_id, seed, collapse_other)
    t4 = t4_values(seed)
    recs = []
    for table, block, row, col in tpl.cell_keys():
        if table == "t2":
            val = float(T2_VALUES.get((row, col), 0))
        elif table == "t3":
            val = t3.get((row, col))
        else:
            val = t4.get((row, col))
        recs.append((table, block, row, col, val))
    if collapse_other:
        recs += [("t3", "", "t3.other", c, float(t3[("t3.other", c)])) for c in APPLICANTS + ["col.total"]]
    cells = pd.DataFrame(recs, columns=["table", "block", "row_id", "col_id", "value"])
    cells["value"] = cells["value"].astype(float)
    cells["state"] = np.where(cells["value"].notna(), "NUMBER", "MISSING")
    cells["raw"] = cells["value"].map(lambda x: "" if pd.isna(x) else (str(int(x)) if x == int(x) else str(x)))
    cells["report_id"] = rid
    cells["page"] = ""
    cells["location"] = "表 " + cells["row_id"] + " " + cells["col_id"]
    cells["unit"] = ""
    cells["note"] = ""
    cells = cells[frames.CELLS_COLUMNS]
    report = {
        "report_id": rid, "source_file": f"{rid}.html", "sha256": "0" * 64, "format": "html",
        "agency": f"某区司法局{rid}", "agency_kind": "dept", "level": "county", "year": year,
        "template": report_template or template_id, "published_at": f"{year + 1}-01-20", "status": status,
        "error": "",
        "n_errors": 0, "n_warnings": 0, "n_infos": 0, "title": f"某区司法局{year}年政府信息公开工作年度报告",
        "encoding": "utf-8", "url": "", "template_markers_2021": markers[0], "template_markers_2019": markers[1],
        "template_expected": templates.expected_template(year) or "",
    }
    texts = section_texts(rid, report["agency"], year)
    sections = pd.DataFrame([{"report_id": rid, "section_id": "sec.preamble", "order": 0, "heading": "",
                              "canonical_heading": "", "text": texts["sec.preamble"], "char_start": 0}]
                            + [{"report_id": rid, "section_id": s["id"], "order": k + 1, "heading": s["heading"],
                                "canonical_heading": s["heading"], "text": texts[s["id"]], "char_start": (k + 1) * 100}
                               for k, s in enumerate(tpl.sections)])[frames.SECTIONS_COLUMNS]
    return report, cells, sections


def batch(*reps):
    reports = pd.DataFrame([r for r, _, _ in reps])[frames.REPORTS_COLUMNS]
    reports["year"] = reports["year"].astype("Int64")
    cells = pd.concat([c for _, c, _ in reps], ignore_index=True)
    sections = pd.concat([s for _, _, s in reps], ignore_index=True)
    return reports, cells, sections


def setcell(cells, rid, table, row, col, value=None, state=None, note=None, raw=None):
    m = cells["report_id"].eq(rid) & cells["table"].eq(table) & cells["row_id"].eq(row) & cells["col_id"].eq(col)
    assert m.sum() == 1, (rid, table, row, col)
    if value is not None or state in ("BLANK", "DASH", "UNPARSABLE", "MISSING"):
        cells.loc[m, "value"] = np.nan if value is None else float(value)
    if state is not None:
        cells.loc[m, "state"] = state
    if note is not None:
        cells.loc[m, "note"] = note
    if raw is not None:
        cells.loc[m, "raw"] = raw


def getval(cells, rid, table, row, col):
    m = cells["report_id"].eq(rid) & cells["table"].eq(table) & cells["row_id"].eq(row) & cells["col_id"].eq(col)
    return float(cells.loc[m, "value"].iloc[0])


def non_info(f):
    return f[f["severity"].ne("info")]


# ---------------------------------------------------------------------------------------------------------------
def test_rulebook_loads_and_covers_the_issue_rules():
    book = rulebook.load()
    for rid in ["R-T3-02", "R-T3-03", "R-T3-04", "R-T4-02", "R-T3-06", "R-STR-01", "R-TPL-01", "R-TPL-02",
                "R-TPL-03", "R-TPL-04", "R-TPL-05", "R-TPL-06", "R-EXT-01"]:
        r = book.rule(rid)
        assert r.severity in frames.SEVERITIES and r.basis_zh and r.title_zh and r.evaluator_tags
    assert {i.rule for i in book.identities} == {"R-T3-02", "R-T3-03", "R-T3-04", "R-T4-02"}
    assert book.weights["weights"] == {"error": 10.0, "warning": 3.0, "info": 0.0}


def test_consistent_reports_have_no_findings_but_the_template_info():
    reports, cells, sections = batch(make_report("a"), make_report("b", "gb2019", 2020, seed=1, markers=(0, 9)),
                                     make_report("c", collapse_other=False, seed=2))
    f, ind, rep = validate.run(reports, cells, sections)
    assert list(f.columns) == frames.FINDINGS_COLUMNS
    assert list(ind.columns) == frames.INDICATORS_COLUMNS
    # the template info, and (these reports carry applications over from a year not in the batch) R-T3-12
    assert f["rule_id"].tolist() == ["R-T3-12", "R-TPL-01"] * 3
    assert f["severity"].eq("info").all()
    f = f[f["rule_id"].eq("R-TPL-01")].reset_index(drop=True)
    assert "2021年版格式" in f.loc[0, "message"] and "2021年版 7 个、2019年版 0 个" in f.loc[0, "message"]
    assert "2019年试行格式" in f.loc[1, "message"]
    assert rep["n_infos"].tolist() == [2, 2, 2] and rep["n_errors"].tolist() == [0, 0, 0]
    assert f["agency"].tolist() == reports["agency"].tolist()
    assert f["source_file"].tolist() == ["a.html", "b.html", "c.html"]
    assert (f["basis"].str.len() > 0).all()


def test_changed_total_cell_fires_exactly_the_identities_it_breaks():
    r = make_report("a")
    _, cells, _ = r
    x = getval(cells, "a", "t3", "t3.total_processed", "col.natural_person")
    setcell(cells, "a", "t3", "t3.total_processed", "col.natural_person", x - 6)
    f, _, rep = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "table", "row_id", "col_id"]].values.tolist() == [
        ["R-T3-02", "t3", "t3.total_processed", "col.natural_person"],
        ["R-T3-03", "t3", "t3.total_processed", "col.natural_person"],
        ["R-T3-04", "t3", "t3.total_processed", "col.total"],
    ]
    assert e["status"].eq("FAIL").all() and e["severity"].eq("error").all()
    t02, t03, t04 = (e.iloc[i] for i in range(3))
    assert (t03["expected"], t03["actual"], t03["delta"]) == (x, x - 6, -6)
    assert t03["message"] == (f"{T3_TITLE}「（七）总计」行「自然人」列：应等于第（一）至（六）项办理结果之和 {int(x)}，"
                              f"实际填报 {int(x - 6)}，相差 -6。")
    cf = getval(cells, "a", "t3", "t3.carried_forward", "col.natural_person")
    assert (t02["expected"], t02["actual"], t02["delta"]) == (x + cf, x - 6 + cf, -6)
    assert "「自然人」列" in t02["message"] and "第一项加第二项之和" in t02["message"]
    tot = getval(cells, "a", "t3", "t3.total_processed", "col.total")
    assert (t04["expected"], t04["actual"], t04["delta"]) == (tot - 6, tot, 6)
    assert "「（七）总计」行「总计」列" in t04["message"] and "相差 +6" in t04["message"]
    assert t03["location"] == "表 t3.total_processed col.natural_person"
    assert t04["location"] == "表 t3.total_processed col.total"
    assert rep.loc[0, "n_errors"] == 3


def test_t4_group_total():
    r = make_report("a")
    setcell(r[1], "a", "t4", "t4.litigation_direct", "col.total", 99)
    f, _, _ = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "row_id", "col_id", "status"]].values.tolist() == [
        ["R-T4-02", "t4.litigation_direct", "col.total", "FAIL"]]
    row = e.iloc[0]
    assert row["actual"] == 99 and row["delta"] == 99 - row["expected"]
    assert row["message"].startswith("表四（政府信息公开行政复议、行政诉讼情况）「行政诉讼—未经复议直接起诉」的「总计」")


def test_blank_cells_count_as_zero_and_are_named():
    r = make_report("a")
    _, cells, _ = r
    # a blank where the value was 0: still consistent, no finding
    zero = cells[cells["table"].eq("t3") & cells["value"].eq(0) & cells["col_id"].ne("col.total")].iloc[0]
    setcell(cells, "a", "t3", zero["row_id"], zero["col_id"], state="BLANK")
    # a blank where a value was expected
    v = getval(cells, "a", "t3", "t3.granted", "col.commercial_enterprise")
    assert v > 0
    setcell(cells, "a", "t3", "t3.granted", "col.commercial_enterprise", state="BLANK")
    f, _, _ = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "row_id", "col_id"]].values.tolist() == [
        ["R-T3-03", "t3.total_processed", "col.commercial_enterprise"],
        ["R-T3-04", "t3.granted", "col.total"]]
    t03, t04 = e.iloc[0], e.iloc[1]
    assert t03["delta"] == v and t04["delta"] == v
    assert "t3.granted/col.commercial_enterprise" in t03["assumed_zero"].split(";")
    assert "（其中空白按0计：（一）予以公开" in t03["message"]
    assert t04["assumed_zero"].split(";")[0] == "t3.granted/col.commercial_enterprise"
    assert "（其中空白按0计：商业企业" in t04["message"]


def test_unparsable_cell_makes_the_identities_uncertain():
    r = make_report("a")
    setcell(r[1], "a", "t3", "t3.granted", "col.natural_person", state="UNPARSABLE", note="split_ambiguous",
            raw="1 23")
    f, _, rep = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "status", "severity", "row_id", "col_id"]].values.tolist() == [
        ["R-EXT-01", "FAIL", "warning", "t3.granted", "col.natural_person"],
        ["R-T3-03", "UNCERTAIN", "warning", "t3.total_processed", "col.natural_person"],
        ["R-T3-04", "UNCERTAIN", "warning", "t3.granted", "col.total"],
    ]
    assert "数字连写，无法唯一拆分" in e.iloc[0]["message"] and "「1 23」" in e.iloc[0]["message"]
    assert "无法识别为数字的单元格：（一）予以公开" in e.iloc[1]["message"]
    assert rep.loc[0, "n_errors"] == 0 and rep.loc[0, "n_warnings"] == 3


def test_missing_cell_uncertain_only_when_the_equation_fails():
    r = make_report("a")
    _, cells, _ = r
    assert getval(cells, "a", "t4", "t4.review", "col.pending") > 0
    setcell(cells, "a", "t4", "t4.review", "col.pending", state="MISSING")
    zero = cells[cells["table"].eq("t3") & cells["value"].eq(0) & cells["col_id"].ne("col.total")].iloc[0]
    setcell(cells, "a", "t3", zero["row_id"], zero["col_id"], state="MISSING")   # balances anyway
    f, _, _ = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "status", "severity", "row_id"]].values.tolist() == [
        ["R-T4-02", "UNCERTAIN", "warning", "t4.review"], ["R-T4-06", "FAIL", "warning", ""]]
    assert "未找到的单元格：尚未审结" in e.iloc[0]["message"]
    assert "只识别到 14 个" in e.iloc[1]["message"]


def test_collapsed_other_row_in_gb2021():
    r = make_report("a", collapse_other=True)
    f, _, _ = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "severity", "table", "row_id", "col_id"]].values.tolist() == [
        ["R-TPL-06", "warning", "t3", "t3.other.other", ""],
        ["R-TPL-06", "warning", "t3", "t3.other.overdue_correction", ""],
        ["R-TPL-06", "warning", "t3", "t3.other.overdue_fee", ""],
    ]
    assert "「（六）其他处理」按一行合并填报" in e.iloc[0]["message"]
    # R-T3-03 uses the t3.other row: breaking it fires exactly there
    _, cells, _ = r
    x = getval(cells, "a", "t3", "t3.other", "col.research_institution")
    setcell(cells, "a", "t3", "t3.other", "col.research_institution", x + 2)
    f, _, _ = validate.run(*batch(r))
    e = f[f["rule_id"].isin(["R-T3-02", "R-T3-03", "R-T3-04"])]
    assert e[["rule_id", "row_id", "col_id", "delta", "status"]].values.tolist() == [
        ["R-T3-03", "t3.total_processed", "col.research_institution", -2.0, "FAIL"],
        ["R-T3-04", "t3.other", "col.total", -2.0, "FAIL"]]


def test_gb2019_other_row_and_missing_column():
    r = make_report("a", "gb2019", 2020, markers=(0, 9))
    _, cells, _ = r
    for row in cells.loc[cells["table"].eq("t3"), "row_id"].unique():
        setcell(cells, "a", "t3", row, "col.legal_service_org", state="MISSING")
    f, _, _ = validate.run(*batch(r))
    e = non_info(f)
    tpl06 = e[e["rule_id"].eq("R-TPL-06")]
    assert tpl06[["table", "row_id", "col_id"]].values.tolist() == [["t3", "", "col.legal_service_org"]]
    assert "缺少「法律服务机构」列" in tpl06.iloc[0]["message"]
    # the column's own identities are skipped (all cells missing); row totals that needed it are uncertain
    assert not e["col_id"].eq("col.legal_service_org").loc[e["rule_id"].isin(["R-T3-02", "R-T3-03"])].any()
    t04 = e[e["rule_id"].eq("R-T3-04")]
    assert len(t04) and t04["status"].eq("UNCERTAIN").all() and t04["severity"].eq("warning").all()


def test_all_blank_t3():
    r = make_report("a")
    _, cells, _ = r
    m = cells["table"].eq("t3")
    cells.loc[m, "value"] = np.nan
    cells.loc[m, "state"] = "BLANK"
    f, ind, _ = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "severity", "table", "row_id", "col_id"]].values.tolist() == [
        ["R-T3-06", "warning", "t3", "", ""]]
    assert "空白 175 个" in e.iloc[0]["message"]
    assert np.isnan(ind.loc[0, "K-01"]) and np.isnan(ind.loc[0, "K-02"])


def test_missing_sections():
    r = make_report("a")
    r = (r[0], r[1], r[2][~r[2]["section_id"].isin(["sec.problems", "sec.other"])])
    f, _, _ = validate.run(*batch(r))
    e = non_info(f)
    assert e[["rule_id", "severity", "section_id"]].values.tolist() == [
        ["R-STR-01", "error", "sec.other"], ["R-STR-01", "error", "sec.problems"]]
    assert e.iloc[1]["message"] == "缺少第五部分「五、存在的主要问题及改进情况」。"
    assert e.iloc[0]["message"] == "缺少第六部分「六、其他需要报告的事项」。"


def test_template_year_rules():
    reps = [make_report("a", "gb2019", 2022, markers=(0, 9)),                       # outdated → R-TPL-02
            make_report("b", "gb2021", 2020),                                       # anachronism → R-TPL-05
            make_report("c", "gb2021", 2022, report_template="mixed", markers=(5, 3)),  # → R-TPL-04
            make_report("d", "gb2021", 2022)]
    reports, cells, sections = batch(*reps)
    leg = dict(reports.iloc[0]); leg.update(report_id="e", template="legacy2008", year=2019, source_file="e.html",
                                            template_markers_2021=0, template_markers_2019=0)
    reports = pd.concat([reports, pd.DataFrame([leg])], ignore_index=True)
    reports["year"] = reports["year"].astype("Int64")
    f, _, _ = validate.run(reports, cells, sections)
    got = f[f["rule_id"].isin(["R-TPL-02", "R-TPL-03", "R-TPL-04", "R-TPL-05"])]
    assert got[["report_id", "rule_id", "severity"]].values.tolist() == [
        ["a", "R-TPL-02", "error"], ["b", "R-TPL-05", "warning"], ["c", "R-TPL-04", "error"],
        ["e", "R-TPL-03", "error"]]
    a = got.iloc[0]["message"]
    assert "2022" in a and "2021年版格式" in a and "2019年试行格式" in a
    # legacy2008 report with no sections and no cells: no R-STR-01, no R-TPL-06
    assert not f[(f["report_id"] == "e") & f["rule_id"].isin(["R-STR-01", "R-TPL-06", "R-T3-06"])].shape[0]


def test_indicators_on_a_known_example():
    r = make_report("a")
    _, cells, _ = r
    known = {"t3.new_received": 100, "t3.carried_over": 20, "t3.granted": 40, "t3.partially_granted": 10,
             "t3.unable.not_held": 25, "t3.total_processed": 110, "t3.carried_forward": 10}
    for row, v in known.items():
        setcell(cells, "a", "t3", row, "col.total", v)
    for g, vals in {"t4.review": (3, 1, 1, 0, 5), "t4.litigation_direct": (2, 1, 0, 1, 4),
                    "t4.litigation_after_review": (0, 0, 0, 1, 1)}.items():
        for c, v in zip(["col.upheld", "col.corrected", "col.other_result", "col.pending", "col.total"], vals):
            setcell(cells, "a", "t4", g, c, v)
    failed = make_report("z", status="failed")
    f, ind, rep = validate.run(*batch(r, failed))
    k = ind.set_index("report_id").loc["a"]
    assert k["K-01"] == 100
    assert k["K-02"] == pytest.approx(50 / 110, abs=1e-4)
    assert k["K-03"] == pytest.approx(25 / 110, abs=1e-4)
    assert k["K-04"] == pytest.approx(10 / 120, abs=1e-4)
    assert k["K-05"] == pytest.approx(10 / 100 * 100, abs=1e-2)
    assert k["K-06"] == pytest.approx(2 / 8, abs=1e-4)
    ra = rep.set_index("report_id").loc["a"]
    assert k["K-07"] == max(0, 100 - 10 * ra["n_errors"] - 3 * ra["n_warnings"])
    assert ra["n_errors"] > 0
    # failed reports: no findings, NaN indicators
    assert not f["report_id"].eq("z").any()
    assert ind.set_index("report_id").loc["z", ["K-01", "K-07"]].isna().all()
    assert rep.set_index("report_id").loc["z", "n_errors"] == 0


def test_k06_needs_five_cases():
    r = make_report("a")
    _, cells, _ = r
    for g in ["t4.review", "t4.litigation_direct", "t4.litigation_after_review"]:
        for c in ["col.upheld", "col.corrected", "col.other_result", "col.pending", "col.total"]:
            setcell(cells, "a", "t4", g, c, 1 if (g == "t4.review" and c in ("col.corrected", "col.total")) else 0)
    _, ind, _ = validate.run(*batch(r))
    assert np.isnan(ind.loc[0, "K-06"])


def test_schema_violations_become_findings():
    r = make_report("a")
    _, cells, _ = r
    setcell(cells, "a", "t3", "t3.carried_over", "col.natural_person", -3)
    setcell(cells, "a", "t4", "t4.review", "col.upheld", state="WEIRD")
    cells.loc[len(cells)] = {**cells.iloc[0].to_dict(), "table": "t3", "row_id": "t3.bogus", "col_id": "col.total"}
    f, _, _ = validate.run(*batch(r))
    neg = f[f["rule_id"].eq("R-T3-01")]
    assert neg[["row_id", "col_id", "actual", "severity"]].values.tolist() == [
        ["t3.carried_over", "col.natural_person", -3.0, "error"]]
    assert "为负数" in neg.iloc[0]["message"]
    ext = f[f["rule_id"].eq("R-EXT-01")]
    assert sorted(ext["row_id"]) == ["t3.bogus", "t4.review"]
    # the invalid state is treated as unparsable downstream: R-T4-02 uncertain, no second R-EXT-01
    assert f[f["rule_id"].eq("R-T4-02")]["status"].tolist() == ["UNCERTAIN"]


def test_identity_added_as_data_only(tmp_path, monkeypatch):
    cat = yaml.safe_load((rulebook.RULES_DIR / "catalogue.yaml").read_text(encoding="utf-8"))
    cat["rules"]["R-TEST-01"] = {"severity": "warning", "title_zh": "测试", "basis_zh": "测试",
                                 "evaluator_tags": ["test"], "message_zh": "{table_zh}「{col_zh}」列：{lhs_desc}应等于{rhs_desc}"
                                 " {expected}，实际 {actual}（{terms}）。"}
    ids = yaml.safe_load((rulebook.RULES_DIR / "identities.yaml").read_text(encoding="utf-8"))
    ids["identities"].append({"id": "I-TEST", "rule": "R-TEST-01", "table": "t3", "for_each": "col",
                              "over": ["col.natural_person"], "lhs": ["t3.granted"], "rhs": ["t3.unable.*"]})
    for name, d in (("c.yaml", cat), ("i.yaml", ids)):
        (tmp_path / name).write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    book = rulebook.load_from(tmp_path / "c.yaml", tmp_path / "i.yaml", rulebook.RULES_DIR / "weights.yaml")
    monkeypatch.setattr(rulebook, "load", lambda: book)
    r = make_report("a")
    f, _, _ = validate.run(*batch(r))
    t = f[f["rule_id"].eq("R-TEST-01")]
    assert len(t) == 1 and t.iloc[0]["col_id"] == "col.natural_person" and t.iloc[0]["row_id"] == "t3.granted"
    assert "「（一）予以公开」应等于「（四）无法提供—1.本机关不掌握相关政府信息」＋" in t.iloc[0]["message"]


def test_deterministic_order():
    reps = [make_report(rid, seed=k) for k, rid in enumerate(["b", "a", "c"])]
    for rid, (_, cells, _) in zip("bac", reps):
        setcell(cells, rid, "t3", "t3.granted", "col.other_org", 50)
        setcell(cells, rid, "t4", "t4.review", "col.total", 50)
    reports, cells, sections = batch(*reps)
    f1, i1, _ = validate.run(reports, cells, sections)
    f2, i2, _ = validate.run(reports.sample(frac=1, random_state=1), cells.sample(frac=1, random_state=2),
                             sections.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(f1, f2)
    pd.testing.assert_frame_equal(i1, i2)
    sev = f1["severity"].map(frames.SEVERITY_RANK)
    keys = list(zip(f1["report_id"], sev, f1["rule_id"], f1["table"], f1["row_id"], f1["col_id"]))
    assert keys == sorted(keys)


def test_batch_of_2000_reports_is_fast():
    base = [make_report(f"r{k}", seed=k) for k in range(4)] + [make_report("g", "gb2019", 2020, markers=(0, 9))]
    n = 2000
    reps, cells_l, secs_l = [], [], []
    for k in range(n):
        rep, c, s = base[k % len(base)]
        rid = f"rep{k:05d}"
        reps.append({**rep, "report_id": rid, "source_file": f"{rid}.html"})
        cells_l.append(c.assign(report_id=rid))
        secs_l.append(s.assign(report_id=rid))
    reports = pd.DataFrame(reps)[frames.REPORTS_COLUMNS]
    reports["year"] = reports["year"].astype("Int64")
    cells = pd.concat(cells_l, ignore_index=True)
    sections = pd.concat(secs_l, ignore_index=True)
    # every 10th report has a broken total, every 7th an unparsable cell
    m = (cells["report_id"].str[3:].astype(int) % 10 == 0) & cells["row_id"].eq("t3.total_processed") \
        & cells["col_id"].eq("col.total")
    cells.loc[m, "value"] += 1
    u = (cells["report_id"].str[3:].astype(int) % 7 == 0) & cells["row_id"].eq("t3.granted") \
        & cells["col_id"].eq("col.natural_person")
    cells.loc[u, ["value", "state"]] = [np.nan, "UNPARSABLE"]
    validate.run(*batch(make_report("warm")))  # great-expectations import is paid once per process
    t = time.perf_counter()
    f, ind, rep = validate.run(reports, cells, sections)
    dt = time.perf_counter() - t
    print(f"\nvalidate: {n} reports, {len(cells)} cells, {len(f)} findings in {dt:.2f} s")
    assert dt < 60
    assert len(ind) == n and len(rep) == n
    assert f[f["rule_id"].eq("R-T3-02")]["report_id"].nunique() == 200
    assert f[f["rule_id"].eq("R-EXT-01")]["report_id"].nunique() == len(range(0, n, 7))


def test_empty_batch_and_minimal_columns(monkeypatch):
    from pipeline.validate import arithmetic
    called, real = [], arithmetic.unequal
    monkeypatch.setattr(arithmetic, "unequal", lambda frame: called.append(1) or real(frame))
    empty = (pd.DataFrame(columns=frames.REPORTS_COLUMNS), pd.DataFrame(columns=frames.CELLS_COLUMNS),
             pd.DataFrame(columns=frames.SECTIONS_COLUMNS))
    f, ind, rep = validate.run(*empty)
    assert f.empty and list(f.columns) == frames.FINDINGS_COLUMNS
    assert ind.empty and list(ind.columns) == frames.INDICATORS_COLUMNS and rep.empty
    # a legacy report without table cells: no great-expectations validation at all
    leg, _, _ = make_report("l", year=2016, report_template="legacy2008", markers=(0, 0))
    f, ind, rep = validate.run(pd.DataFrame([leg]), pd.DataFrame(columns=frames.CELLS_COLUMNS),
                               pd.DataFrame(columns=frames.SECTIONS_COLUMNS))
    assert f["rule_id"].tolist() == ["R-TPL-01"] and not called
    # frames with only the columns the rules need (no note/block/page/unit, no title/markers)
    r, cells, sections = make_report("a")
    setcell(cells, "a", "t3", "t3.total_processed", "col.total", 0)
    rep_min = pd.DataFrame([{k: r[k] for k in ("report_id", "agency", "year", "template", "status", "format")}])
    f, ind, rep = validate.run(rep_min, cells[["report_id", "table", "row_id", "col_id", "value", "state"]],
                               sections[["report_id", "section_id"]])
    assert {"R-TPL-01", "R-T3-02", "R-T3-03", "R-T3-04"} <= set(f["rule_id"]) and called
    assert rep.loc[0, "n_errors"] == 3
    # without section texts the text rules report what they cannot find (never an exception)
    assert {"R-META-03", "R-SEC1-01", "R-SEC6-01"} <= set(f["rule_id"])
