"""Cell values, digit-split recovery, label matching, sections and metadata on small known inputs."""
from __future__ import annotations

import pytest

from pipeline.document import Block, Document
from pipeline.ingest.text import parse_text
from pipeline.normalize import normalize
from pipeline.normalize.metadata import agency_kind, agency_year, find_title, publication_date
from pipeline.normalize.sections import detect_sections
from pipeline.normalize.values import candidate_splits, chunks_of, parse_cell
from pipeline.normalize.vocab import lookup
from pipeline import templates as T


@pytest.mark.parametrize("raw,state,text,unit", [
    ("12", "NUMBER", "12", ""), ("\u3000\u30001", "NUMBER", "1", ""), ("１２３", "NUMBER", "123", ""),
    ("11,398,889", "NUMBER", "11398889", ""), ("2792220.8元", "NUMBER", "2792220.8", "元"),
    ("24252.311082", "NUMBER", "24252.311082", ""), ("", "BLANK", "", ""), ("\u00a0", "BLANK", "", ""),
    ("—", "DASH", "", ""), ("/", "DASH", "", ""), ("无", "DASH", "", ""), ("--", "DASH", "", ""),
    ("N/A", "DASH", "", ""), ("见附件", "UNPARSABLE", "", ""), ("12件", "NUMBER", "12", "件"),
])
def test_parse_cell(raw, state, text, unit):
    p = parse_cell(raw)
    assert (p.state, p.text, p.unit) == (state, text, unit)


def test_signed_values_only_where_allowed():
    assert parse_cell("-18", signed=True).value == -18
    assert "negative" in parse_cell("-18").notes
    assert parse_cell("+2").value == 2 and "plus_sign" in parse_cell("+2").notes


def test_digit_splits_respect_chunks_and_leading_zeros():
    cands = candidate_splits(chunks_of("20 0 00 0 121"), 7)
    assert ["20", "0", "0", "0", "0", "1", "21"] in cands
    assert all(not (len(x) > 1 and x.startswith("0")) for c in cands for x in c)
    assert candidate_splits(chunks_of("0000000"), 7) == [["0"] * 7]
    assert candidate_splits(chunks_of("12"), 7) == []  # too few digits
    only_row_total = [c for c in candidate_splits(chunks_of("640020470"), 7)
                      if sum(map(int, c[:6])) == int(c[6])]
    assert only_row_total == [["64", "0", "0", "2", "0", "4", "70"]]


@pytest.mark.parametrize("label,row_id", [
    ("1.属于国家秘密", "t3.denied.state_secret"),
    ("2.其他法律行政止公开", "t3.denied.law_prohibited"),      # a published typo (fuzzy)
    ("（七）总计", "t3.total_processed"),
    ("3.其他", "t3.other.other"),
    ("本年新收政府信息公开申请数量", "t3.new_received"),      # numbering dropped
    ("部分公开 (区分处理的, 只计这一情形, 不计其他情形)", "t3.partially_granted"),
    ("四、结转下一年度继续办理", "t3.carried_forward"),        # wording variant
    ("规范性文件", "t2.normative_doc"),
])
def test_label_matching_survives_variations(label, row_id):
    assert row_id in {e.id for e in lookup(label) if e.kind == "row"}


def test_column_words_broken_by_line_breaks():
    assert [e.id for e in lookup("商业\n企业")] == ["col.commercial_enterprise"]
    assert [e.id for e in lookup("结/果/维/持")] == ["col.upheld"]


def test_sections_found_in_running_text_and_not_fooled_by_table_rows():
    text = ("一、总体情况2021年，我局……二、主动公开政府信息情况 第二十条第（一）项……三、收到和处理政府信息公开申请情况"
            "（本列……）……四、结转下年度继续办理0000000四、政府信息公开行政复议、行政诉讼情况 行政复议……"
            "五、存在的主要问题及改进情况（一）……六、其他需要报告的事项 无。")
    secs = {s["section_id"]: s for s in detect_sections(text)}
    assert set(secs) == {s["id"] for s in T.get("gb2021").sections}
    assert secs["sec.review_litigation"]["heading"].startswith("四、政府信息公开行政复议")
    assert secs["sec.other"]["text"] == "无。"


