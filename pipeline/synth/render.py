"""Rendering synthetic reports: table grids shared by all formats, the format dispatch and the truth JSON.

`render(report, fmt, **options)` → (bytes, truth_dict). Formats:

| fmt | looks like | options |
|---|---|---|
| `html_word` | Word-exported HTML (pingtan-2021-page.html, shuyang-fgj-2023.html) | encoding utf-8/gbk, chrome, t2_layout single/split, label_breaks None/"br"/"p", junk, blank_style |
| `txt_cells` | a .docx text dump, one TAB-prefixed line per cell (hongqiao-sfj-2021.txt) | label_breaks, junk |
| `txt_crawler` | a crawler page.txt, body on one line, cells run together (pingtan-2021.txt) | spaces, t4_spaced, breadcrumb |
| `md` | a (well-formed) PDF-to-markdown conversion (sh-kewei-2024.md) | headings |
| `docx` / `doc` | a Word document with real merged cells (doc: converted by LibreOffice) | nested, t2_layout, label_breaks, junk |
| `pdf` | the Word-style HTML printed to PDF by Chromium/LibreOffice | page_size, borderless, vertical_headers, engine |
| `pdf_scan` | an image-only PDF: pages drawn with PIL, skewed and noisy (needs OCR to read) | skew, noise, text |

Common options: `file` (the file name recorded in the truth), `url`, `seed` (varies junk/spacing; defaults to the
report seed). The truth records the PUBLISHED values (null = blank or missing cell).
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.synth import narrative
from pipeline.synth.numbers import SIGNED_COLS, T3_NON_RESULT, Report, fmt_value, rng

# format → (module in pipeline.synth, function(rep, blocks, **options) -> bytes | (bytes, ambiguous_cells), extension)
RENDERERS = {
    "html_word": ("fmt_html", "render_html", "html"),
    "txt_cells": ("fmt_text", "render_cells", "txt"),
    "txt_crawler": ("fmt_text", "render_crawler", "txt"),
    "md": ("fmt_md", "render_md", "md"),
    "docx": ("fmt_docx", "render_docx", "docx"),
    "doc": ("fmt_docx", "render_doc", "doc"),
    "pdf": ("fmt_pdf", "render_pdf", "pdf"),
    "pdf_scan": ("fmt_scan", "render_scan", "pdf"),
}
# text formats: rendered without any external program, byte-identical, used for the sample inbox and most tests
FORMATS = ("html_word", "txt_cells", "txt_crawler", "md")
EXTENSIONS = {fmt: ext for fmt, (_, _, ext) in RENDERERS.items()}


@dataclass
class GCell:
    """One source cell of a table: text (a '\\n' inside is a line break in the cell), spans, role, and for value
    cells the (table, row_id, col_id) it holds."""
    text: str
    rowspan: int = 1
    colspan: int = 1
    kind: str = "label"           # label | header | note | caption | value
    key: tuple | None = None


def _spans(n: int, width: int) -> list[int]:
    return [1] * (n - 1) + [width - (n - 1)]


def break_label(label: str) -> str:
    """A narrow header cell wraps its 4-character label in two (商业企业 → 商业\\n企业, 结果纠正 → 结果\\n纠正)."""
    return label[:2] + "\n" + label[2:] if len(label) == 4 else label


class Cells:
    """Formats value cells of one report for one rendering (signs, whitespace junk), deterministically."""

    def __init__(self, rep: Report, seed, junk: bool = False, signed_plus: bool | None = None):
        self.rep = rep
        self.r = rng(seed, "cells")
        self.junk = junk
        self.signed_plus = self.r.random() < 0.5 if signed_plus is None else signed_plus

    def value(self, table: str, row: str, col: str) -> GCell:
        v = self.rep.table(table)[row][col]
        text = fmt_value(v, col, self.signed_plus and col in SIGNED_COLS)
        if self.junk:
            roll = self.r.random()
            if v is None:
                text = self.r.choice(["", "\u00a0", "\u3000"])
            elif roll < 0.15:
                text = "\u3000\u3000" + text
            elif roll < 0.25:
                text = "\u00a0" + text
        return GCell(text, kind="value", key=(table, row, col))


def t2_tables(rep: Report, cells: Cells, split: bool = False, breaks: bool = False) -> list[list[list[GCell]]]:
    """表二 as one table (caption rows spanning the table) or, with split=True, one small table per block."""
    tpl = rep.template
    width = 1 + max(len(b.cols) for b in tpl.t2_blocks)
    first = tpl.raw["t2"].get("header_first", "信息内容")
    missing = {row for t, row in rep.missing_rows if t == "t2"}
    tables, current = [], []
    for b in tpl.t2_blocks:
        w = (1 + len(b.cols)) if split else width
        spans = _spans(len(b.cols), w - 1)
        rows = [[GCell(b.caption, colspan=w, kind="caption")],
                [GCell(first, kind="header")] + [GCell(c.label, colspan=s, kind="header") for c, s in zip(b.cols, spans)]]
        for row in b.rows:
            if row.id in missing:
                continue
            vals = []
            for c, s in zip(b.cols, spans):
                g = cells.value("t2", row.id, c.id)
                g.colspan = s
                vals.append(g)
            rows.append([GCell(row.label)] + vals)
        if split:
            tables.append(rows)
        else:
            current.extend(rows)
    return tables if split else [current]


def t3_table(rep: Report, cells: Cells, breaks: bool = False) -> list[list[GCell]]:
    """表三 with the header block of template.md §1.4 and the label spans of the real tables."""
    tpl = rep.template
    cols = list(tpl.t3_cols)
    apps, total = cols[:-1], cols[-1]
    words = tpl.raw["t3"].get("header_words") or ["申请人情况", "法人或其他组织"]
    hb = break_label if breaks else (lambda s: s)
    rows = [
        [GCell(tpl.t3_note, rowspan=3, colspan=3, kind="note"), GCell(words[0], colspan=len(cols), kind="header")],
        [GCell(apps[0].label, rowspan=2, kind="header"), GCell(words[1], colspan=len(apps) - 1, kind="header"),
         GCell(total.label, rowspan=2, kind="header")],
        [GCell(hb(c.label), kind="header") for c in apps[1:]],
    ]
    missing = {row for t, row in rep.missing_rows if t == "t3"}
    present = [r for r in tpl.t3_rows if r.id not in missing and r.id in rep.t3]
    block3 = [r for r in present if r.id not in T3_NON_RESULT or r.id == "t3.total_processed"]
    group_labels = {g.id: g.label for g in tpl.t3_groups}
    seen_groups = set()
    for r in present:
        lead = []
        if r.id in T3_NON_RESULT and r.id != "t3.total_processed":
            lead.append(GCell(r.label, colspan=3))
        else:
            if r is block3[0]:
                lead.append(GCell(group_labels.get("t3.results", "三、本年度办理结果"), rowspan=len(block3)))
            if r.group:
                if r.group not in seen_groups:
                    seen_groups.add(r.group)
                    n = sum(1 for x in present if x.group == r.group)
                    lead.append(GCell(group_labels[r.group], rowspan=n))
                lead.append(GCell(r.label))
            else:
                lead.append(GCell(r.label, colspan=2))
        rows.append(lead + [cells.value("t3", r.id, c.id) for c in cols])
    return rows


def t4_table(rep: Report, cells: Cells, breaks: bool = False) -> list[list[GCell]]:
    """表四 of template.md §1.5: two header levels plus the column headers, one data row of 15 cells."""
    tpl = rep.template
    cols = list(tpl.t4_cols)
    hb = break_label if breaks else (lambda s: s)
    parents = {g["id"]: g.get("parent") for g in tpl.raw["t4"]["groups"]}
    row0, row1, row2 = [], [], []
    groups = list(tpl.t4_groups)
    i = 0
    while i < len(groups):
        g = groups[i]
        parent = parents.get(g.id)
        if not parent:
            row0.append(GCell(g.label, colspan=len(cols), kind="header"))
            row1.extend(GCell(hb(c.label), rowspan=2, kind="header") for c in cols)
            i += 1
            continue
        run = [x for x in groups[i:] if parents.get(x.id) == parent]
        row0.append(GCell(parent, colspan=len(cols) * len(run), kind="header"))
        for x in run:
            row1.append(GCell(x.label, colspan=len(cols), kind="header"))
            row2.extend(GCell(hb(c.label), kind="header") for c in cols)
        i += len(run)
    values = [cells.value("t4", g.id, c.id) for g in groups for c in cols]
    return [row0, row1, row2, values] if row2 else [row0, row1, values]


def grid_width(rows: list[list[GCell]]) -> int:
    return sum(c.colspan for c in rows[0])


def with_continuations(rows: list[list[GCell]]) -> list[list[GCell | None]]:
    """Each row's cells in grid order with None where a cell from a row above still covers the position
    (how a .docx text dump shows vertically merged cells: one empty cell per covering cell)."""
    width = grid_width(rows)
    cover = [0] * width          # rows still covered below, per grid column
    cover_w = [1] * width        # colspan of the covering cell (at its first column)
    out = []
    for row in rows:
        line, it, col = [], iter(row), 0
        while col < width:
            if cover[col] > 0:
                line.append(None)
                w = cover_w[col]
                for k in range(col, col + w):
                    cover[k] -= 1
                col += w
                continue
            cell = next(it, None)
            if cell is None:
                break
            line.append(cell)
            if cell.rowspan > 1:
                for k in range(col, col + cell.colspan):
                    cover[k] = cell.rowspan - 1
                cover_w[col] = cell.colspan
            col += cell.colspan
        out.append(line)
    return out


def expand(rows: list[list[GCell]]) -> list[list[str]]:
    """The rectangular grid: a cell's text at its top-left position, '' on the rest of its span."""
    width = grid_width(rows)
    grid = [[None] * width for _ in rows]
    for ri, row in enumerate(rows):
        ci = 0
        for cell in row:
            while grid[ri][ci] is not None:
                ci += 1
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    grid[ri + dr][ci + dc] = cell.text if (dr == 0 and dc == 0) else ""
            ci += cell.colspan
    return [[x if x is not None else "" for x in row] for row in grid]


