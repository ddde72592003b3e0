"""Row records → the canonical cells of one template (t2, t3, t4), every template cell emitted.

Rows are found by their labels; columns by position within the row (7 t3 columns, 15 t4 values), with the
header words used when a row has a different number of cells. Rows printed without a label (jumbled PDF
conversions) fill the template rows missing between their labelled neighbours when the count fits exactly.
Cells run together without separators are split in the one way that satisfies the row and column identities;
when several splits remain, the cells are UNPARSABLE with the note ``split_ambiguous`` — never a silent guess.

Cells are emitted as the output rows (dicts, see `_cell` for the fields): a report has some 250 of them,
so what a row's cells hold is worked out once per distinct row text (see `_read`).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from .. import identities
from ..templates import Template
from .records import Rec, Tok
from .values import Parsed, candidate_splits, chunks_of, parse_cell, product_limited

T4_ONLY_COLS = {"col.upheld", "col.corrected", "col.other_result", "col.pending"}
_SECTION_TEXT = re.compile(r"(存在的?(主要)?问题|改进(情况|措施)|整改|其他需要报告)")
_NARRATIVE = re.compile(r"[\u4e00-\u9fff][^\n]{0,80}[，。；！？][^\n]{0,80}[\u4e00-\u9fff]|[^\n]{60,}")


Cell = dict   # one output row: report_id, table, row_id, col_id, value, state, raw, page, location, block, unit, note


def _cell(rid: str, table: str, block: str, row_id: str, col_id: str, value: float | None, state: str, raw: str,
          tok: Tok | None, unit: str, note: str) -> Cell:
    """One output row (the hot path in `_row_cells` writes the same dict inline)."""
    return {"report_id": rid, "table": table, "row_id": row_id, "col_id": col_id, "value": value, "state": state,
            "raw": raw, "page": tok.page if tok is not None else None, "location": tok.location if tok is not None else "",
            "block": block, "unit": unit, "note": note}


def missing_cell(rid: str, table: str, block: str, row_id: str, col_id: str) -> Cell:
    return _cell(rid, table, block, row_id, col_id, None, "MISSING", "", None, "", "")


@functools.lru_cache(maxsize=65536)
def _squash(raw: str) -> str:
    """The raw text as emitted: whitespace runs collapsed to one space, ends stripped."""
    return " ".join(raw.split())


@functools.lru_cache(maxsize=4096)
def _note(notes: tuple[str, ...]) -> str:
    return ";".join(dict.fromkeys(notes))


@dataclass(slots=True)
class TableResult:
    cells: list[Cell]
    duplicate_rows: list[str] = field(default_factory=list)
    unassigned_rows: int = 0
    found: dict = field(default_factory=dict)  # table -> bool (any row of it found)


# --- zones ------------------------------------------------------------------------------------------------------

def find_zones(recs: list[Rec]) -> dict[str, tuple[int, int]]:
    n = len(recs)
    first_t3 = next((i for i, r in enumerate(recs) if r.values and r.has("row", "t3")), None)
    first_t2_caption = next((i for i, r in enumerate(recs) if r.has("caption", "t2")), None)
    zones: dict[str, tuple[int, int]] = {}
    if first_t3 is not None:
        # back up over the t3 header (note, 申请人情况, column words) printed just before the first row
        start = first_t3
        while start > 0 and (recs[start - 1].has("note", "t3") or recs[start - 1].has("header", "t3")
                             or recs[start - 1].has("col", "t3") or (recs[start - 1].kind == "grid" and not recs[start - 1].values)
                             or (recs[start - 1].kind != "text" and not recs[start - 1].entries)
                             or (recs[start - 1].kind == "text" and len(recs[start - 1].text) < 30)):
            start -= 1
        t4_start = next((i for i in range(first_t3 + 1, n) if _is_t4_anchor(recs[i])), None)
        zones["t3"] = (start, t4_start if t4_start is not None else n)
        t4 = _t4_zone(recs, first_t3 + 1)
    else:
        t4 = _t4_zone(recs, 0)
    if t4 is not None:
        zones["t4"] = t4
    t2_start = first_t2_caption if first_t2_caption is not None else 0
    t2_end = zones["t3"][0] if "t3" in zones else (zones["t4"][0] if "t4" in zones else n)
    if first_t2_caption is not None and first_t2_caption >= t2_end:
        t2_end = n
    zones["t2"] = (t2_start, t2_end)
    return zones


def _t4_zone(recs: list[Rec], begin: int) -> tuple[int, int] | None:
    """The first stretch that starts at a t4 header word and holds values before the narrative resumes.

    Trying each anchor in turn skips mentions of 行政复议 in the narrative that precede the table.
    """
    n = len(recs)
    for i in range(begin, n):
        if not _is_t4_anchor(recs[i]):
            continue
        end = i + 1
        while end < n and not _ends_t4(recs[end]):
            end += 1
        if any(_t4_values(r) for r in recs[i:end]):
            return (i, end)
    return None


def _t4_values(rec: Rec) -> bool:
    """Does this record carry table 四 values (not a t2/t3 row, not a header row's empty cells)?"""
    if not rec.values or rec.has("row", "t3") or rec.has("row", "t2"):
        return False
    return not (rec.kind == "grid" and rec.labels and not rec.has("group", "t4"))


def _is_t4_anchor(r: Rec) -> bool:
    if r.has("row", "t3") or r.has("row", "t2"):
        return False
    for e in r.entries:
        if e.table == "t4" and (e.kind in ("header", "group") or (e.kind == "col" and e.id in T4_ONLY_COLS)):
            return True
    return False


def _ends_t4(r: Rec) -> bool:
    if r.kind == "text":
        return bool(_SECTION_TEXT.search(r.text)) or bool(_NARRATIVE.search(r.text))
    if r.has("row", "t3") or r.has("row", "t2") or r.has("caption", "t2"):
        return True
    return False


# --- reading a row's values ----------------------------------------------------------------------------------

def _parsed_cells(raws: tuple[str, ...], n: int, signed: tuple[bool, ...]) -> list[tuple[Parsed, int]] | None:
    """Grid-like cells → exactly n (parsed cell, index of its token), or None if the count does not fit (blank
    cells at either end beyond n are dropped)."""
    lo, hi = 0, len(raws)
    while hi - lo > n and parse_cell(raws[hi - 1]).state == "BLANK":
        hi -= 1
    while hi - lo > n and parse_cell(raws[lo]).state == "BLANK":
        lo += 1
    if hi - lo != n:
        return None
    return [(parse_cell(raws[i], s), i) for i, s in zip(range(lo, hi), signed)]


@dataclass(slots=True)
class RowRead:
    cells: list[tuple[Parsed, Tok] | None] | None = None   # resolved
    candidates: list[list[str]] | None = None       # unresolved digit splits
    raw: str = ""
    tok: Tok | None = None
    split: bool = False
    payloads: tuple | None = None   # per resolved cell: (value, state, raw, unit, note) as emitted (see _read_row)


def read_row(tokens: list[Tok], n: int, signed: list[bool], row_check=None) -> RowRead:
    """Read one row of n cells; `row_check(list[float]) -> bool` is the row identity used to pick a split."""
    return _with_tokens(_read(tuple(t.raw for t in tokens), n, tuple(signed), row_check), tokens)


def read_rec(rec: Rec, n: int, signed: tuple[bool, ...], row_check=None) -> RowRead:
    """read_row of one record's values."""
    return _with_tokens(_read(rec.values, n, signed, row_check), rec.tokens())


def _with_tokens(shape: tuple, tokens: list[Tok]) -> RowRead:
    """A read (token indices) → RowRead (the tokens themselves)."""
    cells, candidates, raw, tok, split, payloads = shape
    return RowRead(None if cells is None else [(p, tokens[i]) for p, i in cells],
                   None if candidates is None else list(candidates), raw, None if tok is None else tokens[tok], split,
                   payloads)


def _read(raws: tuple[str, ...], n: int, signed: tuple[bool, ...], row_check) -> tuple:
    """How a row of cell texts reads: (cells as (parsed, token index) | None, candidates | None, raw, token index of
    the run | None, split). A pure function of its arguments (row_check: a memoized identity check), memoized but
    for very long rows: the same rows recur across reports."""
    if len(raws) <= 64:
        return _read_memo(raws, n, signed, row_check)
    return _read_row(raws, n, signed, row_check)


def _read_row(raws: tuple[str, ...], n: int, signed: tuple[bool, ...], row_check) -> tuple:
    direct = _parsed_cells(raws, n, signed)
    if direct is not None and all(p.state != "UNPARSABLE" for p, _ in direct):
        return _resolved(direct, raws, None, "", None, False)
    raw = " ".join(raws)   # candidate readings of a value run (or of grid cells that hold runs) as n numbers
    cands = candidate_splits(chunks_of(raw), n)
    tok = 0 if raws else None
    if cands is None or not cands:
        if direct is not None:
            return _resolved(direct, raws, None, "", None, False)
        return None, [], raw, tok, False, None
    if row_check is not None:
        ok = [c for c in cands if row_check([float(x) for x in c])]
        if ok:
            cands = ok
    if len(cands) == 1:
        cells = [(parse_cell(x, s), tok) for x, s in zip(cands[0], signed)]
        return _resolved(cells, raws, None, raw, tok, len(chunks_of(raw)) < n)
    return None, cands, raw, tok, True, None


def _resolved(cells: list[tuple[Parsed, int]], raws: tuple[str, ...], *rest) -> tuple:
    """A resolved read with what each cell emits: what `_filled` gives for the parsed cell and its token's text."""
    split = rest[-1]
    payloads = tuple(_payload(p, raws[i], _SPLIT if split else ()) for p, i in cells)
    return (cells, *rest, payloads)


def _payload(parsed: Parsed, raw: str, notes: tuple[str, ...]) -> tuple:
    notes = parsed.notes + notes if notes else parsed.notes
    return parsed.value, parsed.state, _squash(raw) if raw else "", parsed.unit, _note(notes) if notes else ""


_read_memo = functools.lru_cache(maxsize=16384)(_read_row)


def _filled(rid: str, table: str, block: str, row_id: str, col_id: str, parsed: Parsed, tok: Tok | None,
            raw: str | None = None, notes: tuple[str, ...] = ()) -> Cell:
    if raw is None:
        raw = tok.raw if tok is not None else ""
    value, state, raw, unit, note = _payload(parsed, raw, notes)
    return _cell(rid, table, block, row_id, col_id, value, state, raw, tok, unit, note)


def _unparsable(rid: str, table: str, block: str, row_id: str, col_id: str, raw: str, tok: Tok | None,
                note: str) -> Cell:
    return _cell(rid, table, block, row_id, col_id, None, "UNPARSABLE", _squash(raw) if raw else "", tok, "", note)


_SPLIT = ("digits_split",)


def _row_cells(rid: str, table: str, block: str, keys: tuple[tuple[str, str], ...], rr: RowRead) -> list[Cell]:
    """The cells (row_id, col_id in `keys`) of one read row: resolved values, the values every candidate split
    agrees on, else UNPARSABLE; MISSING where the read has no cell."""
    if rr.payloads is not None:   # a read of cell texts: what each cell emits is known, only its place is added
        out = [{"report_id": rid, "table": table, "row_id": r, "col_id": c, "value": value, "state": state,
                "raw": raw, "page": tok.page, "location": tok.location, "block": block, "unit": unit, "note": note}
               for (r, c), (_, tok), (value, state, raw, unit, note) in zip(keys, rr.cells, rr.payloads)]
    elif rr.cells is not None:
        notes = _SPLIT if rr.split else ()
        out = [_filled(rid, table, block, r, c, pt[0], pt[1], None, notes) if pt is not None
               else missing_cell(rid, table, block, r, c) for (r, c), pt in zip(keys, rr.cells)]
    else:
        note = "split_ambiguous" if rr.candidates else "unreadable_row"
        agree = _agreeing(rr.candidates) if rr.candidates else [None] * len(keys)
        out = [_filled(rid, table, block, r, c, parse_cell(v), rr.tok, rr.raw, _SPLIT) if v is not None
               else _unparsable(rid, table, block, r, c, rr.raw, rr.tok, note) for (r, c), v in zip(keys, agree)]
    if len(out) < len(keys):
        out.extend(missing_cell(rid, table, block, r, c) for r, c in keys[len(out):])
    return out


@functools.lru_cache(maxsize=256)
def _row_keys(row_id: str, cols: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((row_id, c) for c in cols)


@functools.lru_cache(maxsize=256)
def _missing_row(table: str, block: str, row_id: str, cols: tuple[str, ...]) -> tuple[Cell, ...]:
    return tuple(missing_cell("", table, block, row_id, c) for c in cols)


def _missing_cells(rid: str, table: str, block: str, row_id: str, cols: tuple[str, ...]) -> list[Cell]:
    """A row of MISSING cells (copies of the row made once per template row)."""
    return [{**cell, "report_id": rid} for cell in _missing_row(table, block, row_id, cols)]


# --- t2 -----------------------------------------------------------------------------------------------------------

def assemble_t2(recs: list[Rec], zone: tuple[int, int], tpl: Template, rid: str = "") -> tuple[list[Cell], bool, list[str]]:
    by_row = {r.id for b in tpl.t2_blocks for r in b.rows}
    seen: dict[str, Rec] = {}
    dups = []
    for rec in recs[zone[0]:zone[1]]:
        if not rec.values:
            continue
        e = rec.has("row", "t2")
        if not e or e.id not in by_row:
            continue
        if e.id in seen:
            dups.append(e.id)
            continue
        seen[e.id] = rec
    cells: list[Cell] = []
    for b in tpl.t2_blocks:
        cols = tuple(c.id for c in b.cols)
        for r in b.rows:
            rec = seen.get(r.id)
            if rec is None:
                cells.extend(_missing_cells(rid, "t2", b.id, r.id, cols))
                continue
            rr = read_rec(rec, len(cols), tuple(c.signed for c in b.cols))
            if rr.cells is not None:
                cells.extend(_row_cells(rid, "t2", b.id, _row_keys(r.id, cols), rr))
            else:   # digits of a t2 row that do not split one way: the whole row is unreadable
                note = "split_ambiguous" if rr.candidates else "unreadable_row"
                cells.extend(_unparsable(rid, "t2", b.id, r.id, c, rr.raw, rr.tok, note) for c in cols)
    return cells, bool(seen), dups


# --- t3 -----------------------------------------------------------------------------------------------------------

def _t3_header_positions(recs: list[Rec], zone: tuple[int, int], tpl: Template) -> dict[str, dict[int, str]]:
    """Per grid: grid column where each t3 column header starts (only grids whose header names all 7 columns)."""
    wanted = {c.id for c in tpl.t3_cols}
    per_grid: dict[str, dict[str, int]] = {}
    for rec in recs[zone[0]:zone[1]]:
        if rec.kind != "grid":
            continue
        for col_id, c in rec.header_cols:
            if col_id in wanted:
                per_grid.setdefault(rec.source, {}).setdefault(col_id, c)
    out = {}
    for src, pos in per_grid.items():
        if set(pos) == wanted and len(set(pos.values())) == len(wanted):
            out[src] = {c: col_id for col_id, c in pos.items()}
    return out


def _by_header(rec: Rec, positions: dict[int, str], cols: list[str]) -> list | None:
    """Map a grid row's value cells to columns by the header column each one sits under."""
    starts = sorted(positions)
    mapped: list = [None] * len(cols)
    for tok, gc in zip(rec.tokens(), rec.grid_cols):
        under = [s for s in starts if s <= gc]
        if not under:
            if parse_cell(tok.raw).state == "BLANK":
                continue  # an empty label-column leftover left of the first header
            return None
        i = cols.index(positions[under[-1]])
        if mapped[i] is not None:
            if parse_cell(tok.raw).state == "BLANK":
                continue
            return None
        mapped[i] = (parse_cell(tok.raw), tok)
    return mapped


def assemble_t3(recs: list[Rec], zone: tuple[int, int], tpl: Template, rid: str = "") -> TableResult:
    cols = [c.id for c in tpl.t3_cols]
    n = len(cols)
    rows_all = [r.id for r in tpl.t3_rows]
    # pass 1: labelled rows with values, unlabelled value rows, in document order
    events: list[tuple[str, object]] = []   # ("L", row_id) | ("U", rec)
    found: dict[str, Rec] = {}
    dups: list[str] = []
    collapsed = False
    for rec in recs[zone[0]:zone[1]]:
        if not rec.values:
            continue
        e = rec.has("row", "t3")
        if e is None:
            if rec.entries or rec.labels:
                continue  # a header/column-word row or an unknown labelled row
            if any(parse_cell(t).state in ("NUMBER", "DASH") for t in rec.values) or rec.kind == "grid":
                events.append(("U", rec))
            continue
        row_id = e.id
        if row_id == "t3.other" and "t3.other" not in rows_all:
            collapsed = True  # gb2021 layout printing （六）其他处理 as one value row
        if row_id in found:
            dups.append(row_id)
            continue
        found[row_id] = rec
        events.append(("L", row_id))

    rows = list(rows_all)
    if collapsed:
        i = rows.index("t3.total_processed")
        rows.insert(i, "t3.other")
    index = {r: i for i, r in enumerate(rows)}
    # pass 2: unlabelled rows fill the gaps between labelled neighbours when the count fits exactly
    unassigned = 0
    j = 0
    while j < len(events):
        if events[j][0] != "U":
            j += 1
            continue
        k = j
        while k < len(events) and events[k][0] == "U":
            k += 1
        prev = next((index.get(events[x][1], -1) for x in range(j - 1, -1, -1) if events[x][0] == "L"), -1)
        nxt = next((index.get(events[x][1], len(rows)) for x in range(k, len(events)) if events[x][0] == "L"), len(rows))
        gap = [r for r in rows[prev + 1:nxt] if r not in found and not (collapsed and r.startswith("t3.other."))]
        if len(gap) == k - j and prev < nxt:
            for r, (_, rec) in zip(gap, events[j:k]):
                found[r] = rec
        else:
            unassigned += k - j
        j = k

    # pass 3: read values; rows whose digits need splitting keep their candidates for the table-level pass
    headers = _t3_header_positions(recs, zone, tpl) if found else {}
    reads: dict[str, RowRead] = {}
    unsigned = (False,) * n
    for r in rows:
        rec = found.get(r)
        if rec is None:
            continue
        if rec.kind == "grid" and len(rec.values) != n and rec.source in headers:
            mapped = _by_header(rec, headers[rec.source], cols)
            if mapped is not None:
                reads[r] = RowRead(cells=mapped)  # columns by the header each cell sits under
                continue
        reads[r] = read_rec(rec, n, unsigned, row_check=_row_check("t3", [r], cols))
    _resolve_with_column_identities(reads, rows, cols)

    cells: list[Cell] = []
    col_key = tuple(cols)
    for r in rows:
        rr = reads.get(r)
        if rr is None:
            cells.extend(_missing_cells(rid, "t3", "", r, col_key))
        else:
            cells.extend(_row_cells(rid, "t3", "", _row_keys(r, col_key), rr))
    return TableResult(cells=cells, duplicate_rows=dups, unassigned_rows=unassigned,
                       found={"t3": bool(found)})


def _agreeing(cands: list[list[str]]) -> list[str | None]:
    return [col[0] if len(set(col)) == 1 else None for col in zip(*cands)]


def _row_check(table: str, instances: list[str], cols: list[str]):
    """The row identities of rules/identities.yaml (I-T3-3, I-T4-1) as a check on one candidate reading."""
    return _compiled_row_check(table, tuple(instances), tuple(cols))


@functools.lru_cache(maxsize=256)
def _compiled_row_check(table: str, instances: tuple[str, ...], cols: tuple[str, ...]):
    """The identities resolved once into value positions: a candidate is checked by plain sums (it is called for
    every candidate split of every row)."""
    n_cols = len(cols)
    plans = []
    for ident in identities.for_table(table, "row"):
        lhs = [cols.index(c) for c in ident.resolve(ident.lhs, list(cols)) if c in cols]
        rhs = [cols.index(c) for c in ident.resolve(ident.rhs, list(cols)) if c in cols]
        for inst in ident.instances_of(list(instances)):
            base = instances.index(inst) * n_cols
            plans.append(([base + j for j in lhs], [base + j for j in rhs]))

    def check(v: list[float]) -> bool:
        return all(abs(sum(v[k] for k in lhs) - sum(v[k] for k in rhs)) < 1e-6 for lhs, rhs in plans)

    return check


def _resolve_with_column_identities(reads: dict[str, RowRead], rows: list[str], cols: list[str]) -> None:
    """Among the remaining splits, pick the combination satisfying the most column identities (I-T3-1, I-T3-2)."""
    open_rows = [r for r in rows if reads.get(r) and reads[r].cells is None and reads[r].candidates]
    if not open_rows:
        return
    combos = product_limited([reads[r].candidates for r in open_rows], 20000)
    if combos is None:
        return
    fixed: dict[str, list[float]] = {}
    for r, rr in reads.items():
        if rr.cells is not None:
            fixed[r] = [(pt[0].value or 0.0) if pt is not None else 0.0 for pt in rr.cells]
    present = [r for r in rows if r in reads]
    col_idents = identities.for_table("t3", "col")
    best, best_score = [], -1
    for combo in combos:
        vals = dict(fixed)
        for r, c in zip(open_rows, combo):
            vals[r] = [float(x) for x in c]

        def value(row, col):
            v = vals.get(row)
            return v[cols.index(col)] if v is not None else 0.0

        score = sum(ident.holds(value, present, cols) for ident in col_idents)
        if score > best_score:
            best, best_score = [combo], score
        elif score == best_score:
            best.append(combo)
    for i, r in enumerate(open_rows):
        options = {tuple(combo[i]) for combo in best}
        reads[r].candidates = [list(o) for o in sorted(options)]
        if len(options) == 1:
            reads[r].cells = [(parse_cell(x), reads[r].tok) for x in list(options)[0]]


# --- t4 -----------------------------------------------------------------------------------------------------------

def assemble_t4(recs: list[Rec], zone: tuple[int, int] | None, tpl: Template, rid: str = "") -> tuple[list[Cell], bool]:
    groups = [g.id for g in tpl.t4_groups]
    cols = [c.id for c in tpl.t4_cols]
    n = len(groups) * len(cols)
    if zone is None:
        return [missing_cell(rid, "t4", "", g, c) for g in groups for c in cols], False
    tokens: list[Tok] = []
    for rec in recs[zone[0]:zone[1]]:
        if not _t4_values(rec):
            continue
        if len(tokens) >= n and rec.kind == "grid":
            break  # a repeated copy of the table
        tokens.extend(rec.tokens())
    if not tokens:
        return [missing_cell(rid, "t4", "", g, c) for g in groups for c in cols], False
    rr = read_row(tokens, n, [False] * n, row_check=_row_check("t4", groups, cols))
    return _row_cells(rid, "t4", "", tuple((g, c) for g in groups for c in cols), rr), True
