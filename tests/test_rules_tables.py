"""Table, metadata, structure and extraction rules on frames (each: one case where it fails, one where it passes)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rules_helpers import of, run
from test_validate import getval, make_report, setcell


def agency(rep, name, kind, level):
    rep[0].update(agency=name, agency_kind=kind, level=level)
    return rep


# --- t2 -------------------------------------------------------------------------------------------------------------
def test_regulation_power_by_kind_and_level():
    reps = [agency(make_report("a"), "某区司法局", "dept", "county"),           # no power, county: error
            agency(make_report("b"), "某市司法局", "dept", "city"),             # no power: warning
            agency(make_report("c"), "某市人民政府", "gov", "city"),            # 设区的市 government: allowed
            agency(make_report("d"), "东莞市人民政府", "gov", "county"),        # 不设区的地级市 by name: allowed
            agency(make_report("e"), "某单位", "", "")]                        # unknown: uncertain
    for r in reps:
        setcell(r[1], r[0]["report_id"], "t2", "t2.regulation", "col.issued_count", 1)
        setcell(r[1], r[0]["report_id"], "t2", "t2.regulation", "col.in_force_count", 3)
    f = of(run(*reps), "R-T2-02")
    assert f[["report_id", "severity", "status", "col_id"]].values.tolist() == [
        ["a", "error", "FAIL", "col.issued_count"], ["b", "warning", "FAIL", "col.issued_count"],
        ["e", "warning", "UNCERTAIN", "col.issued_count"]]
    assert "县级政府部门" in f.iloc[0]["message"] and f.iloc[0]["actual"] == 1
    # only the stock (现行有效) filled in by a county bureau: warning (it may list the government's 规章)
    r = agency(make_report("f"), "某区司法局", "dept", "county")
    setcell(r[1], "f", "t2", "t2.regulation", "col.in_force_count", 2)
    f = of(run(r), "R-T2-02")
    assert f[["severity", "col_id"]].values.tolist() == [["warning", "col.in_force_count"]]
    assert of(run(make_report("g")), "R-T2-02").empty


def test_in_force_not_below_issued():
    r = make_report("a")
    setcell(r[1], "a", "t2", "t2.normative_doc", "col.in_force_count", 1)
    f = of(run(r), "R-T2-03")
    assert f[["row_id", "col_id", "expected", "actual", "severity"]].values.tolist() == [
        ["t2.normative_doc", "col.in_force_count", 2.0, 1.0, "warning"]]
    assert "「现行有效件数」 1 应不小于「本年制发件数」 2" in f.iloc[0]["message"]
    r = make_report("b")
    setcell(r[1], "b", "t2", "t2.normative_doc", "col.in_force_count", state="UNPARSABLE", raw="12 3")
    assert of(run(r), "R-T2-03")["status"].tolist() == ["UNCERTAIN"]
    assert of(run(make_report("c")), "R-T2-03").empty


def test_t2_counts_are_integers():
    r = make_report("a")
    setcell(r[1], "a", "t2", "t2.admin_penalty", "col.decision_count", 8.5)
    f = of(run(r), "R-T2-01")
    assert f[["row_id", "actual"]].values.tolist() == [["t2.admin_penalty", 8.5]] and "不是整数" in f.iloc[0]["message"]
    r = make_report("b")
    setcell(r[1], "b", "t2", "t2.admin_fee", "col.fee_amount_wan", 12.3456)      # amounts may have decimals
    assert of(run(r), "R-T2-01").empty


def test_fee_unit():
    r = make_report("a")
    setcell(r[1], "a", "t2", "t2.admin_fee", "col.fee_amount_wan", 251000, note="unit_yuan", raw="251000元")
    b = make_report("b")
    setcell(b[1], "b", "t2", "t2.admin_fee", "col.fee_amount_wan", 2510000)
    c = make_report("c")
    setcell(c[1], "c", "t2", "t2.admin_fee", "col.fee_amount_wan", 24252.311082, raw="24252.311082")
    f = of(run(r, b, c, make_report("d")), "R-T2-06")
    assert f[["report_id", "severity"]].values.tolist() == [["a", "warning"], ["b", "warning"], ["c", "info"]]
    assert f.iloc[0]["expected"] == 25.1 and "25.1 万元" in f.iloc[0]["message"]
    assert "6 位小数" in f.iloc[2]["message"]


def test_gb2019_published_not_above_made():
    r = make_report("a", "gb2019", 2020, markers=(0, 9))
    setcell(r[1], "a", "t2", "t2.normative_doc", "col.new_published_count", 5)
    f = of(run(r), "R-T2-09")
    assert f[["row_id", "col_id", "severity"]].values.tolist() == [
        ["t2.normative_doc", "col.new_published_count", "info"]]
    assert of(run(make_report("b", "gb2019", 2020, markers=(0, 9))), "R-T2-09").empty


# --- t3 / t4 --------------------------------------------------------------------------------------------------------
def test_partial_blanks_and_blank_totals():
    r = make_report("a")
    zero = r[1][r[1]["table"].eq("t3") & r[1]["value"].eq(0) & r[1]["col_id"].ne("col.total")].iloc[0]
    setcell(r[1], "a", "t3", zero["row_id"], zero["col_id"], state="BLANK")
    setcell(r[1], "a", "t4", "t4.review", "col.total", state="BLANK")
    f = of(run(r), "R-T3-07")
    assert sorted(zip(f["table"], f["row_id"], f["col_id"])) == [
        ("t3", "", ""), ("t4", "", ""), ("t4", "t4.review", "col.total")]
    tot = f[f["row_id"].eq("t4.review")].iloc[0]
    assert tot["expected"] == 6 and "「总计」空白" in tot["message"]
    assert of(run(make_report("b")), "R-T3-07").empty


def test_overdue_fee_row_before_2021():
    r = make_report("a", year=2020)            # gb2021 layout in a 2020 report (R-TPL-05) with 逾期未缴费 > 0
    f = run(r)
    assert of(f, "R-T3-09")[["row_id", "severity"]].values.tolist() == [["t3.other.overdue_fee", "error"]]
    assert not of(f, "R-TPL-05").empty
    assert of(run(make_report("b")), "R-T3-09").empty


def test_backlog():
    r = make_report("a")
    for col, k in (("col.natural_person", 300), ("col.total", 300)):
        for row in ("t3.new_received", "t3.carried_forward"):
            setcell(r[1], "a", "t3", row, col, getval(r[1], "a", "t3", row, col) + k)
    f = of(run(r), "R-T3-10")
    assert len(f) == 1 and f.iloc[0]["row_id"] == "t3.carried_forward" and "%" in f.iloc[0]["message"]
    assert of(run(make_report("b")), "R-T3-10").empty


def test_carried_over_without_previous_report():
    f = of(run(make_report("a")), "R-T3-12")
    assert len(f) == 1 and f.iloc[0]["severity"] == "info" and "2021年度" in f.iloc[0]["message"]
    prev = make_report("p", year=2021, seed=0)
    prev[0]["agency"] = "某区司法局a"
    assert of(run(make_report("a"), prev), "R-T3-12", "a").empty


def test_t4_after_review_without_review_and_dropped_pending():
    r = make_report("a")
    for c in ("col.upheld", "col.corrected", "col.other_result", "col.pending", "col.total"):
        setcell(r[1], "a", "t4", "t4.review", c, 0)
    f = of(run(r), "R-T4-04")
    assert len(f) == 1 and f.iloc[0]["row_id"] == "t4.litigation_after_review"
    assert of(run(make_report("b")), "R-T4-04").empty
    prev = make_report("p", year=2021)
    prev[0]["agency"] = "某区司法局c"
    cur = make_report("c")
    cur[1].loc[cur[1]["table"].eq("t4"), "value"] = 0.0
    f = of(run(cur, prev), "R-T4-05")
    assert f["report_id"].tolist() == ["c"] and f.iloc[0]["expected"] == 6 and "p.html" in f.iloc[0]["message"]


def test_t4_needs_15_values():
    r = make_report("a")
    setcell(r[1], "a", "t4", "t4.litigation_direct", "col.other_result", state="MISSING")
    setcell(r[1], "a", "t4", "t4.litigation_direct", "col.pending", state="MISSING")
    f = run(r)
    assert of(f, "R-T4-06")["message"].str.contains("只识别到 13 个").tolist() == [True]
    assert of(f, "R-TPL-06")[of(f, "R-TPL-06")["table"].eq("t4")].empty     # one structural finding, not two
    assert of(run(make_report("b")), "R-T4-06").empty


# --- extraction -----------------------------------------------------------------------------------------------------
def test_normalisations_and_recovered_splits_are_reported():
    r = make_report("a")
    setcell(r[1], "a", "t3", "t3.granted", "col.natural_person", note="fullwidth")
    setcell(r[1], "a", "t2", "t2.admin_license", "col.decision_count", note="thousands_sep")
    for col in ("col.natural_person", "col.total"):
        setcell(r[1], "a", "t3", "t3.new_received", col, note="digits_split")
    f = run(r)
    ext2 = of(f, "R-EXT-02")
    assert sorted(ext2["table"]) == ["t2", "t3"] and ext2["severity"].eq("info").all()
    assert "1 个单元格含全角数字" in ext2[ext2["table"].eq("t3")].iloc[0]["message"]
    ext3 = of(f, "R-EXT-03")
    assert ext3[["table", "severity"]].values.tolist() == [["t3", "info"]]
    assert "2 个单元格" in ext3.iloc[0]["message"] and "一、本年新收" in ext3.iloc[0]["message"]
    f = run(make_report("b"))
    assert of(f, "R-EXT-02").empty and of(f, "R-EXT-03").empty


def test_split_and_merged_numbers_are_explained_not_repaired():
    r = make_report("a")     # t3.granted: natural 10, commercial 3, research 0 ... → print "103" in one cell, 0 next
    row = "t3.granted"
    v = {c: getval(r[1], "a", "t3", row, c) for c in ("col.natural_person", "col.commercial_enterprise")}
    assert v["col.commercial_enterprise"] > 0
    merged = int(f"{int(v['col.natural_person'])}{int(v['col.commercial_enterprise'])}")
    setcell(r[1], "a", "t3", row, "col.natural_person", merged)
    setcell(r[1], "a", "t3", row, "col.commercial_enterprise", state="BLANK")
    f = of(run(r), "R-EXT-03")
    assert f[["row_id", "col_id", "severity"]].values.tolist() == [[row, "col.natural_person", "warning"]]
    assert f"拆为「自然人」{int(v['col.natural_person'])}" in f.iloc[0]["message"]
    assert getval(r[1], "a", "t3", row, "col.natural_person") == merged    # reported, never silently repaired


def test_no_table_at_all():
    r = make_report("a")
    r[1]["state"], r[1]["value"] = "MISSING", np.nan
    f = run(r)
    assert of(f, "R-EXT-04")["severity"].tolist() == ["error"]
    assert of(f, "R-TPL-06").empty and of(f, "R-T3-06").empty and of(f, "R-STR-05").empty
    assert of(run(make_report("b")), "R-EXT-04").empty


# --- metadata -------------------------------------------------------------------------------------------------------
def test_report_year():
    r = make_report("a")
    r[0]["year"] = None
    r[0]["title"] = "某区司法局政府信息公开工作年度报告"
    assert of(run(r), "R-META-01")["severity"].tolist() == ["error"]
    r = make_report("b")
    r[0]["title"] = "某区司法局2021年政府信息公开工作年度报告"       # the title says 2021, the manifest 2022
    f = of(run(r), "R-META-01")
    assert len(f) == 1 and "2021" in f.iloc[0]["message"] and "2022" in f.iloc[0]["message"]
    assert of(run(make_report("c")), "R-META-01").empty


@pytest.mark.parametrize("kind,published,status,severity", [
    ("dept", "2023-01-31", None, None), ("dept", "2023-02-01", "FAIL", "error"),
    ("gov", "2023-03-31", None, None), ("gov", "2023-04-02", "FAIL", "error"),
    ("dept", "", "UNCERTAIN", "warning"), ("township", "2023-04-10", "FAIL", "info"),
    ("township", "", None, None),
])
def test_publication_deadline(kind, published, status, severity):
    r = make_report("a")
    r[0].update(agency_kind=kind, published_at=published, level="township" if kind == "township" else "county")
    f = of(run(r), "R-META-04")
    if status is None:
        assert f.empty
    else:
        assert f[["status", "severity"]].values.tolist() == [[status, severity]]


def test_kind_and_level_inference_and_roster():
    r = make_report("a")
    r[0].update(agency_kind="", level="")
    f = of(run(r), "R-META-05")
    assert len(f) == 1 and "无法" in f.iloc[0]["message"]
    assert of(run(make_report("b")), "R-META-05").empty
    roster = pd.DataFrame({"agency": ["某区司法局c"], "agency_kind": ["dept"], "level": ["city"]})
    f = run(make_report("c"), agencies=roster)
    m = of(f, "R-META-05")
    assert len(m) == 1 and "名册" in m.iloc[0]["message"] and "市级" in m.iloc[0]["message"]


# --- structure ------------------------------------------------------------------------------------------------------
def _sections(rep, **changes):
    s = rep[2]
    for sid, (heading, start) in changes.items():
        m = s["section_id"].eq(sid)
        if heading is not None:
            s.loc[m, "heading"] = heading
        if start is not None:
            s.loc[m, "char_start"] = start
    return rep


def test_section_order_heading_wording_and_numbering():
    r = _sections(make_report("a"), **{"sec.applications": (None, 150)})          # 三 before 二
    f = run(r)
    assert of(f, "R-STR-02")["message"].str.contains("三、收到和处理政府信息公开申请情况 → 二、").tolist() == [True]
    r = _sections(make_report("b"), **{"sec.problems": ("五、存在的问题及改进措施", None)})
    f = of(run(r), "R-STR-03")
    assert f[["section_id", "severity"]].values.tolist() == [["sec.problems", "info"]]
    # a heading cut by a line break ("五、存在的主要问题" + "及改进情况" on the next line) is the canonical one
    r = _sections(make_report("c"), **{"sec.problems": ("五、存在的主要问题", None)})
    r[2].loc[r[2]["section_id"].eq("sec.problems"), "text"] = "及改进情况\n" + r[2].loc[
        r[2]["section_id"].eq("sec.problems"), "text"]
    assert of(run(r), "R-STR-03").empty
    shifted = {"sec.proactive": "一、主动公开政府信息情况", "sec.applications": "二、收到和处理政府信息公开申请情况",
               "sec.review_litigation": "三、政府信息公开行政复议、行政诉讼情况", "sec.problems": "四、存在的主要问题及改进情况",
               "sec.other": "五、其他需要报告的事项"}
    r = _sections(make_report("d"), **{k: (v, None) for k, v in shifted.items()})
    f = of(run(r), "R-STR-04")
    assert len(f) == 1 and "整体错位" in f.iloc[0]["message"]
    r = _sections(make_report("e"), **{"sec.applications": ("四、收到和处理政府信息公开申请情况", None)})
    f = of(run(r), "R-STR-04")
    assert f[["section_id"]].values.tolist() == [["sec.applications"]] and "“四”" in f.iloc[0]["message"]
    r = make_report("g")
    r[2].loc[r[2]["section_id"].eq("sec.overview"), "text"] = "一、加强组织领导\n主动公开。依申请公开。" + r[2].loc[
        r[2]["section_id"].eq("sec.overview"), "text"]
    f = of(run(r), "R-STR-04")
    assert len(f) == 1 and "两套编号" in f.iloc[0]["message"]
    f = run(make_report("h"))
    assert of(f, "R-STR-02").empty and of(f, "R-STR-03").empty and of(f, "R-STR-04").empty


def test_section_with_a_table_without_data_and_duplicated_tables():
    r = make_report("a")
    m = r[1]["table"].eq("t4")
    r[1].loc[m, "state"], r[1].loc[m, "value"] = "MISSING", np.nan
    f = run(r)
    assert of(f, "R-STR-05")[["table", "section_id", "severity"]].values.tolist() == [
        ["t4", "sec.review_litigation", "error"]]
    assert of(f, "R-TPL-06")[of(f, "R-TPL-06")["table"].eq("t4")].empty
    r = make_report("b")
    s = r[2]
    s.loc[s["section_id"].eq("sec.review_litigation"), "text"] = "行政复议 未经复议直接起诉 复议后起诉 1 2\n未经复议直接起诉 3"
    f = of(run(r), "R-STR-06")
    assert f[["table", "severity"]].values.tolist() == [["t4", "warning"]] and "2 次" in f.iloc[0]["message"]
    f = run(make_report("c"))
    assert of(f, "R-STR-05").empty and of(f, "R-STR-06").empty


def test_t3_header_note():
    r = make_report("a")
    r[2].loc[r[2]["section_id"].eq("sec.applications"), "text"] = "申请人情况 自然人 总计"
    assert of(run(r), "R-TPL-08")["message"].str.startswith("表三表头未找到").tolist() == [True]
    r = make_report("b")
    r[2].loc[r[2]["section_id"].eq("sec.applications"), "text"] = "（本列数据的勾稽关系为：第一项等于第三项）"
    assert of(run(r), "R-TPL-08")["message"].str.contains("与格式不同").tolist() == [True]
    r = make_report("c")      # broken by a PDF line break and NFKC punctuation: still the note
    r[2].loc[r[2]["section_id"].eq("sec.applications"), "text"] = "(本列数据的勾稽关系为:第一项加第二项之和,等\n于第三项加第四项之和)"
    assert of(run(r), "R-TPL-08").empty


def test_t4_cells_are_non_negative_integers():
    r = make_report("a")
    setcell(r[1], "a", "t4", "t4.review", "col.upheld", 2.5)
    b = make_report("b")
    setcell(b[1], "b", "t4", "t4.litigation_direct", "col.corrected", -1)
    f = of(run(r, b), "R-T4-01")
    assert f[["report_id", "row_id", "col_id", "severity"]].values.tolist() == [
        ["a", "t4.review", "col.upheld", "error"], ["b", "t4.litigation_direct", "col.corrected", "error"]]
    assert "不是整数" in f.iloc[0]["message"] and "为负数" in f.iloc[1]["message"]
    assert of(run(make_report("c")), "R-T4-01").empty