# --- truth -------------------------------------------------------------------------------------------------------

def truth_dict(rep: Report, fmt: str, file: str, ambiguous=None, encoding: str = "utf-8") -> dict:
    tables = {}
    for t in ("t2", "t3", "t4"):
        tables[t] = {row: dict(cols) for row, cols in rep.table(t).items()}
    d = {
        "file": file,
        "agency": rep.agency.name,
        "year": rep.year,
        "template": rep.template_id,
        "t2": tables["t2"],
        "t3": tables["t3"],
        "t4": tables["t4"],
        "expected_findings": [dict(f) for f in rep.expected_findings],
    }
    if ambiguous:
        d["ambiguous_cells"] = [list(a) for a in ambiguous]
    d.update({
        "published_at": rep.published_at[:10],
        "format": fmt,
        "encoding": encoding,
        "agency_kind": rep.agency.kind,
        "level": rep.agency.level,
        "missing_rows": [list(m) for m in rep.missing_rows],
        "defects": [dict(x) for x in rep.defects],
        "notes": "synthetic report generated by pipeline.synth (seed %d)" % rep.seed,
    })
    return d


def render(rep: Report, fmt: str, **options) -> tuple[bytes, dict]:
    """Render one report; returns (document bytes, truth dict)."""
    import importlib

    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    options = dict(options)
    file = options.pop("file", None) or f"{rep.agency.slug}-{rep.year}.{EXTENSIONS[fmt]}"
    blocks = narrative.build_blocks(rep)
    module, func, _ = RENDERERS[fmt]
    out = getattr(importlib.import_module(f"pipeline.synth.{module}"), func)(rep, blocks, **options)
    data, ambiguous = out if isinstance(out, tuple) else (out, None)
    encoding = options.get("encoding", "utf-8") if fmt == "html_word" else "utf-8"
    return data, truth_dict(rep, fmt, file, ambiguous, encoding)
