"""Ingest: format sniffing, decoding, merged-cell expansion, text-dump tables, unreadable files."""
from __future__ import annotations

from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest import read_document
from pipeline.ingest.html import parse_html
from pipeline.ingest.sniff import decode_text, html_declared_charset, sniff_format
from pipeline.ingest.text import parse_text

HTML = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk">
<meta name="PubDate" content="2023-01-20 09:00"><title>某区2022年政府信息公开工作年度报告_某区政府</title></head>
<body><div class="nav">首页 政务公开</div><script>var x = "<table><tr><td>9</td></tr></table>";</script>
<div class="article"><p>一、总体情况</p>
<table border="1"><tr><td colspan="2" rowspan="2">甲</td><td>乙</td></tr><tr><td>丙<br/>丁</td></tr>
<tr><td>1</td><td rowspan="2">2</td><td>3</td></tr><tr><td>4</td><td>5</td></tr></table></div></body></html>"""


def test_rowspan_and_colspan_expand_into_a_true_grid():
    blocks, meta, title = parse_html(HTML)
    grid = next(b.grid for b in blocks if b.kind == "table")
    assert grid.cells == [["甲", "甲", "乙"], ["甲", "甲", "丙\n丁"], ["1", "2", "3"], ["4", "2", "5"]]
    assert grid.origin[0][0] == grid.origin[1][1] and grid.origin[2][1] == grid.origin[3][1]
    assert grid.origin[2][0] != grid.origin[3][0]
    assert meta["pubdate"] == "2023-01-20 09:00" and "2022年" in title
    assert not any("var x" in b.text for b in blocks)  # scripts never become text


def test_gbk_page_decoded_by_its_meta_charset(tmp_path):
    p = tmp_path / "page.htm"
    p.write_bytes(HTML.encode("gbk"))
    doc = read_document(p, "page.htm")
    assert doc.status == "ok" and doc.format == "html" and doc.encoding == "gb18030"
    assert any(b.text == "一、总体情况" for b in doc.blocks)


def test_undeclared_gb18030_text_is_detected():
    text, enc = decode_text("一、总体情况\n二、主动公开政府信息情况".encode("gb18030"))
    assert enc == "gb18030" and text.startswith("一、总体情况")


def test_format_sniffed_from_content_not_extension():
    assert sniff_format(b"%PDF-1.7\n...", "report.html") == "pdf"
    assert sniff_format("<html><body><p>报告</p></body></html>".encode(), "report.txt") == "html"
    assert sniff_format("| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n".encode(), "conv.txt") == "md"
    assert sniff_format("一、总体情况".encode(), "x.md") == "md"
    assert sniff_format(b"PK\x03\x04word/document.xml", "a.bin") == "docx"


def test_docx_dump_cells_one_per_line_become_rows_with_blanks_kept():
    dump = "标题\n\t规章\n\t　　1\n\t \n\t 1\n\n\t商业\n企业\n\t其他\n\n\t\xa0\n\t\xa0\n\t\n\n\n正文继续"
    blocks, _, _ = parse_text(dump, "txt")
    grid = next(b.grid for b in blocks if b.kind == "table")
    assert grid.cells[0] == ["规章", "1", "", "1"]
    assert grid.cells[1][:2] == ["商业\n企业", "其他"]
    assert grid.cells[2][:3] == ["", "", ""]  # a row of blank cells is a row, not a row separator
    assert blocks[-1].text == "正文继续"


def test_crawler_header_becomes_metadata():
    dump = "标题: 某县2023年政府信息公开工作年度报告\n发布时间: 2024-01-30 10:00\n原文链接: https://x.gov.cn/a.htm\n" \
           "==================== 正文 ====================\n一、总体情况……"
    blocks, meta, title = parse_text(dump, "txt")
    assert title.startswith("某县2023年") and meta["published_at"].startswith("2024-01-30")
    assert meta["url"] == "https://x.gov.cn/a.htm" and blocks[0].text.startswith("一、总体情况")


def test_unreadable_files_fail_with_a_bilingual_error(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    for p in (empty, junk, tmp_path / "absent.txt"):
        doc = read_document(p, p.name)
        assert doc.status == "failed"
        zh, en = doc.error.split(" | ", 1)
        assert zh and en and any("\u4e00" <= ch <= "\u9fff" for ch in zh)


def test_cell_text_keeps_paragraphs_and_line_breaks_as_lines():
    page = ("<html><body><table><tr><td><p><span>商业</span></p><p>企业</p></td><td>甲<br>乙</td>"
            "<td><div>一</div>二<script>x()</script>三</td></tr><tr><td>  1 </td><td>2</td><td></td></tr></table>"
            "</body></html>")
    grid = next(b.grid for b in parse_html(page)[0] if b.kind == "table")
    assert grid.cells == [["商业\n企业", "甲\n乙", "一\n二三"], ["1", "2", ""]]


def test_tables_the_fast_cell_reader_cannot_trust_read_the_same():
    # a row holding a non-cell element, and cell text containing the reader's own marks: the per-cell path
    odd = "<table><tr><td>1</td><span>x</span><td>2</td></tr><tr><td>3</td><td>4</td></tr></table>"
    marks = "<table><tr><td>1\ufdd1</td><td>2</td></tr><tr><td>\ufdd03</td><td>4</td></tr></table>"
    assert next(b.grid for b in parse_html(odd)[0] if b.kind == "table").cells == [["1", "2"], ["3", "4"]]
    assert next(b.grid for b in parse_html(marks)[0] if b.kind == "table").cells == [["1\ufdd1", "2"],
                                                                                     ["\ufdd03", "4"]]
    entities = "<table><tr><td>1&#xFDD1;</td><td>2</td></tr><tr><td>&#64976;3</td><td>4</td></tr></table>"
    assert next(b.grid for b in parse_html(entities)[0] if b.kind == "table").cells == [["1\ufdd1", "2"],
                                                                                        ["\ufdd03", "4"]]


def test_a_form_wrapping_the_whole_page_is_read_a_search_box_is_not():
    aspnet = ("<html><body><form id='form1' method='post'><div>某区2023年政府信息公开工作年度报告</div>"
              "<table><tr><td>项目</td><td>数量</td></tr><tr><td>规章</td><td>5</td></tr></table></form></body></html>")
    blocks = parse_html(aspnet)[0]
    assert any(b.kind == "table" for b in blocks)
    assert any("年度报告" in b.text for b in blocks if b.kind == "text")
    search = ("<html><body><form action='/search'><input name='q'>站内搜索</form><p>一、总体情况</p></body></html>")
    assert [b.text for b in parse_html(search)[0]] == ["一、总体情况"]


def test_utf8_pages_read_from_their_bytes_give_the_same_blocks():
    """read_document hands libxml2 a UTF-8 page's bytes (faster than a str): the blocks must be those of the str.
    Covers an XML declaration (removed from both), a meta charset that disagrees (the strict decoding decides), a
    NUL byte, nested layout tables, a generated Word-export page and the real corpus's pages (when present)."""
    from conftest import CORPUS
    from pipeline.synth import make_report
    from pipeline.synth.render import render

    pages = [HTML,
             '<?xml version="1.0" encoding="gb2312"?>\n' + HTML,
             HTML.replace("丙<br/>丁", "丙\x00丁"),
             "<html><body><table><tr><td><table><tr><td>一、总体情况</td><td>12</td></tr></table></td></tr></table>"
             "<p class=MsoNormal><span>（一）主动公开</span><o:p>&nbsp;</o:p></p></body></html>",
             render(make_report("某县人民政府办公室", 2023, seed=7), "html_word")[0].decode("utf-8")]
    pages += [p.read_bytes().decode("utf-8") for p in sorted(CORPUS.glob("*.htm*"))
              if decode_text(p.read_bytes())[1] == "utf-8"]
    for page in pages:
        data = page.encode("utf-8")
        text, encoding = decode_text(data)
        assert encoding == "utf-8"
        from_bytes, from_encoded = parse_html(text, None, data), parse_html(text)
        with mock.patch("pipeline.ingest.html._as_utf8", lambda text: None):
            from_str = parse_html(text)
        assert from_bytes == from_str and from_encoded == from_str and from_str[0], page[:80]
    # a page in another encoding is decoded, then handed to libxml2 as UTF-8: the tree of the decoded str
    gbk = [p.read_bytes() for p in sorted(CORPUS.glob("*.htm*")) if decode_text(p.read_bytes())[1] != "utf-8"]
    gbk.append(('<html><head><meta charset="gbk"></head><body><p>一、总体情况</p><table><tr><td>新制作数量</td>'
                '<td>5</td></tr></table></body></html>').encode("gbk"))
    gbk.append(render(make_report("某市交通运输局", 2022, seed=11), "html_word", encoding="gbk", chrome=True,
                      label_breaks="p")[0])
    for data in gbk:
        text, encoding = decode_text(data, html_declared_charset(data))
        assert encoding != "utf-8"
        with mock.patch("pipeline.ingest.html._as_utf8", lambda text: None):
            from_str = parse_html(text)
        assert parse_html(text) == from_str and from_str[0]


_SPACES = list(" \t\r\f\v\u00a0\u2002\u2003\u2009\u200b\u3000\u1680\u2028\u2029\x85\x1c\u202f\u205f\ufeff\u200e")


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(st.sampled_from(_SPACES + ["a", "中", "1", "\ufdd0"]), max_size=20), st.text(max_size=20)))
def test_text_cleaning_is_the_whitespace_regex(line):
    """The readers' fast path (split/join on printable text) gives exactly the regex definition."""
    from pipeline.ingest import html, text

    def by_lines(t: str) -> str:   # every line: whitespace runs as one space, stripped; empty lines dropped
        return "\n".join(x for x in (html._WS.sub(" ", ln).strip() for ln in t.strip().split("\n")) if x)

    assert text._clean(line) == text._WS.sub(" ", line).strip()
    assert html._clean(line) == by_lines(line)
    assert html._clean(line + "\n" + line[::-1]) == by_lines(line + "\n" + line[::-1])
