"""Cell text → (state, value, unit, notes), and the recovery of cells run together without separators.

States follow contract.md: NUMBER, BLANK, DASH, UNPARSABLE (MISSING is decided by the table assembler).
"""
from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass

DASH_TOKENS = {"-", "--", "---", "—", "——", "－", "―", "–", "/", "／", "\\", "无", "n/a", "na", "空", "×", "x", "*"}
_WS = re.compile(r"[\s\u3000\u00a0\u2002\u2003\u200b\ufeff]+")
_NUM = re.compile(r"^([+\-]?)(\d+(?:,\d{3})*|\d+)(?:\.(\d+))?$")
_UNITS = ("万元", "元", "件", "个", "项", "次", "条", "份", "宗")


@dataclass(frozen=True, slots=True)
class Parsed:
    state: str
    value: float | None = None
    text: str = ""            # the number as plain digits ("" when no number)
    unit: str = ""
    notes: tuple[str, ...] = ()


def parse_cell(raw: str, signed: bool = False) -> Parsed:
    """One published cell → Parsed. `signed` allows a leading +/- (gb2019 本年增/减).
    A pure function of its arguments, memoized (a batch repeats the same few thousand cell texts): the result is
    shared, hence immutable."""
    return _parse_cell_cached(raw or "", signed)


@functools.lru_cache(maxsize=65536)
def _parse_cell_cached(raw: str, signed: bool) -> Parsed:
    return _parse_cell(raw, signed)


def _parse_cell(raw: str, signed: bool = False) -> Parsed:
    notes: list[str] = []
    s = raw or ""
    nf = unicodedata.normalize("NFKC", s)
    if nf != s and re.search(r"[０-９]", s):
        notes.append("fullwidth")
    s = _WS.sub("", nf)
    if s == "":
        return Parsed("BLANK", notes=tuple(notes))
    if s.lower() in DASH_TOKENS or re.fullmatch(r"[-—－―–]+", s):
        return Parsed("DASH", notes=tuple(notes))
    unit = ""
    for u in _UNITS:
        if s.endswith(u) and len(s) > len(u):
            unit, s = u, s[: -len(u)]
            break
    s = s.replace("，", ",")
    m = _NUM.match(s)
    if not m:
        return Parsed("UNPARSABLE", notes=tuple(notes))
    sign, intpart, frac = m.groups()
    if "," in intpart:
        notes.append("thousands_sep")
        intpart = intpart.replace(",", "")
    if sign == "+":
        notes.append("plus_sign")
        sign = ""
    if sign == "-" and not signed:
        notes.append("negative")
    if unit:
        notes.append("unit_" + {"万元": "wan", "元": "yuan"}.get(unit, "count"))
    intpart = intpart.lstrip("0") or "0"
    text = sign + intpart + ("." + frac if frac else "")
    if frac is not None and set(frac) == {"0"}:
        text = sign + intpart + "." + frac  # keep as printed (e.g. 0.00)
    value = float(text)
    if value in (float("inf"), float("-inf")):  # hundreds of digits: no count, and never an infinite value
        return Parsed("UNPARSABLE", notes=(*notes, "overflow"))
    return Parsed("NUMBER", value, _plain(text), unit, tuple(notes))


def _plain(text: str) -> str:
    """Canonical plain form: no trailing decimal zeros, no bare point."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- concatenated digits -----------------------------------------------------------------------------------------

_CHUNK = re.compile(r"[+\-]?\d+(?:\.\d+)?|[^\s\d+\-]+|[+\-]")


def chunks_of(text: str) -> list[str]:
    """Whitespace- and sign-delimited chunks of a value run: '2648-18538' → ['2648', '-18538']."""
    text = unicodedata.normalize("NFKC", text or "")
    out = []
    for part in _WS.split(text):
        if part:
            out.extend(_CHUNK.findall(part))
    return out


@functools.lru_cache(maxsize=65536)
def _splits_of_chunk(chunk: str, k: int, max_len: int) -> tuple[tuple[str, ...], ...]:
    """All ways to cut one digit chunk into k numbers without leading zeros ('0' itself is fine). Memoized: the
    recursion revisits the same tails, and the same runs recur across reports."""
    sign = ""
    if chunk[:1] in "+-":
        sign, chunk = chunk[0], chunk[1:]
    n = len(chunk)
    if k == 1:
        ok = (chunk == "0" or not chunk.startswith("0") or chunk.startswith("0.")) and len(chunk.split(".")[0]) <= max_len
        return ((sign + chunk,),) if ok and not chunk.startswith(".") and not chunk.endswith(".") else ()
    out = []
    for i in range(1, n):
        head, tail = chunk[:i], chunk[i:]
        if head.endswith(".") or tail.startswith("."):
            continue
        if len(head) > 1 and head.startswith("0") and not head.startswith("0."):
            continue
        if len(head.split(".")[0]) > max_len:
            break
        for rest in _splits_of_chunk(tail, k - 1, max_len):
            out.append((sign + head, *rest))  # a sign belongs to the first number of the chunk only
    return tuple(out)


_NUMBER_CHUNK = re.compile(r"[+\-]?\d+(?:\.\d+)?")


def candidate_splits(chunks: list[str], n: int, max_len: int = 9, limit: int = 50000) -> list[list[str]] | None:
    """Every way to read `chunks` (each a digit run) as exactly n numbers; None if there are too many."""
    if not chunks or len(chunks) > n or any(not _NUMBER_CHUNK.fullmatch(c) for c in chunks):
        return []
    digits = [len(c.lstrip("+-").replace(".", "")) for c in chunks]
    if sum(digits) < n:
        return []
    # a chunk of d digits reads as at most d numbers: what the chunks after i can still take
    capacity = [sum(digits[i + 1:]) for i in range(len(chunks))]
    results: list[list[str]] = []

    def rec(i: int, remaining: int, acc: list[str]) -> bool:
        if i == len(chunks):
            if remaining == 0:
                results.append(list(acc))
            return len(results) <= limit
        left = len(chunks) - i - 1
        for k in range(1, min(digits[i], n) + 1):
            if remaining - k < left:
                continue
            if remaining - k > capacity[i]:
                continue  # the rest cannot take what is left: no reading down this branch
            for opt in _splits_of_chunk(chunks[i], k, max_len):
                if not rec(i + 1, remaining - k, acc + list(opt)):
                    return False
        return True

    if not rec(0, n, []):
        return None
    return results


def product_limited(options: list[list], limit: int):
    """itertools.product, or None when it would exceed `limit` combinations."""
    total = 1
    for o in options:
        total *= max(1, len(o))
        if total > limit:
            return None
    return itertools.product(*options)
