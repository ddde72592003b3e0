"""Text normalisation for the text rules, shared by every rule that reads section text.

Rule patterns (rules/text_rules.yaml) are matched against the *normalised* text:
- NFKC (full-width digits and Latin letters become ASCII),
- every whitespace character removed (PDF/HTML line breaks inside words and numbers disappear: "管理办\\n法" →
  "管理办法", "2023 年" → "2023年"),
- thousands separators between digits removed ("11,398,889" → "11398889"),
- the ASCII punctuation , : ; ( ) ! ? turned back into the Chinese full-width forms ，：；（）！？ (so that a pattern
  is written with the punctuation Chinese text uses, whatever the source had).
"""
from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"[\s\u3000\u00a0\u2002\u2003\u200b\ufeff]+")
# Fast path of NFKC + the punctuation rule: the full-width ASCII forms (U+FF01..U+FF5E) become ASCII except the
# Chinese punctuation kept full-width, and the ASCII forms of that punctuation become full-width. Only characters
# that change are matched, so ordinary Chinese text costs one regex scan.
_KEEP = "，：；（）！？"
_MAP = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if chr(c) not in _KEEP}
_MAP.update({chr(ord(k) - 0xFEE0): k for k in _KEEP})
_MAP["\u3000"] = " "


def _nfkc_changes() -> str:
    """The characters (but whitespace and those of _MAP / _KEEP) that NFKC changes, in the blocks where
    compatibility characters live (Latin-1, spacing modifiers, general punctuation to CJK compatibility, CJK
    compatibility ideographs, presentation forms, half/full-width forms)."""
    out = []
    blocks = [(0xA0, 0x250), (0x2B0, 0x370), (0x2000, 0x2C00), (0x2E80, 0x2FE0), (0x3000, 0x3400), (0xF900, 0xFB50),
              (0xFE10, 0xFE70), (0xFF00, 0xFFF0)]
    for c in (c for a, b in blocks for c in range(a, b)):
        ch = chr(c)
        if 0xD800 <= c <= 0xDFFF or ch in _MAP or ch in _KEEP or ch.isspace():
            continue
        if unicodedata.normalize("NFKC", ch) != ch:
            out.append(ch)
    return "".join(out)


for _ch in _nfkc_changes():
    _MAP[_ch] = unicodedata.normalize("NFKC", _ch).translate(str.maketrans({",": "，", ":": "：", ";": "；", "(": "（",
                                                                            ")": "）", "!": "！", "?": "？"}))
_MAP["\u200b"] = ""
_MAP["\ufeff"] = ""
_FIX = re.compile("[" + re.escape("".join(_MAP)) + "]")
_HAS_THOUSANDS = re.compile(r"\d[,，]\d")
_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3}(?!\d))")
_PUNCT = str.maketrans({",": "，", ":": "：", ";": "；", "(": "（", ")": "）", "!": "！", "?": "？"})
_SENT_END = re.compile(r"(?<=[。；！？])|\n")


def norm(text: str) -> str:
    s = _FIX.sub(lambda m: _MAP[m.group(0)], text or "")      # NFKC, character by character where it changes
    s = "".join(s.split())                                       # every whitespace character
    return _THOUSANDS.sub("", s) if _HAS_THOUSANDS.search(s) else s


def norm_keep_lines(text: str) -> str:
    """Like norm() but line breaks are kept (as \\n): sentence openings and short heading lines stay visible."""
    return "\n".join(x for x in (norm(line) for line in (text or "").splitlines()) if x)


def sentence_at(text: str, start: int, end: int, limit: int = 80) -> str:
    """The sentence of normalised `text` containing [start, end): from the previous 。；！？ to the next one."""
    a = max(text.rfind(ch, 0, start) for ch in "。；！？\n") + 1
    ends = [i for i in (text.find(ch, end) for ch in "。；！？\n") if i >= 0]
    b = min(ends) + 1 if ends else len(text)
    s = text[a:b]
    if len(s) > limit:
        # keep the match visible
        lo = max(a, start - limit // 2)
        s = ("…" if lo > a else "") + text[lo:lo + limit] + ("…" if lo + limit < b else "")
    return s


def compile_pattern(p: str, **fields) -> re.Pattern:
    """A rule pattern: placeholders {year} {prev_year} {next_year} are filled in (regex-escaped), then compiled."""
    if fields and "{" in p:
        for k, v in fields.items():
            p = p.replace("{" + k + "}", re.escape(str(v)))
    return re.compile(p)
