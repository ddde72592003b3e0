"""Compare the two object sources of the PDF reader (pipeline/ingest/pdf_objects.py): `batch.process_one` on each
PDF with pdfplumber's objects from pdfminer.six (AUDITOR_PDF_OBJECTS=pdfminer) and from pypdfium2 (the default).

    .venv/bin/python bench/pdf_objects_compare.py [FILE_OR_DIR ...] [--objects] [-v]

Default inputs: tests/fixtures/pdf/, ../shared/corpus/reports/ and bench/_work/scale/pdf-40/ (recursively).
For every file: the reports row (status, template, year, agency, error), every cell (report_id, table, block, row_id,
col_id → value, state, raw, page, location, note) and the sections' text must be identical. `--objects` also
compares the raw page objects of every page (chars' text and order, boxes; lines/rects/curves; tables found;
text lines) and prints the largest coordinate differences. Exit status 1 when any cell value or state differs.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pdf_speed import objects_from, pdf_files  # noqa: E402  (bench/pdf_speed.py, beside this script)
from pipeline import batch  # noqa: E402
from pipeline.ingest import pdf_objects  # noqa: E402

SHARED = Path(os.environ.get("AUDITOR_SHARED", ROOT.parent / "shared"))
DEFAULT_INPUTS = [ROOT / "tests" / "fixtures" / "pdf", SHARED / "corpus" / "reports",
                  ROOT / "bench" / "_work" / "scale" / "pdf-40"]
REPORT_KEYS = ("status", "template", "year", "agency", "error", "format")
CELL_KEY = ("report_id", "table", "block", "row_id", "col_id")


def run(path: Path, backend: str):
    with objects_from(backend):
        return batch.process_one((str(path), path.name, "", {}))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare(path: Path) -> dict:
    a, b = run(path, "pdfminer"), run(path, "pdfium")
    diffs: dict[str, list] = {"report": [], "value_state": [], "raw": [], "location": [], "other": [],
                              "sections": []}
    for k in REPORT_KEYS:
        if not _same(a.report.get(k), b.report.get(k)):
            diffs["report"].append((k, a.report.get(k), b.report.get(k)))
    ca = {tuple(c.get(k) for k in CELL_KEY): c for c in a.cells}
    cb = {tuple(c.get(k) for k in CELL_KEY): c for c in b.cells}
    for key in sorted(set(ca) | set(cb), key=str):
        x, y = ca.get(key), cb.get(key)
        if x is None or y is None:
            diffs["value_state"].append((key, "missing in " + ("pdfminer" if x is None else "pdfium")))
            continue
        if not (_same(x.get("value"), y.get("value")) and x.get("state") == y.get("state")):
            diffs["value_state"].append((key, (x.get("value"), x.get("state"), x.get("raw")),
                                         (y.get("value"), y.get("state"), y.get("raw"))))
        if x.get("raw") != y.get("raw"):
            diffs["raw"].append((key, x.get("raw"), y.get("raw")))
        if x.get("location") != y.get("location") or not _same(x.get("page"), y.get("page")):
            diffs["location"].append((key, (x.get("page"), x.get("location")), (y.get("page"), y.get("location"))))
        for k in set(x) | set(y):
            if k not in ("value", "state", "raw", "location", "page") + CELL_KEY and not _same(x.get(k), y.get(k)):
                diffs["other"].append((key, k, x.get(k), y.get(k)))
    sa = [(s.get("section_id"), s.get("text")) for s in a.sections]
    sb = [(s.get("section_id"), s.get("text")) for s in b.sections]
    if sa != sb:
        for (ia, ta), (ib, tb) in zip(sa, sb):
            if ia != ib or ta != tb:
                diffs["sections"].append((ia, ib))
        if len(sa) != len(sb):
            diffs["sections"].append(("count", len(sa), len(sb)))
    diffs["_cells"] = len(a.cells)
    return diffs


def compare_objects(path: Path) -> tuple[list[str], dict]:
    """Raw page objects of every page: pdfplumber on pdfminer against PdfiumPage."""
    import pdfplumber
    import pypdfium2 as pdfium

    problems: list[str] = []
    worst: dict = {}
    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:  # encrypted or broken: nothing to compare (process_one fails alike)
        print(f"    objects: {path.name} skipped, pdfium cannot open it ({exc})")
        return [], worst
    try:
        with pdfplumber.open(path) as pl:
            geos = [pdf_objects.Geometry.of(doc[i]) for i in range(len(doc))]
            tops = pdf_objects.doctops(geos)
            for i, p in enumerate(pl.pages):
                pg = doc[i]
                tp = pg.get_textpage()
                q = pdf_objects.PdfiumPage(pg, tp, i + 1, tops[i], geos[i])
                where = f"{path.name} p{i + 1}"
                A, B = p.objects, q.objects
                for kind in sorted(set(A) | set(B)):
                    xa, xb = A.get(kind, []), B.get(kind, [])
                    if kind == "char":  # whitespace chars are not comparable (see pdf_objects)
                        xa = [c for c in xa if c["text"].strip()]
                        xb = [c for c in xb if c["text"].strip()]
                    if len(xa) != len(xb):
                        problems.append(f"{where}: {len(xa)} {kind}s from pdfminer, {len(xb)} from pdfium")
                        continue
                    for x, y in zip(xa, xb):
                        for k in ("x0", "x1", "top", "bottom"):
                            worst[(kind, k)] = max(worst.get((kind, k), 0.0), abs(x[k] - y[k]))
                        for k in ("text", "upright", "object_type", "fontname", "stroke", "fill", "evenodd"):
                            if k in x and x[k] != y[k]:
                                problems.append(f"{where}: {kind} {k} {x[k]!r} / {y[k]!r}")
                                break
                ta = [t.extract() for t in p.find_tables()]
                tb = [t.extract() for t in q.find_tables()]
                if ta != tb:
                    problems.append(f"{where}: find_tables() differ")
                la = [ln["text"] for ln in p.extract_text_lines()]
                lb = [ln["text"] for ln in q.extract_text_lines()]
                if la != lb:
                    problems.append(f"{where}: extract_text_lines() differ")
                tp.close()
                pg.close()
    finally:
        doc.close()
    return problems, worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*")
    ap.add_argument("--objects", action="store_true", help="also compare the raw page objects")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every difference")
    a = ap.parse_args(argv)
    files = pdf_files(a.inputs, DEFAULT_INPUTS, recursive=True)
    totals: Counter = Counter()
    worst_all: dict = {}
    bad_files = 0
    for f in files:
        d = compare(f)
        totals["files"] += 1
        totals["cells"] += d.pop("_cells")
        n = {k: len(v) for k, v in d.items()}
        totals.update(n)
        if n["value_state"] or n["report"]:
            bad_files += 1
        if any(n.values()):
            print(f"{f}: " + ", ".join(f"{k} {v}" for k, v in n.items() if v))
            if a.verbose:
                for k, v in d.items():
                    for item in v[:50]:
                        print(f"    {k}: {item}")
        if a.objects:
            problems, worst = compare_objects(f)
            totals["object_problems"] += len(problems)
            for p in problems:
                print("    objects:", p)
            for k, v in worst.items():
                worst_all[k] = max(worst_all.get(k, 0.0), v)
    print(f"\n{totals['files']} PDFs, {totals['cells']} cells: value/state differences {totals['value_state']}, "
          f"report-row differences {totals['report']}, raw differences {totals['raw']}, location/page differences "
          f"{totals['location']}, other cell fields {totals['other']}, section texts {totals['sections']}"
          + (f", page-object problems {totals['object_problems']}" if a.objects else ""))
    if worst_all:
        print("largest coordinate differences (pt): " + ", ".join(
            f"{k[0]}.{k[1]} {v:.2g}" for k, v in sorted(worst_all.items())))
    return 1 if bad_files else 0


if __name__ == "__main__":
    raise SystemExit(main())
