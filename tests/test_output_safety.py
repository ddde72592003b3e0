"""Output safety: report text can never act as a spreadsheet formula, names derived from agencies are safe file and
sheet names, and a run killed half-way (while reading, or while writing its outputs) leaves the previous OUT_DIR
byte-identical with no half-written file in it.

The frames are built from generated reports (pipeline.synth) read by the real pipeline, then given hostile text in
every text field an office could control (agency names, titles, file names, messages, section text); findings are
written by hand so that the test does not depend on the rule engine.
"""
from __future__ import annotations

import csv
import hashlib
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_TEXT = ['=HYPERLINK("http://example.invalid/x","点击")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\n=1+1",
                "=cmd|' /C calc'!A0", "正常文本"]  # a leading CR: see test_a_carriage_return_stays_inside_its_csv_cell
HOSTILE_AGENCIES = ['=HYPERLINK("http://example.invalid")某局', '..\\..\\某市/人民政府:*?"<>|', "@某区[司法]局", "CON",
                    "测试市人民政府" + "很长的名称" * 30, "\t+某镇人民政府\n"]


def _generated_results():
    from pipeline.batch import process_one
    from pipeline.synth import make_report, render

    results = []
    for i, agency in enumerate(("测试市人民政府", "测试区司法局", "测试县教育局", "测试镇人民政府")):
        rep = make_report(agency, 2023, "gb2021", seed=40 + i)
        data = render(rep, "txt_cells", file=f"r{i}.txt")[0]
        p = Path(os.environ["OUTPUT_SAFETY_TMP"]) / f"r{i}.txt"
        p.write_bytes(data)
        results.append(process_one((str(p), f"r{i}.txt", "", {})))
    return results


@pytest.fixture(scope="module")
def hostile_frames(tmp_path_factory):
    """Frames of three generated reports with hostile text in every text field that reaches an output."""
    from pipeline import frames as F
    from pipeline.batch import frames_from

    tmp = tmp_path_factory.mktemp("safety-src")
    os.environ["OUTPUT_SAFETY_TMP"] = str(tmp)
    fr = frames_from(_generated_results())
    reports = fr["reports"].copy()
    n = len(reports)
    agencies = (HOSTILE_AGENCIES * 2)[:n]
    reports["agency"] = agencies
    reports["title"] = [HOSTILE_TEXT[i % len(HOSTILE_TEXT)] + "年度报告" for i in range(n)]
    reports["source_file"] = ["=1+2 报告.txt", "@x/+y 报告.txt", "-z 报告.txt", "\t子目录/+w.txt"][:n]
    reports["error"] = ["", "=ERROR() | =ERROR()", "", ""][:n]
    reports["status"] = ["ok", "failed", "ok", "partial"][:n]
    for c in ("n_errors", "n_warnings", "n_infos"):
        reports[c] = 1
    rows = []
    for i, (rid, agency) in enumerate(zip(reports["report_id"], agencies)):
        for j, text in enumerate(HOSTILE_TEXT):
            sev = F.SEVERITIES[j % 3]
            rows.append({"report_id": rid, "agency": agency, "year": 2023, "rule_id": "R-T3-03", "severity": sev,
                         "status": "FAIL", "table": "t3", "row_id": text, "col_id": "col.total", "section_id": "",
                         "expected": 10.0, "actual": 7.0, "delta": -3.0, "message": text + "：应等于10，实际7",
                         "basis": text, "location": text, "source_file": reports["source_file"].iloc[i],
                         "title": text, "assumed_zero": text})
    findings = pd.DataFrame(rows, columns=F.FINDINGS_COLUMNS)
    indicators = pd.DataFrame([{"report_id": rid, "agency": a, "year": 2023, **{f"K-0{k}": float(k) for k in range(1, 8)}}
                               for rid, a in zip(reports["report_id"], agencies)], columns=F.INDICATORS_COLUMNS)
    cells = fr["cells"].copy()
    cells.loc[cells.index[:len(HOSTILE_TEXT)], "raw"] = HOSTILE_TEXT
    sections = fr["sections"].copy()
    sections.loc[sections.index[:len(HOSTILE_TEXT)], "text"] = HOSTILE_TEXT
    sections.loc[sections.index[:len(HOSTILE_TEXT)], "heading"] = HOSTILE_TEXT
    return {"reports": reports, "cells": cells, "sections": sections, "findings": findings, "indicators": indicators}


@pytest.fixture(scope="module")
def written(hostile_frames, tmp_path_factory):
    from pipeline.report import write_outputs

    out = tmp_path_factory.mktemp("safety-out") / "processed"
    write_outputs(out, hostile_frames)
    return out


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_text_fields_never_start_a_formula(written):
    from pipeline.report.csvout import is_number_column

    seen = 0
    for p in sorted(written.rglob("*.csv")):
        for row in _read_csv(p):
            for col, v in row.items():
                if is_number_column(col):
                    assert re.fullmatch(r"-?\d+(\.\d+)?|", v), (p.name, col, v)
                else:
                    assert not v.startswith(FORMULA_START), (p.name, col, v)
                    seen += v.startswith("'") and v[1:2] in "=+-@\t\r"
    assert seen >= 20  # the hostile text did reach the CSVs, neutralised


def test_xlsx_cells_are_never_formulas(written):
    from openpyxl import load_workbook

    books = sorted(written.rglob("*.xlsx"))
    assert books
    hostile_seen = 0
    for book in books:
        wb = load_workbook(book, read_only=True)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    where = (book.name, ws.title, getattr(cell, "coordinate", ""), cell.value)
                    assert cell.data_type != "f", where
                    if isinstance(cell.value, str):
                        assert not cell.value.startswith(("=", "+", "@", "\t", "\r")), where
                        hostile_seen += "HYPERLINK" in cell.value or "SUM(A1" in cell.value
    assert hostile_seen >= 1  # the hostile text is in the workbook, as text


