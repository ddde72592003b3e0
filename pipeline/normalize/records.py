"""Document blocks → one ordered list of row records.

A grid row becomes a record with its label cells and its value cells (merged cells counted once). Running text
is cut at every table-vocabulary label it contains; the text that follows a label up to the next one is that
row's value run (possibly digits run together, which the table assembler splits). Everything downstream works
on records, whatever the input format was.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

from ..document import PAD, Document
from .values import parse_cell
from .vocab import Entry, anchor_regex, lookup, squeeze, squeeze_text, vocabulary

# characters a value run may contain: digits, separators, signs, dash tokens, units
_VALUE_RUN = re.compile(r"^[\s\u3000\u00a0\d０-９.,，．+\-－—―/／%无件万元个项]*")
_HEADING_START = re.compile(r"^\s*(?:[一二三四五六七八九十]+\s*[、.．]|[（(][一二三四五六七八九十]+[)）]|第[一二三四五六七八九十]+部分|附件|[#*])")


_OPENING = "（(“\"「『【《"
_CLOSING = "）)”\"」』】》:："


@dataclass(slots=True)
class Tok:
    raw: str
    location: str
    page: int | None = None


@dataclass(slots=True)
class Rec:
    kind: str                       # grid | stream | text
    labels: list[str] = field(default_factory=list)
    entries: tuple[Entry, ...] = ()  # vocabulary meanings of the label (empty: unlabelled or unknown)
    values: list[Tok] = field(default_factory=list)
    text: str = ""                   # text of the record (label + values) for zone/marker search
    location: str = ""
    page: int | None = None
    header_cols: list[tuple[str, int]] = field(default_factory=list)  # (col key, grid column) for header rows
    grid_cols: list[int] = field(default_factory=list)                # grid column of each value cell
    source: str = ""                                                  # the grid a grid row belongs to

    def has(self, kind: str, table: str | None = None) -> Entry | None:
        for e in self.entries:
            if e.kind == kind and (table is None or e.table == table):
                return e
        return None


@functools.lru_cache(maxsize=65536)
def _is_value_like(text: str) -> bool:
    p = parse_cell(text)
    return p.state in ("NUMBER", "BLANK", "DASH") or bool(re.fullmatch(r"[\s\d.,+\-]+", unicodedata.normalize("NFKC", text)))


def grid_records(grid, location: str) -> list[Rec]:
    out = []
    source, page = grid.source, grid.page
    for r, (row, ids) in enumerate(zip(grid.cells, grid.origin)):
        seen = {PAD}
        cells = [(text, c) for c, (text, oid) in enumerate(zip(row, ids))
                 if oid not in seen and not seen.add(oid)]   # merged cells once, padding never
        last_text = -1
        for i in range(len(cells) - 1, -1, -1):   # the last cell that is not a value ends the labels
            if not _is_value_like(cells[i][0]):
                last_text = i
                break
        label_part = cells[: last_text + 1]
        label_cells = [t for t, _ in label_part if t.strip()]
        value_cells = cells[last_text + 1:]
        where = f"{source} 第{r + 1}行"
        rec = Rec(kind="grid", labels=label_cells, text=" ".join(t for t, _ in cells if t),
                  location=where, page=page, source=source)
        rec.values = [Tok(t, f"{where} 第{c + 1}列", page) for t, c in value_cells]
        rec.grid_cols = [c for _, c in value_cells]
        # the most specific label cell that means something decides the row
        for t in reversed(label_cells):
            ents = lookup(t)
            if ents:
                rec.entries = ents
                break
        # header rows: remember which column words sit above which grid columns
        for t, c in label_part:
            for e in lookup(t, fuzzy=False):
                if e.kind == "col":
                    rec.header_cols.append((e.id, c))
                    break
        out.append(rec)
    return out


def stream_records(text: str, location: str, page: int | None = None) -> list[Rec]:
    """Cut running text at vocabulary anchors. Text before the first anchor is a plain text record."""
    matches = list(anchor_regex().finditer(squeeze_text(text)))
    if not matches:
        return [Rec(kind="text", text=text, location=location, page=page)]
    sq, idx = squeeze(text)
    out: list[Rec] = []
    first_raw = idx[matches[0].start()]
    if text[:first_raw].strip():
        out.append(Rec(kind="text", text=text[:first_raw], location=location, page=page))
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
        rec = Rec(kind="stream", labels=[label], entries=voc[m.group(0)], text=label + tail,
                  location=f"{location}「{label.strip()[:16]}」之后", page=page)
        has_value = re.search(r"[\d０-９]|无|[-—－/／]", run)
        if has_value and (not rest.strip() or _HEADING_START.match(rest) or _closing_punct(rest)):
            rec.values = [Tok(run, rec.location, page)]
        out.append(rec)  # a label word followed by narrative has no values: not a table row
    return out


def _closing_punct(rest: str) -> bool:
    return bool(re.match(r"^\s*[（(]?\s*$", rest))


def document_records(doc: Document) -> list[Rec]:
    recs: list[Rec] = []
    for b in doc.blocks:
        if b.kind == "table" and b.grid is not None:
            recs.extend(grid_records(b.grid, b.location))
        else:
            recs.extend(stream_records(b.text, b.location, b.page))
    return recs
