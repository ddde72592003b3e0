"""The incremental cache and the streamed parts (pipeline/cache.py), at the level of the batch frames: whatever is
reused, re-read or damaged, the frames equal those of reading every document serially (batch.frames_from)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline import batch, cache
from pipeline.synth.volume import write_volume


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    base = tmp_path_factory.mktemp("cache")
    raw = base / "raw"
    write_volume(raw, 20, "html,txt,md", "2022-2023", defect_rate=0.3, seed=3, truth_dir=base / "truth", workers=1)
    files = batch.discover(raw)
    manifest = batch.read_manifest(raw)
    ref = batch.frames_from(batch.run_documents(files, manifest, 1, progress=False))
    return base, raw, ref


def _run(raw: Path, cache_dir, pack_docs=6, workers=1):
    files = batch.discover(raw)
    return cache.run_batch(raw, files, batch.read_manifest(raw), workers, progress=False, cache_dir=cache_dir,
                           pack_docs=pack_docs)


def _same(a: dict, b: dict) -> None:
    for k in ("reports", "cells", "sections"):
        pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)


def _copy(inbox, tmp_path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(inbox[1], raw)
    return raw


def test_streamed_parts_give_the_serial_frames(inbox, tmp_path):
    _base, raw, ref = inbox
    frames, st = _run(raw, None, pack_docs=6)
    _same(ref, frames)
    assert (st.read, st.reused) == (20, 0)
    assert len(st.parts_written) == 4          # 20 documents in parts of at most 6: results are not kept in memory


def test_cold_then_warm(inbox, tmp_path):
    _base, raw, ref = inbox
    c = tmp_path / "c"
    f1, s1 = _run(raw, c)
    f2, s2 = _run(raw, c, workers=2)
    _same(ref, f1)
    _same(ref, f2)
    assert (s1.read, s1.reused) == (20, 0)
    assert (s2.read, s2.reused, s2.parts_written) == (0, 20, [])


def test_changed_file_and_manifest_row_are_read_again(inbox, tmp_path):
    base, _raw, _ref = inbox
    raw = _copy(inbox, tmp_path)
    c = tmp_path / "c"
    _run(raw, c)
    files = batch.discover(raw)
    # one document edited (a number changed in its table text), one manifest row changed
    target = next(f for f in files if f.rel.endswith(".md"))
    text = target.path.read_text(encoding="utf-8")
    target.path.write_text(text.replace("|", "| ", 1), encoding="utf-8")
    man = (raw / "manifest.csv").read_text(encoding="utf-8-sig").splitlines()
    other = next(i for i, line in enumerate(man) if i and not line.startswith(target.rel))
    man[other] = man[other].replace(",dept,", ",gov,") if ",dept," in man[other] else man[other].replace(",gov,", ",dept,")
    (raw / "manifest.csv").write_text("\ufeff" + "\n".join(man) + "\n", encoding="utf-8")
    frames, st = _run(raw, c)
    assert (st.read, st.reused) == (2, 18)
    ref = batch.frames_from(batch.run_documents(batch.discover(raw), batch.read_manifest(raw), 1, progress=False))
    _same(ref, frames)


def test_damaged_part_is_ignored(inbox, tmp_path):
    _base, raw, ref = inbox
    c = tmp_path / "c"
    _run(raw, c)
    cells = sorted(c.rglob("*.cells.parquet"))
    cells[0].write_bytes(cells[0].read_bytes()[:200])            # truncated
    frames, st = _run(raw, c)
    _same(ref, frames)
    assert st.damaged_parts == 1 and st.read == 6 and st.reused == 14
    frames, st = _run(raw, c)                                     # the re-read documents are cached again
    assert (st.read, st.reused) == (0, 20)


def test_pipeline_change_invalidates(inbox, tmp_path, monkeypatch):
    _base, raw, ref = inbox
    c = tmp_path / "c"
    _run(raw, c)
    monkeypatch.setattr(cache, "fingerprint", lambda: "another pipeline version")
    frames, st = _run(raw, c)
    assert (st.read, st.reused) == (20, 0)
    _same(ref, frames)


def test_failed_documents_are_not_reused(inbox, tmp_path):
    raw = _copy(inbox, tmp_path)
    (raw / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    c = tmp_path / "c"
    f1, s1 = _run(raw, c)
    f2, s2 = _run(raw, c)
    assert (s2.read, s2.reused) == (1, 20)
    failed = f2["reports"][f2["reports"]["source_file"] == "broken.pdf"]
    assert failed["status"].tolist() == ["failed"] and " | " in failed["error"].iloc[0]
    _same(f1, f2)


def test_image_beside_page_is_part_of_the_key(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    page = raw / "page.html"
    page.write_bytes(b'<html><body><p>x</p><img src="t3.png"><img src="data:image/png;base64,AAAA"></body></html>')
    (raw / "t3.png").write_bytes(b"one")
    k1 = cache.file_key(page, "page.html", {}, raw, "fp")
    (raw / "t3.png").write_bytes(b"two")
    k2 = cache.file_key(page, "page.html", {}, raw, "fp")
    assert k1 != k2
    assert cache.file_key(page, "page.html", {"year": "2023"}, raw, "fp") != k2
    assert cache.file_key(page, "other.html", {}, raw, "fp") != k2
    assert cache.image_deps(page.read_bytes(), page, raw) == [["t3.png", cache.hashlib.sha256(b"two").hexdigest()]]


def test_the_stat_index_skips_reading_unchanged_files_and_never_gives_a_stale_key(tmp_path, monkeypatch):
    from pipeline import statindex

    monkeypatch.setattr(statindex, "RACY_SECONDS", 0.0)   # files written a moment ago count as settled
    raw = tmp_path / "raw"
    raw.mkdir()
    page, txt = raw / "page.html", raw / "a.txt"
    page.write_bytes(b"<html><body><img src='t3.png'><img src='t4.png'></body></html>")
    (raw / "t3.png").write_bytes(b"one")
    txt.write_bytes(b"12345")
    index_file = tmp_path / "idx.json"

    def keys(index):
        return {p.name: cache.file_key(p, p.name, {}, raw, "fp", index) for p in (page, txt)}

    def truth():
        return keys(None)

    first = statindex.StatIndex(index_file)
    assert keys(first) == truth() and first.hits == 0
    first.save(raw)
    second = statindex.StatIndex(index_file)
    assert keys(second) == truth() and second.hits == 2   # nothing read again
    second.save(raw)
    # same size, old mtime put back: the inode's change time still gives it away
    st = txt.stat()
    txt.write_bytes(b"12346")
    import os
    os.utime(txt, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = statindex.StatIndex(index_file)
    assert keys(third) == truth() and third.hits == 1
    third.save(raw)
    # a picture beside the page changes, then a missing one appears: the page's key follows
    (raw / "t3.png").write_bytes(b"two")
    fourth = statindex.StatIndex(index_file)
    assert keys(fourth) == truth() and fourth.hits == 1
    fourth.save(raw)
    (raw / "t4.png").write_bytes(b"new")
    fifth = statindex.StatIndex(index_file)
    assert keys(fifth) == truth() and fifth.hits == 1
    # a damaged index is only a cold start
    index_file.write_text("{not json")
    assert keys(statindex.StatIndex(index_file)) == truth()


def test_a_warm_batch_reads_no_file_twice(inbox, tmp_path, monkeypatch):
    from pipeline import statindex

    monkeypatch.setattr(statindex, "RACY_SECONDS", 0.0)
    raw = _copy(inbox, tmp_path)
    cold, st1 = _run(raw, tmp_path / "c")
    warm, st2 = _run(raw, tmp_path / "c")
    assert st1.unchanged_by_stat == 0 and st2.unchanged_by_stat == st2.documents and st2.reused == st2.documents
    _same(warm, inbox[2])
