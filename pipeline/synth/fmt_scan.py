"""Scanned reports (`pdf_scan`): the report drawn as page images with PIL and wrapped as an image-only PDF.

No browser and no office suite: the tables are drawn here (ruled grid, merged cells exactly as the template,
`render.t2_tables/t3_table/t4_table`), the text with the Simplified Chinese face of the PyPI package
`noto-cjk-sans-otc`, at 200 dpi A4. Each page then gets what a scanner adds: a small rotation (skew), a slight
blur, grey paper, noise and specks. The PDF holds one JPEG per page and no text layer.

    data, truth = render(rep, "pdf_scan", file="x.pdf", skew=1.5, noise=0.5, seed=3)
    png = render_table_png(rep, "t3")            # an image of one table (as pasted into a web page)
    write_scan_fixtures(Path("tests/fixtures/scan"))

Options of `render_scan`: `skew` (max |angle| in degrees, default 1.5; 0 = straight), `noise` (0 clean .. 1 heavy,
default 0.5), `seed` (default: the report seed), `text` ("short": title, opening, headings, the first sentence
of each section, signature — 3 pages for gb2021; "full": every paragraph; "none": headings and tables only),
`quality` (JPEG quality, default 45).
"""
from __future__ import annotations

import functools
import io
import json
import math
import time
from pathlib import Path

from pipeline.synth.numbers import Report, rng
from pipeline.synth.render import Cells, GCell, grid_width, t2_tables, t3_table, t4_table

DPI = 200
PAGE_W, PAGE_H = 1654, 2339            # A4 at 200 dpi
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 150, 170, 170
BODY_W = PAGE_W - 2 * MARGIN_X
SC_FACE = "Noto Sans CJK SC"

SIZE_TITLE, SIZE_H1, SIZE_H2, SIZE_BODY, SIZE_CELL = 40, 30, 27, 27, 24
LINE_BODY = 46
CELL_PAD_X, CELL_PAD_Y, CELL_LINE = 8, 9, 31
RULE = 2                                 # ruling line width (px)

# grid column widths (px) per table; t2 is 4 columns, t3 10, t4 15
T2_WIDTHS = [470, 300, 300, 300]
T3_WIDTHS = [118, 196, 432] + [94] * 7
T4_WIDTHS = [94] * 15


# --- fonts -------------------------------------------------------------------------------------------------------

@functools.cache
def _sc_index() -> int:
    from PIL import ImageFont

    from pipeline.report.fonts import cjk_font_path

    path = str(cjk_font_path())
    for i in range(12):
        try:
            f = ImageFont.truetype(path, 12, index=i)
        except OSError:
            break
        if f.getname()[0] == SC_FACE:
            return i
    raise RuntimeError(f"{SC_FACE} not found in {path}")


@functools.cache
def font(size: int):
    from PIL import ImageFont

    from pipeline.report.fonts import cjk_font_path

    return ImageFont.truetype(str(cjk_font_path()), size, index=_sc_index())


def _text_w(text: str, size: int) -> float:
    return font(size).getlength(text)


def wrap_cell(text: str, width: int, size: int = SIZE_CELL) -> list[str]:
    """Lines of a cell: explicit '\\n' breaks kept, each piece wrapped into balanced lines that fit `width`."""
    avail = width - 2 * CELL_PAD_X
    out: list[str] = []
    for piece in text.split("\n"):
        piece = piece.strip(" \u3000\u00a0")
        if not piece:
            continue
        n = max(1, math.ceil(_text_w(piece, size) / avail))
        while True:
            per = math.ceil(len(piece) / n)
            lines = [piece[i:i + per] for i in range(0, len(piece), per)]
            if all(_text_w(ln, size) <= avail for ln in lines) or n >= len(piece):
                break
            n += 1
        out.extend(lines)
    return out


_NO_LINE_START = set("，。、；：？！）》」』”’,.;:?!)%")


def wrap_para(text: str, width: int, size: int, indent: int = 0) -> list[str]:
    """Greedy character wrap of a paragraph (Chinese text breaks anywhere); the first line indented."""
    lines, cur, limit = [], "", width - indent
    for ch in text:
        if _text_w(cur + ch, size) > limit and cur and ch not in _NO_LINE_START:
            lines.append(cur)
            cur, limit = "", width
        cur += ch
    if cur:
        lines.append(cur)
    return lines


