"""Shared fixtures: the real corpus (../shared, skipped with a reason when absent) and the generated sample inbox,
each audited once per session; `audit`, the audit command run in this process."""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AUDITOR_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus" / "reports"
TRUTH = SHARED / "corpus" / "truth"
SCORE = SHARED / "tools" / "score"
CONTRACT_CSVS = ("reports.csv", "cells.csv", "findings.csv", "indicators.csv")


def need_corpus():
    if not CORPUS.is_dir() or not TRUTH.is_dir():
        pytest.skip(f"real corpus not available at {CORPUS} (set AUDITOR_SHARED to the shared/ folder)")


def write_contract_csvs(out_dir, frames, **_options):
    """A stand-in for write_outputs where a test reads only the contract CSVs: exactly those, as write_outputs writes
    them (same preparation and writer), nothing else. The workbook, charts, notices and index.html are tested on
    the sample inbox (test_outputs.py), the real corpus and in test_report*.py."""
    from pipeline.report import csvout

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    f = csvout.prepare(frames)
    for name in CONTRACT_CSVS:
        csvout.write_csv(out_dir / name, f[name[:-4]])


def audit(raw, out, *options, csv_only: bool = False) -> tuple[int, str]:
    """`python -m pipeline audit RAW --out OUT OPTIONS` run in this process (cli.main): (exit code, its stderr).

    In-process the pipeline's imports (great_expectations alone takes ~7 s) are paid once per session instead of
    once per audit; `python -m pipeline` as a command is tested in test_cli.py. csv_only: OUT gets only the
    contract CSVs (write_contract_csvs)."""
    from pipeline import cli

    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stderr(err))
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        ocr = sys.modules.get("pipeline.ingest.ocr")
        if ocr is not None:     # as in a fresh process: forked workers make their own OCR engine (onnxruntime's
            mp.setattr(ocr, "_ENGINE", None)    # threads of one made here would not exist in them)
        if csv_only:
            import pipeline.report

            mp.setattr(pipeline.report, "write_outputs", write_contract_csvs)
        rc = cli.main(["audit", str(raw), "--out", str(out), *map(str, options)])
    return rc, err.getvalue()


@pytest.fixture(scope="session")
def corpus_audit(tmp_path_factory):
    """The audit of the real corpus (every output), once; returns the output folder."""
    need_corpus()
    out = tmp_path_factory.mktemp("corpus-audit")
    rc, err = audit(CORPUS, out, "--quiet")
    assert rc == 0, err[-3000:]
    return out


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The sample inbox written by pipeline.synth (with its truth JSONs) and audited once, every output, with two
    workers and progress on stderr: {"raw", "truth_dir", "out", "stderr", "warnings"}. test_outputs.py reads all
    of it, test_roundtrip.py its CSVs."""
    from pipeline.synth import write_sample_inbox

    base = tmp_path_factory.mktemp("sample")
    raw, truth_dir, out = base / "raw", base / "truth", base / "out"
    write_sample_inbox(raw, truth_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, err = audit(raw, out, "--workers", "2")
    assert rc == 0, err[-3000:]
    return {"raw": raw, "truth_dir": truth_dir, "out": out, "stderr": err,
            "warnings": [str(w.message) for w in caught]}


@pytest.fixture(scope="session")
def truth_files():
    need_corpus()
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(TRUTH.glob("*.json"))}
