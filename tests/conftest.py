"""Shared fixtures: the real corpus (../shared, skipped with a reason when absent) audited once per session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AUDITOR_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus" / "reports"
TRUTH = SHARED / "corpus" / "truth"
SCORE = SHARED / "tools" / "score"


def need_corpus():
    if not CORPUS.is_dir() or not TRUTH.is_dir():
        pytest.skip(f"real corpus not available at {CORPUS} (set AUDITOR_SHARED to the shared/ folder)")


@pytest.fixture(scope="session")
def corpus_audit(tmp_path_factory):
    """Run `python -m pipeline audit` on the real corpus once; returns the output folder."""
    need_corpus()
    out = tmp_path_factory.mktemp("corpus-audit")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "audit", str(CORPUS), "--out", str(out), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def truth_files():
    need_corpus()
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(TRUTH.glob("*.json"))}