# --- tables ------------------------------------------------------------------------------------------------------

def place_cells(rows: list[list[GCell]]) -> list[tuple[int, int, GCell]]:
    """(grid row, grid column, cell) for every source cell (the occupancy algorithm)."""
    width = grid_width(rows)
    taken: set[tuple[int, int]] = set()
    out = []
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    taken.add((r + dr, c + dc))
            out.append((r, c, cell))
            c += cell.colspan
        assert c <= width
    return out


def draw_table(rows: list[list[GCell]], widths: list[int], size: int = SIZE_CELL, rules: bool = True):
    """The table as an 'L' image: white, black ruling lines (none with rules=False), the cell texts."""
    from PIL import Image, ImageDraw

    placed = place_cells(rows)
    n_rows = len(rows)
    xs = [0]
    for w in widths:
        xs.append(xs[-1] + w)
    wrapped = {id(cell): wrap_cell(cell.text, sum(widths[c:c + cell.colspan]), size) for _, c, cell in placed}
    heights = [44] * n_rows
    for r, c, cell in sorted(placed, key=lambda x: x[2].rowspan):
        need = len(wrapped[id(cell)]) * CELL_LINE + 2 * CELL_PAD_Y
        have = sum(heights[r:r + cell.rowspan])
        if need > have:
            heights[r + cell.rowspan - 1] += need - have
    ys = [0]
    for h in heights:
        ys.append(ys[-1] + h)
    img = Image.new("L", (xs[-1] + RULE, ys[-1] + RULE), 255)
    d = ImageDraw.Draw(img)
    f = font(size)
    for r, c, cell in placed:
        x0, y0 = xs[c], ys[r]
        x1, y1 = xs[c + cell.colspan], ys[r + cell.rowspan]
        if rules:
            d.rectangle([x0, y0, x1 + RULE - 1, y1 + RULE - 1], outline=0, width=RULE)
        lines = wrapped[id(cell)]
        block_h = len(lines) * CELL_LINE
        ty = y0 + (y1 - y0 - block_h) / 2
        for ln in lines:
            w = f.getlength(ln)
            if cell.kind == "label":
                tx = x0 + CELL_PAD_X + RULE
            else:
                tx = x0 + (x1 - x0 - w) / 2
            d.text((tx, ty + (CELL_LINE - size) / 2 - 2), ln, font=f, fill=0)
            ty += CELL_LINE
    return img


