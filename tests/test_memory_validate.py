"""Memory of the validate stage and of the batch assembly: the working copies stay bounded, and the ways they are
bounded (arithmetic per chunk of reports, shingles hashed in runs, parts assembled column by column) give exactly
the results of doing everything at once."""
from __future__ import annotations

import gc
import random
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import cache, validate
from pipeline.synth import Agency, make_report
from pipeline.validate import similarity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import validate_speed  # noqa: E402  (bench/validate_speed.py: frames built from the generator's numbers and prose)

KINDS = [("区司法局", "dept", "county"), ("县人民政府", "gov", "county"), ("市人民政府", "gov", "city")]
DEFECTS = ["t3_row_total", "t4_total", "blank_cells", "narrative_mismatch", "carry_mismatch", "stock_break",
           "backlog", "fractional_count", "same_problems_as_last_year"]


def _batch(n_agencies: int, years=(2021, 2022, 2023), rate: float = 0.4, seed: int = 3):
    """Frames of generated reports built directly (by bench/validate_speed.py's frames_of): agencies × years, each
    agency's reports chained year to year (cross-year rules), some with one injected defect."""
    r = random.Random(seed)
    reps = []
    for a in range(n_agencies):
        suffix, kind, level = KINDS[a % len(KINDS)]
        ag = Agency(f"测{a:04d}{suffix}", kind, level, f"a{a}", "www.example.gov.cn")
        prev = None
        for y in years:
            defects = [r.choice(DEFECTS)] if r.random() < rate else []
            try:
                rep = make_report(ag, y, "gb2021", seed=a * 100 + y, prev=prev, defects=defects)
            except ValueError:
                rep = make_report(ag, y, "gb2021", seed=a * 100 + y, prev=prev)
            reps.append(rep)
            prev = rep
    return validate_speed.frames_of(reps, [f"r{k:05d}" for k in range(len(reps))])


@pytest.fixture(scope="module")
def batch():
    return _batch(40)


def test_arithmetic_in_chunks_gives_the_findings_of_one_pass(monkeypatch):
    reports, cells, sections = _batch(20)       # 60 reports: ~30 chunks below
    whole = validate.run(reports, cells, sections)
    arith = whole[0][whole[0]["rule_id"].isin(["R-T3-02", "R-T3-03", "R-T3-04", "R-T4-02", "R-T3-05", "R-T2-04"])]
    assert len(arith) >= 5                      # the defects reach the identities, cross-year ones included
    assert {"R-T3-05", "R-T2-04"} <= set(arith["rule_id"])
    monkeypatch.setattr(validate, "ARITH_CHUNK_ROWS", 450)     # ~2 reports (with previous-year cells) a chunk
    chunked = validate.run(reports, cells, sections)
    for a, b in zip(whole, chunked):
        pd.testing.assert_frame_equal(a, b)


def test_validation_working_memory_stays_near_the_size_of_the_cells(batch):
    """Python-side peak (tracemalloc: numpy and objects, not Arrow) of validating 120 reports, relative to the
    cells frame. It was 3.7-3.8× before the previous-year cells became index arrays, the arithmetic went per
    chunk and large selections stopped copying every column; 2.0-2.2× since."""
    reports, cells, sections = batch
    validate.run(reports, cells, sections)          # imports and caches first
    gc.collect()
    tracemalloc.start()
    try:
        validate.run(reports, cells, sections)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = cells.memory_usage(deep=True).sum()
    assert peak < 3.0 * size, f"validation peak {peak / 2**20:.1f} MB for {size / 2**20:.1f} MB of cells"


def test_shingles_hashed_in_runs_equal_one_pass():
    rng = random.Random(11)
    for _ in range(60):
        texts = ["".join(rng.choice("政府信息公开abc") for _ in range(rng.choice([0, 1, 3, 4, 5, 7, 40, 200])))
                 for _ in range(rng.randint(0, 25))]
        texts += [t[: len(t) // 2] + "改" + t[len(t) // 2:] for t in texts[:8]]
        k = rng.choice([2, 3, 5])
        one = similarity.ShingleIndex.build(texts, k=k, chunk_chars=1 << 30)
        runs = similarity.ShingleIndex.build(texts, k=k, chunk_chars=rng.choice([1, 6, 50]))
        assert np.array_equal(one.hashes, runs.hashes) and np.array_equal(one.starts, runs.starts)
        sig = one.signatures(16, 1, 2)
        pairs = np.array([(i, j) for i in range(one.n) for j in range(i + 1, one.n)], dtype=np.int64).reshape(-1, 2)
        whole = (sig[pairs[:, 0]] == sig[pairs[:, 1]]).mean(axis=1) if len(pairs) else np.zeros(0)
        assert np.array_equal(one.estimate(sig, pairs, step=3), whole)


def _part_frames(n_docs: int, seed: int):
    """Rows of n_docs documents as PartStore.read returns them (with _doc, _seq, _pos), for every kind."""
    rng = np.random.default_rng(seed)
    out = {}
    for kind in cache.KINDS:
        per = rng.integers(0 if kind != "reports" else 1, 5 if kind != "reports" else 2, n_docs)
        if kind == "reports":
            per[:] = 1
        rows = []
        for d, m in enumerate(per):
            for s in range(m):
                rows.append((d, s))
        cols = {}
        for c in cache.COLUMNS[kind]:
            if c in ("year", "n_errors", "n_warnings", "n_infos", "template_markers_2021", "template_markers_2019",
                     "order", "char_start", "page"):
                cols[c] = [int(d * 10 + s) for d, s in rows]
            elif c == "value":
                cols[c] = [float(d) + s / 10 for d, s in rows]
            else:
                cols[c] = [f"{c}-{d}-{s}" for d, s in rows]
        df = pd.DataFrame(cols)
        df["_doc"] = np.array([d for d, _ in rows], dtype=np.int32)
        df["_seq"] = np.array([s for _, s in rows], dtype=np.int32)
        out[kind] = df
    return out


@pytest.mark.parametrize("shuffle", [False, True])
def test_assemble_releases_the_parts_and_orders_rows_by_input_position(shuffle):
    """Parts cover interleaved runs of the input (documents arrive out of order); the frames are in input order
    either way, the same as sorting everything, and the part lists are emptied."""
    rng = np.random.default_rng(5)
    docs = 60
    positions = rng.permutation(docs) if shuffle else np.arange(docs)
    positions[[19, 20]] = positions[[20, 19]]          # a document of the next part arrived first
    pieces = {k: [] for k in cache.KINDS}
    expected = {k: [] for k in cache.KINDS}
    for start in range(0, docs, 20):
        part = _part_frames(20, seed=start)
        for kind, df in part.items():
            df = df.copy()
            df["_pos"] = positions[start + df["_doc"].to_numpy()]
            pieces[kind].append(df)
            expected[kind].append(df)
    out = cache.assemble(pieces)
    assert all(v == [] for v in pieces.values())
    for kind in cache.KINDS:
        want = pd.concat(expected[kind], ignore_index=True).sort_values(["_pos", "_seq"], kind="stable")
        want = cache._typed(kind, want[cache.COLUMNS[kind]].reset_index(drop=True).copy())
        pd.testing.assert_frame_equal(out[kind], want)
