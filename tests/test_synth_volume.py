"""The volume generator (`python -m pipeline synth --n N ...`, pipeline/synth/volume.py): agency hierarchy,
multi-year consistency, defect rate, determinism (serial = parallel), command line."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from pipeline.synth import volume


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("volume")
    summary = volume.write_volume(base / "raw", 45, "html,txt,md", "2021-2023", defect_rate=0.3, seed=9,
                                  truth_dir=base / "truth", workers=1)
    return base, summary


def test_parallel_run_writes_the_same_bytes(corpus, tmp_path):
    base, summary = corpus
    s2 = volume.write_volume(tmp_path / "raw", 45, "html,txt,md", "2021-2023", defect_rate=0.3, seed=9,
                             truth_dir=tmp_path / "truth", workers=2)
    assert _tree(base / "raw") == _tree(tmp_path / "raw")
    assert _tree(base / "truth") == _tree(tmp_path / "truth")
    assert s2["by_format"] == summary["by_format"]
    other = volume.write_volume(tmp_path / "raw2", 45, "html,txt,md", "2021-2023", defect_rate=0.3, seed=10,
                                truth_dir=tmp_path / "truth2", workers=1)
    assert _tree(tmp_path / "raw2") != _tree(base / "raw") and other["documents"] == 45


def test_inbox_layout_manifest_and_roster(corpus):
    base, summary = corpus
    raw = base / "raw"
    manifest = _csv(raw / "manifest.csv")
    docs = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()
                  and p.name not in ("manifest.csv", "agencies.csv"))
    assert [m["file"] for m in manifest] == docs and len(docs) == 45 == summary["documents"]
    truths = sorted(p.relative_to(base / "truth").as_posix()[:-5] for p in (base / "truth").rglob("*.json"))
    assert truths == [d.rsplit(".", 1)[0] for d in docs]
    assert {Path(d).suffix for d in docs} == {".html", ".txt", ".md"}
    roster = _csv(raw / "agencies.csv")
    names = {r["agency"] for r in roster}
    assert len(roster) == 15 == summary["agencies"] and {m["agency"] for m in manifest} == names
    kinds = {r["agency_kind"] for r in roster}
    assert kinds == {"gov", "dept", "township"}
    for r in roster:
        n = r["agency"]
        # kind from the name, independently of the generator (rules.md R-META-05)
        if n.endswith(("街道办事处", "镇人民政府", "乡人民政府")):
            assert (r["agency_kind"], r["level"]) == ("township", "township"), r
        elif n.endswith("人民政府"):
            assert r["agency_kind"] == "gov" and r["level"] == ("city" if n.count("市") == 1 and "区" not in n
                                                               and "县" not in n else "county"), r
        else:
            assert r["agency_kind"] == "dept", r
        # every parent is a government of the roster (or empty for the city government) and a prefix of the name
        if r["parent"]:
            assert r["parent"] in names and r["parent"].endswith("人民政府")
            assert n.startswith(r["parent"][:-4]), r
        else:
            assert n.endswith("市人民政府")
    for m in manifest:
        assert m["published_at"][:4] == str(int(m["year"]) + 1) and m["url"].startswith("https://")


def test_years_chain_carry_over(corpus):
    base, _ = corpus
    truths = {}
    for p in (base / "truth").rglob("*.json"):
        t = json.loads(p.read_text(encoding="utf-8"))
        truths[(t["agency"], t["year"])] = t
    checked = 0
    for (agency, year), t in truths.items():
        prev = truths.get((agency, year - 1))
        if prev is None or prev["template"] != t["template"]:
            continue
        kinds = {d["kind"] for d in t["defects"]} | {d["kind"] for d in prev["defects"]}
        if kinds & {"carry_mismatch", "t3_all_blank", "missing_row", "outdated_template"}:
            continue
        for col, v in t["t3"]["t3.carried_over"].items():
            assert (v or 0) == (prev["t3"]["t3.carried_forward"][col] or 0), (agency, year, col)
        if "stock_break" not in kinds and "repeal_too_many" not in kinds:
            row = t["t2"]["t2.normative_doc"]
            if None not in row.values() and None not in prev["t2"]["t2.normative_doc"].values():
                assert row["col.in_force_count"] == (prev["t2"]["t2.normative_doc"]["col.in_force_count"]
                                                     + row["col.issued_count"] - row["col.repealed_count"])
        checked += 1
    assert checked >= 20


def test_defect_rate():
    pool = volume._defect_pool()
    ag = volume.build_roster(1, seed=0)[0].agency
    n, hit = 400, 0
    for i in range(n):
        rep = volume._make(ag, 2023, 1000 + i, None, 0.25, pool)
        hit += bool(rep.defects)
    assert 0.17 * n <= hit <= 0.33 * n          # binomial(400, 0.25): ±4.6 standard deviations
    assert not any(volume._make(ag, 2023, 5000 + i, None, 0.0, pool).defects for i in range(50))


def test_roster_grows_by_cities():
    roster = volume.build_roster(700, seed=1)
    names = [e.agency.name for e in roster]
    assert len(set(names)) == 700
    cities = {e.agency.name for e in roster if e.agency.kind == "gov" and e.agency.level == "city"}
    assert len(cities) == -(-700 // len(volume._city(0, 1, set())))
    assert len({e.agency.slug for e in roster}) == 700


def test_parse_arguments():
    assert volume.parse_formats("html, txt,pdf,docx") == ["html", "txt", "pdf", "docx"]
    assert volume.parse_formats("html_word,txt_crawler") == ["html", "txt"]
    assert volume.parse_years("2022-2024") == [2022, 2023, 2024]
    assert volume.parse_years("2020,2023") == [2020, 2023]
    for bad in ("xls", ""):
        with pytest.raises(ValueError, match=r" \| "):
            volume.parse_formats(bad)
    with pytest.raises(ValueError, match=r" \| "):
        volume.parse_years("last year")


def test_command_line(tmp_path):
    out = tmp_path / "inbox"
    proc = subprocess.run([sys.executable, "-m", "pipeline", "synth", "--n", "5", "--formats", "md,txt",
                           "--years", "2022-2023", "--seed", "2", "--workers", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "5" in proc.stderr and "份报告" in proc.stderr
    assert len(_csv(out / "manifest.csv")) == 5 and len(_csv(out / "agencies.csv")) == 3
    assert len(list((tmp_path / "inbox-truth").rglob("*.json"))) == 5
    bad = subprocess.run([sys.executable, "-m", "pipeline", "synth", "--n", "5", "--formats", "xls", "--out",
                          str(tmp_path / "x")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "xls" in bad.stderr and " | " in bad.stderr
    assert not (tmp_path / "x").exists()
