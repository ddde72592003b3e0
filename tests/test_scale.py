"""Scale features end to end on a small generated corpus (pipeline.synth.volume, known numbers):

- the same inbox audited serially without cache, on a Dask cluster (LocalCluster) with a cold cache, and again from
  the warm cache: the CSVs are byte-identical, and the warm run reads no document;
- the generated corpus reads back exactly: every truth cell, every injected defect's expected finding.

The three audits run in-process through `cli.main` (one module fixture). To keep the suite fast, OUT_DIR gets only
the contract CSVs here (written by the report stage's own CSV writer); the workbook and charts are tested elsewhere.
The heavy 10k runs are in bench/.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import CONTRACT_CSVS, write_contract_csvs
from pipeline import cli
from pipeline.synth.volume import write_volume


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _parts(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*.keys"))


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    distributed = pytest.importorskip("distributed")
    base = tmp_path_factory.mktemp("scale")
    raw, truth, cache = base / "raw", base / "truth", base / "cache"
    summary = write_volume(raw, 24, "html,txt,md", "2022-2024", defect_rate=0.35, seed=11, truth_dir=truth, workers=1)
    assert summary["documents"] == 24
    with pytest.MonkeyPatch.context() as mp:
        import pipeline.report

        mp.setattr(pipeline.report, "write_outputs", write_contract_csvs)
        return _three_audits(distributed, base, raw, truth, cache)


def _three_audits(distributed, base, raw, truth, cache):
    rc = cli.main(["audit", str(raw), "--out", str(base / "serial"), "--workers", "1", "--no-cache", "--quiet"])
    assert rc == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        rc = cli.main(["audit", str(raw), "--out", str(base / "dask"), "--scheduler", cluster.scheduler_address,
                       "--cache-dir", str(cache), "--quiet"])
    assert rc == 0
    parts_cold = _parts(cache)
    rc = cli.main(["audit", str(raw), "--out", str(base / "warm"), "--workers", "2", "--cache-dir", str(cache),
                   "--quiet"])
    assert rc == 0
    return {"base": base, "raw": raw, "truth": truth, "cache": cache, "parts_cold": parts_cold,
            "parts_warm": _parts(cache)}


@pytest.mark.parametrize("run", ["dask", "warm"])
def test_outputs_byte_identical_to_serial_run(audits, run):
    for name in CONTRACT_CSVS:
        a = (audits["base"] / "serial" / name).read_bytes()
        b = (audits["base"] / run / name).read_bytes()
        assert a == b, f"{run}/{name} differs from the serial run"
    assert len(_read(audits["base"] / "serial" / "reports.csv")) == 24


def test_warm_run_reads_no_document(audits):
    assert audits["parts_cold"], "the cold run wrote no cache part"
    assert audits["parts_warm"] == audits["parts_cold"], "the warm run read (and cached) documents again"


def test_generated_corpus_reads_back_exactly(audits):
    out = audits["base"] / "serial"
    reports, cells, findings = _read(out / "reports.csv"), _read(out / "cells.csv"), _read(out / "findings.csv")
    by_file = {r["source_file"]: r for r in reports}
    idx = {(c["report_id"], c["table"], c["row_id"], c["col_id"]): c for c in cells}
    rules = {}
    for f in findings:
        rules.setdefault(f["report_id"], set()).add(f["rule_id"])
    truths = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(audits["truth"].rglob("*.json"))]
    assert len(truths) == 24
    problems, n_cells, n_expected = [], 0, 0
    for t in truths:
        r = by_file[t["file"]]
        assert r["status"] == "ok" or any(d["kind"] in ("no_tables", "table_as_image") for d in t["defects"]), r
        rid = r["report_id"]
        assert r["agency"] == t["agency"] and int(r["year"]) == t["year"]
        hidden = {d.get("table") for d in t["defects"] if d["kind"] == "table_as_image"}
        if any(d["kind"] == "no_tables" for d in t["defects"]):
            hidden |= {"t2", "t3", "t4"}
        amb = {tuple(a) for a in t.get("ambiguous_cells") or []}
        for table in ("t2", "t3", "t4"):
            if table in hidden:
                continue
            for row, cols in t[table].items():
                for col, want in cols.items():
                    c = idx.get((rid, table, row, col))
                    n_cells += 1
                    if (table, row, col) in amb and c and c["state"] == "UNPARSABLE":
                        continue
                    got = c["value"] if c else None
                    if not ((want is None and got == "") or (want is not None and got and float(got) == want)):
                        problems.append(f"{t['file']}: {table} {row} {col} want {want} got {got!r}")
        for e in t["expected_findings"]:
            n_expected += 1
            if not set(e["rule"].split("|")) & rules.get(rid, set()):
                problems.append(f"{t['file']}: expected finding missing: {e}")
    assert n_cells > 24 * 150 and n_expected >= 3
    assert not problems, "\n".join(problems[:20])