def test_missing_section_is_not_invented():
    text = "一、总体情况 我局……二、主动公开政府信息情况 ……三、收到和处理政府信息公开申请情况……六、其他需要报告的事项 无"
    assert "sec.problems" not in {s["section_id"] for s in detect_sections(text)}


def test_title_agency_year_and_kind():
    title = find_title("", "正文\n2024 年上海市科委政府信息公开工作\n年度报告")
    assert agency_year(title) == ("上海市科委", 2024)
    assert agency_year("红桥区司法局2021年政府信息公开年度报告") == ("红桥区司法局", 2021)
    assert agency_kind("沭阳县人民政府") == "gov"
    assert agency_kind("沭阳县发展和改革局") == "dept"
    assert agency_kind("城关镇人民政府") == "township"


def test_publication_date_prefers_page_metadata_and_skips_crawl_time():
    assert publication_date({"pubdate": "2022-02-08 16:34"}, "") == "2022-02-08"
    assert publication_date({}, "采集时间：2025-12-30T21:37 公开日期 2024-01-17 正文") == "2024-01-17"
    assert publication_date({}, "……\n某某局\n2024年1月17日") == "2024-01-17"


def _doc_from_text(text: str, fmt: str = "txt") -> Document:
    blocks, meta, title = parse_text(text, fmt)
    return Document(source_file="x.txt", format=fmt, sha256="0", blocks=blocks, meta=meta, title=title)


def test_unlabelled_rows_fill_the_gap_between_labelled_rows_when_the_count_fits():
    rows = [("一、本年新收政府信息公开申请数量", [5, 0, 0, 0, 0, 0, 5]), ("二、上年结转政府信息公开申请数量", [0] * 7),
            ("（一）予以公开", [2, 0, 0, 0, 0, 0, 2]), (None, [1, 0, 0, 0, 0, 0, 1]), ("1.属于国家秘密", [0] * 7)]
    md = "一、总体情况\n二、主动公开政府信息情况\n三、收到和处理政府信息公开申请情况\n"
    md += "".join(f"| {lab + ' | ' if lab else ''}{' | '.join(map(str, v))} |\n|---|---|\n" for lab, v in rows)
    n = normalize(_doc_from_text(md, "md"), "r1")
    got = {(c["row_id"], c["col_id"]): c["value"] for c in n.cells if c["table"] == "t3"}
    assert got[("t3.partially_granted", "col.natural_person")] == 1      # the unlabelled row, by position
    assert got[("t3.granted", "col.total")] == 2
    assert got[("t3.denied.law_prohibited", "col.total")] is None      # not printed → MISSING
    states = {(c["row_id"], c["col_id"]): c["state"] for c in n.cells}
    assert states[("t3.denied.law_prohibited", "col.total")] == "MISSING"


def test_gb2021_with_single_other_row_gets_t3_other_and_missing_subrows():
    lines = ["三、收到和处理政府信息公开申请情况", "本年制发件数 本年废止件数 现行有效件数 行政规范性文件 本年收费金额"]
    body = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
    body += "一、本年新收政府信息公开申请数量 3 0 0 0 0 0 3 二、上年结转政府信息公开申请数量 0 0 0 0 0 0 0 "
    body += "（六）其他处理 1 0 0 0 0 0 1 （七）总计 3 0 0 0 0 0 3 四、结转下年度继续办理 0 0 0 0 0 0 0"
    n = normalize(_doc_from_text("\n".join(lines + [body])), "r1")
    assert n.report["template"] == "gb2021"
    st = {(c["row_id"], c["col_id"]): (c["state"], c["value"]) for c in n.cells}
    assert st[("t3.other", "col.total")] == ("NUMBER", 1.0)
    assert st[("t3.other.overdue_fee", "col.total")] == ("MISSING", None)


