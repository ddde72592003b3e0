"""PDF ingest speed: `pipeline.ingest.read_document` on the committed PDF fixtures and the real corpus PDFs — with
pdfplumber's objects built from pypdfium2 (the default, pipeline/ingest/pdf_objects.py) and from pdfminer.six
(AUDITOR_PDF_OBJECTS=pdfminer, the reader before) — against the floor "pdfplumber extract_tables on the table
pages only" (pdfminer), the same floor on pypdfium2's objects, and the old way "pdfplumber on every page";
optionally (--scale DIR) the generated scale corpus measured as bench/scale_speed.py's `measure_pdf` does (one
process, then the documents stage with all cores), with each object source.

    .venv/bin/python bench/pdf_speed.py [--repeat 3] [--no-write] [--scale bench/_work/scale/pdf-40 [--workers N]
                                        [--parallel-repeat 3]] [FILE_OR_DIR ...]

Prints tables and writes the figures (date, machine, command) into bench/RESULTS.md, section "PDF ingest".
Times are the best of --repeat runs per file, wall clock and CPU (process) time; the machine may be shared, so
CPU time is the steadier figure.
"""
from __future__ import annotations

import argparse
import contextlib
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
from pipeline.ingest import pdf_objects  # noqa: E402
from pipeline.ingest import read_document  # noqa: E402

SHARED = Path(os.environ.get("AUDITOR_SHARED", ROOT.parent / "shared"))
DEFAULT_INPUTS = [ROOT / "tests" / "fixtures" / "pdf", SHARED / "corpus" / "reports"]
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "PDF ingest"


def pdf_files(args: list[str], defaults: list[Path] = DEFAULT_INPUTS, recursive: bool = False) -> list[Path]:
    """The files named in `args` (or `defaults` when there are none); of a folder, its *.pdf files (below it too
    when `recursive`), sorted. Also used by bench/pdf_objects_compare.py."""
    out = []
    for a in args or [str(p) for p in defaults]:
        p = Path(a)
        if p.is_dir():
            out += sorted(x for x in (p.rglob("*.pdf") if recursive else p.glob("*.pdf")) if x.is_file())
        elif p.is_file():
            out.append(p)
    return out


@contextlib.contextmanager
def objects_from(source: str):
    """AUDITOR_PDF_OBJECTS=source for the duration (read at every parse_pdf call; forked workers inherit it). Also
    used by bench/pdf_objects_compare.py."""
    old = os.environ.get(pdf_objects.ENV)
    os.environ[pdf_objects.ENV] = source
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(pdf_objects.ENV, None)
        else:
            os.environ[pdf_objects.ENV] = old


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
    """pdfplumber (objects from pdfminer) extract_tables on the given pages (None: every page)."""
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for i in (range(len(pdf.pages)) if pages is None else pages):
            pdf.pages[i].extract_tables()


