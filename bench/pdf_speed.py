"""PDF ingest speed: `pipeline.ingest.read_document` on the committed PDF fixtures and the real corpus PDFs, against
the floor "pdfplumber extract_tables on the table pages only" and the old way "pdfplumber on every page".

    .venv/bin/python bench/pdf_speed.py [--repeat 3] [--no-write] [FILE_OR_DIR ...]

Prints a table and writes the figures (date, machine, command) into bench/RESULTS.md, section "PDF ingest".
Times are the best of --repeat runs per file, wall clock and CPU (process) time; the machine may be shared, so
CPU time is the steadier figure.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import re
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import machine  # noqa: E402  (bench/machine.py, beside this script)

from pipeline.ingest import pdf as pdfmod  # noqa: E402
from pipeline.ingest import read_document  # noqa: E402

SHARED = Path(os.environ.get("AUDITOR_SHARED", ROOT.parent / "shared"))
DEFAULT_INPUTS = [ROOT / "tests" / "fixtures" / "pdf", SHARED / "corpus" / "reports"]
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "PDF ingest"


def _files(args: list[str]) -> list[Path]:
    out = []
    for a in args or [str(p) for p in DEFAULT_INPUTS]:
        p = Path(a)
        if p.is_dir():
            out += sorted(x for x in p.glob("*.pdf") if x.is_file())
        elif p.is_file():
            out.append(p)
    return out


def _best(fn, repeat: int) -> tuple[float, float]:
    wall = cpu = float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def _table_pages(path: Path) -> list[int]:
    """The pages read_document sends through pdfplumber (0-based), recorded by wrapping the page reader."""
    seen: list[int] = []
    orig = pdfmod._plumber_page

    def spy(page, pno, n_tables, state):
        seen.append(pno - 1)
        return orig(page, pno, n_tables, state)

    pdfmod._plumber_page = spy
    try:
        pdfmod.parse_pdf(path)
    finally:
        pdfmod._plumber_page = orig
    return seen


def _plumber_tables(data: bytes, pages: list[int] | None) -> None:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for i in (range(len(pdf.pages)) if pages is None else pages):
            pdf.pages[i].extract_tables()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="PDF files or folders (default: the fixtures and the corpus PDFs)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    a = ap.parse_args(argv)
    files = _files(a.inputs)
    if not files:
        print("no PDF found", file=sys.stderr)
        return 1
    read_document(files[0], files[0].name)  # warm imports (pdfplumber, pypdfium2) outside the timings

    rows = []
    for f in files:
        data = f.read_bytes()
        doc = read_document(f, f.name, data)
        n_pages = int(doc.meta.get("pages") or 0)
        tpages = _table_pages(f) if doc.status != "failed" else []
        w, c = _best(lambda: read_document(f, f.name, data), a.repeat)
        fw, fc = _best(lambda: _plumber_tables(data, tpages), a.repeat) if tpages else (0.0, 0.0)
        aw, ac = _best(lambda: _plumber_tables(data, None), a.repeat) if doc.status != "failed" else (0.0, 0.0)
        rows.append(dict(file=f.name, where=f.parent.name, pages=n_pages, table_pages=len(tpages), status=doc.status,
                         wall=w, cpu=c, floor_wall=fw, floor_cpu=fc, all_wall=aw, all_cpu=ac))

    def rate(n, t):
        return n / t if t > 0 else float("nan")

    lines = ["| file | pages | table pages | read_document s (wall / cpu) | floor s (wall / cpu) | "
             "pdfplumber every page s (wall / cpu) |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['where']}/{r['file']} | {r['pages']} | {r['table_pages']} | "
                     f"{r['wall']:.3f} / {r['cpu']:.3f} | {r['floor_wall']:.3f} / {r['floor_cpu']:.3f} | "
                     f"{r['all_wall']:.3f} / {r['all_cpu']:.3f} |")
    n_files, n_pages = len(rows), sum(r["pages"] for r in rows)
    n_tpages = sum(r["table_pages"] for r in rows)
    tot = {k: sum(r[k] for r in rows) for k in ("wall", "cpu", "floor_wall", "floor_cpu", "all_wall", "all_cpu")}
    summary = [
        "| measure | reports/s (wall / cpu) | pages/s (wall / cpu) |",
        "|---|---:|---:|",
        f"| `read_document` (this reader) | {rate(n_files, tot['wall']):.2f} / {rate(n_files, tot['cpu']):.2f} | "
        f"{rate(n_pages, tot['wall']):.1f} / {rate(n_pages, tot['cpu']):.1f} |",
        f"| floor: pdfplumber `extract_tables` on the {n_tpages} table pages only | "
        f"{rate(n_files, tot['floor_wall']):.2f} / {rate(n_files, tot['floor_cpu']):.2f} | "
        f"{rate(n_pages, tot['floor_wall']):.1f} / {rate(n_pages, tot['floor_cpu']):.1f} |",
        f"| before: pdfplumber `extract_tables` on every page | "
        f"{rate(n_files, tot['all_wall']):.2f} / {rate(n_files, tot['all_cpu']):.2f} | "
        f"{rate(n_pages, tot['all_wall']):.1f} / {rate(n_pages, tot['all_cpu']):.1f} |",
    ]
    cmd = ".venv/bin/python bench/pdf_speed.py " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    body = [
        f"## {SECTION}",
        "",
        f"- date: {dt.date.today().isoformat()}",
        f"- machine: {machine.describe(memory=False)}",
        f"- command: `{cmd.strip()}`",
        f"- input: {n_files} PDFs, {n_pages} pages ({n_tpages} table pages); best of {a.repeat} runs per file",
        "- pages/s and reports/s count every page of every file; \"floor\" opens the file with pdfplumber and runs "
        "`extract_tables` on the pages `read_document` sent through pdfplumber, nothing else.",
        "",
        *summary,
        "",
        *lines,
        "",
    ]
    text = "\n".join(body)
    print(text)
    if not a.no_write:
        _write_section(text)
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


def _write_section(text: str) -> None:
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n\n"
    pat = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pat.sub(lambda _: text + "\n", old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(RESULTS)


if __name__ == "__main__":
    raise SystemExit(main())
