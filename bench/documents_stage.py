"""Documents stage alone (cache.run_batch, 2 workers): cold with an empty cache, then two warm runs.

    .venv/bin/python bench/documents_stage.py bench/_work/scale/ht-10000

Prints reports/s; a quick check of the cold (>= 100/s) and warm (>= 1,000/s) targets of issue 6 without validation
and outputs. The cache goes to /tmp/auditor-bench-wcache (removed first). The warm runs wait 2.1 s so that the stat index
trusts the files (racy window).
"""
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline import batch
from pipeline.cache import run_batch
raw = Path(sys.argv[1]); cache = Path("/tmp/auditor-bench-wcache"); shutil.rmtree(cache, ignore_errors=True)
files = batch.discover(raw); man = batch.read_manifest(raw)
print("load", os.getloadavg()[0])
t = time.perf_counter(); fr, st = run_batch(raw, files, man, 2, None, progress=False, cache_dir=cache); w = time.perf_counter() - t
print(f"cold: {len(files)} docs {w:.1f}s -> {len(files)/w:.0f}/s")
time.sleep(2.1)
for i in range(2):
    t = time.perf_counter(); fr, st = run_batch(raw, files, man, 2, None, progress=False, cache_dir=cache); w = time.perf_counter() - t
    print(f"warm{i}: {w:.2f}s -> {len(files)/w:.0f}/s; reused {st.reused}; by stat {st.unchanged_by_stat}; keys {st.seconds_keys:.2f}s load {st.seconds_load:.2f}s")
