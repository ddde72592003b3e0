"""The command line contract: exit codes, bad files in the batch, manifest overrides, determinism, Dask."""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT, audit
from pipeline.cli import main
from pipeline.synth import make_report, render


def _read(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """Two good generated reports (one with an arithmetic error), a broken file, a hidden file and a manifest."""
    raw = tmp_path_factory.mktemp("inbox")
    good = make_report("测试市人民政府", 2023, "gb2021", seed=3)
    bad = make_report("测试区司法局", 2023, "gb2021", seed=4, defects=["t4_total"])
    (raw / "sub").mkdir()
    (raw / "a.html").write_bytes(render(good, "html_word", file="a.html")[0])
    (raw / "sub" / "b report.txt").write_bytes(render(bad, "txt_cells", file="b report.txt")[0])
    (raw / "broken.pdf").write_bytes(b"<html>404 Not Found</html>" * 3 + bytes(range(256)))
    (raw / ".hidden.html").write_text("<html>x</html>")
    (raw / "manifest.csv").write_text("\ufefffile,agency,year,published_at\nsub/b report.txt,某区司法局（手工）,,2024-01-15\n",
                                      encoding="utf-8")
    (raw / "agencies.csv").write_text("agency,parent\n测试市人民政府,\n", encoding="utf-8")
    return raw


def _run(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(inbox, tmp_path_factory):
    """The two audits most tests read (each audit costs seconds): one quiet with one worker (in this process:
    conftest.audit), one as `python -m pipeline` with two workers, progress on stderr and --fail-on error."""
    base = tmp_path_factory.mktemp("runs")
    rc, err = audit(inbox, base / "one", "--quiet", "--workers", "1")
    one = SimpleNamespace(returncode=rc, stderr=err)
    two = _run("audit", inbox, "--out", base / "two", "--workers", "2", "--fail-on", "error")
    return {"one": (one, base / "one"), "two": (two, base / "two")}


def test_batch_goes_on_past_a_broken_file_and_lists_every_input(runs):
    proc, out = runs["one"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    reports = {r["source_file"]: r for r in _read(out / "reports.csv")}
    assert set(reports) == {"a.html", "broken.pdf", "sub/b report.txt"}  # metadata CSVs and hidden files skipped
    broken = reports["broken.pdf"]
    assert broken["status"] == "failed"
    zh, en = broken["error"].split(" | ", 1)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii()
    assert reports["a.html"]["status"] == "ok"
    # manifest overrides what the document says; empty manifest values do not
    assert reports["sub/b report.txt"]["agency"] == "某区司法局（手工）"
    assert reports["sub/b report.txt"]["published_at"] == "2024-01-15"
    assert reports["sub/b report.txt"]["year"] == "2023"
    findings = _read(out / "findings.csv")
    rid = reports["sub/b report.txt"]["report_id"]
    assert any(f["rule_id"] == "R-T4-02" and f["report_id"] == rid for f in findings)
    assert all(f["report_id"] != broken["report_id"] for f in findings)


def test_outputs_are_byte_identical_whatever_the_worker_count(runs):
    (_, a), (_, b) = runs["one"], runs["two"]
    for name in ("reports.csv", "cells.csv", "findings.csv", "indicators.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_exit_codes(inbox, runs, tmp_path):
    assert _run("audit", tmp_path / "nope", "--out", tmp_path / "o").returncode == 2
    assert _run("audit", inbox, "--workers", "0").returncode == 2
    assert runs["two"][0].returncode == 3  # --fail-on error, and the inbox has an error finding
    assert (runs["two"][1] / "findings.csv").is_file()  # the outputs are written all the same
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = _run("audit", inbox, "--out", blocker / "out", "--quiet")
    assert proc.returncode == 1 and "OUT_DIR" in proc.stderr


def test_progress_and_summary_on_stderr(runs):
    proc = runs["two"][0]
    assert "审核完成" in proc.stderr and "failed 1" in proc.stderr


def test_help_describes_the_command():
    proc = _run("audit", "--help")
    assert proc.returncode == 0
    for word in ("RAW_DIR", "--out", "--workers", "--scheduler", "--fail-on"):
        assert word in proc.stdout


def test_dask_scheduler_gives_the_same_results(inbox, runs, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        assert main(["audit", str(inbox), "--out", str(tmp_path / "d"), "--quiet", "--scheduler", cl.scheduler_address]) == 0
    for name in ("reports.csv", "cells.csv", "findings.csv"):
        assert (tmp_path / "d" / name).read_bytes() == (runs["one"][1] / name).read_bytes(), name
