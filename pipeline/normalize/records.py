"""Document blocks → one ordered list of row records.

A grid row becomes a record with its label cells and its value cells (merged cells counted once). Running text
is cut at every table-vocabulary label it contains; the text that follows a label up to the next one is that
row's value run (possibly digits run together, which the table assembler splits). Everything downstream works
on records, whatever the input format was.

What a row or a text block yields depends on its text alone (the location is added after), and the same label
rows and boilerplate paragraphs recur in every report: both are memoized by their text.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from ..document import PAD, Document
from .values import parse_cell
from .vocab import Entry, anchor_regex, lookup, squeeze, squeeze_text, vocabulary

# characters a value run may contain: digits, separators, signs, dash tokens, units
_VALUE_RUN = re.compile(r"^[\s\u3000\u00a0\d０-９.,，．+\-－—―/／%无件万元个项]*")
_HEADING_START = re.compile(r"^\s*(?:[一二三四五六七八九十]+\s*[、.．]|[（(][一二三四五六七八九十]+[)）]|第[一二三四五六七八九十]+部分|附件|[#*])")
_HAS_VALUE = re.compile(r"[\d０-９]|无|[-—－/／]")
_CLOSING_PUNCT = re.compile(r"^\s*[（(]?\s*$")
_NUMERIC = re.compile(r"[\s\d.,+\-]+")


_OPENING = "（(“\"「『【《"
_CLOSING = "）)”\"」』】》:："
_MEMO_MAX_LEN = 4000   # longer text blocks are cut without memoizing (rare; they would only fill the cache)


class Tok(NamedTuple):
    raw: str
    location: str
    page: int | None = None


_tok = functools.partial(tuple.__new__, Tok)   # Tok((raw, location, page)) without the Python-level __new__


@dataclass(slots=True)
class Rec:
    kind: str                        # grid | stream | text
    labels: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()  # vocabulary meanings of the label (empty: unlabelled or unknown)
    values: tuple[str, ...] = ()     # raw value cells (grid) or the value run (stream); see `tokens`
    text: str = ""                   # text of the record (label + values) for zone/marker search
    location: str = ""
    page: int | None = None
    header_cols: tuple[tuple[str, int], ...] = ()  # (col key, grid column) for header rows
    grid_cols: tuple[int, ...] = ()                # grid column of each value cell
    source: str = ""                               # the grid a grid row belongs to

    def has(self, kind: str, table: str | None = None) -> Entry | None:
        for e in self.entries:
            if e.kind == kind and (table is None or e.table == table):
                return e
        return None

    def tokens(self) -> list[Tok]:
        """The values with where each sits (made only for the rows the tables are read from)."""
        if self.kind == "grid":
            where, page = self.location, self.page
            return [_tok((t, f"{where} 第{c + 1}列", page)) for t, c in zip(self.values, self.grid_cols)]
        return [_tok((t, self.location, self.page)) for t in self.values]


@functools.lru_cache(maxsize=65536)
def _is_value_like(text: str) -> bool:
    p = parse_cell(text)
    return p.state in ("NUMBER", "BLANK", "DASH") or bool(_NUMERIC.fullmatch(unicodedata.normalize("NFKC", text)))


def _kept(row: list[str], ids: list[int]) -> tuple[int, ...] | None:
    """Positions of a grid row that start a source cell (merged cells once, padding never); None: all of them."""
    if len(ids) > len(row):
        ids = ids[:len(row)]
    first = dict(zip(ids[::-1], range(len(ids) - 1, -1, -1)))   # each id → the first position it covers
    first.pop(PAD, None)
    if len(first) == len(row):
        return None
    return tuple(sorted(first.values()))


@functools.lru_cache(maxsize=16384)
def _grid_row(row: tuple[str, ...], kept: tuple[int, ...] | None):
    """A grid row's texts → (labels, values, value grid columns, text, entries, header columns)."""
    cells = list(enumerate(row)) if kept is None else [(c, row[c]) for c in kept]
    last_text = -1
    for i in range(len(cells) - 1, -1, -1):   # the last cell that is not a value ends the labels
        if not _is_value_like(cells[i][1]):
            last_text = i
            break
    label_part = cells[: last_text + 1]
    value_part = cells[last_text + 1:]
    labels = tuple(t for _, t in label_part if t.strip())
    entries: tuple[Entry, ...] = ()
    for t in reversed(labels):   # the most specific label cell that means something decides the row
        entries = lookup(t)
        if entries:
            break
    header_cols = []   # header rows: which column words sit above which grid columns
    for c, t in label_part:
        for e in lookup(t, fuzzy=False):
            if e.kind == "col":
                header_cols.append((e.id, c))
                break
    return (labels, tuple(t for _, t in value_part), tuple(c for c, _ in value_part),
            " ".join(t for _, t in cells if t), entries, tuple(header_cols))


