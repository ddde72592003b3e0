"""Section detection (template.md §1.2): the six parts by their headings, wherever the numbering went."""
from __future__ import annotations

import functools
import re

from .. import templates as T

_NUM_MAJOR = r"(?P<major>[一二三四五六七八九十]{1,2})\s*[、.．]"
_NUM_MINOR = r"[（(](?P<minor>[一二三四五六七八九十]{1,2})[)）]"
_CN = "一二三四五六七八九十"


def _canon_sections():
    tpl = T.get("gb2021")
    return [(s["id"], s["heading"], s["keywords"]) for s in tpl.sections]


@functools.cache
def _patterns() -> tuple:
    """Per section: its heading patterns in priority order (numbered major, numbered minor, a line of its own)."""
    out = []
    for order, (sid, canonical, keywords) in enumerate(_canon_sections(), start=1):
        kw = "(?:" + "|".join(keywords) + ")"
        pats = tuple((re.compile(pattern), prio) for pattern, prio in (
            (rf"{_NUM_MAJOR}\s*(?P<h>[^。\n；;\d]{{0,24}}?{kw}[^。\n；;，,：:]{{0,12}}?(?:情况|事项|措施)?)", 0),
            (rf"{_NUM_MINOR}\s*(?P<h>[^。\n；;]{{0,12}}?{kw}[^。\n；;，,：:]{{0,8}}?(?:情况|事项|措施)?)", 2),
            (rf"(?:^|\n)\s*(?P<h>{kw}[^。\n]{{0,12}}?)\s*(?:\n|$)", 3)))
        out.append((order, sid, canonical, pats))
    return tuple(out)


_SKIP_HEADING = re.compile(r"本年度办理结果|结转下")
# Where a match of the patterns of each priority can start (every such position: a numeral before 、/．, an opening
# parenthesis before a numeral, the text's start or a line break). The patterns are tried at these positions only,
# in order — the matches `finditer` would give, found without trying each pattern at every character.
# The first character of _NUM_MAJOR / _NUM_MINOR, the rest as a lookahead (a zero-width scan is slower): keep in step
# with them (tests/test_normalize_units.py compares with a full scan).
_STARTS = {0: re.compile(rf"[{_CN}](?=[{_CN}]?\s*[、.．])"), 2: re.compile(rf"[（(](?=[{_CN}]{{1,2}}[)）])"),
           3: re.compile(r"\n")}


def _starts(text: str) -> dict[int, list[int]]:
    out = {prio: [m.start() for m in rx.finditer(text)] for prio, rx in _STARTS.items()}
    if not text.startswith("\n"):
        out[3].insert(0, 0)   # `^` of `(?:^|\n)`
    return out


def _matches(pattern: re.Pattern, text: str, starts: list[int]):
    """`pattern.finditer(text)` for a pattern that can only match at `starts`: the next search resumes at the end
    of the previous match, as finditer does."""
    resume = 0
    for pos in starts:
        if pos < resume:
            continue
        m = pattern.match(text, pos)
        if m is not None:
            yield m
            resume = m.end()


def detect_sections(text: str) -> list[dict]:
    """Find each section heading; returns dicts (section_id, heading, canonical_heading, char_start, text, order)."""
    found = []
    starts = _starts(text)
    for order, sid, canonical, patterns in _patterns():
        best = None
        for pattern, prio in patterns:
            for m in _matches(pattern, text, starts[prio]):
                p = prio
                if prio == 0 and m.group("major") != _CN[order - 1]:
                    p = 1  # numbered, but not with this section's own numeral
                if prio == 0 and _SKIP_HEADING.match(m.group("h")):
                    continue
                best = (p, m.start(), m)
                break  # first match of each pattern is enough: priority decides between patterns
            if best is not None:
                break  # a later pattern has a lower priority (a larger number): it can never win
        if best is not None:
            m = best[2]
            found.append({"section_id": sid, "order": order, "heading": m.group(0).strip(), "canonical_heading": canonical,
                          "char_start": m.start(), "_end": m.end()})
    found.sort(key=lambda d: d["char_start"])
    for i, d in enumerate(found):
        nxt = found[i + 1]["char_start"] if i + 1 < len(found) else len(text)
        d["text"] = text[d.pop("_end"):nxt].strip()
    found.sort(key=lambda d: d["order"])
    return found
