"""Property-based tests (hypothesis) for the cell-value parser and the label matcher, and a bounded fuzz target for
the HTML and text readers (and the whole read → normalize path on arbitrary bytes).

Budgets are set by example counts, not by the clock, so a CI run is bounded (~15 s on this machine) and a failure
prints a reproducible example. No example database is written (database=None).
"""
from __future__ import annotations

import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.normalize.values import DASH_TOKENS, parse_cell
from pipeline.normalize import vocab
from pipeline.templates import norm_label

FAST = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FULLWIDTH = str.maketrans("0123456789,.+-", "０１２３４５６７８９，．＋－")
SPACES = st.sampled_from(["", " ", "  ", "\u3000", "\u00a0", "\t", " \u3000 "])
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
LABEL_TEXT = st.text(alphabet=st.one_of(CJK, st.sampled_from(list("（）()一二三四五六七八九十、.．：:「」“”0123456789abcAB -—·"))),
                     max_size=30)


# --- the cell-value parser -----------------------------------------------------------------------------------------

@FAST
@given(st.text(max_size=60), st.booleans())
def test_parse_cell_never_raises_and_keeps_its_invariants(raw, signed):
    p = parse_cell(raw, signed)
    assert p.state in ("NUMBER", "BLANK", "DASH", "UNPARSABLE")
    if p.state == "NUMBER":
        assert p.value is not None and math.isfinite(p.value)
        assert float(p.text) == p.value
        assert p.text == "0" or not p.text.lstrip("-").startswith("0") or p.text.lstrip("-").startswith("0.")
        if p.value < 0:
            assert signed or "negative" in p.notes
    else:
        assert p.value is None and p.text == ""


def _render_int(n: int, style: str) -> str:
    s = str(n)
    if style == "thousands":
        s = f"{n:,}"
    elif style == "thousands_cn":
        s = f"{n:,}".replace(",", "，")
    elif style == "fullwidth":
        s = s.translate(FULLWIDTH)
    elif style == "fullwidth_thousands":
        s = f"{n:,}".translate(FULLWIDTH)
    elif style == "unit":
        s = s + "件"
    elif style == "zero_padded":
        s = "00" + s
    return s


@FAST
@given(st.integers(min_value=0, max_value=10 ** 12),
       st.sampled_from(["plain", "thousands", "thousands_cn", "fullwidth", "fullwidth_thousands", "unit", "zero_padded"]),
       SPACES, SPACES)
def test_a_published_count_parses_to_its_non_negative_integer(n, style, before, after):
    p = parse_cell(before + _render_int(n, style) + after)
    assert p.state == "NUMBER", (n, style)
    assert p.value == n and p.value >= 0 and float(p.value).is_integer()
    assert p.text == str(n)


@FAST
@given(st.text(alphabet=st.sampled_from(list("0123456789,.+- 件")), max_size=20), st.booleans())
def test_fullwidth_digits_read_as_halfwidth(raw, signed):
    a, b = parse_cell(raw, signed), parse_cell(raw.translate(FULLWIDTH), signed)
    assert (a.state, a.value, a.text, a.unit) == (b.state, b.value, b.text, b.unit)


@FAST
@given(st.text(max_size=30), SPACES, SPACES)
def test_surrounding_whitespace_does_not_matter(raw, before, after):
    a, b = parse_cell(raw), parse_cell(before + raw + after)
    assert (a.state, a.value, a.text) == (b.state, b.value, b.text)


@FAST
@given(st.sampled_from(sorted(DASH_TOKENS)), SPACES, SPACES)
def test_dash_tokens_are_dash(token, before, after):
    assert parse_cell(before + token + after).state == "DASH"


def test_absurdly_long_digit_runs_are_not_numbers():
    # a float overflow (inf) must never reach the arithmetic checks as a value
    for raw in ("9" * 400, "1" * 5000, "1" * 400 + ".5"):
        p = parse_cell(raw)
        assert p.state == "UNPARSABLE" or math.isfinite(p.value), raw[:20]


# --- the label matcher ---------------------------------------------------------------------------------------------

_PUNCT = list(" \u3000\u00a0\"'“”‘’「」『』()（）[]【】:：,，、.．。;；!！?？《》<>〈〉·・-－—_/／|｜*")


@FAST
@given(LABEL_TEXT)
def test_norm_label_is_idempotent_and_strips_spaces_and_punctuation(text):
    k = norm_label(text)
    assert norm_label(k) == k
    assert not any(ch.isspace() for ch in k)
    assert not any(ch in _PUNCT for ch in k)


@FAST
@given(LABEL_TEXT, st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(_PUNCT)), max_size=6))
def test_norm_label_ignores_inserted_spaces_and_punctuation(text, inserts):
    noisy = text
    for pos, ch in inserts:
        i = pos % (len(noisy) + 1)
        noisy = noisy[:i] + ch + noisy[i:]
    assert norm_label(noisy) == norm_label(text)


@FAST
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20))
def test_norm_label_fullwidth_ascii_equals_halfwidth(text):
    wide = "".join(chr(ord(c) + 0xFEE0) for c in text)
    assert norm_label(wide) == norm_label(text)


def _labels():
    out = []
    for key, entries in sorted(vocab.vocabulary().items()):
        if len(key) >= 4 and not any(e.core for e in entries):
            out.append(key)
    return out


LABELS = _labels()


@FAST
@given(st.sampled_from(LABELS), st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(_PUNCT)), max_size=5),
       st.booleans())