def grid_records(grid, location: str) -> list[Rec]:
    out = []
    source, page = grid.source, grid.page
    for r, (row, ids) in enumerate(zip(grid.cells, grid.origin)):
        labels, values, cols, text, entries, header_cols = _grid_row(tuple(row), _kept(row, ids))
        out.append(Rec("grid", labels, entries, values, text, f"{source} 第{r + 1}行", page, header_cols, cols, source))
    return out


def stream_records(text: str, location: str, page: int | None = None) -> list[Rec]:
    """Cut running text at vocabulary anchors. Text before the first anchor is a plain text record."""
    pieces = _cut_memo(text) if len(text) <= _MEMO_MAX_LEN else _cut(text)
    if pieces is None:
        return [Rec("text", text=text, location=location, page=page)]
    out: list[Rec] = []
    for piece in pieces:
        if len(piece) == 1:
            out.append(Rec("text", text=piece[0], location=location, page=page))
        else:
            label, short, rec_text, entries, values = piece
            out.append(Rec("stream", (label,), entries, values, rec_text, f"{location}「{short}」之后", page))
    return out


def _cut(text: str) -> tuple[tuple, ...] | None:
    """The pieces of a text block: (leading text,) and (label, short label, text, entries, values) per anchor;
    None when it holds no anchor."""
    sq = squeeze_text(text)
    matches = list(anchor_regex().finditer(sq))
    if not matches:
        return None
    sq, idx = squeeze(text, sq)
    out: list[tuple] = []
    first_raw = idx[matches[0].start()]
    if text[:first_raw].strip():
        out.append((text[:first_raw],))
    voc = vocabulary()
    for i, m in enumerate(matches):
        raw_start = idx[m.start()]
        raw_label_end = idx[m.end() - 1] + 1
        raw_next = idx[matches[i + 1].start()] if i + 1 < len(matches) else len(text)
        # a label's numbering punctuation ("2." / "（七）") sits before the squeezed match: widen to include it
        while raw_start > 0 and text[raw_start - 1] in _OPENING:
            raw_start -= 1
        while raw_label_end < raw_next and text[raw_label_end] in _CLOSING:
            raw_label_end += 1
        label = text[raw_start:raw_label_end]
        tail = text[raw_label_end:raw_next]
        run = _VALUE_RUN.match(tail).group(0)
        rest = tail[len(run):]
        values = ()
        if _HAS_VALUE.search(run) and (not rest.strip() or _HEADING_START.match(rest) or _CLOSING_PUNCT.match(rest)):
            values = (run,)   # a label word followed by narrative has no values: not a table row
        out.append((label, label.strip()[:16], label + tail, voc[m.group(0)], values))
    return tuple(out)


_cut_memo = functools.lru_cache(maxsize=8192)(_cut)


def document_records(doc: Document) -> list[Rec]:
    recs: list[Rec] = []
    for b in doc.blocks:
        if b.kind == "table" and b.grid is not None:
            recs.extend(grid_records(b.grid, b.location))
        else:
            recs.extend(stream_records(b.text, b.location, b.page))
    return recs
