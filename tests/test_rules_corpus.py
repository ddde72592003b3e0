"""The rule catalogue on the real corpus (../shared/corpus): the 红桥区司法局 2021 oracle of rules.md §6.8, the cross-year
stock continuity on 平潭 2022→2023, every expected finding found, and no rule firing where the text complies."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from conftest import SCORE, need_corpus


def _read(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def corpus(corpus_audit):
    reports = {r["source_file"]: r for r in _read(corpus_audit / "reports.csv")}
    findings = _read(corpus_audit / "findings.csv")
    return reports, findings


def _of(corpus, name):
    reports, findings = corpus
    rid = reports[name]["report_id"]
    return [f for f in findings if f["report_id"] == rid]


def test_every_expected_finding_of_the_corpus_and_no_unexpected_arithmetic_error(corpus_audit):
    need_corpus()
    if not SCORE.exists():
        pytest.skip(f"scorer not available at {SCORE}")
    proc = subprocess.run([sys.executable, str(SCORE), str(corpus_audit), "--min-expected", "1.0",
                           "--max-unexpected", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "expected findings 13/13 (100%); unexpected arithmetic errors 0" in proc.stdout, proc.stdout[-2000:]


def test_hongqiao_sfj_2021_yields_exactly_the_findings_of_rules_md_6_8(corpus):
    got = sorted((f["rule_id"], f["severity"], f["status"], f["table"], f["row_id"], f["section_id"])
                 for f in _of(corpus, "hongqiao-sfj-2021.txt"))
    assert got == sorted([
        ("R-TPL-01", "info", "FAIL", "", "", ""),                      # → gb2021 (R-TPL-02 passes)
        ("R-META-02", "info", "FAIL", "", "", ""),                     # title lacks 工作
        ("R-META-04", "warning", "UNCERTAIN", "", "", ""),             # no publication date; dept → 2022-01-31
        ("R-T2-02", "error", "FAIL", "t2", "t2.regulation", ""),       # a district bureau issuing a 规章
        ("R-T3-07", "info", "FAIL", "t2", "", ""),                     # partial blanks in t2
        ("R-T3-06", "warning", "FAIL", "t3", "", ""),                  # all 175 t3 cells blank
        ("R-T3-07", "info", "FAIL", "t4", "", ""),                     # t4 all blank (info)
        ("R-SEC1-01", "warning", "FAIL", "", "", "sec.overview"),      # no 依申请公开 / 平台建设 part
        ("R-SEC5-02", "warning", "FAIL", "", "", "sec.problems"),      # no review of last year's problems
        ("R-SEC6-01", "warning", "FAIL", "", "", "sec.other"),         # no 信息处理费 statement
    ])
    by_rule = {f["rule_id"]: f for f in _of(corpus, "hongqiao-sfj-2021.txt")}
    assert "2022-01-31" in by_rule["R-META-04"]["message"]
    assert "依申请公开" in by_rule["R-SEC1-01"]["message"] and "平台建设" in by_rule["R-SEC1-01"]["message"]
    assert "本年制发件数" in by_rule["R-T2-02"]["message"] and by_rule["R-T2-02"]["actual"] == "1"
    assert by_rule["R-T2-02"]["location"]


def test_pingtan_2023_stock_does_not_follow_from_2022(corpus):
    f = [x for x in _of(corpus, "pingtan-2023-page.html") if x["rule_id"] == "R-T2-04"]
    assert [(x["row_id"], x["col_id"], x["expected"], x["actual"], x["status"]) for x in f] == [
        ("t2.normative_doc", "col.in_force_count", "643", "470", "FAIL")]   # 698 + 77 − 132 = 643
    assert "pingtan-2022-page.html" in f[0]["message"]                      # the previous report is named
    # the text version of 2023 cannot be split: the same check is UNCERTAIN, never a silent pass or a FAIL
    g = [x for x in _of(corpus, "pingtan-2023.txt") if x["rule_id"] == "R-T2-04"]
    assert [x["status"] for x in g] == ["UNCERTAIN"]


def test_fee_statements_of_the_corpus_in_every_wording_are_accepted(corpus):
    # 收取政府信息公开信息处理费 0 元 / 无收取信息处理费情况 / 未发生政府信息公开收费事项 / 未发生收费情况 / 收取信息处理费共计380元
    for name in ("hongze-qu-2023.pdf", "pingtan-2022.txt", "sh-kewei-2024.md", "shuyang-fgj-2023.html",
                 "shuyang-xian-2025.txt", "huaian-shi-2024.pdf"):
        assert not [f for f in _of(corpus, name) if f["rule_id"] == "R-SEC6-01"], name


def test_cross_year_matching_of_the_corpus(corpus):
    # 洪泽区人民政府 (2023) and 淮安市洪泽区人民政府 (2024) are one agency: 2024 has a previous year, no R-T3-12
    assert not [f for f in _of(corpus, "hongze-qu-2024.pdf") if f["rule_id"] == "R-T3-12"]
    assert [f for f in _of(corpus, "huaian-shi-2024.pdf") if f["rule_id"] == "R-T3-12"]
    # the same report published twice (text and page) is not flagged as differing versions
    assert not [f for f in _of(corpus, "pingtan-2021.txt") if f["rule_id"] == "R-X-02"]


def test_real_narrative_mismatch_is_found(corpus):
    # prose: "现行有效行政规范性文件393件", table: 470 (corpus notes)
    f = [x for x in _of(corpus, "pingtan-2023-page.html") if x["rule_id"] == "R-T2-07"]
    assert f and f[0]["actual"] == "393" and f[0]["expected"] == "470" and "393件" in f[0]["location"]
