"""Render known numbers with the project's generator, audit them, and get exactly those numbers and findings back.

Independent of ../shared: the truth comes from pipeline.synth, the check is written here.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import ROOT, audit
from pipeline.synth import make_report, render

# the rules this release implements: for these, the findings must be exactly the injected ones
CHECKED_RULES = {"R-T3-02", "R-T3-03", "R-T3-04", "R-T4-02", "R-T3-06", "R-STR-01", "R-TPL-02", "R-TPL-03",
                 "R-TPL-04", "R-TPL-05", "R-TPL-06"}


def _read(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _audit(raw: Path, out: Path, csv_only: bool = False):
    """(reports, cells, findings) rows of the audit of `raw` (two workers, in this process: conftest.audit)."""
    rc, err = audit(raw, out, "--quiet", "--workers", "2", csv_only=csv_only)
    assert rc == 0, err[-3000:]
    return _read(out / "reports.csv"), _read(out / "cells.csv"), _read(out / "findings.csv")


def _compare(truths: dict, reports, cells, findings):
    """Every truth cell exact; every expected finding present; no other finding of the checked rules."""
    problems = []
    by_file = {Path(r["source_file"]).name: r for r in reports}
    idx = {(c["report_id"], c["table"], c["row_id"], c["col_id"]): c for c in cells}
    for name, truth in truths.items():
        r = by_file[truth["file"]]
        rid = r["report_id"]
        amb = {tuple(a) for a in truth.get("ambiguous_cells") or []}
        for t in ("t2", "t3", "t4"):
            for row, cols in (truth.get(t) or {}).items():
                for col, want in cols.items():
                    c = idx.get((rid, t, row, col))
                    got = c["value"] if c else "absent"
                    if (t, row, col) in amb and c and c["state"] == "UNPARSABLE":
                        continue
                    if not ((want is None and got == "") or (want is not None and got != "" and c and float(got) == want)):
                        problems.append(f"{name}: {t} {row} {col} want {want} got {got!r}")
        mine = [f for f in findings if f["report_id"] == rid and f["rule_id"] in CHECKED_RULES]
        matched = set()
        for exp in truth["expected_findings"]:
            hit = next((i for i, f in enumerate(mine) if i not in matched and f["rule_id"] in exp["rule"].split("|")
                        and ("table" not in exp or f["table"] in ("", exp["table"]))
                        and ("row" not in exp or f["row_id"] == exp["row"])
                        and ("col" not in exp or f["col_id"] == exp["col"])
                        and ("section" not in exp or f["section_id"] == exp["section"])), None)
            if hit is None:
                problems.append(f"{name}: expected finding missing: {exp}")
            else:
                matched.add(hit)
        for i, f in enumerate(mine):
            if i not in matched and f["rule_id"] in {e["rule"] for e in truth["expected_findings"]} | CHECKED_RULES:
                problems.append(f"{name}: unexpected {f['rule_id']} {f['table']} {f['row_id']} {f['col_id']} "
                                f"{f['section_id']}: {f['message']}")
    return problems


@pytest.fixture(scope="session")
def sample_audit(sample_run):
    """The sample inbox and its audit (conftest.sample_run, shared with test_outputs.py)."""
    raw, out = sample_run["raw"], sample_run["out"]
    truths = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(sample_run["truth_dir"].glob("*.json"))}
    return raw, truths, (_read(out / "reports.csv"), _read(out / "cells.csv"), _read(out / "findings.csv"))


def test_embedded_sample_inbox_is_what_the_generator_writes(sample_audit):
    raw, _, _ = sample_audit
    committed = ROOT / "data" / "raw"
    names = sorted(p.name for p in raw.iterdir())
    assert names == sorted(p.name for p in committed.iterdir()), "run `make sample` and commit data/raw"
    for n in names:
        assert (raw / n).read_bytes() == (committed / n).read_bytes(), f"data/raw/{n} is stale: run `make sample`"


def test_sample_inbox_is_large_and_varied_enough(sample_audit):
    _, truths, (reports, _, _) = sample_audit
    assert len(reports) >= 12
    assert len({t["agency"] for t in truths.values()}) >= 4
    assert len({t["year"] for t in truths.values()}) >= 2
    assert len({t["format"] for t in truths.values()}) >= 2
    assert sum(1 for t in truths.values() if t["expected_findings"]) >= 4


def test_sample_inbox_extracts_exactly_with_exactly_the_injected_findings(sample_audit):
    _, truths, (reports, cells, findings) = sample_audit
    assert {r["status"] for r in reports} == {"ok"}
    problems = _compare(truths, reports, cells, findings)
    assert not problems, "\n".join(problems[:40])


FORMATS = [("html_word", {}), ("html_word", {"encoding": "gbk", "chrome": True, "junk": True}),
           ("html_word", {"t2_layout": "split", "label_breaks": "br"}), ("txt_cells", {}), ("txt_crawler", {}),
           ("md", {}), ("docx", {}), ("docx", {"nested": True, "junk": True})]
DEFECTS = [(), ("t3_row_total",), ("t3_total_processed",), ("t3_carry",), ("t4_total",), ("t3_all_blank",),
           ("missing_section",), ("missing_row",), ("blank_cells",), ("outdated_template",)]


@pytest.fixture(scope="session")
def matrix_audit(tmp_path_factory):
    """Every format × every defect kind, audited in one batch (only the contract CSVs written: what is compared)."""
    base = tmp_path_factory.mktemp("matrix")
    raw = base / "raw"
    raw.mkdir()
    truths = {}
    seed = 100
    for fi, (fmt, opts) in enumerate(FORMATS):
        for di, defects in enumerate(DEFECTS):
            if fmt == "txt_crawler" and defects and defects[0] in ("t3_row_total", "t3_total_processed", "t3_carry",
                                                                   "t3_all_blank", "blank_cells", "t4_total"):
                continue  # digits run together cannot carry a broken identity or blanks recoverably
            seed += 1
            year = 2022 if defects != ("outdated_template",) else 2023
            rep = make_report(f"测试{fi}{di}县发展和改革局", year, "gb2021", seed=seed, defects=defects)
            ext = {"html_word": "html", "txt_cells": "txt", "txt_crawler": "txt", "md": "md", "docx": "docx"}[fmt]
            name = f"m{fi}{di}.{ext}"
            try:
                data, truth = render(rep, fmt, file=name, **opts)
            except ValueError:
                continue  # the crawler renderer refuses numbers it could not split back
            (raw / name).write_bytes(data)
            truths[name] = truth
    return truths, _audit(raw, base / "out", csv_only=True)


def test_every_format_and_defect_round_trips(matrix_audit):
    truths, (reports, cells, findings) = matrix_audit
    assert len(truths) >= 40
    problems = _compare(truths, reports, cells, findings)
    assert not problems, "\n".join(problems[:40])


def test_gb2019_report_round_trips(tmp_path):
    rep = make_report("测试县司法局", 2020, "gb2019", seed=5)
    for fmt, ext in (("html_word", "html"), ("txt_cells", "txt"), ("md", "md")):
        data, truth = render(rep, fmt, file=f"g.{ext}")
        (tmp_path / "raw").mkdir(exist_ok=True)
        (tmp_path / "raw" / f"g.{ext}").write_bytes(data)
    reports, cells, findings = _audit(tmp_path / "raw", tmp_path / "out", csv_only=True)
    assert {r["template"] for r in reports} == {"gb2019"}
    truths = {}
    for fmt, ext in (("html_word", "html"), ("txt_cells", "txt"), ("md", "md")):
        truths[ext] = render(rep, fmt, file=f"g.{ext}")[1]
    problems = _compare(truths, reports, cells, findings)
    assert not problems, "\n".join(problems[:40])
