"""Template classification (template.md §3.7): gb2021 / gb2019 / legacy2008 / mixed / unknown.

Markers are counted inside the table zones only, never in the narrative (words such as 行政规范性文件 and
逾期不补正 also occur in ordinary prose).
"""
from __future__ import annotations

import functools

from .. import templates as T
from ..templates import norm_label

LEGACY_MARKERS = ("概述", "依申请公开政府信息情况", "政府信息公开的收费及减免情况",
                  "因政府信息公开申请行政复议、提起行政诉讼的情况", "存在的主要问题及改进措施",
                  "政府信息公开情况统计表", "受理依申请公开信息总数", "主动公开文件数")


@functools.cache
def _markers(template_id: str) -> tuple[str, ...]:
    return tuple(norm_label(m) for m in T.get(template_id).markers)


def count_markers(table_text: str, template_id: str, normalized: bool = False) -> int:
    t = table_text if normalized else norm_label(table_text)
    return sum(1 for m in _markers(template_id) if m in t)


@functools.lru_cache(maxsize=16384)
def _norm_piece(text: str) -> str:
    return norm_label(text)


def norm_table_text(pieces: list[str]) -> str:
    """norm_label of the pieces joined by newlines, from the norm_label of each piece (memoized: the same rows
    recur in every report). Equal by construction: a newline is dropped by norm_label and NFKC never composes or
    reorders across it."""
    return "".join(_norm_piece(p) if len(p) <= 2000 else norm_label(p) for p in pieces)


def classify(table_text: str, full_text: str, other_subrows: bool, other_single_row: bool,
             normalized: bool = False) -> tuple[str, int, int]:
    """`normalized`: table_text is norm_label'd already (see norm_table_text)."""
    t = table_text if normalized else norm_label(table_text)
    m21 = count_markers(t, "gb2021", normalized=True) + (1 if other_subrows else 0)
    m19 = count_markers(t, "gb2019", normalized=True) + (1 if other_single_row and not other_subrows else 0)
    # 行政规范性文件 contains 规范性文件, 本年新 … : the sets are disjoint after normalisation, so no double counting
    if m21 >= 2 and m19 >= 2:
        return "mixed", m21, m19
    if m21 >= 3 and m19 <= 1:
        return "gb2021", m21, m19
    if m19 >= 3 and m21 <= 1:
        return "gb2019", m21, m19
    full = norm_label(full_text)
    legacy = sum(1 for m in LEGACY_MARKERS if norm_label(m) in full)
    if m21 < 2 and m19 < 2 and legacy >= 2:
        return "legacy2008", m21, m19
    if m21 > m19 and m21 >= 2:
        return "gb2021", m21, m19
    if m19 > m21 and m19 >= 2:
        return "gb2019", m21, m19
    return "unknown", m21, m19
