"""Markdown renderer: a well-formed PDF-to-markdown conversion (pipe tables for 表三/表四 and the multi-column
block of 表二, text lines for the one-value blocks of 表二), like sh-kewei-2024.md without the jumbling."""
from __future__ import annotations

from pipeline.synth.numbers import Report
from pipeline.synth.render import Cells, expand, t3_table, t4_table


def _pipe(row: list[str]) -> str:
    return "| " + " | ".join(c.replace("\n", "").replace("|", "｜") for c in row) + " |"


def _pipe_table(grid: list[list[str]]) -> list[str]:
    lines = [_pipe(grid[0]), "|" + "---|" * len(grid[0])]
    lines += [_pipe(row) for row in grid[1:]]
    return lines


def render_md(rep: Report, blocks: list, *, headings: bool = True, seed=None, **_ignored) -> bytes:
    cells = Cells(rep, rep.seed if seed is None else seed, junk=False)
    tpl = rep.template
    missing = {row for t, row in rep.missing_rows if t == "t2"}
    out: list[str] = []

    def para(text):
        out.append(text)
        out.append("")

    for b in blocks:
        kind = b[0]
        if kind == "title":
            para(("# " if headings else "") + b[1])
        elif kind == "p":
            para(b[1])
        elif kind == "h1":
            para(("## " if headings else "") + b[2])
        elif kind == "h2":
            para(("### " if headings else "") + b[1])
        elif kind == "sign":
            out.extend(b[1])
            out.append("")
        elif kind == "table" and b[1] == "t2":
            first = tpl.raw["t2"].get("header_first", "信息内容")
            for blk in tpl.t2_blocks:
                out.append(blk.caption)
                rows = [row for row in blk.rows if row.id not in missing]
                if len(blk.cols) > 1:
                    out.append("")
                    grid = [[first] + [c.label for c in blk.cols]]
                    grid += [[row.label] + [cells.value("t2", row.id, c.id).text for c in blk.cols] for row in rows]
                    out.extend(_pipe_table(grid))
                    out.append("")
                else:
                    out.append(f"{first} {blk.cols[0].label}")
                    for row in rows:
                        v = cells.value("t2", row.id, blk.cols[0].id).text
                        out.append(f"{row.label} {v}".rstrip())
                    out.append("")
        elif kind == "table":
            table = t3_table(rep, cells) if b[1] == "t3" else t4_table(rep, cells)
            out.extend(_pipe_table(expand(table)))
            out.append("")
    return ("\n".join(out).rstrip("\n") + "\n").encode("utf-8")
