"""The real corpus (../shared/corpus): every document read exactly, every arithmetic finding found, none invented."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from conftest import SCORE, need_corpus

TEXT_AND_HTML = "*.txt,*.md,*.html"


def _read(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _score(out, *extra):
    need_corpus()
    if not SCORE.exists():
        pytest.skip(f"scorer not available at {SCORE}")
    return subprocess.run([sys.executable, str(SCORE), str(out), "-v", *extra], capture_output=True, text=True, timeout=120)


def test_every_truth_cell_is_right(corpus_audit):
    proc = _score(corpus_audit, "--min-cells", "1.0")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "cells 2924/2924 (100.0%)" in proc.stdout, proc.stdout[-2000:]
    assert "documents missing or failed 0" in proc.stdout


def test_every_truth_cell_of_text_and_html_documents_is_right(corpus_audit):
    proc = _score(corpus_audit, "--only", TEXT_AND_HTML, "--min-cells", "1.0")
    assert proc.returncode == 0 and "cells 2352/2352 (100.0%)" in proc.stdout, proc.stdout[-4000:]


def test_every_arithmetic_finding_and_no_unexpected_one(corpus_audit):
    proc = _score(corpus_audit, "--rules", "R-T3-0,R-T4-02,R-TPL-0", "--min-expected", "1.0", "--max-unexpected", "0")
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_specific_real_errors_are_reported_with_numbers(corpus_audit):
    reports = {r["source_file"]: r for r in _read(corpus_audit / "reports.csv")}
    findings = _read(corpus_audit / "findings.csv")
    rid = reports["pingtan-2020.txt"]["report_id"]
    t303 = {(f["col_id"], f["expected"], f["actual"]) for f in findings if f["report_id"] == rid and f["rule_id"] == "R-T3-03"}
    # published （七）总计 20 / 21 while the result rows add up to 26 / 27 (corpus README)
    assert ("col.natural_person", "26", "20") in t303
    assert ("col.total", "27", "21") in t303
    rid = reports["hongqiao-sfj-2021.txt"]["report_id"]
    assert any(f["rule_id"] == "R-T3-06" and f["report_id"] == rid for f in findings)


def test_concatenated_digits_that_cannot_be_split_uniquely_are_unparsable_and_reported(corpus_audit):
    reports = {r["source_file"]: r for r in _read(corpus_audit / "reports.csv")}
    rid = reports["pingtan-2021.txt"]["report_id"]
    cells = [c for c in _read(corpus_audit / "cells.csv") if c["report_id"] == rid and c["row_id"] == "t2.normative_doc"]
    assert {c["state"] for c in cells} == {"UNPARSABLE"}
    assert all("split_ambiguous" in c["note"] and c["raw"] == "693665" for c in cells)
    findings = _read(corpus_audit / "findings.csv")
    assert {f["col_id"] for f in findings if f["report_id"] == rid and f["rule_id"] == "R-EXT-01"} >= {
        "col.issued_count", "col.repealed_count", "col.in_force_count"}


def test_templates_years_and_statuses(corpus_audit):
    reports = {r["source_file"]: r for r in _read(corpus_audit / "reports.csv")}
    assert reports["pingtan-2018.txt"]["template"] == "legacy2008"
    assert reports["pingtan-2019.txt"]["template"] == "gb2019"
    assert reports["pingtan-2020.txt"]["template"] == "gb2019"
    for name in ("pingtan-2021.txt", "pingtan-2022-page.html", "sh-kewei-2024.md", "shuyang-fgj-2023.html",
                 "hongqiao-sfj-2021.txt", "shuyang-xian-2025.txt"):
        assert reports[name]["template"] == "gb2021", name
        assert reports[name]["status"] == "ok", (name, reports[name]["error"])
    assert reports["pingtan-2022-page.html"]["year"] == "2022"
    assert reports["pingtan-2022-page.html"]["published_at"] == "2023-02-20"
    assert reports["shuyang-fgj-2023.html"]["published_at"] == "2024-01-17"  # not the crawler's 采集时间
    assert reports["hongqiao-sfj-2021.txt"]["agency"] == "红桥区司法局"
    for name in ("hongze-qu-2023.pdf", "hongze-qu-2024.pdf", "huaian-shi-2024.pdf"):
        assert reports[name]["status"] == "ok" and reports[name]["template"] == "gb2021", name
    assert reports["huaian-shi-2024.pdf"]["agency"] == "淮安市人民政府"


def test_pdf_cells_carry_their_page(corpus_audit):
    reports = {r["source_file"]: r for r in _read(corpus_audit / "reports.csv")}
    rid = reports["huaian-shi-2024.pdf"]["report_id"]
    pages = {(c["row_id"], c["col_id"]): c["page"] for c in _read(corpus_audit / "cells.csv") if c["report_id"] == rid}
    assert pages[("t3.new_received", "col.total")] == "4"
    assert pages[("t3.carried_forward", "col.total")] == "5"   # table 三 continues on the next page


def test_single_row_other_in_gb2021_layout(corpus_audit):
    reports = {r["source_file"]: r for r in _read(corpus_audit / "reports.csv")}
    rid = reports["hongze-qu-2024.pdf"]["report_id"]
    st = {(c["row_id"], c["col_id"]): c["state"] for c in _read(corpus_audit / "cells.csv") if c["report_id"] == rid}
    assert st[("t3.other", "col.total")] == "NUMBER"
    assert {st[(f"t3.other.{r}", "col.total")] for r in ("overdue_correction", "overdue_fee", "other")} == {"MISSING"}


def test_every_template_cell_is_emitted(corpus_audit):
    cells = _read(corpus_audit / "cells.csv")
    reports = {r["report_id"]: r for r in _read(corpus_audit / "reports.csv")}
    per_report = {}
    for c in cells:
        per_report[c["report_id"]] = per_report.get(c["report_id"], 0) + 1
    for rid, r in reports.items():
        if r["template"] == "gb2021":
            # 200 template cells; +7 when （六）其他处理 is printed as one row (t3.other beside its MISSING sub-rows)
            assert per_report[rid] in (200, 207), r["source_file"]
        elif r["template"] == "gb2019":
            assert per_report[rid] == 198, r["source_file"]
