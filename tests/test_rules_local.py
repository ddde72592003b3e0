"""Rules as data: an office's local rule set (new rules and parameters, no Python), loading and checking rule files."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline import validate
from pipeline.validate import rulebook
from test_validate import batch, make_report

EXAMPLE = rulebook.RULES_DIR / "examples" / "local-wuwei.yaml"


def local_book(tmp_path: Path, extra: dict) -> rulebook.Rulebook:
    """The national rulebook plus one local rule set given as a dict."""
    p = tmp_path / "local.yaml"
    p.write_text(yaml.safe_dump(extra, allow_unicode=True), encoding="utf-8")
    return rulebook.load_from(None, None, None, local=[p])


def test_every_rule_of_rules_md_is_in_the_catalogue():
    book = rulebook.load()
    ids = [f"R-META-0{i}" for i in range(1, 7)] + [f"R-TPL-0{i}" for i in range(1, 9)] + \
        [f"R-STR-0{i}" for i in range(1, 7)] + [f"R-T2-0{i}" for i in range(1, 10)] + \
        [f"R-T3-{i:02d}" for i in range(1, 14)] + [f"R-T4-0{i}" for i in range(1, 7)] + \
        ["R-SEC1-01", "R-SEC1-02", "R-SEC1-03", "R-SEC5-01", "R-SEC5-02", "R-SEC5-03", "R-SEC6-01", "R-SEC6-02",
         "R-SEC6-03", "R-SEC6-04"] + [f"R-X-0{i}" for i in range(1, 9)] + [f"R-EXT-0{i}" for i in range(1, 5)]
    assert len(ids) == 70 and len(set(ids)) == 70
    assert set(ids) <= set(book.rules)
    for rid in ids:
        r = book.rule(rid)
        assert r.severity in ("error", "warning", "info") and r.title_zh and r.basis_zh and r.evaluator_tags
        assert r.message() and "{" in r.message() or rid in ("R-EXT-04",), rid


def test_the_example_local_rule_set(tmp_path, monkeypatch):
    book = rulebook.load_from(None, None, None, local=[EXAMPLE])
    monkeypatch.setattr(rulebook, "load", lambda: book)
    a = make_report("a", year=2024)                  # no 政策解读 count, no 创新, a short overview
    b = make_report("b", year=2024, seed=1)
    b[2].loc[b[2]["section_id"].eq("sec.overview"), "text"] += "全年发布政策解读稿件25篇。" + "政务公开" * 300
    b[2].loc[b[2]["section_id"].eq("sec.other"), "text"] += "创新推出“政策直通车”专栏。"
    f, _, _ = validate.run(*batch(a, b))
    got = sorted(zip(f["report_id"], f["rule_id"], f["severity"]))
    assert ("a", "R-LOCAL-WW-01", "warning") in got and ("a", "R-LOCAL-WW-02", "info") in got
    assert ("b", "R-SEC1-03", "info") in got                              # the local length limit
    assert not {r for rid, r, _ in got if rid == "b"} & {"R-LOCAL-WW-01", "R-LOCAL-WW-02"}
    msg = f[(f["report_id"] == "a") & (f["rule_id"] == "R-LOCAL-WW-01")].iloc[0]
    assert msg["message"] == "「一、总体情况」未说明政策解读的数量（本地要求）。" and msg["basis"].startswith("本地")


def test_local_township_deadline(tmp_path, monkeypatch):
    rep = make_report("a")
    rep[0].update(agency="某镇人民政府", agency_kind="township", level="township", published_at="2023-02-25")
    f, _, _ = validate.run(*batch(rep))
    assert f[f["rule_id"].eq("R-META-04")].empty                          # no statutory date: 02-25 is before 03-31
    book = rulebook.load_from(None, None, None, local=[EXAMPLE])
    monkeypatch.setattr(rulebook, "load", lambda: book)
    f, _, _ = validate.run(*batch(rep))
    m = f[f["rule_id"].eq("R-META-04")]
    assert len(m) == 1 and m.iloc[0]["severity"] == "error" and "2023-02-20" in m.iloc[0]["message"]


def test_local_rule_sets_from_the_environment(tmp_path, monkeypatch):
    d = tmp_path / "office"
    d.mkdir()
    (d / "a.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv(rulebook.LOCAL_ENV, str(d))
    paths = rulebook.local_sources(local_dir=tmp_path / "nothing-here")
    assert paths == [d / "a.yaml"]
    monkeypatch.setenv(rulebook.LOCAL_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        rulebook.local_sources(local_dir=tmp_path / "nothing-here")


@pytest.mark.parametrize("bad,error", [
    ({"text_rules": {"R-NOPE-01": [{"kind": "require_any", "patterns": ["x"]}]}}, "no catalogue entry"),
    ({"text_rules": {"R-SEC6-01": [{"kind": "guess", "patterns": ["x"]}]}}, "kind must be one of"),
    ({"text_rules": {"R-SEC6-01": [{"kind": "require_any", "patterns": ["(unclosed"]}]}}, "bad regex"),
    ({"text_rules": {"R-T3-11": [{"kind": "narrative_number", "items": [{"patterns": ["(\\d+)件"], "values": []}]}]}},
     "(?P<n>"),
    ({"rules": {"R-LOCAL-01": {"severity": "fatal", "title_zh": "x", "basis_zh": "x", "message_zh": "x"}}}, "severity"),
    ({"rules": {"R-LOCAL-01": {"severity": "info", "title_zh": "x", "basis_zh": "x"}}}, "message_zh is required"),
    ({"comparisons": [{"id": "x", "rule": "R-T2-03", "table": "t2", "for_each": "row", "op": "gt",
                       "lhs": ["col.a"], "rhs": ["col.b"]}]}, "op must be"),
])
def test_invalid_rule_files_are_refused_with_a_reason(tmp_path, bad, error):
    with pytest.raises(ValueError, match=None) as e:
        local_book(tmp_path, bad)
    assert error in str(e.value)


def test_a_comparison_added_as_data(tmp_path, monkeypatch):
    """An office's own inequality: 行政处罚 decisions >= 行政强制 decisions (nonsense, but data only)."""
    book = local_book(tmp_path, {
        "rules": {"R-LOCAL-02": {"severity": "info", "title_zh": "测试", "basis_zh": "测试", "evaluator_tags": ["t"],
                                 "message_zh": "{table_zh}：{lhs_desc} {actual} {op_zh}{rhs_desc} {expected}。"}},
        "comparisons": [{"id": "L-1", "rule": "R-LOCAL-02", "table": "t2", "for_each": "col",
                         "over": ["col.decision_count"], "op": "le", "lhs": ["t2.admin_penalty"],
                         "rhs": ["t2.admin_coercion"]}]})
    monkeypatch.setattr(rulebook, "load", lambda: book)
    f, _, _ = validate.run(*batch(make_report("a")))
    x = f[f["rule_id"].eq("R-LOCAL-02")]
    assert len(x) == 1 and x.iloc[0]["actual"] == 8 and x.iloc[0]["expected"] == 1
    assert "「行政处罚」 8 应不大于「行政强制」 1" in x.iloc[0]["message"]
