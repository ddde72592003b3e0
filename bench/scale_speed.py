"""Scale benchmark: generated corpora audited end to end on this machine (issue 6 targets).

    .venv/bin/python bench/scale_speed.py [--n 10000] [--small 1000] [--pdf 40]
                                          [--only floor,html,warm,documents,memory,pdf,dask] [--no-write]

Corpora are generated once into bench/_work/scale/ (`python -m pipeline synth`, seeds fixed) and reused.
Measures (each printed, stored in bench/scale_results.json and written to bench/RESULTS.md, section "Scale"; the
"Where the time goes" notes come from bench/scale_notes.md):

- **html** — HTML/TXT corpus of --n reports: the floor (one process: read every file and parse it once — lxml for
  HTML, decoding for the text dumps), ingest + normalize of the same files in one process (`batch.process_one`) and
  their ratio (CPU time per report); then the cold audit end to end in a fresh process (`--workers` = all cores, the
  cache empty): reports/s per stage and overall.
- **warm** — the same audit again over the unchanged inbox with the cache of the cold run: only the cache is read,
  then validation and outputs.
- **documents** — the documents stage alone (`cache.run_batch`: ingest + normalize, no validation or outputs) of the
  --n reports with 2 workers, in this process: cold (empty cache under bench/_work/scale/documents-cache-N), then
  two warm runs over the unchanged inbox (after 2.1 s, so that the stat index trusts the files): reports/s of each,
  what the warm runs reused, the seconds spent on the keys and on loading the cached parts.
- **memory** — peak memory of the cold and warm audits of --small and --n reports: the sum of PSS over the audit
  process and its worker processes (pages shared by forked workers counted once) and the largest single process's
  RSS, sampled every 0.2 s with psutil.
- **pdf** — --pdf text-layer PDFs (Chromium-printed): ingest + normalize per report in one process against the floor
  "pdfplumber extract_tables on the table pages only" (the pages read_document sends through pdfplumber), and the
  per-document stage with all cores.
- **dask** — the per-document stage of --small reports on a Dask LocalCluster (2 worker processes, 1 thread each)
  against the local process pool (best of 2 each).

The machine may be shared with other jobs: CPU times are the steadier figures; the load average at the start of
each measure is recorded.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import machine  # noqa: E402  (bench/machine.py, beside this script)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

WORK = ROOT / "bench" / "_work" / "scale"
RESULTS = ROOT / "bench" / "RESULTS.md"
STORE = ROOT / "bench" / "scale_results.json"   # committed: RESULTS.md is rendered from it
SECTION = "Scale"
PY = sys.executable


# --- helpers ------------------------------------------------------------------------------------------------------

def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _cpu_self_children() -> tuple[float, float]:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def corpus(name: str, n: int, formats: str, seed: int, years: str = "2022-2024") -> Path:
    """Generate (once) a corpus under bench/_work/scale/<name>."""
    out = WORK / name
    stamp = out / ".generated.json"
    want = {"n": n, "formats": formats, "seed": seed, "years": years}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return out
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(WORK / f"{name}-truth", ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([PY, "-m", "pipeline", "synth", "--n", str(n), "--formats", formats, "--years", years,
                    "--seed", str(seed), "--out", str(out), "--truth", str(WORK / f"{name}-truth")],
                   cwd=ROOT, check=True)
    print(f"generated {name}: {n} reports in {time.perf_counter() - t:.0f} s", flush=True)
    stamp.write_text(json.dumps(want))
    return out


def _docs(raw: Path):
    from pipeline import batch

    return batch.discover(raw), batch.read_manifest(raw)


# --- the audit in a fresh process (stage times), its memory sampled from outside ---------------------------------

def child_audit(raw: str, out: str, cache: str, workers: int, scheduler: str | None) -> None:
    """Run what `python -m pipeline audit` runs, timing each stage; print one JSON line."""
    t0 = time.perf_counter()
    from pipeline import batch
    from pipeline.cache import run_batch
    from pipeline.report import write_outputs
    from pipeline.validate import run as validate
    t_imp = time.perf_counter()
    raw_p = Path(raw)
    files, manifest = batch.discover(raw_p), batch.read_manifest(raw_p)
    t1 = time.perf_counter()
    frames, st = run_batch(raw_p, files, manifest, workers, scheduler, progress=False,
                           cache_dir=Path(cache) if cache != "-" else None)
    t2 = time.perf_counter()
    findings, indicators, reports = validate(frames["reports"], frames["cells"], frames["sections"],
                                             batch.read_agencies(raw_p))
    frames.update(findings=findings, indicators=indicators, reports=reports)
    t3 = time.perf_counter()
    write_outputs(Path(out), frames, cache_dir=Path(cache) if cache != "-" else None)
    t4 = time.perf_counter()
    print(json.dumps({"documents": len(files), "reused": st.reused, "read": st.read, "imports": t_imp - t0,
                      "discover": t1 - t_imp, "documents_stage": t2 - t1, "keys": st.seconds_keys,
                      "cache_load": st.seconds_load, "validate": t3 - t2, "outputs": t4 - t3, "total": t4 - t0,
                      "cells": len(frames["cells"]), "findings": len(findings),
                      "failed": int((reports["status"] == "failed").sum())}), flush=True)


def run_child_audit(raw: Path, out: Path, cache: Path | None, workers: int, scheduler: str | None = None) -> dict:
    import psutil

    cmd = [PY, str(Path(__file__).resolve()), "--child-audit", str(raw), str(out), str(cache or "-"), str(workers),
           scheduler or "-"]
    load = _load()
    w0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_sum = peak_one = 0
    ps = psutil.Process(proc.pid)
    stop = threading.Event()

    def sample():
        nonlocal peak_sum, peak_one
        while not stop.is_set():
            try:
                procs = [ps] + ps.children(recursive=True)
                pss, rss = [], []
                for p in procs:
                    try:
                        m = p.memory_full_info()   # PSS: pages shared by forked workers counted once in the sum
                        pss.append(m.pss)
                        rss.append(m.rss)
                    except psutil.Error:
                        pass
                peak_sum = max(peak_sum, sum(pss))
                peak_one = max(peak_one, max(rss, default=0))
            except psutil.Error:
                pass
            stop.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    stop.set()
    th.join()
    wall = time.perf_counter() - w0
    if proc.returncode != 0:
        raise RuntimeError(f"audit failed ({proc.returncode}): {stderr[-3000:]}")
    res = json.loads(stdout.strip().splitlines()[-1])
    res.update(wall=wall, peak_rss_mb=peak_sum / 2**20, peak_rss_largest_mb=peak_one / 2**20, load=load)
    return res


# --- measures -----------------------------------------------------------------------------------------------------

def _floor_read(path: Path, rel: str) -> None:
    """The floor for one file: read it, and parse it once (lxml for HTML; decoding into lines for a text dump)."""
    import lxml.html

    data = path.read_bytes()
    if rel.endswith((".html", ".htm")):
        lxml.html.document_fromstring(data)
    else:
        data.decode("utf-8", errors="replace").splitlines()


def measure_floor_and_serial(raw: Path, sample: int, rounds: int = 3) -> dict:
    """Ingest + normalize (`batch.process_one`) against the floor, in one process, on `rounds` disjoint sets of
    `sample` files each spread evenly over the corpus, timed file by file in alternation: a change of load on this
    shared machine then weighs on both alike (measured one after the other, the ratio moved by ±20 % with the load).
    Every file is read once only: normalize memoizes what recurs across reports (label rows, boilerplate), and a
    second pass over the same files would find its own documents in those caches — a real run never does. The
    figures are totals over all rounds; the ratio is per format too (HTML pages cost a real parse, a text dump
    almost none)."""
    from pipeline import batch

    files, manifest = _docs(raw)
    step = max(1, len(files) // sample)
    rounds = max(1, min(rounds, step - 1)) if step > 1 else 1
    sets = [files[r::step][:sample] for r in range(rounds)]
    load = _load()
    for f in files[step - 1::step][:20]:   # imports, compiled patterns, the parsers: on files not timed
        _floor_read(f.path, f.rel)
        batch.process_one((str(f.path), f.rel, f.note, manifest.get(f.rel, {})))
    kinds = ("html", "txt")
    cpu = {(what, k): 0.0 for what in ("floor", "pipeline") for k in kinds}
    count = dict.fromkeys(kinds, 0)
    per_round = []
    for some in sets:
        round_cpu = {"floor": 0.0, "pipeline": 0.0}
        for f in some:
            kind = "html" if f.rel.endswith((".html", ".htm")) else "txt"
            c0 = time.process_time()
            _floor_read(f.path, f.rel)
            c1 = time.process_time()
            batch.process_one((str(f.path), f.rel, f.note, manifest.get(f.rel, {})))
            c2 = time.process_time()
            cpu["floor", kind] += c1 - c0
            cpu["pipeline", kind] += c2 - c1
            round_cpu["floor"] += c1 - c0
            round_cpu["pipeline"] += c2 - c1
            count[kind] += 1
        per_round.append(round_cpu["pipeline"] / round_cpu["floor"])
    n = sum(count.values())
    floor = sum(cpu["floor", k] for k in kinds)
    pipeline = sum(cpu["pipeline", k] for k in kinds)
    per_kind = {k: {"files": count[k], "floor_cpu_ms": 1000 * cpu["floor", k] / count[k],
                    "pipeline_cpu_ms": 1000 * cpu["pipeline", k] / count[k],
                    "ratio_cpu": cpu["pipeline", k] / cpu["floor", k]} for k in kinds if count[k]}
    return {"files": len(files), "sample": n, "rounds": len(sets), "floor_cpu_ms": 1000 * floor / n,
            "pipeline_cpu_ms": 1000 * pipeline / n, "ratio_cpu": pipeline / floor, "by_format": per_kind,
            "ratio_per_round": per_round, "load": load}


def measure_pdf(raw: Path, workers: int) -> dict:
    import pdfplumber

    from pipeline import batch, cache
    from pipeline.ingest import pdf as pdfmod

    files, manifest = _docs(raw)
    # the pages read_document sends through pdfplumber, recorded by wrapping the page reader (as bench/pdf_speed.py)
    pages: dict[str, list[int]] = {}
    orig = pdfmod._plumber_page
    current: list[int] = []

    def spy(page, pno, n_tables, state):
        current.append(pno - 1)
        return orig(page, pno, n_tables, state)

    pdfmod._plumber_page = spy
    try:
        for f in files:
            current.clear()
            pdfmod.parse_pdf(f.path)
            pages[f.rel] = list(current)
    finally:
        pdfmod._plumber_page = orig
    load = _load()
    c0 = time.process_time()
    n_pages = n_tables = 0
    for f in files:
        with pdfplumber.open(io.BytesIO(f.path.read_bytes())) as pdf:
            n_pages += len(pdf.pages)
            for i in pages[f.rel]:
                pdf.pages[i].extract_tables()
                n_tables += 1
    floor_cpu = time.process_time() - c0
    c0 = time.process_time()
    for f in files:
        batch.process_one((str(f.path), f.rel, f.note, manifest.get(f.rel, {})))
    cpu = time.process_time() - c0
    a = _cpu_self_children()
    w0 = time.perf_counter()
    cache.run_batch(raw, files, manifest, workers, progress=False, cache_dir=None)
    wall = time.perf_counter() - w0
    b = _cpu_self_children()
    return {"files": len(files), "pages": n_pages, "table_pages": n_tables, "floor_cpu_s": floor_cpu,
            "pipeline_cpu_s": cpu, "ratio_cpu": cpu / floor_cpu, "floor_rps_cpu": len(files) / floor_cpu,
            "pipeline_rps_cpu": len(files) / cpu, "parallel_wall_s": wall, "parallel_rps": len(files) / wall,
            "parallel_cpu_s": (b[0] - a[0]) + (b[1] - a[1]), "workers": workers, "load": load}


def measure_documents(raw: Path, cache_dir: Path, workers: int = 2, warm_runs: int = 2) -> dict:
    """The documents stage alone (ingest + normalize through the cache), cold with `cache_dir` emptied first, then
    `warm_runs` times over the unchanged inbox."""
    import shutil

    from pipeline import cache

    files, manifest = _docs(raw)
    shutil.rmtree(cache_dir, ignore_errors=True)
    load = _load()
    a = _cpu_self_children()
    w0 = time.perf_counter()
    cache.run_batch(raw, files, manifest, workers, None, progress=False, cache_dir=cache_dir)
    cold = time.perf_counter() - w0
    b = _cpu_self_children()
    time.sleep(2.1)     # the stat index trusts a file only once its mtime is older than the racy window
    warm = []
    for _ in range(warm_runs):
        w0 = time.perf_counter()
        _, st = cache.run_batch(raw, files, manifest, workers, None, progress=False, cache_dir=cache_dir)
        warm.append({"wall_s": time.perf_counter() - w0, "reused": st.reused, "by_stat": st.unchanged_by_stat,
                     "keys_s": st.seconds_keys, "load_s": st.seconds_load})
    best = min(warm, key=lambda r: r["wall_s"])
    return {"files": len(files), "workers": workers, "cold_s": cold, "cold_rps": len(files) / cold,
            "cold_cpu_s": (b[0] - a[0]) + (b[1] - a[1]), "warm_s": best["wall_s"],
            "warm_rps": len(files) / best["wall_s"], "warm_runs": warm, "load": load}


def measure_dask(raw: Path, workers: int, repeat: int = 2) -> dict:
    from distributed import LocalCluster

    from pipeline import cache

    files, manifest = _docs(raw)
    load = _load()
    pool, dask = [], []
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    start = time.perf_counter() - t
    try:
        # a long-lived cluster has imported the pipeline on its workers: warm them up outside the timings
        cache.run_batch(raw, files[:8], manifest, workers, cluster.scheduler_address, progress=False, cache_dir=None)
        for _ in range(repeat):
            w0 = time.perf_counter()
            cache.run_batch(raw, files, manifest, workers, progress=False, cache_dir=None)
            pool.append(time.perf_counter() - w0)
            w0 = time.perf_counter()
            cache.run_batch(raw, files, manifest, workers, cluster.scheduler_address, progress=False, cache_dir=None)
            dask.append(time.perf_counter() - w0)
    finally:
        cluster.close()
    return {"files": len(files), "workers": workers, "pool_s": min(pool), "dask_s": min(dask),
            "overhead": min(dask) / min(pool) - 1, "cluster_start_s": start, "pool_runs": pool, "dask_runs": dask,
            "load": load}


# --- results ------------------------------------------------------------------------------------------------------

def _store(key: str, value: dict, command: str) -> None:
    data = json.loads(STORE.read_text()) if STORE.exists() else {}
    value = dict(value, date=dt.date.today().isoformat(), command=command, machine=machine.describe(memory=True))
    data[key] = value
    STORE.parent.mkdir(parents=True, exist_ok=True)
    STORE.write_text(json.dumps(data, indent=1, ensure_ascii=False))


def _f(x, nd=1):
    return f"{x:,.{nd}f}"


def render(data: dict) -> str:
    lines = [f"## {SECTION}", "",
             "Generated corpora (`python -m pipeline synth --n N`), audited end to end by `bench/scale_speed.py` (it"
             " writes this section from bench/scale_results.json; each measure carries its own date and"
             " command). Targets of issue 6 in brackets. The machine is shared with other jobs: CPU times are the"
             " steadier figures; `load` is the 1-minute load average when the measure started.", ""]
    machines = sorted({v.get("machine", "") for v in data.values()})
    lines += [f"- machine: {m}" for m in machines] + [""]

    h = data.get("html_floor")
    if h:
        lines += ["### HTML/TXT: ingest + normalize against the parse floor", "",
                  f"- {h['date']}, `{h['command']}`, load {h['load']}",
                  f"- floor: read + parse once (lxml for HTML, decode for text dumps); pipeline: `batch.process_one`"
                  f" (ingest + normalize); both on the same {h['sample']:,} files spread over the {h['files']:,}"
                  f" ({h.get('rounds', 1)} disjoint sets, each file read once: normalize's memo caches never hold"
                  f" the document being timed), timed file by file in alternation in one process"
                  + (f"; ratio of each set: {', '.join(_f(x, 2) + '×' for x in h['ratio_per_round'])}"
                     if h.get("ratio_per_round") else ""), "",
                  "| files | CPU ms / report: floor | ingest + normalize | ratio [≤ 3×] |", "|---|---:|---:|---:|",
                  *[f"| {k.upper()} ({v['files']:,}) | {_f(v['floor_cpu_ms'], 2)} | {_f(v['pipeline_cpu_ms'], 2)} |"
                    f" {_f(v['ratio_cpu'], 1)}× |" for k, v in h.get("by_format", {}).items()],
                  f"| all ({h['sample']:,}) | {_f(h['floor_cpu_ms'], 2)} | {_f(h['pipeline_cpu_ms'], 2)} |"
                  f" **{_f(h['ratio_cpu'], 1)}×** |", ""]
    rows = [(k, v) for k, v in data.items() if k.startswith("audit_")]
    if rows:
        lines += ["### Audits end to end (fresh process, all cores)", "",
                  "| run | reports | documents stage s | validate s | outputs s | total s | reports/s overall |"
                  " reports/s documents stage | peak memory MB (PSS sum / largest RSS) | load |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for k, v in sorted(rows, key=lambda kv: (kv[1]["documents"], kv[0])):
            label = {"cold": "cold (empty cache)", "warm": "warm (unchanged inbox, cache)",
                     "nocache": "no cache"}.get(k.split("_")[-1], k)
            lines.append(f"| {label} | {v['documents']:,} | {_f(v['documents_stage'])} | {_f(v['validate'])} |"
                         f" {_f(v['outputs'])} | {_f(v['wall'])} | {_f(v['documents'] / v['wall'], 0)} |"
                         f" {_f(v['documents'] / v['documents_stage'], 0)} |"
                         f" {_f(v['peak_rss_mb'], 0)} / {_f(v['peak_rss_largest_mb'], 0)} | {v['load']} |")
        cmds = sorted({f"{v['date']}: `{v['command']}`" for _, v in rows})
        lines += [""] + [f"- {c}" for c in cmds]
        lines += ["- targets: cold HTML/TXT ≥ 100 reports/s; warm re-run of 10,000 ≥ 1,000 reports/s;"
                  " peak RSS ≤ 2 GB at 10,000 and sub-linear growth", ""]
    docs = sorted((v for k, v in data.items() if k.startswith("documents_")), key=lambda v: v["files"])
    if docs:
        lines += ["### Documents stage alone (ingest + normalize through the cache)", "",
                  "`cache.run_batch` without validation and outputs, in one process with its workers: cold (empty"
                  " cache), then warm over the unchanged inbox (best of the warm runs; keys: the stat index and"
                  " hashing, load: the cached parts read and assembled).", "",
                  "| reports | workers | cold s | cold reports/s [≥ 100] | warm s | warm reports/s [≥ 1,000] |"
                  " warm: reused / by stat | warm: keys s / load s | load |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for v in docs:
            w = min(v["warm_runs"], key=lambda r: r["wall_s"])
            lines.append(f"| {v['files']:,} | {v['workers']} | {_f(v['cold_s'])} | {_f(v['cold_rps'], 0)} |"
                         f" {_f(v['warm_s'], 2)} | {_f(v['warm_rps'], 0)} | {w['reused']:,} / {w['by_stat']:,} |"
                         f" {_f(w['keys_s'], 2)} / {_f(w['load_s'], 2)} | {v['load']} |")
        lines += [""] + [f"- {c}" for c in sorted({f"{v['date']}: `{v['command']}`" for v in docs})] + [""]
    p = data.get("pdf")
    if p:
        lines += ["### Text-layer PDF", "",
                  f"- {p['date']}, `{p['command']}`, load {p['load']}",
                  f"- {p['files']} generated PDFs (Chromium), {p['pages']} pages, {p['table_pages']} table pages", "",
                  "| measure | CPU s | reports / CPU-s |", "|---|---:|---:|",
                  f"| floor: pdfplumber `extract_tables` on the table pages only | {_f(p['floor_cpu_s'], 2)} |"
                  f" {_f(p['floor_rps_cpu'], 2)} |",
                  f"| ingest + normalize, one process | {_f(p['pipeline_cpu_s'], 2)} | {_f(p['pipeline_rps_cpu'], 2)} |",
                  f"| ratio [≤ 1.5×] | {_f(p['ratio_cpu'], 2)}× | |",
                  f"| documents stage, {p['workers']} workers (wall) [≥ 8 reports/s] | {_f(p['parallel_wall_s'], 1)} s"
                  f" wall | {_f(p['parallel_rps'], 1)} reports/s |", ""]
    d = data.get("dask")
    if d:
        lines += ["### Dask LocalCluster against the local process pool", "",
                  f"- {d['date']}, `{d['command']}`, load {d['load']}",
                  f"- documents stage (ingest + normalize, no cache) of {d['files']:,} HTML/TXT reports,"
                  f" {d['workers']} workers each; best of {len(d['pool_runs'])}", "",
                  "| run | wall s |", "|---|---:|",
                  f"| process pool (`--workers {d['workers']}`) | {_f(d['pool_s'], 2)} |",
                  f"| Dask LocalCluster, {d['workers']} processes × 1 thread (`--scheduler`) | {_f(d['dask_s'], 2)} |",
                  f"| overhead [≤ 15 %] | {d['overhead'] * 100:+.0f} % |",
                  f"| cluster start | {_f(d['cluster_start_s'], 2)} |", ""]
    notes = ROOT / "bench" / "scale_notes.md"
    if notes.exists():
        lines += [notes.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(lines)


def write_results(text: str) -> None:
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {SECTION}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda m: text.rstrip("\n") + "\n\n", old)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child-audit"]:
        raw, out, cache, workers, sched = argv[1:6]
        child_audit(raw, out, cache, int(workers), None if sched == "-" else sched)
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="reports in the large HTML/TXT corpus (default 10000)")
    ap.add_argument("--small", type=int, default=1000, help="reports in the small corpus (memory, Dask)")
    ap.add_argument("--pdf", type=int, default=40, help="PDFs in the PDF corpus")
    ap.add_argument("--sample", type=int, default=1000, help="reports per set timed one by one for the floor ratio (3 disjoint sets, each file read once)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", default="floor,html,documents,memory,pdf,dask",
                    help="measures: floor (parse floor ratio), html (cold + warm audits of --n), warm (only the warm "
                         "audit of --n, over the cache an earlier run left), documents (the documents stage alone "
                         "of --n, cold + warm, 2 workers), memory (cold + warm audits of --small), pdf, dask")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    a = ap.parse_args(argv)
    only = {x.strip() for x in a.only.split(",") if x.strip()}
    command = ".venv/bin/python bench/scale_speed.py " + " ".join(shlex.quote(x) for x in argv)
    command = command.strip()
    import shutil

    def show(key, res):
        print(key, json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()},
                              ensure_ascii=False), flush=True)
        _store(key, res, command)

    if only & {"floor", "html", "warm", "documents", "memory"}:
        big = corpus(f"ht-{a.n}", a.n, "html,txt", seed=1)
        if "floor" in only:
            show("html_floor", measure_floor_and_serial(big, min(a.sample, a.n)))
        if only & {"html", "warm"}:
            cache_dir, out = WORK / f"cache-{a.n}", WORK / f"out-{a.n}"
            if "html" in only:
                shutil.rmtree(cache_dir, ignore_errors=True)
                show(f"audit_{a.n}_cold", run_child_audit(big, out, cache_dir, a.workers))
            # "warm" alone: again over the cache left by an earlier run (it must have read this very code)
            show(f"audit_{a.n}_warm", run_child_audit(big, out, cache_dir, a.workers))
        if "documents" in only:
            show(f"documents_{a.n}", measure_documents(big, WORK / f"documents-cache-{a.n}"))
        if "memory" in only and a.small != a.n:
            small = corpus(f"ht-{a.small}", a.small, "html,txt", seed=1)
            cache_dir, out = WORK / f"cache-{a.small}", WORK / f"out-{a.small}"
            shutil.rmtree(cache_dir, ignore_errors=True)
            show(f"audit_{a.small}_cold", run_child_audit(small, out, cache_dir, a.workers))
            show(f"audit_{a.small}_warm", run_child_audit(small, out, cache_dir, a.workers))
    if "pdf" in only:
        pdfs = corpus(f"pdf-{a.pdf}", a.pdf, "pdf", seed=2)
        show("pdf", measure_pdf(pdfs, a.workers))
    if "dask" in only:
        small = corpus(f"ht-{a.small}", a.small, "html,txt", seed=1)
        show("dask", measure_dask(small, a.workers))
    data = json.loads(STORE.read_text())
    text = render(data)
    print(text)
    if not a.no_write:
        write_results(text)
        print(f"written: {RESULTS.relative_to(ROOT)} (section {SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
