"""How the benchmarks describe the machine they ran on (one line for bench/RESULTS.md)."""
from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path


def describe(memory: bool = False) -> str:
    """'2 cores (nproc)[, 24 GiB], <CPU model>, Python 3.11.7' — cores as nproc counts them (the CPUs this process
    may use: its affinity mask), the model from lscpu. Not the `nproc` command itself: it honours OMP_NUM_THREADS,
    which Dask sets to 1 in the process that starts a LocalCluster."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        if m:
            model = m.group(1).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    mem = ""
    if memory:
        try:
            kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
            mem = f", {kb / 1024 / 1024:.0f} GiB"
        except (OSError, AttributeError):
            pass
    return f"{cores} cores (nproc){mem}, {model}, Python {platform.python_version()}"


def results_header(section: str, script: str, argv: list[str], memory: bool = False) -> list[str]:
    """The first lines of a benchmark's section of bench/RESULTS.md: its title, the date, the machine and the
    command that produced it (`script` run with `argv`)."""
    import datetime as dt
    import shlex

    cmd = f".venv/bin/python {script} " + " ".join(shlex.quote(a) for a in argv)
    return [f"## {section}", "", f"- date: {dt.date.today().isoformat()}", f"- machine: {describe(memory=memory)}",
            f"- command: `{cmd.strip()}`"]
