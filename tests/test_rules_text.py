"""Text rules (rules/text_rules.yaml): each fails on a non-compliant text and stays silent on compliant text, whatever
the phrasing. The phrasings come from the real corpus, the generator's narrative.py and common variants."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline import validate
from pipeline.validate import text as T
from rules_helpers import run
from test_validate import batch, make_report, setcell


def with_texts(rep, **texts):
    """The report with some section texts replaced (section id with '_' for '.': sec_other=...)."""
    r, cells, sections = rep
    sections = sections.copy()
    for key, value in texts.items():
        sid = key.replace("_", ".", 1)
        if value is None:
            sections = sections[sections["section_id"].ne(sid)]
        else:
            sections.loc[sections["section_id"].eq(sid), "text"] = value
    return r, cells, sections


def rules_of(f, rid="a"):
    return sorted(f.loc[f["report_id"].eq(rid), "rule_id"])


def fires(rule, rep, **texts):
    f = run(with_texts(rep, **texts))
    return f[f["rule_id"].eq(rule)]


# --- normalisation --------------------------------------------------------------------------------------------------
def test_normalisation():
    assert T.norm("收取政府信息公开信息处理费 0 元。\n管理办\n法") == "收取政府信息公开信息处理费0元。管理办法"
    assert T.norm("共１１，３９８，８８９件(含结转):") == "共11398889件（含结转）："
    assert T.norm("２０２３　年") == "2023年"


# --- R-SEC6-01: 信息处理费 in any wording ----------------------------------------------------------------------------
FEE_STATEMENTS = [
    # real reports (../shared/corpus)
    "2023 年，区政府严格落实《政府信息公开信息处理费管理办\n法》，全年收取政府信息公开信息处理费 0 元。",
    "2021年，无收取信息处理费情况。",
    "本年度信息公开处理费收费情况\n2024 年，市科委未发生政府信息公开收费事项。",
    "2023年度，县发展和改革局政府信息公开未发生收费情况。",
    "我县认真落实《政府信息公开信息处理费管理办法》要求，全县行政机关收取信息处理费共计380元。",
    "收取信息处理费的情况：本年度无发出收费通知，无收取信息处理费用。",
    "依据《政府信息公开信息处理费管理办法》规定，2025年全市实际收取信息处理费共计400元。",
    # the generator (pipeline/synth/narrative.py)
    "本年度我局未发出收费通知，未收取信息处理费。",
    "依据《政府信息公开信息处理费管理办法》，2022年我局未收取信息处理费。",
    "依据《政府信息公开信息处理费管理办法》，本年度我局向申请人发出收费通知3件，其中申请人逾期未按收费通知要求缴纳费用、"
    "不再处理的2件，实际收取信息处理费100元。",
    # other wordings
    "未收取信息处理费。", "信息处理费0元。", "没有发生收费情况。", "本年度政府信息公开工作未收取任何费用。",
    "依申请公开的政府信息均免费提供。", "全年共收取费用０元。", "本机关本年度未向申请人收费。",
    "信息处理费：无。", "本年度未产生信息处理费。",
]


@pytest.mark.parametrize("statement", FEE_STATEMENTS)
def test_fee_statement_in_any_wording_is_accepted(statement):
    assert fires("R-SEC6-01", make_report("a"), sec_other=statement + "我局认真落实政务公开工作要点。").empty


@pytest.mark.parametrize("text", [
    "我局按照《2021年红桥区政务公开工作要点》要求，围绕重点领域持续推动政务公开，做好优化营商环境的信息公开，"
    "财政预决算信息公开，常态化疫情防控信息公开等。",                         # 红桥区司法局 2021
    "无其他需要报告的事项。", "本年度我局认真落实政务公开工作要点，人大代表建议和政协提案办理结果均已公开。",
    "公开行政事业性收费目录清单。",                                           # fees of another kind
])
def test_no_fee_statement_fires(text):
    f = fires("R-SEC6-01", make_report("a"), sec_other=text)
    assert len(f) == 1 and f.iloc[0]["section_id"] == "sec.other" and f.iloc[0]["severity"] == "warning"
    assert "信息处理费" in f.iloc[0]["message"] and f.iloc[0]["location"] == "六、其他需要报告的事项"


def test_fee_statement_not_required_before_2021_nor_without_section_six():
    assert fires("R-SEC6-01", make_report("a", "gb2019", 2020, markers=(0, 9)), sec_other="无其他事项。").empty
    assert fires("R-SEC6-01", make_report("a"), sec_other=None).empty       # R-STR-01 reports the missing section


# --- R-SEC5-02: last year's problems rectified ---------------------------------------------------------------------
RECTIFIED = [
    "针对上一年度报告中提出的“政策解读形式较为单一”等问题，我局逐项制定整改措施并抓好落实，相关问题已整改到位。",  # narrative.py
    "2021年度报告中指出的问题均已整改。", "上年度存在的问题已全部整改完成。", "去年报告中提出的问题，今年已逐项落实整改。",
    "对照2021年度报告提出的问题，我局逐项整改。", "（一）上一年度问题整改情况。信息更新不及时的问题已解决。",
    "2021年存在的问题已得到改进。", "上年报告所列问题的改进情况：已建立栏目巡查机制。",
    "以往存在的信息更新不及时问题已得到解决。",
]


@pytest.mark.parametrize("text", RECTIFIED)
def test_rectification_in_any_wording_is_accepted(text):
    body = "（一）存在的主要问题：政策解读形式不够丰富。（二）改进情况：" + text + "下一步将加强政策解读。"
    assert fires("R-SEC5-02", make_report("a"), sec_problems=body).empty


@pytest.mark.parametrize("text", [
    "（一）存在问题\n1.公开内容需要进一步深化。\n（二）改进措施\n1.充实公开内容。",       # 红桥区司法局 2021
    "2022年，我区政府信息公开工作取得了一定成绩，但还存在一些问题和不足。2023年，我区将采取以下措施加以改进。",
    "针对存在问题，下一步，将切实抓好以下工作。",
])
def test_no_rectification_fires(text):
    f = fires("R-SEC5-02", make_report("a"), sec_problems=text)
    assert len(f) == 1 and "2021年" in f.iloc[0]["message"] and f.iloc[0]["section_id"] == "sec.problems"


# --- R-SEC5-01: problems and measures -------------------------------------------------------------------------------
@pytest.mark.parametrize("text,missing", [
    ("政策解读形式不够丰富，基层标准化建设推进不平衡，意见征集质量有待提升。", "改进措施"),
    ("下一步，我局将加强政策解读，丰富解读形式。", "存在的问题"),
])
def test_problems_and_measures_both_needed(text, missing):
    f = fires("R-SEC5-01", make_report("a"), sec_problems=text)
    assert len(f) == 1 and missing in f.iloc[0]["message"]


@pytest.mark.parametrize("text", [
    "存在问题：信息更新不及时。针对上述问题，我县将建立巡查机制。", "问题：解读形式单一。改进措施：丰富解读。",
    "仍存在差距。下一步，将切实抓好以下工作。", "存在的主要问题及整改措施：一是不足；二是整改。",
])
def test_problems_and_measures_present(text):
    assert fires("R-SEC5-01", make_report("a"), sec_problems=text).empty


# --- R-SEC1-01 / R-SEC1-02 -------------------------------------------------------------------------------------------
def test_overview_five_aspects():
    f = fires("R-SEC1-01", make_report("a"), sec_overview="（一）主动公开。全年公开信息100条。（二）监督保障。接受社会监督。")
    assert len(f) == 1
    for aspect in ("依申请公开", "政府信息管理", "政府信息公开平台建设"):
        assert aspect in f.iloc[0]["message"]
    assert "主动公开、" not in f.iloc[0]["message"]
    assert fires("R-SEC1-01", make_report("a")).empty      # the builder's overview covers the five aspects


def test_government_reports_assessment_evaluation_accountability():
    rep = make_report("a")
    rep[0].update(agency="某县人民政府", agency_kind="gov")
    f = fires("R-SEC1-02", rep, sec_overview="（一）主动公开。依申请公开。信息管理。门户网站平台建设。接受监督。")
    assert len(f) == 1 and "工作考核、社会评议、责任追究" in f.iloc[0]["message"]
    assert fires("R-SEC1-02", rep).empty                   # 绩效考核 + 社会评议 + 责任追究
    # a department's report need not state them
    assert fires("R-SEC1-02", make_report("a"), sec_overview="（一）主动公开。依申请公开。信息管理。门户网站。监督。").empty


def test_overview_length_only_with_a_local_limit(tmp_path, monkeypatch):
    long = "（一）主动公开。依申请公开。信息管理。门户网站。监督保障。" + "政务公开" * 400
    assert fires("R-SEC1-03", make_report("a"), sec_overview=long).empty
    from test_rules_local import local_book
    book = local_book(tmp_path, {"text_rules": {"R-SEC1-03": [{"kind": "length", "scope": ["sec.overview"],
                                                                "max_chars": 1000}]}})
    monkeypatch.setattr(validate.rulebook, "load", lambda: book)
    f = fires("R-SEC1-03", make_report("a"), sec_overview=long)
    assert len(f) == 1 and "1000" in f.iloc[0]["message"] and f.iloc[0]["severity"] == "info"
    assert fires("R-SEC1-03", make_report("a")).empty


# --- R-SEC6-02 / 03 / 04 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["无", "无。", "无其他需要报告的事项", "本年度无其他需要报告的事项。", "暂无。\n某区司法局\n2023年1月20日"])
def test_empty_section_six(text):
    assert len(fires("R-SEC6-02", make_report("a"), sec_other=text)) == 1


def test_section_six_with_content_is_not_empty():
    assert fires("R-SEC6-02", make_report("a")).empty
    assert fires("R-SEC6-02", make_report("a"), sec_other="2021年，无收取信息处理费情况。").empty


def test_legacy_items():
    f = fires("R-SEC6-03", make_report("a"), sec_other="政府信息公开的收费及减免情况：本年度未收取费用。落实工作要点。")
    assert len(f) == 1 and "收费及减免" in f.iloc[0]["message"] and f.iloc[0]["section_id"] == "sec.other"
    assert fires("R-SEC6-03", make_report("a")).empty


@pytest.mark.parametrize("text,fire", [("未收取信息处理费。", True), ("未收取信息处理费。落实年度政务公开工作要点。", False),
                                       ("未收取信息处理费。人大代表建议和政协提案办理结果已公开。", False)])
def test_work_plan_and_proposals(text, fire):
    assert (len(fires("R-SEC6-04", make_report("a"), sec_other=text)) == 1) == fire


# --- R-META-02 / 03 / 06 --------------------------------------------------------------------------------------------
def test_title_statutory_name():
    rep = make_report("a")
    assert fires("R-META-02", rep).empty
    rep[0]["title"] = "某区司法局2022年政府信息公开年度报告"
    f = fires("R-META-02", rep)
    assert len(f) == 1 and f.iloc[0]["severity"] == "info" and "工作" in f.iloc[0]["message"]
    rep[0]["title"] = "2022年某区司法局政府信息公开工作年度报告"      # year first: still the statutory name
    assert fires("R-META-02", rep).empty


@pytest.mark.parametrize("statement", [
    "本年度报告中所列数据的统计期限自2022年1月1日起至2022年12月31日止。",        # 红桥区司法局, 平潭
    "本报告中所列数据统计时限为2022年1月1日至2022年12月31日。",                    # 平潭 2022
    "本报告所列数据统计期限从2022年1月1日至2022年12月31日止。",                    # 沭阳县 2025
    "本年度报告中所列数据的统计周期为2022年1月1日至12月31日。",                    # 上海市科委 2024
    "报告所列统计期限自2022年1月1日至2022年12月31日。",                            # 淮安市 2024
])
def test_period_statement_phrasings(statement):
    assert fires("R-META-03", make_report("a"), sec_preamble="某区司法局2022年报告\n" + statement).empty


def test_period_statement_missing_or_wrong_year():
    f = fires("R-META-03", make_report("a"), sec_preamble="某区司法局2022年政府信息公开工作年度报告")
    assert len(f) == 1 and f.iloc[0]["severity"] == "warning" and "未找到统计期限" in f.iloc[0]["message"]
    f = fires("R-META-03", make_report("a"),
              sec_preamble="本年度报告中所列数据的统计期限自2021年1月1日起至2021年12月31日止。")
    assert len(f) == 1 and f.iloc[0]["severity"] == "error" and f.iloc[0]["actual"] == 2021
    assert f.iloc[0]["expected"] == 2022 and "2021年1月1日" in f.iloc[0]["message"]


@pytest.mark.parametrize("text,fire", [
    ("2021年，我局坚持以习近平新时代中国特色社会主义思想为指导。", True),
    ("2021年，在上级的指导下，我局严格落实《条例》。", True),
    ("（一）主动公开。2021年，本局公开信息100条。", True),
    ("2022年，我局坚持依法公开。", False),                      # the report year
    ("2023年，我局将继续加强政务公开。", False),                # plans
    ("与2021年相比，我局公开信息增长10%。", False),             # a comparison
    ("2021年以来，我局持续推进政务公开。", False),
])
def test_wrong_year_text(text, fire):
    f = fires("R-META-06", make_report("a"), sec_overview=text + "主动公开。依申请公开。信息管理。门户网站。监督。")
    assert (len(f) == 1) == fire
    if fire:
        assert "2021" in f.iloc[0]["message"] and f.iloc[0]["location"].startswith("一、总体情况：「")


# --- narrative vs tables: R-T3-11, R-T2-07, R-T4-03, R-T3-08, R-T3-13 ----------------------------------------------
def _t3_total(rep, row):
    c = rep[1]
    return int(c[(c["table"] == "t3") & (c["row_id"] == row) & (c["col_id"] == "col.total")]["value"].iloc[0])


def test_narrative_application_counts():
    rep = make_report("a")
    new, co = _t3_total(rep, "t3.new_received"), _t3_total(rep, "t3.carried_over")
    tp, cf = _t3_total(rep, "t3.total_processed"), _t3_total(rep, "t3.carried_forward")
    base = "主动公开。政府信息管理。门户网站。监督保障。"
    ok = [f"全年新收政府信息公开申请{new}件，上年结转{co}件；办结{tp}件，结转下年度继续办理{cf}件。",
          f"全年共收到政府信息公开申请{new + co}件（含上年结转{co}件）。",      # new + carried is tolerated
          f"本年度受理依申请公开{new}件。"]
    for text in ok:
        assert fires("R-T3-11", rep, sec_overview=base + text).empty, text
    f = fires("R-T3-11", rep, sec_overview=base + f"全年新收政府信息公开申请{new + co + 5}件。")
    assert len(f) == 1 and f.iloc[0]["row_id"] == "t3.new_received" and f.iloc[0]["actual"] == new + co + 5
    f = fires("R-T3-11", rep, sec_overview=base + f"办结{tp}件，结转下年度继续办理{cf + 3}件。")
    assert len(f) == 1 and f.iloc[0]["row_id"] == "t3.carried_forward"
    f = fires("R-T3-11", rep, sec_overview=base + "全年未收到政府信息公开申请。")
    assert len(f) == 1 and f.iloc[0]["actual"] == 0


def test_narrative_counts_not_compared_with_a_table_without_numbers():
    rep = make_report("a")
    c = rep[1]
    m = c["table"].eq("t3")
    c.loc[m, "value"], c.loc[m, "state"] = float("nan"), "BLANK"
    assert fires("R-T3-11", rep, sec_overview="全年新收政府信息公开申请99件。").empty


def test_narrative_normative_documents():
    rep = make_report("a")     # t2 行政规范性文件: 制发 2, 废止 1, 现行有效 12
    assert fires("R-T2-07", rep, sec_overview="本年制发行政规范性文件2件，现行有效行政规范性文件12件。").empty
    f = fires("R-T2-07", rep, sec_overview="本年制发行政规范性文件5件。")
    assert len(f) == 1 and f.iloc[0]["expected"] == 2 and f.iloc[0]["actual"] == 5
    f = fires("R-T2-07", rep, sec_overview="清理并集中发布现行有效行政规范性文件393件。")   # 平潭 2023
    assert len(f) == 1 and f.iloc[0]["col_id"] == "col.in_force_count"


def _t4_total(rep, group):
    c = rep[1]
    return int(c[(c["table"] == "t4") & (c["row_id"] == group) & (c["col_id"] == "col.total")]["value"].iloc[0])


def test_narrative_review_and_litigation():
    rep = make_report("a")
    review = _t4_total(rep, "t4.review")
    lit = _t4_total(rep, "t4.litigation_direct") + _t4_total(rep, "t4.litigation_after_review")
    assert review == 6 and lit > 0
    f = fires("R-T4-03", rep, sec_overview="全年未发生因政府信息公开引起的行政复议、行政诉讼案件。")
    assert sorted(f["row_id"]) == ["t4.litigation_direct", "t4.review"]
    assert fires("R-T4-03", rep, sec_overview=f"全年因政府信息公开工作被申请行政复议{review}件，被提起行政诉讼{lit}件。").empty
    assert fires("R-T4-03", rep, sec_overview=f"本年度涉及政府信息公开的行政复议{review}件，行政诉讼数为{lit}件。").empty
    # a 司法局's own review caseload is not about 政府信息公开
    assert fires("R-T4-03", rep, sec_overview="全年办理行政复议案件120件。").empty
    f = fires("R-T4-03", rep, sec_overview="全年因政府信息公开工作被申请行政复议9件。")
    assert len(f) == 1 and f.iloc[0]["expected"] == 6


def test_fee_rows_and_section_six():
    rep = make_report("a")
    assert _t3_total(rep, "t3.other.overdue_fee") > 0
    assert fires("R-T3-08", rep).empty                      # 未收取信息处理费: the fee is mentioned
    f = fires("R-T3-08", rep, sec_other="本年度我局未发出收费通知，未收取信息处理费。落实工作要点。")
    assert len(f) == 1 and "未发出收费通知" in f.iloc[0]["message"]
    f = fires("R-T3-08", rep, sec_other="落实工作要点。")
    assert len(f) == 1 and "未说明信息处理费" in f.iloc[0]["message"]


def test_all_applicants_natural_persons_but_enterprises_mentioned():
    rep = make_report("a")
    c = rep[1]
    for col in ("col.commercial_enterprise", "col.research_institution", "col.public_interest_org",
                "col.legal_service_org", "col.other_org"):
        setcell(c, "a", "t3", "t3.new_received", col, state="BLANK")
    f = fires("R-T3-13", rep, sec_overview="本年度有多家企业提出政府信息公开申请。")
    assert len(f) == 1 and f.iloc[0]["severity"] == "info"
    assert fires("R-T3-13", rep, sec_overview="其中自然人申请20件，法人或其他组织申请0件。").empty
    assert fires("R-T3-13", make_report("b"), sec_overview="本年度有多家企业提出政府信息公开申请。").empty


# --- R-TPL-07 / R-X-04 -------------------------------------------------------------------------------------------
def test_extra_rows_and_mirror_text():
    f = fires("R-TPL-07", make_report("a"), sec_proactive="第二十条第（一）项 信息内容 其他主动公开文件 12")
    assert len(f) == 1 and "其他主动公开文件" in f.iloc[0]["message"]
    assert fires("R-TPL-07", make_report("a")).empty
    f = fires("R-X-04", make_report("a"), sec_overview="推进政务公(gong)开(kai)工作。")
    assert len(f) == 1 and "gong" in f.iloc[0]["message"]
    f = fires("R-X-04", make_report("a"), sec_overview="本機關政府資訊公開工作報告，依申請公開辦理情況如下。")
    assert len(f) == 1
    rep = make_report("a")
    rep[0]["url"] = "http://www.some-mirror.com/a/b.html"
    assert len(fires("R-X-04", rep)) == 1
    rep[0]["url"] = "https://www.qinghe.gov.cn/a/b.html"
    assert fires("R-X-04", rep).empty


def test_text_rules_stay_silent_on_the_compliant_builder_reports():
    f = run(make_report("a"), make_report("b", seed=1), make_report("c", "gb2019", 2020, seed=2, markers=(0, 9)))
    text_rules = set(validate.rulebook.load().text_rules)
    assert not set(f["rule_id"]) & text_rules, f[f["rule_id"].isin(text_rules)][["rule_id", "message"]]


def test_frames_without_sections_are_handled():
    r, cells, _ = make_report("a")
    f, _, _ = validate.run(*batch((r, cells, pd.DataFrame(columns=["report_id", "section_id"]))))
    assert "R-STR-01" in set(f["rule_id"])