def _pdfium_tables(data: bytes, pages: list[int]) -> None:
    """The same on pypdfium2's objects: open with pypdfium2, a PdfiumPage per table page, extract_tables."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        geos = [pdf_objects.Geometry.of(doc[i]) for i in range(len(doc))]
        tops = pdf_objects.doctops(geos)
        for i in pages:
            pg = doc[i]
            tp = pg.get_textpage()
            pdf_objects.PdfiumPage(pg, tp, i + 1, tops[i], geos[i], tp.get_text_range()).extract_tables()
            tp.close()
            pg.close()
    finally:
        doc.close()


def _rate(n, t):
    return n / t if t > 0 else float("nan")


def measure_files(files: list[Path], repeat: int) -> tuple[list[str], list[str], dict]:
    read_document(files[0], files[0].name)  # warm imports (pdfplumber, pypdfium2) outside the timings
    with objects_from("pdfminer"):
        read_document(files[0], files[0].name)
    rows = []
    for f in files:
        data = f.read_bytes()
        doc = read_document(f, f.name, data)
        n_pages = int(doc.meta.get("pages") or 0)
        ok = doc.status != "failed"
        tpages = _table_pages(f) if ok else []
        w, c = _best(lambda: read_document(f, f.name, data), repeat)
        with objects_from("pdfminer"):
            ow, oc = _best(lambda: read_document(f, f.name, data), repeat)
        fw, fc = _best(lambda: _plumber_tables(data, tpages), repeat) if tpages else (0.0, 0.0)
        pw, pc = _best(lambda: _pdfium_tables(data, tpages), repeat) if tpages else (0.0, 0.0)
        aw, ac = _best(lambda: _plumber_tables(data, None), repeat) if ok else (0.0, 0.0)
        rows.append(dict(file=f.name, where=f.parent.name, pages=n_pages, table_pages=len(tpages), wall=w, cpu=c,
                         old_wall=ow, old_cpu=oc, floor_wall=fw, floor_cpu=fc, pfloor_wall=pw, pfloor_cpu=pc,
                         all_wall=aw, all_cpu=ac))
    lines = ["| file | pages | table pages | read_document s (wall / cpu) | read_document, pdfminer objects s | "
             "floor (pdfminer) s | floor on pdfium objects s | pdfplumber every page s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['where']}/{r['file']} | {r['pages']} | {r['table_pages']} | "
                     f"{r['wall']:.3f} / {r['cpu']:.3f} | {r['old_wall']:.3f} / {r['old_cpu']:.3f} | "
                     f"{r['floor_wall']:.3f} / {r['floor_cpu']:.3f} | {r['pfloor_wall']:.3f} / {r['pfloor_cpu']:.3f} | "
                     f"{r['all_wall']:.3f} / {r['all_cpu']:.3f} |")
    n_files, n_pages = len(rows), sum(r["pages"] for r in rows)
    n_tpages = sum(r["table_pages"] for r in rows)
    keys = ("wall", "cpu", "old_wall", "old_cpu", "floor_wall", "floor_cpu", "pfloor_wall", "pfloor_cpu", "all_wall",
            "all_cpu")
    tot = {k: sum(r[k] for r in rows) for k in keys}

    def line(label, k):
        return (f"| {label} | {_rate(n_files, tot[k + 'wall'] if k else tot['wall']):.2f} / "
                f"{_rate(n_files, tot[k + 'cpu'] if k else tot['cpu']):.2f} | "
                f"{_rate(n_pages, tot[k + 'wall'] if k else tot['wall']):.1f} / "
                f"{_rate(n_pages, tot[k + 'cpu'] if k else tot['cpu']):.1f} | "
                f"{1000 * (tot[k + 'cpu'] if k else tot['cpu']) / n_files:.0f} |")

    summary = [
        "| measure | reports/s (wall / cpu) | pages/s (wall / cpu) | CPU ms / report |",
        "|---|---:|---:|---:|",
        line("`read_document`, objects from pypdfium2 (this reader)", ""),
        line("`read_document`, objects from pdfminer (`AUDITOR_PDF_OBJECTS=pdfminer`, the reader before)", "old_"),
        line(f"floor: pdfplumber (pdfminer) `extract_tables` on the {n_tpages} table pages only", "floor_"),
        line("the same floor on pypdfium2's objects (`PdfiumPage.extract_tables`)", "pfloor_"),
        line("before: pdfplumber (pdfminer) `extract_tables` on every page", "all_"),
    ]
    return summary, lines, dict(files=n_files, pages=n_pages, table_pages=n_tpages)


def _parallel(raw: Path, workers: int, m: dict, repeat: int) -> dict:
    """The documents stage again (as measure_pdf runs it: cache.run_batch, no cache), `repeat` - 1 more times: the
    run with the best wall time is kept, with its CPU and load (the machine is shared)."""
    import scale_speed  # noqa: PLC0415

    from pipeline import cache

    files, manifest = scale_speed._docs(raw)
    best = {k: m[k] for k in ("parallel_wall_s", "parallel_rps", "parallel_cpu_s", "load")}
    for _ in range(repeat - 1):
        load = scale_speed._load()
        a = scale_speed._cpu_self_children()
        w0 = time.perf_counter()
        cache.run_batch(raw, files, manifest, workers, progress=False, cache_dir=None)
        wall = time.perf_counter() - w0
        b = scale_speed._cpu_self_children()
        if wall < best["parallel_wall_s"]:
            best = {"parallel_wall_s": wall, "parallel_rps": len(files) / wall,
                    "parallel_cpu_s": (b[0] - a[0]) + (b[1] - a[1]), "load": load}
    return best


def measure_scale(raw: Path, workers: int, repeat: int = 3) -> list[str]:
    """bench/scale_speed.py's measure_pdf (one process: ingest + normalize against the floor; then the documents
    stage with `workers` processes), once per object source; the documents stage best of `repeat` runs."""
    import scale_speed  # noqa: PLC0415  (bench/scale_speed.py, beside this script; its functions only)

    out = ["| objects from | CPU s, one process | reports / CPU-s | CPU ms / report | documents stage, "
           f"{workers} workers, best of {repeat}: wall s | reports/s | CPU ms / report (all processes) | load |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    floor = None
    n = 0
    ests = []
    for source in ("pdfminer", "pdfium"):
        with objects_from(source):
            m = scale_speed.measure_pdf(raw, workers)
            m.update(_parallel(raw, workers, m, repeat))
        n = m["files"]
        floor = m["floor_rps_cpu"], m["floor_cpu_s"], m["pages"], m["table_pages"]
        ests.append(m["parallel_cpu_s"] / n)
        out.append(f"| {source} | {m['pipeline_cpu_s']:.2f} | {m['pipeline_rps_cpu']:.2f} | "
                   f"{1000 * m['pipeline_cpu_s'] / n:.0f} | {m['parallel_wall_s']:.2f} | {m['parallel_rps']:.2f} | "
                   f"{1000 * m['parallel_cpu_s'] / n:.0f} | {m['load']} |")
    out.append("")
    out.append(f"The documents stage's wall rate depends on what else the machine runs (`load`: the 1-minute load average "
               f"when the measure started). Its CPU per report over all processes bounds it: {workers} idle cores "
               f"would read {workers} / {ests[-1]:.3f} s = {workers / ests[-1]:.1f} reports/s with pypdfium2's objects "
               f"({workers / ests[0]:.1f} with pdfminer's).")
    head = [f"- {n} generated PDFs ({raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw}), {floor[2]} pages, "
            f"{floor[3]} table pages; floor (pdfplumber on pdfminer, `extract_tables` on the table pages): "
            f"{floor[1]:.2f} CPU s = {floor[0]:.2f} reports / CPU-s", ""]
    return head + out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="PDF files or folders (default: the fixtures and the corpus PDFs)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", metavar="DIR", help="also measure this generated corpus as scale_speed.py does")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers for --scale (all cores)")
    ap.add_argument("--parallel-repeat", type=int, default=3, help="runs of the documents stage for --scale (best)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    a = ap.parse_args(argv)
    files = pdf_files(a.inputs)
    if not files:
        print("no PDF found", file=sys.stderr)
        return 1
    load = round(os.getloadavg()[0], 2)
    summary, lines, n = measure_files(files, a.repeat)
    scale = measure_scale(Path(a.scale).resolve(), a.workers, a.parallel_repeat) if a.scale else []
    cmd = ".venv/bin/python bench/pdf_speed.py " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    body = [
        f"## {SECTION}",
        "",
        f"- date: {dt.date.today().isoformat()}",
        f"- machine: {machine.describe(memory=False)}; load (1 min) {load} at the start (the machine is shared: CPU "
        "times are the steadier figures)",
        f"- command: `{cmd.strip()}`",
        f"- input: {n['files']} PDFs, {n['pages']} pages ({n['table_pages']} table pages); best of {a.repeat} runs "
        "per file",
        "- pages/s and reports/s count every page of every file; a \"floor\" opens the file and runs `extract_tables` "
        "on the pages `read_document` sent through pdfplumber, nothing else. This reader gives pdfplumber pages whose "
        "objects (chars, lines, rects, curves) are built from pypdfium2 (`pipeline/ingest/pdf_objects.py`) instead of "
        "pdfminer.six's content-stream interpreter; `bench/pdf_objects_compare.py` checks that both give the same "
        "cells.",
        "",
        *summary,
        "",
        *lines,
        "",
    ]
    if scale:
        body += ["### Generated PDFs, all cores (as `bench/scale_speed.py` measures them)", "", *scale, ""]
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
