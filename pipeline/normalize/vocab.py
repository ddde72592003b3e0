"""The table vocabulary of every registered template: row/group/column labels, captions, notes.

Used to recognise table rows in grids (label cells) and to cut running text into rows (anchors).
"""
from __future__ import annotations

import difflib
import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass

from .. import templates as T
from ..templates import norm_label

_NUMBERING = re.compile(r"^(?:[一二三四五六七八九十]+|\d+)")


@dataclass(frozen=True)
class Entry:
    key: str          # normalised label (norm_label)
    kind: str         # row | group | col | caption | note | header
    table: str        # t2 | t3 | t4
    id: str           # canonical id (row/col/group/block id); '' for headers
    block: str = ""   # t2 block id
    core: bool = False  # matched through the label without its numbering


def core_key(key: str) -> str:
    return _NUMBERING.sub("", key)


@functools.cache
def vocabulary() -> dict[str, tuple[Entry, ...]]:
    """key → entries (a key may mean different things in different tables; the zone decides)."""
    out: dict[str, list[Entry]] = {}

    def add(text: str, kind: str, table: str, id_: str, block: str = "", with_core: bool = False):
        k = norm_label(text)
        if not k:
            return
        e = Entry(k, kind, table, id_, block)
        if e not in out.setdefault(k, []):
            out[k].append(e)
        if with_core:
            c = core_key(k)
            if c != k and len(c) >= 4:
                ec = Entry(c, kind, table, id_, block, core=True)
                if ec not in out.setdefault(c, []):
                    out[c].append(ec)

    for t in T.registry().values():
        for b in t.t2_blocks:
            add(b.caption, "caption", "t2", b.id, b.id)
            for r in b.rows:
                for lab in (r.label, *r.aliases):
                    add(lab, "row", "t2", r.id, b.id)
            for c in b.cols:
                for lab in (c.label, *c.aliases):
                    add(lab, "col", "t2", c.id, b.id)
        add(t.raw["t2"].get("header_first", "信息内容"), "header", "t2", "")
        add(t.t3_note, "note", "t3", "")
        for w in t.raw["t3"].get("header_words", []):
            add(w, "header", "t3", "")
        for g in t.t3_groups:
            add(g.label, "group", "t3", g.id, with_core=True)
        for r in t.t3_rows:
            for lab in (r.label, *r.aliases):
                add(lab, "row", "t3", r.id, with_core=True)
        for c in t.t3_cols:
            add(c.label, "col", "t3", c.id)
        for w in t.raw["t4"].get("header_words", []):
            add(w, "header", "t4", "")
        for g in t.t4_groups:
            add(g.label, "group", "t4", g.id)
        for c in t.t4_cols:
            add(c.label, "col", "t4", c.id)
    # gb2021 prints （六）其他处理 as a group, gb2019 as a value row: one key, both meanings
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def _keys_by_length() -> tuple[str, ...]:
    return tuple(sorted(vocabulary(), key=lambda k: (-len(k), k)))