def test_a_carriage_return_stays_inside_its_csv_cell(tmp_path):
    from pipeline import frames as F
    from pipeline.report.csvout import conform, write_csv

    df = conform(pd.DataFrame([{"report_id": "r1", "agency": "\r=1+1", "year": 2023, "rule_id": "R-T3-03",
                                "message": "第一行\r第二行"}]), "findings")
    write_csv(tmp_path / "f.csv", df)
    rows = _read_csv(tmp_path / "f.csv")
    assert len(rows) == 1 and None not in rows[0].values() and list(rows[0]) == F.FINDINGS_COLUMNS
    # the CR kept (quoted) or turned into a line break inside the cell: either way one cell, neutralised
    assert rows[0]["agency"] in ("'\r=1+1", "'\n=1+1") and rows[0]["message"] in ("第一行\r第二行", "第一行\n第二行")


_WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM\d|LPT\d)(\..*)?$", re.I)


def test_file_and_sheet_names_are_safe(written):
    from openpyxl import load_workbook

    for p in written.rglob("*"):
        rel = p.relative_to(written)
        assert p.resolve().is_relative_to(written.resolve()), rel  # nothing written outside OUT_DIR
        for part in rel.parts:
            assert not re.search(r'[\x00-\x1f<>:"/\\|?*]', part), rel
            assert not part.startswith((".", "-", "=", "+", "@", " ")) and not part.endswith((" ", ".")), rel
            assert not _WINDOWS_RESERVED.match(part), rel
            assert len(part.encode("utf-8")) <= 255, rel
    assert not list(written.parent.glob("某市*")) and not (written.parent.parent / "某市").exists()
    for book in written.rglob("*.xlsx"):
        for title in load_workbook(book, read_only=True).sheetnames:
            assert 0 < len(title) <= 31 and not re.search(r"[\[\]:*?/\\]", title), (book.name, title)
            assert not title.startswith("'") and not title.endswith("'"), (book.name, title)


# --- killing a run half-way -----------------------------------------------------------------------------------------

PAUSE_HOOK = r'''
import os, sys, time
_PATTERN = os.environ.get("KILLTEST_PAUSE_ON", "")
_FLAG = os.environ.get("KILLTEST_FLAG", "")

def _hook(event, args):
    if event == "open" and _PATTERN and isinstance(args[0], str) and _PATTERN in args[0]:
        if os.path.exists(_FLAG):
            return
        fd = os.open(_FLAG, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, args[0].encode("utf-8", "replace"))
        os.close(fd)
        time.sleep(3600)

if _PATTERN:
    sys.addaudithook(_hook)
'''


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _run_and_kill(cmd: list[str], pause_on: str, tmp: Path, timeout: float = 120) -> str:
    """Start `cmd` with the pause hook, SIGKILL its process group as soon as it reaches `pause_on`; returns the path
    it was opening when it was killed."""
    hooks = tmp / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(PAUSE_HOOK, encoding="utf-8")
    flag = tmp / f"paused-{len(list(tmp.iterdir()))}"
    env = dict(os.environ, PYTHONPATH=str(hooks), KILLTEST_PAUSE_ON=pause_on, KILLTEST_FLAG=str(flag))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not flag.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before reaching {pause_on!r}: {proc.stderr.read()[-2000:]!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the run did not reach {pause_on!r} within {timeout} s")
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return flag.read_text(encoding="utf-8")


def test_killing_the_audit_while_reading_leaves_the_previous_outputs_intact(written, tmp_path):
    import shutil

    out = tmp_path / "processed"
    shutil.copytree(written, out)
    before = _tree(out)
    raw = tmp_path / "raw"
    raw.mkdir()
    src = Path(os.environ["OUTPUT_SAFETY_TMP"])
    for i in range(3):
        shutil.copy(src / f"r{i}.txt", raw / f"r{i}.txt")
    shutil.copy(src / "r0.txt", raw / "zz-pause-here.txt")
    opened = _run_and_kill([sys.executable, "-m", "pipeline", "audit", str(raw), "--out", str(out), "--workers", "2",
                            "--quiet"], "zz-pause-here", tmp_path)
    assert opened.endswith("zz-pause-here.txt")
    assert _tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted({k.split("/")[0] for k in before})


def test_killing_while_the_outputs_are_written_leaves_the_previous_outputs_intact(written, hostile_frames, tmp_path):
    import shutil

    out = tmp_path / "processed"
    shutil.copytree(written, out)
    before = _tree(out)
    frames = tmp_path / "frames.pkl"
    frames.write_bytes(pickle.dumps(hostile_frames))
    script = ("import pickle, sys; from pathlib import Path; from pipeline.report import write_outputs; "
              "write_outputs(Path(sys.argv[1]), pickle.loads(Path(sys.argv[2]).read_bytes()))")
    # paused (then killed) when it opens findings.csv in its temporary folder: reports.csv, cells.csv and the
    # parquet files are already written there, findings.csv is being created
    opened = _run_and_kill([sys.executable, "-c", script, str(out), str(frames)], "findings.csv", tmp_path)
    assert ".tmp-" in opened and Path(opened).parent != out
    leftover = Path(opened).parent
    assert leftover.is_dir() and (leftover / "reports.csv").is_file()  # it was killed half-way through writing
    assert leftover.parent == out.parent  # the half-written files are beside OUT_DIR (removed by the next run)
    assert _tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted({k.split("/")[0] for k in before})