def _table_rows(rep: Report, cells: Cells, which: str) -> list[tuple[list[list[GCell]], list[int]]]:
    if which == "t2":
        out = []
        for t in t2_tables(rep, cells):
            w = grid_width(t)
            out.append((t, T2_WIDTHS if w == 4 else [470] + [900 // (w - 1)] * (w - 1)))
        return out
    if which == "t3":
        t = t3_table(rep, cells)
        w = grid_width(t)
        return [(t, T3_WIDTHS if w == 10 else [118, 196, 432] + [664 // (w - 3)] * (w - 3))]
    t = t4_table(rep, cells, breaks=True)
    return [(t, [BODY_W // grid_width(t)] * grid_width(t))]


# --- pages -------------------------------------------------------------------------------------------------------

class _Pages:
    def __init__(self):
        self.pages = []
        self._new()

    def _new(self):
        from PIL import Image, ImageDraw

        self.img = Image.new("L", (PAGE_W, PAGE_H), 255)
        self.draw = ImageDraw.Draw(self.img)
        self.pages.append(self.img)
        self.y = MARGIN_TOP

    def room(self) -> int:
        return PAGE_H - MARGIN_BOTTOM - self.y

    def ensure(self, h: int):
        if h > self.room() and self.y > MARGIN_TOP:
            self._new()

    def text_line(self, text: str, size: int, line_h: int, x: int | None = None, align: str = "left"):
        self.ensure(line_h)
        w = font(size).getlength(text)
        if align == "center":
            x = (PAGE_W - w) / 2
        elif align == "right":
            x = PAGE_W - MARGIN_X - w
        self.draw.text((x if x is not None else MARGIN_X, self.y + (line_h - size) / 2 - 3), text, font=font(size),
                       fill=0)
        self.y += line_h

    def para(self, text: str, size: int = SIZE_BODY, line_h: int = LINE_BODY, indent: bool = True):
        ind = 2 * size if indent else 0
        for i, ln in enumerate(wrap_para(text, BODY_W, size, ind)):
            self.text_line(ln, size, line_h, x=MARGIN_X + (ind if i == 0 else 0))

    def image(self, img, gap: int = 24):
        self.ensure(img.height + gap)
        self.img.paste(img, ((PAGE_W - img.width) // 2, self.y))
        self.y += img.height + gap


def _first_sentence(text: str) -> str:
    i = text.find("。")
    return text if i < 0 else text[: i + 1]


def _heading_height(kind: str) -> int:
    return 62 if kind == "h1" else 52


def draw_pages(rep: Report, blocks: list, cells: Cells, text: str = "short") -> list:
    """The report as clean page images ('L', 200 dpi A4)."""
    pg = _Pages()
    prev_kind = ""
    pending_heading = None   # keep a heading with what follows it
    n_p_in_section = 0
    seen_h1 = False
    tables = {}

    def flush_heading(next_h: int):
        nonlocal pending_heading
        if pending_heading is not None:
            kind, s = pending_heading
            pg.ensure(_heading_height(kind) + next_h)
            size = SIZE_H1 if kind == "h1" else SIZE_H2
            pg.text_line(s, size, _heading_height(kind), x=MARGIN_X + (0 if kind == "h1" else 2 * SIZE_BODY))
            pending_heading = None

    for b in blocks:
        kind = b[0]
        if kind == "title":
            pg.y += 20
            pg.text_line(b[1], SIZE_TITLE, 90, align="center")
            pg.y += 20
        elif kind in ("h1", "h2"):
            if kind == "h2" and text != "full":
                continue
            flush_heading(0)
            pending_heading = (kind, b[2] if kind == "h1" else b[1])
            if kind == "h1":
                n_p_in_section, seen_h1 = 0, True
        elif kind == "p":
            n_p_in_section += 1
            if text == "none":
                continue
            body = b[1]
            if text == "short":
                if prev_kind == "title":
                    pass                             # the opening paragraph, whole
                elif n_p_in_section == 1 and seen_h1:
                    body = _first_sentence(body)     # the first sentence of each section
                else:
                    continue
            flush_heading(2 * LINE_BODY)
            pg.para(body)
        elif kind == "table":
            which = b[1]
            imgs = tables.setdefault(which, [draw_table(rows, widths) for rows, widths in _table_rows(rep, cells, which)])
            for i, im in enumerate(imgs):
                if i == 0:
                    flush_heading(im.height + 24)
                pg.image(im)
        elif kind == "sign":
            flush_heading(0)
            pg.ensure(3 * LINE_BODY)
            pg.y += LINE_BODY
            for s in b[1]:
                pg.text_line(s, SIZE_BODY, LINE_BODY, align="right")
        prev_kind = kind
    flush_heading(0)
    return pg.pages


# --- scanner effects ---------------------------------------------------------------------------------------------

def degrade(img, r, skew: float = 1.5, noise: float = 0.5):
    """What a scanner adds: rotation within ±skew degrees, slight blur, grey paper, noise and specks ('L' image)."""
    import numpy as np
    from PIL import Image, ImageFilter

    if skew:
        angle = r.uniform(skew / 3, skew) * r.choice([-1, 1])
        img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
    if noise > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius=0.45 + 0.5 * noise))
        arr = np.asarray(img, dtype=np.float32)
        nr = np.random.default_rng(r.randrange(2 ** 32))
        paper = 255 - 14 * noise
        arr = arr * (paper / 255.0)
        arr += nr.normal(0.0, 10.0 * noise, arr.shape)
        n_specks = int(1500 * noise)
        ys = nr.integers(0, arr.shape[0], n_specks)
        xs = nr.integers(0, arr.shape[1], n_specks)
        arr[ys, xs] = nr.uniform(40, 160, n_specks)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    return img


def _pdf_bytes(pages, quality: int, when: str) -> bytes:
    buf = io.BytesIO()
    stamp = time.strptime((when or "2024-01-01")[:10], "%Y-%m-%d")
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=float(DPI), quality=quality,
                  title=None, creationDate=stamp, modDate=stamp)
    return buf.getvalue()


def render_scan(rep: Report, blocks: list, *, skew: float = 1.5, noise: float = 0.5, seed=None,
                text: str = "short", quality: int = 45, **_ignored) -> bytes:
    """An image-only PDF: every page drawn, then skewed/blurred/noised like a scan."""
    if text not in ("short", "full", "none"):
        raise ValueError("pdf_scan text must be short, full or none")
    seed = rep.seed if seed is None else seed
    cells = Cells(rep, seed)
    pages = draw_pages(rep, blocks, cells, text)
    r = rng(seed, "scan")
    pages = [degrade(p, r, skew, noise) for p in pages]
    return _pdf_bytes(pages, quality, rep.signed_at or rep.published_at)


def render_table_png(rep: Report, table: str = "t3", *, scale: float = 0.75, skew: float = 0.0, noise: float = 0.0,
                     seed=None, rules: bool = True) -> bytes:
    """A PNG of one table (t2/t3/t4) as pasted into a web page: drawn at 200 dpi then scaled (default 150 dpi);
    `skew`/`noise` as in render_scan (default none), `rules=False` draws no ruling lines."""
    from PIL import Image

    if table not in ("t2", "t3", "t4"):
        raise ValueError("table must be t2, t3 or t4")
    seed = rep.seed if seed is None else seed
    cells = Cells(rep, seed)
    imgs = [draw_table(rows, widths, rules=rules) for rows, widths in _table_rows(rep, cells, table)]
    gap, pad = 30, 24
    canvas = Image.new("L", (max(i.width for i in imgs) + 2 * pad,
                             sum(i.height for i in imgs) + gap * (len(imgs) - 1) + 2 * pad), 255)
    y = pad
    for im in imgs:
        canvas.paste(im, (pad, y))
        y += im.height + gap
    if skew or noise:
        canvas = degrade(canvas, rng(seed, "png", table), skew, noise)
    if scale != 1:
        canvas = canvas.resize((round(canvas.width * scale), round(canvas.height * scale)), Image.LANCZOS)
    buf = io.BytesIO()
    canvas.save(buf, "PNG", optimize=True)
    return buf.getvalue()


# --- test fixtures -----------------------------------------------------------------------------------------------

FIXTURE_AGENCY = "白鹭县人民政府"
FIXTURES = [
    # (file, seed, defects, render options)
    ("bailu-xian-2023-scan.pdf", 611, (), {"skew": 1.5, "noise": 0.5}),
    ("bailu-xian-2023-scan-defect.pdf", 612,
     (("t3_row_total", {"row": "t3.granted", "k": 3}), ("t4_total", {"group": "t4.litigation_direct", "k": 1})),
     {"skew": 1.2, "noise": 0.6, "text": "none"}),
]
FIXTURE_PNG = ("bailu-xian-2023-t3.png", 611, "t3")


def write_scan_fixtures(dir) -> list[Path]:
    """(Re)generate tests/fixtures/scan: two scanned gb2021 PDFs (clean, with defects) + truth JSONs, one t3 PNG
    (its truth is the first PDF's truth). Deterministic bytes."""
    from pipeline.synth import make_report
    from pipeline.synth.render import render

    out_dir = Path(dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    reps = {}
    for file, seed, defects, opts in FIXTURES:
        rep = make_report(FIXTURE_AGENCY, 2023, "gb2021", seed=seed, defects=defects)
        reps[seed] = rep
        data, truth = render(rep, "pdf_scan", file=file, **opts)
        (out_dir / file).write_bytes(data)
        (out_dir / file).with_suffix(".json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n",
                                                         encoding="utf-8")
        written += [out_dir / file, (out_dir / file).with_suffix(".json")]
    png, seed, table = FIXTURE_PNG
    (out_dir / png).write_bytes(render_table_png(reps[seed], table))
    written.append(out_dir / png)
    return written


if __name__ == "__main__":  # python -m pipeline.synth.fmt_scan [dir]
    import sys

    for p in write_scan_fixtures(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/scan"):
        print(p, p.stat().st_size)
