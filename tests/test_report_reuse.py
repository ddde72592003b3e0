"""Reuse of per-agency workbooks, notices and charts between runs (pipeline/report/reuse.py).

Cache entries are replaced by marked files after a first run: a second run with unchanged data must copy the
marked files into OUT (so they were reused, not written again), and a run where one finding or one cell of an
agency changed must write that agency's files anew (the change is in them, the marker is not) while the other
agencies' files are still copied.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest
from docx import Document
from openpyxl import Workbook, load_workbook

import pipeline.report as report
from pipeline.report import charts, notices, reuse, workbook
from test_report import EVIL_AGENCY, PNG_MAGIC, make_frames

MARK = "缓存标记"
OTHER = "红桥区司法局"


@pytest.fixture
def small_batch(monkeypatch):
    """Per-agency workbooks and the store for any batch size; charts not rendered."""
    monkeypatch.setattr(workbook, "DETAIL_SHEETS_MAX", 1)
    monkeypatch.setattr(reuse, "MIN_FILES", 1)

    def fake(charts_dir, *a, **k):
        charts_dir.mkdir(parents=True, exist_ok=True)
        for name in charts.CHART_FILES:
            (charts_dir / name).write_bytes(PNG_MAGIC)
        return [charts_dir / n for n in charts.CHART_FILES]
    monkeypatch.setattr(charts, "write_charts", fake)


def entries(cache: Path, kind: str) -> list[Path]:
    return sorted(p for p in (cache / reuse.SUBDIR / reuse.FORMAT / kind).glob("*/*") if not p.name.startswith("."))


def mark_workbook(path: Path) -> None:
    wb = Workbook()
    wb.active.title = MARK
    wb.save(path)


def mark_notice(path: Path) -> None:
    doc = Document()
    doc.add_paragraph(MARK)
    doc.save(str(path))


def sheets(path: Path) -> list[str]:
    return load_workbook(path, read_only=True).sheetnames


def notice_text(path: Path) -> str:
    return "\n".join(p.text for p in Document(str(path)).paragraphs)


def test_unchanged_agencies_are_copied_and_changed_ones_written(tmp_path, small_batch):
    cache, out = tmp_path / "cache", tmp_path / "out"
    report.write_outputs(out, make_frames(), cache_dir=cache)
    wbs, docs = entries(cache, "workbooks"), entries(cache, "notices")
    assert len(wbs) == 3 and len(docs) == 2   # 3 agencies (one unnamed); notices for the 2 with errors/warnings
    names = sorted(p.name for p in (out / "workbooks").glob("*.xlsx"))
    for p in wbs:
        mark_workbook(p)
    for p in docs:
        mark_notice(p)

    report.write_outputs(out, make_frames(), cache_dir=cache)   # same data: every file copied from the store
    assert sorted(p.name for p in (out / "workbooks").glob("*.xlsx")) == names
    assert all(sheets(p) == [MARK] for p in (out / "workbooks").glob("*.xlsx"))
    assert all(notice_text(p) == MARK for p in (out / "notices").glob("*.docx"))

    frames = make_frames()   # one finding of 红桥区司法局 changes
    f = frames["findings"]
    f.loc[f["rule_id"] == "R-T2-02", "message"] = "+区县部门不应制发规章（已改）"
    report.write_outputs(out, frames, cache_dir=cache)
    other = next(p for p in (out / "workbooks").glob("*.xlsx") if p.name.startswith(OTHER))
    assert sheets(other) != [MARK]
    rows = [[c.value for c in r] for r in load_workbook(other)["问题清单"].iter_rows()]
    assert any("+区县部门不应制发规章（已改）" in str(v) for r in rows for v in r)
    rest = [p for p in (out / "workbooks").glob("*.xlsx") if p != other]
    assert len(rest) == 2 and all(sheets(p) == [MARK] for p in rest)
    notice = next(p for p in (out / "notices").glob("*.docx") if p.name.startswith(OTHER))
    assert "（已改）" in notice_text(notice)
    assert [notice_text(p) for p in (out / "notices").glob("*.docx") if p != notice] == [MARK]


def test_a_changed_cell_rewrites_only_its_agency_workbook(tmp_path, small_batch):
    cache, out = tmp_path / "cache", tmp_path / "out"
    report.write_outputs(out, make_frames(), cache_dir=cache)
    for p in entries(cache, "workbooks"):
        mark_workbook(p)
    frames = make_frames()
    c = frames["cells"]
    c.loc[(c["report_id"] == "r2") & (c["row_id"] == "t4.review.total"), "value"] = 5.0   # EVIL_AGENCY's report
    report.write_outputs(out, frames, cache_dir=cache)
    fresh = [p for p in (out / "workbooks").glob("*.xlsx") if sheets(p) != [MARK]]
    assert len(fresh) == 1
    wb = load_workbook(fresh[0])
    assert wb["问题清单"]["B2"].value == "'" + EVIL_AGENCY   # the agency of the changed cell (neutralised)


def test_damaged_entries_are_written_again(tmp_path, small_batch):
    cache, out = tmp_path / "cache", tmp_path / "out"
    report.write_outputs(out, make_frames(), cache_dir=cache)
    before = {p.name: p.read_bytes() for p in entries(cache, "workbooks")}
    for p in entries(cache, "workbooks"):
        p.write_bytes(p.read_bytes()[:100])   # truncated
    report.write_outputs(out, make_frames(), cache_dir=cache)
    for p in (out / "workbooks").glob("*.xlsx"):
        with zipfile.ZipFile(p) as z:
            assert z.testzip() is None
    after = {p.name: p.read_bytes() for p in entries(cache, "workbooks")}
    assert after.keys() == before.keys() and all(len(v) > 100 for v in after.values())   # repaired


def test_a_new_writer_version_does_not_reuse(tmp_path, small_batch, monkeypatch):
    cache, out = tmp_path / "cache", tmp_path / "out"
    report.write_outputs(out, make_frames(), cache_dir=cache)
    for p in entries(cache, "workbooks"):
        mark_workbook(p)
    monkeypatch.setattr(reuse, "fingerprint", lambda: "another writer")
    report.write_outputs(out, make_frames(), cache_dir=cache)
    assert all(sheets(p) != [MARK] for p in (out / "workbooks").glob("*.xlsx"))


def test_stale_entries_are_pruned(tmp_path, small_batch):
    cache, out = tmp_path / "cache", tmp_path / "out"
    report.write_outputs(out, make_frames(), cache_dir=cache)
    old = entries(cache, "workbooks")[0].parent / ("0" * 64 + ".xlsx")
    old.write_bytes(b"old")
    t = time.time() - (reuse.MAX_AGE_DAYS + 1) * 86400
    os.utime(old, (t, t))
    report.write_outputs(out, make_frames(), cache_dir=cache)
    assert not old.exists() and len(entries(cache, "workbooks")) == 3


def test_no_store_unless_asked_or_beside_out(tmp_path, small_batch):
    report.write_outputs(tmp_path / "a" / "out", make_frames(), cache_dir=None)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["out"]
    report.write_outputs(tmp_path / "b" / "out", make_frames())   # default: only when .auditor-cache exists
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["out"]
    (tmp_path / "c" / ".auditor-cache").mkdir(parents=True)
    report.write_outputs(tmp_path / "c" / "out", make_frames())
    assert len(entries(tmp_path / "c" / ".auditor-cache", "workbooks")) == 3


def test_small_batches_do_not_use_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "DETAIL_SHEETS_MAX", 1)
    cache = reuse.Cache(tmp_path / "cache")   # default MIN_FILES: 3 agencies are too few to bother
    assert cache.kind("workbooks", 3) is None and cache.kind("workbooks", reuse.MIN_FILES) is not None


def test_digest_depends_on_values_only():
    a = [{"x": "文本" * 3, "y": 1.5, "z": None}, ("t3", "t3.other", "col.total")]
    b = [{"x": "".join(["文本"] * 3), "y": 3 / 2, "z": None}, ("t3", "t3.other", "col.total")]
    assert a[0]["x"] is not b[0]["x"]
    assert reuse.digest(a) == reuse.digest(b)
    b[0]["y"] = 1.25
    assert reuse.digest(a) != reuse.digest(b)


def test_charts_are_reused_for_unchanged_data(tmp_path, monkeypatch):
    monkeypatch.setattr(charts, "PARALLEL_MIN_REPORTS", 1)
    from pipeline.report import csvout

    f = csvout.prepare(make_frames())
    cache = reuse.Cache(tmp_path / "cache")
    args = (f["reports"], f["findings"], f["indicators"], f["cells"])
    first = charts.write_charts(tmp_path / "c1", *args, cache=cache)
    entry = next(p for p in (tmp_path / "cache").rglob(reuse.MANIFEST)).parent
    png = entry / "quality_ranking.png"
    png.write_bytes(PNG_MAGIC + MARK.encode())
    (entry / reuse.MANIFEST).write_text("\n".join(
        f"{p.name}\t{p.stat().st_size}" for p in sorted(entry.iterdir()) if p.name != reuse.MANIFEST))
    again = charts.write_charts(tmp_path / "c2", *args, cache=cache)
    assert [p.name for p in again] and (tmp_path / "c2" / "quality_ranking.png").read_bytes().endswith(MARK.encode())
    ind = f["indicators"].copy()
    ind.loc[0, "K-07"] = 12.0   # the quality ranking changes: every chart is drawn again
    fresh = charts.write_charts(tmp_path / "c3", f["reports"], f["findings"], ind, f["cells"], cache=cache)
    assert sorted(p.name for p in fresh) == sorted(p.name for p in first)
    assert not (tmp_path / "c3" / "quality_ranking.png").read_bytes().endswith(MARK.encode())
    uncached = charts.write_charts(tmp_path / "c4", f["reports"], f["findings"], ind, f["cells"])
    for p in fresh:
        assert p.read_bytes() == (tmp_path / "c4" / p.name).read_bytes()