def test_template_classification_counts_table_markers_only():
    from pipeline.normalize.classify import classify
    t21 = "本年制发件数 本年废止件数 现行有效件数 行政规范性文件 本年收费金额（单位：万元）"
    t19 = "本年新制作数量 本年新公开数量 对外公开总数量 上一年项目数量 本年增/减 第二十条第（九）项 政府集中采购"
    assert classify(t21, t21, True, False)[0] == "gb2021"
    assert classify(t19, t19, False, True)[0] == "gb2019"
    assert classify(t21 + t19, t21 + t19, True, False)[0] == "mixed"
    legacy = "概述 依申请公开政府信息情况 政府信息公开的收费及减免情况"
    assert classify("", legacy, False, False)[0] == "legacy2008"
    assert classify("", "一、总体情况 （表格为图片）", False, False)[0] == "unknown"


def test_table_four_alone_is_found_past_narrative_mentions():
    md = ("一、总体情况\n全年未发生行政复议，行政诉讼1件，均已办结，详见下表。\n四、政府信息公开行政复议、行政诉讼情况\n"
          "| 行政复议 | | | | | 行政诉讼 | | | | | | | | | |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
          "| 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 | 未经复议直接起诉 | | | | | 复议后起诉 | | | | |\n"
          "| 0 | 0 | 0 | 0 | 0 | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 0 | 0 | 0 |\n五、存在的主要问题及改进情况\n……")
    n = normalize(_doc_from_text(md, "md"), "r1")
    got = {(c["row_id"], c["col_id"]): c["value"] for c in n.cells if c["table"] == "t4"}
    assert got[("t4.litigation_direct", "col.upheld")] == 1 and got[("t4.litigation_direct", "col.total")] == 1
    assert got[("t4.review", "col.total")] == 0


def test_section_headings_found_at_candidate_starts_are_those_a_full_scan_finds():
    """detect_sections tries its patterns only where a heading can start (numerals, parentheses, line starts):
    the headings must be those `finditer` over every position finds, on texts mixing headings, near-headings,
    numbering without a heading, 本年度办理结果 lines and odd punctuation."""
    import random

    from pipeline.normalize import sections as SE

    def full_scan(text):
        out = []
        for order, sid, _canonical, patterns in SE._patterns():
            for pattern, prio in patterns:
                m = next((m for m in pattern.finditer(text)
                          if not (prio == 0 and SE._SKIP_HEADING.match(m.group("h")))), None)
                if m is not None:
                    out.append((sid, m.start(), m.group(0).strip()))
                    break
        return out

    pieces = ["一、", "二、", "十一、", "三．", "六.", "五 、", "（一）", "(二)", "（三）", "\n", "\n", " ", "。", "总体情况",
              "主动公开政府信息情况", "收到和处理政府信息公开申请情况", "政府信息公开行政复议、行政诉讼情况",
              "存在的主要问题及改进情况", "其他需要报告的事项", "本年度办理结果", "结转下年度继续办理", "行政复议", "12"]
    rnd = random.Random(7)
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40))) for _ in range(3000)]
    found_any = 0
    for text in texts:
        got = [(d["section_id"], d["char_start"], d["heading"]) for d in SE.detect_sections(text)]
        assert sorted(got) == sorted(full_scan(text)), text
        found_any += bool(got)
    assert found_any > 1000


def test_fast_nfkc_is_unicodedata_nfkc():
    """pipeline.nfkc decomposes compatibility characters before normalizing: the result must be NFKC's on every
    mix of CJK, ASCII, fullwidth forms, combining marks (which compose across the replaced characters), Hangul
    jamo and compatibility ideographs."""
    import random
    import unicodedata

    from pipeline.nfkc import nfkc

    ranges = [(0x20, 0x250), (0x300, 0x370), (0x1100, 0x1200), (0x2000, 0x2500), (0x3000, 0x3400), (0xAC00, 0xAC40),
              (0xF900, 0xFB00), (0xFE00, 0xFFF0), (0x4E00, 0x4E40), (0x1D400, 0x1D440)]
    pool = [chr(c) for lo, hi in ranges for c in range(lo, hi)]
    rnd = random.Random(11)
    texts = ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 10))) for _ in range(50000)]
    texts += ["（一）主动公开政府信息情况：本年新制作数量１２件，Ａ①㈠﹙２﹚", "e\u0301\uff0d\u0301", "\uff1c\u0338", "가\u11a8"]
    changed = 0
    for text in texts:
        assert nfkc(text) == unicodedata.normalize("NFKC", text), repr(text)
        changed += nfkc(text) != text
    assert changed > 10000
