"""Tests of the synthetic report generator (pipeline/synth): consistent numbers, defects and their oracle findings,
deterministic rendering in every format, the truth JSON, and the embedded sample inbox."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import lxml.html
import pytest

from pipeline import templates
from pipeline.synth import Agency, DEFECT_KINDS, FORMATS, check_identities, make_report, render, write_sample_inbox
from pipeline.synth.defects import FINDING_KINDS, expected_findings, sort_findings, structural_findings
from pipeline.synth.fmt_text import count_plain_splits, count_sum_splits
from pipeline.synth.sample import AGENCIES

CORPUS_TRUTH = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "truth"

CITY_GOV = Agency("青禾市人民政府", "gov", "city", "qinghe-shi", "www.qinghe.gov.cn", "青禾市人民政府")
COUNTY_DEPT = Agency("云岚区司法局", "dept", "county", "yunlan-sfj", "www.yunlan.gov.cn", "云岚区人民政府",
                     profile=(("apps", 8),))
MID_DEPT = Agency("青禾市教育局", "dept", "city", "qinghe-jyj", "jyj.qinghe.gov.cn", "青禾市教育局",
                  profile=(("apps", 30),))


def _f(rule, table=None, row=None, col=None, **extra):
    d = {"rule": rule}
    if table:
        d["table"] = table
    if row:
        d["row"] = row
    if col:
        d["col"] = col
    d.update(extra)
    return d


# --- numbers ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("agency", [CITY_GOV, COUNTY_DEPT, MID_DEPT, "白鹭县澄溪镇人民政府", "白鹭县人民政府"])
@pytest.mark.parametrize("template_id,year", [("gb2021", 2022), ("gb2019", 2020)])
def test_clean_numbers_satisfy_every_identity(agency, template_id, year):
    for seed in range(6):
        rep = make_report(agency, year, template_id, seed)
        assert check_identities(template_id, rep.t3, rep.t4) == []
        assert rep.expected_findings == []
        tpl = templates.get(template_id)
        for table, _block, row, col in tpl.cell_keys():
            v = rep.table(table)[row][col]
            assert v is not None
            if col == "col.item_change":
                assert isinstance(v, int)
            elif col in ("col.fee_amount_wan", "col.procurement_total_amount"):
                assert v >= 0
            else:
                assert isinstance(v, int) and v >= 0, (table, row, col, v)
        if template_id == "gb2019":
            assert "t3.other" in rep.t3 and "t3.other.overdue_fee" not in rep.t3
        else:
            assert "t3.other" not in rep.t3 and "t3.other.overdue_fee" in rep.t3


def test_multi_year_carry_over_and_stock_continuity():
    prev = make_report(CITY_GOV, 2022, "gb2021", 11)
    for year, seed in ((2023, 12), (2024, 13)):
        rep = make_report(CITY_GOV, year, "gb2021", seed, prev=prev)
        for c in rep.t3["t3.carried_over"]:
            assert rep.t3["t3.carried_over"][c] == prev.t3["t3.carried_forward"][c]
        for r in ("t2.regulation", "t2.normative_doc"):
            now, before = rep.t2[r], prev.t2[r]
            assert now["col.in_force_count"] == before["col.in_force_count"] + now["col.issued_count"] - now["col.repealed_count"]
            assert now["col.in_force_count"] >= now["col.issued_count"]
        assert rep.expected_findings == []
        assert set(rep.story["problems"]).isdisjoint(prev.story["problems"])
        assert rep.story["prev_problems"] == prev.story["problems"]
        prev = rep


def test_gb2019_item_count_continuity():
    prev = make_report(COUNTY_DEPT, 2019, "gb2019", 3)
    rep = make_report(COUNTY_DEPT, 2020, "gb2019", 4, prev=prev)
    for row, cells in rep.t2.items():
        if "col.prev_year_item_count" in cells:
            assert cells["col.prev_year_item_count"] == (prev.t2[row]["col.prev_year_item_count"]
                                                         + prev.t2[row]["col.item_change"])


def test_deterministic_numbers():
    a = make_report(CITY_GOV, 2023, "gb2021", 42, defects=["t3_row_total", "blank_cells"])
    b = make_report(CITY_GOV, 2023, "gb2021", 42, defects=["t3_row_total", "blank_cells"])
    assert (a.t2, a.t3, a.t4, a.defects, a.expected_findings) == (b.t2, b.t3, b.t4, b.defects, b.expected_findings)
    c = make_report(CITY_GOV, 2023, "gb2021", 43)
    assert c.t3 != a.t3


# --- the oracle ---------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not CORPUS_TRUTH.is_dir(), reason="shared corpus not available")
@pytest.mark.parametrize("name", ["pingtan-2020.json", "hongze-qu-2023.json", "pingtan-2021.json", "huaian-shi-2024.json"])
def test_oracle_agrees_with_corpus_truth(name):
    truth = json.loads((CORPUS_TRUTH / name).read_text(encoding="utf-8"))
    got = check_identities(truth["template"], truth["t3"], truth["t4"])
    want = [e for e in truth["expected_findings"] if e["rule"] in ("R-T3-02", "R-T3-03", "R-T3-04", "R-T4-02")]
    assert sort_findings(got, truth["template"]) == sort_findings(want, truth["template"])


# --- defects ------------------------------------------------------------------------------------------------------

def _oracle(rep, prev=None):
    """Recompute what the published numbers imply, independently of what make_report stored."""
    return sort_findings(structural_findings(rep) + check_identities(rep.template_id, rep.t3, rep.t4),
                         rep.template_id)


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_each_defect_kind_yields_the_oracle_findings(kind):
    for seed in range(5):
        agency = MID_DEPT if seed % 2 else CITY_GOV
        rep = make_report(agency, 2023, "gb2021", seed, defects=[kind])
        assert rep.expected_findings == _oracle(rep)
        assert [d["kind"] for d in rep.defects] == [kind]
        if kind in FINDING_KINDS:
            assert rep.expected_findings, (kind, seed)
        else:
            assert rep.expected_findings == []


@pytest.mark.parametrize("row,want", [
    ("t3.granted", [_f("R-T3-03", "t3", col="col.total"), _f("R-T3-04", "t3", row="t3.granted")]),
    ("t3.new_received", [_f("R-T3-02", "t3", col="col.total"), _f("R-T3-04", "t3", row="t3.new_received")]),
    ("t3.carried_over", [_f("R-T3-02", "t3", col="col.total"), _f("R-T3-04", "t3", row="t3.carried_over")]),
    ("t3.total_processed", [_f("R-T3-02", "t3", col="col.total"), _f("R-T3-03", "t3", col="col.total"),
                            _f("R-T3-04", "t3", row="t3.total_processed")]),
    ("t3.carried_forward", [_f("R-T3-02", "t3", col="col.total"), _f("R-T3-04", "t3", row="t3.carried_forward")]),
])
def test_t3_row_total_findings(row, want):
    rep = make_report(MID_DEPT, 2023, "gb2021", 7, defects=[("t3_row_total", {"row": row, "k": 1})])
    assert rep.expected_findings == want


def test_column_defects_findings():
    rep = make_report(MID_DEPT, 2023, "gb2021", 7,
                      defects=[("t3_total_processed", {"col": "col.natural_person", "k": 3})])
    assert rep.expected_findings == [_f("R-T3-02", "t3", col="col.natural_person"),
                                     _f("R-T3-03", "t3", col="col.natural_person"),
                                     _f("R-T3-04", "t3", row="t3.total_processed")]
    rep = make_report(MID_DEPT, 2023, "gb2021", 7,
                      defects=[("t3_total_processed", {"col": "col.natural_person", "k": 3, "keep_row": True})])
    assert rep.expected_findings == [_f("R-T3-02", "t3", col="col.natural_person"), _f("R-T3-02", "t3", col="col.total"),
                                     _f("R-T3-03", "t3", col="col.natural_person"), _f("R-T3-03", "t3", col="col.total")]
    rep = make_report(MID_DEPT, 2023, "gb2021", 7, defects=[("t3_carry", {"col": "col.natural_person", "k": 1})])
    assert rep.expected_findings == [_f("R-T3-02", "t3", col="col.natural_person"),
                                     _f("R-T3-04", "t3", row="t3.carried_forward")]
    rep = make_report(CITY_GOV, 2023, "gb2021", 7, defects=[("t4_total", {"group": "t4.review", "k": 2})])
    assert rep.expected_findings == [_f("R-T4-02", "t4", row="t4.review")]


def test_structural_defects():
    rep = make_report(COUNTY_DEPT, 2023, "gb2021", 1, defects=[("t3_all_blank", {"include_t4": True})])
    assert rep.expected_findings == [_f("R-T3-06", "t3")]
    assert all(v is None for row in rep.t3.values() for v in row.values())

    rep = make_report(COUNTY_DEPT, 2022, "gb2021", 1, defects=["outdated_template"])
    assert rep.template_id == "gb2019" and rep.expected_findings == [_f("R-TPL-02")]
    data, truth = render(rep, "txt_cells")
    assert truth["template"] == "gb2019" and "本年新制作数量".encode() in data and "t3.other" in truth["t3"]
    with pytest.raises(ValueError):
        make_report(COUNTY_DEPT, 2020, "gb2019", 1, defects=["outdated_template"])

    rep = make_report(COUNTY_DEPT, 2023, "gb2021", 1, defects=[("missing_section", {"section": "sec.problems"})])
    assert rep.expected_findings == [_f("R-STR-01", section="sec.problems")]
    for fmt in FORMATS:
        data, _ = render(rep, fmt)
        text = data.decode("utf-8")
        assert "五、存在的主要问题及改进情况" not in text and "六、其他需要报告的事项" in text

    row = "t3.unable.unclear_after_correction"
    rep = make_report(MID_DEPT, 2023, "gb2021", 1, defects=[("missing_row", {"row": row})])
    assert rep.expected_findings == [_f("R-TPL-06", "t3", row=row)]
    for fmt in FORMATS:
        data, truth = render(rep, fmt)
        assert "补正后申请内容仍不明确".encode() not in data
        assert all(v is None for v in truth["t3"][row].values())

    rep = make_report(MID_DEPT, 2023, "gb2021", 1, defects=[("blank_cells", {"n": 5})])
    assert rep.expected_findings == []
    assert sum(v is None for row in rep.t3.values() for v in row.values()) == 5


def test_cross_year_finding_when_last_years_carry_forward_was_changed():
    prev = make_report(MID_DEPT, 2022, "gb2021", 5, defects=[("t3_carry", {"col": "col.total", "k": 4})])
    rep = make_report(MID_DEPT, 2023, "gb2021", 6, prev=prev)
    assert rep.expected_findings == expected_findings(rep, prev)
    assert _f("R-T3-05", "t3", row="t3.carried_over", col="col.total") in rep.expected_findings


# --- rendering ----------------------------------------------------------------------------------------------------

RENDER_CASES = [
    ("html_word", {}), ("html_word", {"encoding": "gbk", "chrome": True, "junk": True}),
    ("html_word", {"t2_layout": "split", "label_breaks": "p"}), ("txt_cells", {}), ("txt_crawler", {}),
    ("txt_crawler", {"t4_spaced": True}), ("md", {}),
]


@pytest.mark.parametrize("fmt,opts", RENDER_CASES)
def test_rendering_is_deterministic_and_truth_is_complete(fmt, opts):
    rep = make_report(COUNTY_DEPT, 2023, "gb2021", 9)
    a, ta = render(rep, fmt, **opts)
    b, tb = render(make_report(COUNTY_DEPT, 2023, "gb2021", 9), fmt, **opts)
    assert a == b and ta == tb
    for key in ("file", "agency", "year", "template", "t2", "t3", "t4", "expected_findings", "published_at",
                "format", "defects"):
        assert key in ta
    tpl = templates.get(ta["template"])
    for table, _block, row, col in tpl.cell_keys():
        assert col in ta[table][row], (table, row, col)
    text = a.decode("gbk" if opts.get("encoding") == "gbk" else "utf-8")
    assert f"本年度报告中所列数据的统计期限自{rep.year}年1月1日起至{rep.year}年12月31日止。" in text
    assert rep.title in text
    for s in tpl.sections:
        assert s["heading"] in text
    for word in ("（一）主动公开", "（五）监督保障", "信息处理费", "上一年度"):
        assert word in text


def test_gbk_html_has_charset_meta_and_decodes_as_gbk():
    rep = make_report(CITY_GOV, 2023, "gb2021", 3)
    data, truth = render(rep, "html_word", encoding="gbk", chrome=True)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("gbk")
    assert '<meta http-equiv="Content-Type" content="text/html; charset=gbk">' in text
    assert f'<meta name="PubDate" content="{rep.published_at}">' in text
    assert '<meta name="ArticleTitle" content="' in text and "当前位置：" in text and "<script" in text
    assert truth["encoding"] == "gbk"


def test_txt_cells_layout():
    rep = make_report(COUNTY_DEPT, 2023, "gb2021", 2)
    lines = render(rep, "txt_cells")[0].decode("utf-8").split("\n")
    assert lines[0] == rep.title
    i = lines.index("\t（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）")
    assert lines[i + 1:i + 8] == ["\t申请人情况", "", "\t", "\t自然人", "\t法人或其他组织", "\t总计", ""]
    assert lines[i + 8:i + 11] == ["\t", "\t", "\t商业"] and lines[i + 11] == "企业"
    j = lines.index("\t一、本年新收政府信息公开申请数量")
    assert all(x.startswith("\t") for x in lines[j + 1:j + 8]) and lines[j + 8] == ""
    k = lines.index("\t1.属于国家秘密")
    assert lines[k - 3:k] == ["", "\t", "\t（三）不予公开"]
    k = lines.index("\t2.其他法律行政法规禁止公开")
    assert lines[k - 3:k] == ["", "\t", "\t"]


def test_html_geometry():
    rep = make_report(CITY_GOV, 2022, "gb2021", 3)
    html = render(rep, "html_word")[0].decode("utf-8")
    assert 'rowspan=22' in html and 'colspan=3 rowspan=3' in html and 'rowspan=8' in html
    assert '<table class=MsoNormalTable border="1"' in html and "<p class=MsoNormal" in html
    rep = make_report(CITY_GOV, 2020, "gb2019", 3)
    assert 'rowspan=20' in render(rep, "html_word")[0].decode("utf-8")


def test_crawler_split_counting():
    assert count_plain_splits("693665", 3) == 2          # capped: ambiguous
    assert count_plain_splits("000", 3) == 1
    assert count_plain_splits("24252.311082", 1) == 1
    assert count_sum_splits("640020470", 1, 6) == 1      # pingtan-2021: 64 0 0 2 0 4 70
    assert count_sum_splits("10203120001200000", 3, 4) == 1
    rep = make_report(COUNTY_DEPT, 2023, "gb2021", 4, defects=[("t3_row_total", {"row": "t3.granted", "k": 1})])
    with pytest.raises(ValueError):
        render(rep, "txt_crawler")


def test_crawler_layout_and_ambiguity():
    rep = make_report(COUNTY_DEPT, 2022, "gb2021", 5)
    data, truth = render(rep, "txt_crawler")
    lines = data.decode("utf-8").split("\n")
    assert lines[0] == f"标题: {rep.title}" and lines[8] == "==================== 正文 ====================" and lines[10] == ""
    body = lines[9]
    row = rep.t3["t3.new_received"]
    assert "一、本年新收政府信息公开申请数量" + "".join(str(v) for v in row.values()) in body.replace(" ", "")
    nd = rep.t2["t2.normative_doc"]
    digits = "".join(str(v) for v in nd.values())
    amb = [tuple(a) for a in truth.get("ambiguous_cells") or []]
    assert (("t2", "t2.normative_doc", "col.issued_count") in amb) == (count_plain_splits(digits, 3) > 1)


# --- reading the documents back (t3/t4 by label and position) ------------------------------------------------------

def _clean(text: str) -> str:
    return re.sub(r"[\s\u3000\u00a0]+", "", text)


def _value(text: str):
    t = _clean(text)
    return None if t == "" else int(t)


def _rows_from_html(data: bytes, enc: str) -> list[list[str]]:
    doc = lxml.html.document_fromstring(data.decode(enc))
    out = []
    for table in doc.iter("table"):
        grid = {}
        trs = table.findall(".//tr")
        for ri, tr in enumerate(trs):
            ci = 0
            for td in tr.findall("td"):
                while (ri, ci) in grid:
                    ci += 1
                rs, cs = int(td.get("rowspan", 1)), int(td.get("colspan", 1))
                for dr in range(rs):
                    for dc in range(cs):
                        grid[(ri + dr, ci + dc)] = td.text_content() if (dr, dc) == (0, 0) else ""
                ci += cs
        width = max(c for _, c in grid) + 1
        for ri in range(len(trs)):
            assert all((ri, c) in grid for c in range(width)), "ragged html table"
            out.append([grid[(ri, c)] for c in range(width)])
        out.append([])
    return out


def _rows_from_txt_cells(data: bytes) -> list[list[str]]:
    rows, cur = [], []
    for line in data.decode("utf-8").split("\n"):
        if line.startswith("\t"):
            cur.append(line[1:])
        elif line == "":
            if cur:
                rows.append(cur)
                cur = []
        elif cur:
            cur[-1] += line
    return rows


def _rows_from_md(data: bytes) -> list[list[str]]:
    return [[c.strip() for c in line.strip()[1:-1].split("|")]
            for line in data.decode("utf-8").split("\n") if line.startswith("|") and not line.startswith("|---")]


def _read_back(rows: list[list[str]], template_id: str) -> tuple[dict, list]:
    tpl = templates.get(template_id)
    labels = {templates.norm_label(r.label): r.id for r in tpl.t3_rows}
    t3, t4_values = {}, None
    for row in rows:
        if len(row) >= 8:
            label = next((_clean(x) for x in reversed(row[:-7]) if _clean(x)), "")
            row_id = labels.get(templates.norm_label(label))
            if row_id:
                t3[row_id] = [_value(x) for x in row[-7:]]
        if len(row) == 15 and all(re.fullmatch(r"\d*", _clean(x)) for x in row):
            t4_values = [_value(x) for x in row]
    return t3, t4_values


@pytest.mark.parametrize("fmt,opts", [("html_word", {}), ("html_word", {"encoding": "gbk", "chrome": True, "junk": True}),
                                      ("txt_cells", {}), ("md", {})])
@pytest.mark.parametrize("defects", [(), (("missing_row", {}), ("blank_cells", {"n": 6}), ("t4_total", {}))])
def test_documents_read_back_to_the_truth(fmt, opts, defects):
    rep = make_report(MID_DEPT, 2023, "gb2021", 21, defects=defects)
    data, truth = render(rep, fmt, **opts)
    if fmt == "html_word":
        rows = _rows_from_html(data, opts.get("encoding", "utf-8"))
    elif fmt == "txt_cells":
        rows = _rows_from_txt_cells(data)
    else:
        rows = _rows_from_md(data)
    t3, t4 = _read_back(rows, truth["template"])
    missing = {r for t, r in truth["missing_rows"] if t == "t3"}
    assert set(t3) == set(truth["t3"]) - missing
    for row_id, values in t3.items():
        assert values == list(truth["t3"][row_id].values()), row_id
    assert t4 == [v for g in truth["t4"].values() for v in g.values()]


# --- the sample inbox ---------------------------------------------------------------------------------------------

def test_sample_inbox(tmp_path):
    raw, truth_dir = tmp_path / "raw", tmp_path / "truth"
    written = write_sample_inbox(raw, truth_dir)
    assert len(written) >= 14
    files = sorted(p.name for p in raw.iterdir())
    assert "manifest.csv" in files and not any(f.endswith(".json") for f in files)
    manifest_bytes = (raw / "manifest.csv").read_bytes()
    assert manifest_bytes.startswith("\ufeff".encode("utf-8"))
    with open(raw / "manifest.csv", encoding="utf-8-sig", newline="") as fh:
        manifest = list(csv.DictReader(fh))
    assert list(manifest[0]) == ["file", "agency", "year", "published_at", "url", "agency_kind", "level"]
    assert sorted(m["file"] for m in manifest) == sorted(f for f in files if f != "manifest.csv")
    truths = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(truth_dir.glob("*.json"))]
    assert len(truths) == len(written)
    assert len({t["agency"] for t in truths}) >= 5
    assert {t["year"] for t in truths} >= {2020, 2022, 2023}
    assert {t["format"] for t in truths} == set(FORMATS)
    assert {t.get("encoding") for t in truths} == {"utf-8", "gbk"}
    kinds = {d["kind"] for t in truths for d in t["defects"]}
    assert kinds >= {"t3_row_total", "t3_total_processed", "t4_total", "t3_all_blank", "missing_section",
                     "outdated_template", "missing_row"}
    with_findings = [t for t in truths if t["expected_findings"]]
    assert 0.25 <= len(with_findings) / len(truths) <= 0.5
    for t in truths:                       # carry-over across years holds in the sample
        prev = next((p for p in truths if p["agency"] == t["agency"] and p["year"] == t["year"] - 1), None)
        if prev and not any(d["kind"] == "t3_all_blank" for d in t["defects"]):
            for c, v in t["t3"]["t3.carried_over"].items():
                assert (v or 0) == (prev["t3"]["t3.carried_forward"][c] or 0)
    # byte-identical across runs, also when writing over an existing inbox
    first = {p.name: p.read_bytes() for p in list(raw.iterdir()) + list(truth_dir.iterdir())}
    write_sample_inbox(raw, truth_dir)
    second = {p.name: p.read_bytes() for p in list(raw.iterdir()) + list(truth_dir.iterdir())}
    assert first == second
    assert set(AGENCIES)   # the agencies used are importable for other tests


def test_sample_truth_dir_defaults_next_to_raw(tmp_path):
    write_sample_inbox(tmp_path / "raw")
    assert len(list((tmp_path / "sample-truth").glob("*.json"))) >= 14