def test_template_labels_are_found_whatever_spaces_punctuation_or_width(key, inserts, wide):
    """A template label printed with extra spaces, punctuation or full-width characters matches the same entries."""
    expected = vocab.lookup(key)
    assert expected
    noisy = key
    for pos, ch in inserts:
        i = pos % (len(noisy) + 1)
        noisy = noisy[:i] + ch + noisy[i:]
    if wide:
        noisy = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in noisy)
    assert vocab.lookup(noisy) == expected


@FAST
@given(st.text(max_size=40))
def test_lookup_never_raises(text):
    entries = vocab.lookup(text)
    assert all(e.kind in ("row", "group", "col", "caption", "note", "header") for e in entries)


# --- fuzz: HTML and text readers ------------------------------------------------------------------------------------

_TAGS = ["table", "tr", "td", "th", "tbody", "p", "div", "span", "br", "b", "font", "img", "script", "style", "meta",
         "title", "head", "body", "html", "ul", "li", "iframe", "svg", "o:p", "caption", "colgroup", "col"]
_ATTRS = st.sampled_from(['rowspan="{n}"', 'colspan="{n}"', 'rowspan="-{n}"', 'colspan="{n}x"', 'rowspan="99999999"',
                          'src="http://example.invalid/{n}.png"', 'src="data:image/png;base64,AAAA{n}"',
                          'src="../../../etc/{n}"', 'charset="gbk"', 'style="mso-x:{n}"', 'content="{n}"', ""])
_TEXT = st.text(alphabet=st.one_of(CJK, st.sampled_from(list("0123456789 \n\t&;<>\"'（）一二三四、．.-—|"))), max_size=12)


@st.composite
def html_documents(draw):
    parts = []
    for _ in range(draw(st.integers(min_value=0, max_value=40))):
        kind = draw(st.integers(min_value=0, max_value=3))
        if kind == 0:
            tag = draw(st.sampled_from(_TAGS))
            attr = draw(_ATTRS).format(n=draw(st.integers(min_value=0, max_value=300)))
            parts.append(f"<{tag} {attr}>")
        elif kind == 1:
            parts.append(f"</{draw(st.sampled_from(_TAGS))}>")
        elif kind == 2:
            parts.append(draw(_TEXT))
        else:
            parts.append(draw(st.sampled_from(["&nbsp;", "&#x4e00;", "&#0;", "&#99999999;", "<!--", "-->", "<![CDATA[",
                                               "<?xml version='1.0'?>", "<!DOCTYPE html>", "&amp;", "\x00", "\ufeff"])))
    return "".join(parts)


def _check_blocks(blocks):
    for b in blocks:
        assert b.kind in ("text", "table")
        if b.grid is not None:
            g = b.grid
            assert len(g.origin) == len(g.cells)
            widths = {len(r) for r in g.cells} | {len(r) for r in g.origin}
            assert len(widths) <= 1  # rectangular
            assert all(isinstance(c, str) for r in g.cells for c in r)


@FUZZ
@given(html_documents())
def test_fuzz_html_reader(text):
    from pipeline.ingest.html import parse_html

    loaded = []
    blocks, meta, title = parse_html(text, lambda src: loaded.append(src) or None)
    _check_blocks(blocks)
    assert isinstance(meta, dict) and isinstance(title, str)


@st.composite
def text_documents(draw):
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=40))):
        kind = draw(st.integers(min_value=0, max_value=4))
        t = draw(_TEXT).replace("\n", "")
        if kind == 0:
            lines.append("\t" + t)
        elif kind == 1:
            lines.append("| " + " | ".join(draw(st.lists(_TEXT.map(lambda s: s.replace("\n", "")), max_size=5))) + " |")
        elif kind == 2:
            lines.append(draw(st.sampled_from(["", "==== 正文 ====", "|---|---|", "标题: " + t, "发布时间: " + t])))
        else:
            lines.append(t)
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


@FUZZ
@given(text_documents(), st.sampled_from(["txt", "md"]))
def test_fuzz_text_reader(text, fmt):
    from pipeline.ingest.text import parse_text

    blocks, meta, title = parse_text(text, fmt)
    _check_blocks(blocks)
    assert isinstance(meta, dict) and isinstance(title, str)


@FUZZ
@given(blob=st.one_of(st.binary(max_size=2000), html_documents().map(lambda s: s.encode("utf-8", "surrogatepass")),
                      text_documents().map(lambda s: s.encode("gb18030", "replace")),
                      text_documents().map(lambda s: s.encode("utf-16"))),
       name=st.sampled_from(["x.html", "x.txt", "x.md", "x.pdf", "x.docx", "x"]))
def test_fuzz_read_and_normalize_never_raise(blob, name, tmp_path_factory):
    from pipeline.batch import process_one
    from pipeline.ingest import read_document

    assume(b"\xd0\xcf\x11\xe0" not in blob[:8])  # legacy .doc would start LibreOffice: not what this fuzzes
    d = tmp_path_factory.getbasetemp() / "fuzz"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_bytes(blob)
    doc = read_document(p, name)
    assert doc.status in ("ok", "partial", "failed")
    if doc.status == "failed":
        zh, sep, en = doc.error.partition(" | ")
        assert sep and zh and en, doc.error
    r = process_one((str(p), name, "", {}))
    assert r.report["status"] in ("ok", "partial", "failed")
    assert len(r.cells) == len({(c["table"], c["block"], c["row_id"], c["col_id"]) for c in r.cells})
