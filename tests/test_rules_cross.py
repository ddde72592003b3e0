"""Cross-year and cross-report rules: agency matching (names, prefixes, roster aliases), X-1/X-2/X-3/X-4, copying
between agencies (MinHash/LSH), same text as last year, versions, coverage, roll-up, jumps, identical tables, peers."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from pipeline import frames, validate
from pipeline.validate import context
from pipeline.validate.similarity import ShingleIndex, shingles
from rules_helpers import of, run
from test_validate import batch, getval, make_report, setcell


def named(rep, agency, year=None):
    rep[0]["agency"] = agency
    if year is not None:
        rep[0]["year"] = year
    return rep


def pair(prev_kw=None, cur_kw=None, agency="某区司法局"):
    """Last year's and this year's report of one agency, consistent across years (X-1, X-2 hold)."""
    prev = named(make_report("p", year=2021, seed=1, **(prev_kw or {})), agency)
    cur = named(make_report("c", year=2022, seed=2, **(cur_kw or {})), agency)
    for col in [c for c in cur[1]["col_id"].unique() if c.startswith("col.")]:
        m = cur[1]["table"].eq("t3") & cur[1]["row_id"].eq("t3.carried_over") & cur[1]["col_id"].eq(col)
        if not m.any():
            continue
        want = getval(prev[1], "p", "t3", "t3.carried_forward", col)
        delta = want - getval(cur[1], "c", "t3", "t3.carried_over", col)
        for row in ("t3.carried_over", "t3.total_processed", "t3.granted"):
            setcell(cur[1], "c", "t3", row, col, getval(cur[1], "c", "t3", row, col) + delta)
    if "col.in_force_count" in set(cur[1]["col_id"]):
        setcell(cur[1], "c", "t2", "t2.normative_doc", "col.in_force_count", 12 + 2 - 1)
    return prev, cur


# --- agency matching ------------------------------------------------------------------------------------------------
def test_agency_keys():
    names = pd.Series(["淮安市洪泽区人民政府", "洪泽区人民政府", "淮安市人民政府", "福州市鼓楼区人民政府", "南京市鼓楼区人民政府",
                       "鼓楼区人民政府", "上海市科学技术委员会", "北京市市场监督管理局", "红桥区司法局", "天津市红桥区司法局"])
    k = context.agency_keys(names, context.roster_frame(None)).tolist()
    assert k[0] == k[1] == "淮安市洪泽区人民政府"                 # one prefix in the batch: the same agency
    assert k[2] == "淮安市人民政府"
    assert len({k[3], k[4], k[5]}) == 3                             # 鼓楼区 of two cities: ambiguous, kept apart
    assert k[6] == "上海市科学技术委员会" and k[7] == "北京市市场监督管理局"
    assert k[8] == k[9]
    roster = pd.DataFrame({"agency": ["平潭综合实验区管委会"], "aliases": ["平潭综合实验区;平潭县人民政府"]})
    k = context.agency_keys(pd.Series(["平潭综合实验区", "平潭县人民政府", "平潭综合实验区管委会"]),
                            context.roster_frame(roster)).tolist()
    assert len(set(k)) == 1


# --- X-1 (R-T3-05) --------------------------------------------------------------------------------------------------
def test_carry_over_continuity():
    prev, cur = pair()
    assert of(run(prev, cur), "R-T3-05").empty
    setcell(cur[1], "c", "t3", "t3.carried_over", "col.natural_person",
            getval(cur[1], "c", "t3", "t3.carried_over", "col.natural_person") + 2)
    f = of(run(prev, cur), "R-T3-05")
    assert f[["report_id", "row_id", "col_id", "severity", "delta"]].values.tolist() == [
        ["c", "t3.carried_over", "col.natural_person", "warning", 2.0]]
    assert "p.html" in f.iloc[0]["message"] and "上年报告" in f.iloc[0]["message"]
    setcell(cur[1], "c", "t3", "t3.carried_over", "col.total", getval(cur[1], "c", "t3", "t3.carried_over", "col.total") + 2)
    f = of(run(prev, cur), "R-T3-05")
    assert sorted(zip(f["col_id"], f["severity"])) == [("col.natural_person", "warning"), ("col.total", "error")]


def test_carry_over_matched_through_a_roster_alias_and_not_against_a_blank_table():
    prev, cur = pair()
    named(prev, "某区司法行政局")
    setcell(cur[1], "c", "t3", "t3.carried_over", "col.total", 99)
    assert of(run(prev, cur), "R-T3-05").empty                     # different names: no previous year known
    roster = pd.DataFrame({"agency": ["某区司法局"], "aliases": ["某区司法行政局"]})
    assert len(of(run(prev, cur, agencies=roster), "R-T3-05")) == 1
    m = prev[1]["table"].eq("t3")
    prev[1].loc[m, "state"], prev[1].loc[m, "value"] = "BLANK", np.nan
    assert of(run(prev, cur, agencies=roster), "R-T3-05").empty    # a blank previous table is "no data"


# --- X-2 / X-3 / X-4 ------------------------------------------------------------------------------------------------
def test_stock_continuity_and_repeals():
    prev, cur = pair()
    f = run(prev, cur)
    assert of(f, "R-T2-04").empty and of(f, "R-T2-05").empty
    setcell(cur[1], "c", "t2", "t2.normative_doc", "col.in_force_count", 20)
    f = of(run(prev, cur), "R-T2-04")
    assert f[["row_id", "col_id", "expected", "actual"]].values.tolist() == [
        ["t2.normative_doc", "col.in_force_count", 13.0, 20.0]]
    assert "上年「现行有效件数」＋本年「本年制发件数」－本年「本年废止件数」 = 13" in f.iloc[0]["message"]
    setcell(cur[1], "c", "t2", "t2.normative_doc", "col.repealed_count", 30)
    f = of(run(prev, cur), "R-T2-05")
    assert f[["row_id", "expected", "actual"]].values.tolist() == [["t2.normative_doc", 14.0, 30.0]]


def test_gb2019_item_count_continuity_and_no_x2_across_templates():
    prev = named(make_report("p", "gb2019", 2019, seed=1, markers=(0, 9)), "某区司法局")
    cur = named(make_report("c", "gb2019", 2020, seed=2, markers=(0, 9)), "某区司法局")
    f = of(run(prev, cur), "R-T2-08")
    # the builder's 上一年项目数量 is the same both years and 本年增/减 is 0: continuous
    assert f.empty
    setcell(cur[1], "c", "t2", "t2.admin_license", "col.prev_year_item_count", 25)
    f = of(run(prev, cur), "R-T2-08")
    assert f[["row_id", "expected", "actual"]].values.tolist() == [["t2.admin_license", 20.0, 25.0]]
    # 2020 (gb2019) -> 2021 (gb2021): 对外公开总数量 and 现行有效件数 are different things, no X-2
    cur21 = named(make_report("d", year=2021, seed=3), "某区司法局")
    assert of(run(cur, cur21), "R-T2-04").empty


# --- copying between agencies / with last year ------------------------------------------------------------------
def test_minhash_index_finds_near_duplicates_only():
    rng = np.random.default_rng(1)
    pool = "山水木火土石田禾竹米云风雨雪花草鸟鱼虫马牛羊江河湖海松柏桃李杏梅兰菊荷柳桑麻豆麦粟稻茶"
    texts = ["".join(rng.choice(list(pool), 1200)) for _ in range(300)]
    texts.append(texts[7][:1150] + "改动了结尾的几个字而已")                     # ≈ 0.9 similar to 7
    index = ShingleIndex.build(texts, k=5)
    pairs = {tuple(p) for p in index.candidate_pairs(64, 16, 1)}
    assert (7, 300) in pairs
    assert len(pairs) < 50                                                        # not 45,000
    assert index.jaccard(7, 300) > 0.85
    assert len(shingles("abc", 5)) == 0


def test_copying_between_agencies():
    a = make_report("a")
    b = make_report("b", seed=1)
    assert of(run(a, b), "R-X-01").empty
    # b copies a's narrative, changing the agency name and the numbers
    s = a[2].copy()
    s["report_id"] = "b"
    s["text"] = s["text"].str.replace("某区司法局a", "某区司法局b").str.replace("2022", "2022").str.replace("1", "7")
    b = (b[0], b[1], s)
    f = of(run(a, b), "R-X-01")
    assert sorted(f["report_id"]) == ["a", "b"] and f["severity"].eq("warning").all()
    assert "b.html" in f[f["report_id"].eq("a")].iloc[0]["message"] and f.iloc[0]["actual"] >= 0.9


def test_mass_copying_is_cheap_and_reported_once_per_report():
    reps = []
    text = make_report("x")[2]["text"].to_numpy()
    for k in range(300):
        r = make_report(f"r{k}", seed=k % 3)
        r[2]["text"] = text                                          # everybody publishes the same text
        reps.append(r)
    t = time.perf_counter()
    f = of(run(*reps), "R-X-01")
    assert time.perf_counter() - t < 60
    assert f["report_id"].nunique() == 300 and len(f) == 300
    assert "等 299 份" in f.iloc[0]["message"]


def test_problems_section_copied_from_last_year():
    prev, cur = pair()
    assert of(run(prev, cur), "R-SEC5-03").empty
    text = prev[2].loc[prev[2]["section_id"].eq("sec.problems"), "text"].iloc[0]
    cur[2].loc[cur[2]["section_id"].eq("sec.problems"), "text"] = text.replace("2021", "2022")
    f = of(run(prev, cur), "R-SEC5-03")
    assert f[["report_id", "section_id"]].values.tolist() == [["c", "sec.problems"]]
    assert "p.html" in f.iloc[0]["message"]


def test_versions_of_one_agency_year():
    a = make_report("a")
    b = make_report("b")
    named(b, "某区司法局a")
    b[0]["sha256"] = "1" * 64
    b[2]["text"] = a[2]["text"].to_numpy()
    assert of(run(a, b), "R-X-02").empty                           # the same content in two files
    setcell(b[1], "b", "t3", "t3.granted", "col.natural_person", 99)
    f = of(run(a, b), "R-X-02")
    assert sorted(f["report_id"]) == ["a", "b"] and "1 个统计表单元格的数值不同" in f.iloc[0]["message"]


# --- roster: coverage and roll-up ----------------------------------------------------------------------------------
def test_coverage_against_the_roster():
    roster = pd.DataFrame({"agency": ["某区司法局a", "某区教育局", "某区财政局"], "aliases": ["", "区教育局", ""]})
    a = make_report("a")
    edu = named(make_report("e", seed=1), "区教育局")
    f, _, rep = validate.run(*batch(a, edu), agencies=roster)
    x = of(f, "R-X-03")
    assert x[["report_id", "agency", "year", "severity"]].values.tolist() == [["", "某区财政局", 2022, "info"]]
    assert "某区财政局" in x.iloc[0]["message"] and "2022" in x.iloc[0]["message"]
    assert list(f.columns) == frames.FINDINGS_COLUMNS and rep["n_infos"].sum() == len(f[f["report_id"].ne("") &
                                                                                        f["severity"].eq("info")])
    assert of(run(a), "R-X-03").empty                              # no roster, no coverage rule


def _t3_total(rep, row):
    return getval(rep[1], rep[0]["report_id"], "t3", row, "col.total")


def test_roll_up_of_a_consolidated_report():
    kids = [named(make_report(f"k{i}", seed=i), f"某区{n}") for i, n in enumerate(["教育局", "财政局"])]
    gov = named(make_report("g", seed=5), "某区人民政府")
    rows = ["t3.new_received", "t3.carried_over", "t3.total_processed", "t3.carried_forward"]
    for row in rows:
        setcell(gov[1], "g", "t3", row, "col.total", sum(_t3_total(k, row) for k in kids))
    for grp in ("t4.review", "t4.litigation_direct", "t4.litigation_after_review"):
        setcell(gov[1], "g", "t4", grp, "col.total", sum(getval(k[1], k[0]["report_id"], "t4", grp, "col.total")
                                                          for k in kids))
    roster = pd.DataFrame({"agency": ["某区人民政府", "某区教育局", "某区财政局"],
                           "rolls_up_into": ["", "某区人民政府", "某区人民政府"]})
    f = of(run(gov, *kids, agencies=roster), "R-X-05")
    assert f[f["severity"].ne("info")].empty
    setcell(gov[1], "g", "t3", "t3.new_received", "col.total", _t3_total(gov, "t3.new_received") + 10)
    f = of(run(gov, *kids, agencies=roster), "R-X-05")
    assert f[["report_id", "row_id", "col_id", "delta", "severity"]].values.tolist() == [
        ["g", "t3.new_received", "col.total", 10.0, "warning"]]
    f = of(run(gov, kids[0], agencies=roster), "R-X-05")               # a child is missing: not comparable
    assert f[["report_id", "severity"]].values.tolist() == [["g", "info"]] and "某区财政局" in f.iloc[0]["message"]


# --- jumps, identical tables, peers -------------------------------------------------------------------------------
def test_year_over_year_jump():
    prev, cur = pair()
    assert of(run(prev, cur), "R-X-06").empty
    for col in ("col.natural_person", "col.total"):
        for row in ("t3.new_received", "t3.granted", "t3.total_processed"):
            setcell(cur[1], "c", "t3", row, col, getval(cur[1], "c", "t3", row, col) + 2000)
    f = of(run(prev, cur), "R-X-06")
    assert f[["report_id", "row_id", "severity"]].values.tolist() == [["c", "t3.new_received", "info"]]
    assert "倍" in f.iloc[0]["message"]


def test_identical_t3_of_two_agencies():
    a, b = make_report("a"), make_report("b")                     # the builder's seed 0 t3 in both
    f = of(run(a, b), "R-X-07")
    assert sorted(f["report_id"]) == ["a", "b"] and "a.html" in f[f["report_id"].eq("b")].iloc[0]["message"]
    assert of(run(a, make_report("c", seed=1)), "R-X-07").empty
    versions = named(make_report("d"), "某区司法局a")               # the same agency's versions: R-X-02's business
    assert of(run(a, versions), "R-X-07").empty


def test_peer_outliers():
    reps = [make_report(f"r{k}", seed=k) for k in range(7)]
    for r in reps:      # every peer receives > 100 applications ...
        rid = r[0]["report_id"]
        for col in ("col.natural_person", "col.total"):
            for row in ("t3.new_received", "t3.granted", "t3.total_processed"):
                setcell(r[1], rid, "t3", row, col, getval(r[1], rid, "t3", row, col) + 150)
    assert of(run(*reps), "R-X-08").empty
    z = reps[0][1]       # ... but one reports none (a table of zeros)
    m = z["table"].eq("t3")
    z.loc[m, "value"] = 0.0
    f = of(run(*reps), "R-X-08")
    assert f[["report_id", "row_id"]].values.tolist() == [["r0", "t3.new_received"]] and "6 家" in f.iloc[0]["message"]


def test_coverage_findings_are_written_with_the_outputs(tmp_path):
    from pipeline.report import write_outputs
    roster = pd.DataFrame({"agency": ["某区司法局a", "某区财政局"]})
    reports, cells, sections = batch(make_report("a"))
    f, ind, rep = validate.run(reports, cells, sections, agencies=roster)
    write_outputs(tmp_path / "out", {"reports": rep, "cells": cells, "sections": sections, "findings": f,
                                     "indicators": ind})
    out = pd.read_csv(tmp_path / "out" / "findings.csv", keep_default_na=False, encoding="utf-8-sig")
    x = out[out["rule_id"].eq("R-X-03")]
    assert x[["report_id", "agency", "year"]].values.tolist() == [["", "某区财政局", 2022]]


def test_peer_rate_outlier():
    reps = [make_report(f"r{k}", seed=k % 2) for k in range(8)]
    for r in reps:
        rid = r[0]["report_id"]
        for col in ("col.natural_person", "col.total"):
            for row in ("t3.new_received", "t3.granted", "t3.total_processed"):
                setcell(r[1], rid, "t3", row, col, getval(r[1], rid, "t3", row, col) + 100)
    # one agency answers almost everything with 不掌握 instead of 予以公开
    z = reps[3]
    for col in ("col.natural_person", "col.total"):
        g = getval(z[1], "r3", "t3", "t3.granted", col) + getval(z[1], "r3", "t3", "t3.partially_granted", col)
        setcell(z[1], "r3", "t3", "t3.granted", col, 0)
        setcell(z[1], "r3", "t3", "t3.partially_granted", col, 0)
        setcell(z[1], "r3", "t3", "t3.unable.not_held", col, getval(z[1], "r3", "t3", "t3.unable.not_held", col) + g)
    f = of(run(*reps), "R-X-08")
    assert f["report_id"].tolist() == ["r3"] and "实质公开率" in f.iloc[0]["message"]


def test_minhash_recall_near_the_threshold():
    """R-X-01's index with the settings of rules/checks.yaml finds (nearly) every pair whose exact Jaccard is just
    above the 0.9 threshold, and reports none below it: about 120 planted pairs at Jaccard 0.90–0.97 among 600 texts."""
    import yaml
    from pathlib import Path

    from pipeline.validate.similarity import jaccard_sets

    checks = yaml.safe_load((Path(__file__).resolve().parents[1] / "rules" / "checks.yaml").read_text("utf-8"))
    sp, thr = checks["checks"]["similarity"], float(checks["checks"]["R-X-01"]["threshold"])
    rng = np.random.default_rng(7)
    pool = list("山水木火土石田禾竹米云风雨雪花草鸟鱼虫马牛羊江河湖海松柏桃李杏梅兰菊荷柳桑麻豆麦粟稻茶"
                "政府信息公开工作年度报告依申请主动行政复议诉讼")
    texts = ["".join(rng.choice(pool, 1500)) for _ in range(600)]
    planted = {}
    for i in range(120):
        base = texts[i]
        target = rng.uniform(thr + 0.005, 0.97)
        for n_edits in range(1, 80):     # edit single characters until the exact Jaccard drops below the target
            chars = list(base)
            for p in rng.choice(len(chars), n_edits, replace=False):
                chars[p] = rng.choice(pool)
            j = jaccard_sets(shingles(base, 5), shingles("".join(chars), 5))
            if j < target:
                break
        if j >= thr:
            texts[300 + i] = "".join(chars)
            planted[(i, 300 + i)] = j
    assert len(planted) >= 100
    index = ShingleIndex.build(texts, k=int(sp["shingle"]))
    found = {(a, b): s for a, b, s in index.similar_pairs(thr, int(sp["permutations"]), int(sp["bands"]),
                                                           int(sp["seed"]), float(sp["estimate_slack"]),
                                                           int(sp["sample"]))}
    recall = sum(p in found for p in planted) / len(planted)
    assert recall >= 0.98, f"recall {recall:.3f} at Jaccard {min(planted.values()):.3f}–{max(planted.values()):.3f}"
    assert all(s >= thr for s in found.values())
    assert set(found) <= set(planted)