@functools.lru_cache(maxsize=65536)
def lookup(text: str, fuzzy: bool = True) -> tuple[Entry, ...]:
    """Entries for one label cell: exact, then suffix (longest key ≥ 4 chars), then fuzzy (ratio ≥ 0.85).
    Memoized: the same label cells recur in every report."""
    k = norm_label(text)
    if not k:
        return ()
    voc = vocabulary()
    if k in voc:
        return voc[k]
    for key in _keys_by_length():
        if len(key) >= 4 and k.endswith(key):
            return voc[key]
    if fuzzy and len(k) >= 4:
        best, best_ratio = None, 0.0
        for key in _keys_by_length():
            if len(key) < 4 or abs(len(key) - len(k)) > max(3, len(key) // 3):
                continue
            r = difflib.SequenceMatcher(None, k, key, autojunk=False).ratio()
            if r > best_ratio:
                best, best_ratio = key, r
        if best is not None and best_ratio >= 0.85:
            return voc[best]
    return ()


@functools.cache
def anchor_regex() -> re.Pattern:
    """Every key (≥ 2 chars) as one pattern that matches, at each position, the longest key found there — what the
    alternation of the keys longest first matches. Written as a trie (keys sharing a prefix share its branch), so
    the engine follows one branch per position instead of trying each key in turn."""
    trie: dict = {}
    for k in _keys_by_length():
        if len(k) >= 2:
            node = trie
            for ch in k:
                node = node.setdefault(ch, {})
            node[""] = {}   # a key ends here

    def pattern(node: dict) -> str:
        # children first (greedy: the longer key wins), then the end of a key as the fallback
        alts = [re.escape(ch) + pattern(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        group = "(?:" + "|".join(alts) + ")"
        return group + "?" if "" in node else group

    return re.compile(pattern(trie))


_SQUEEZE_DROP = re.compile(r"[\s\u3000\u00a0\u2002\u200b\ufeff\"'“”‘’「」『』()（）\[\]【】:：,，、.．。;；!！?？《》<>〈〉·・\-－—_/／|｜*]")


_SQUEEZED: dict[str, str] = {}   # char -> what it squeezes to ('' when dropped); a few thousand distinct chars


def _squeeze_char(ch: str) -> str:
    kept = "".join(c for c in unicodedata.normalize("NFKC", ch) if not _SQUEEZE_DROP.match(c))
    if len(_SQUEEZED) < 100_000:
        _SQUEEZED[ch] = kept
    return kept


class _Translation(dict):
    """str.translate table built as characters are first seen: translate stays in C for every known char."""

    def __missing__(self, code: int) -> str:
        kept = _squeeze_char(chr(code))
        if len(self) < 100_000:
            self[code] = kept
        return kept


class _OneToOne(dict):
    """char -> does it squeeze to exactly one char; filled as characters are first seen."""

    def __missing__(self, ch: str) -> bool:
        kept = _SQUEEZED.get(ch)
        one = len(kept if kept is not None else _squeeze_char(ch)) == 1
        if len(self) < 100_000:
            self[ch] = one
        return one


_TRANSLATE = _Translation()
_ONE_TO_ONE = _OneToOne()


def _char_class(chars) -> str:
    return "".join(re.escape(c) for c in sorted(chars))


# Two kinds of character make up nearly all report text: those that squeeze to nothing (spaces, punctuation) and
# those that squeeze to themselves (CJK unified ideographs — they have no decomposition — and most of ASCII). Text
# made of these alone squeezes by deleting the former with one regex, much faster than a per-char translate.
_CANDIDATES = [chr(c) for c in (*range(0x250), *range(0x2000, 0x2070), *range(0x3000, 0x3040), *range(0xFE30, 0xFE70),
                                *range(0xFF00, 0xFFF0))]
_DROPPED = _char_class(c for c in _CANDIDATES if _squeeze_char(c) == "")
_SELF = _char_class(c for c in _CANDIDATES if _squeeze_char(c) == c)
_DROPPED_RUN = re.compile(f"[{_DROPPED}]+")
_NOT_SELF = re.compile(f"[^{_SELF}\u4e00-\u9fff]")


def squeeze_text(raw: str) -> str:
    """NFKC + drop spaces/punctuation (the squeezed text alone; see `squeeze` for the index map). Each character
    squeezes on its own, so deleting the dropped ones first changes nothing for the others."""
    out = _DROPPED_RUN.sub("", raw)
    if _NOT_SELF.search(out) is None:
        return out
    return out.translate(_TRANSLATE)


def squeeze(raw: str, squeezed: str | None = None) -> tuple[str, list[int]]:
    """NFKC + drop spaces/punctuation, with a map from each squeezed char to its raw index (`squeezed`: the
    squeeze_text of raw, when the caller has it already)."""
    out = squeeze_text(raw) if squeezed is None else squeezed
    idx = list(itertools.compress(range(len(raw)), map(_ONE_TO_ONE.__getitem__, raw)))
    if len(idx) == len(out):  # every kept char squeezed to exactly one char (nearly always)
        return out, idx
    out, idx = [], []
    table = _SQUEEZED
    for i, ch in enumerate(raw):
        s = table.get(ch)
        if s is None:
            s = _squeeze_char(ch)
        if s:
            if len(s) == 1:
                out.append(s)
                idx.append(i)
            else:
                out.extend(s)
                idx.extend([i] * len(s))
    return "".join(out), idx
