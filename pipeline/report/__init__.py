"""Report stage: write every output of the contract into OUT_DIR, atomically.

``write_outputs(out_dir, frames)`` builds all files in a temporary sibling directory
(``OUT_DIR.parent / ".<name>.tmp-<pid>"``) and then swaps it into place:

- on Linux with ``renameat2(RENAME_EXCHANGE)`` the old and new directories are exchanged in one atomic step
  (OUT_DIR never disappears, even for an instant);
- otherwise: rename OUT_DIR -> ``.<name>.old-<pid>``, rename the new directory -> OUT_DIR, delete the backup
  (if the second rename fails the backup is put back).

A reader therefore never sees a half-written file, and a run that fails or is interrupted while building leaves
the previous outputs untouched (the temporary directory is removed and the exception re-raised).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from . import charts, csvout, notices, page, reuse, workbook

__all__ = ["write_outputs", "check_out_dir", "OutputDirError", "OUTPUT_FILES", "OPTIONAL_OUTPUTS"]

log = logging.getLogger(__name__)

# Files (relative to OUT_DIR) that write_outputs always produces.
OUTPUT_FILES = (
    "reports.csv", "cells.csv", "cells.parquet", "sections.parquet", "findings.csv", "findings.parquet",
    "indicators.csv", "audit.xlsx", "index.html", *(f"charts/{c}" for c in charts.CHART_FILES),
)
# Files produced when the data call for them (glob patterns relative to OUT_DIR): the trend chart when the batch
# spans several years, one notice per agency with errors or warnings, one workbook per agency when the batch has
# more than workbook.DETAIL_SHEETS_MAX reports.
OPTIONAL_OUTPUTS = (
    *(f"charts/{c}" for c in charts.CONDITIONAL_FILES),
    f"{notices.NOTICES_DIR}/*_整改通知.docx",
    f"{workbook.WORKBOOKS_DIR}/*.xlsx",
)


class OutputDirError(OSError):
    """OUT_DIR cannot be written (parent missing and not creatable, not writable, or not a directory)."""


# ---------------------------------------------------------------------------------------------------- building

def _build(tmp: Path, frames: dict[str, pd.DataFrame], progress=None, cache: reuse.Cache | None = None) -> None:
    t0 = time.monotonic()

    def stage(text: str) -> None:
        if progress is not None:
            progress(f"写入输出 {text}（{time.monotonic() - t0:.0f}s）")

    workbook.release_free_memory()
    f, orders = csvout.prepare_lazy(frames)   # the cells of a large batch stay where they are, with their order
    stage("CSV/parquet")
    csvout.write_csv(tmp / "reports.csv", f["reports"])
    csvout.write_csv(tmp / "cells.csv", f["cells"], orders.get("cells"))
    csvout.write_parquet(tmp / "cells.parquet", f["cells"], orders.get("cells"))
    csvout.write_parquet(tmp / "sections.parquet", f["sections"], orders.get("sections"))
    csvout.write_csv(tmp / "findings.csv", f["findings"])
    csvout.write_parquet(tmp / "findings.parquet", f["findings"])
    csvout.write_csv(tmp / "indicators.csv", f["indicators"])
    stage(f"审核工作簿 audit.xlsx（{len(f['reports'])} 份报告）")
    workbook.write_workbook(tmp / "audit.xlsx", f["reports"], f["findings"], f["indicators"], f["cells"],
                            cache=cache, progress=lambda n: stage(f"各机关工作簿 workbooks/（{n} 个）"))
    stage("图表 charts/")
    charts.write_charts(tmp / "charts", f["reports"], f["findings"], f["indicators"], f["cells"], cache=cache,
                        cells_order=orders.get("cells"))
    stage("整改通知 notices/")
    written = notices.write_notices(tmp / notices.NOTICES_DIR, f["reports"], f["findings"], cache=cache)
    stage("汇总页 index.html")
    page.write_index(tmp / "index.html", f["reports"], f["findings"], f["indicators"], tmp / "charts", written,
                     {**charts.CHARTS, **charts.CONDITIONAL_CHARTS})


def _libc_function(name: str, argtypes: list):
    """The C library's function *name* (returning int, errno kept) on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = ctypes.c_int
    return fn


def _syncfs(root: Path) -> bool:
    """Flush the whole file system holding *root* (Linux syncfs: one call instead of one fsync per file, ~10x
    faster for the thousands of files of a large batch). False when not available here."""
    syncfs = _libc_function("syncfs", [ctypes.c_int])
    if syncfs is None:
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        return syncfs(fd) == 0
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory of *root* to disk, so the swap never exposes empty files after a crash."""
    if _syncfs(root):
        return
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------------------- swapping

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two existing paths (Linux renameat2). False when not supported here."""
    renameat2 = _libc_function("renameat2",
                               [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint])
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, f"renameat2(RENAME_EXCHANGE) failed: {os.strerror(err)}", str(a), None, str(b))


def _swap(new: Path, out_dir: Path, backup: Path) -> None:
    """Put directory *new* in place of *out_dir* (which may not exist); *new* no longer exists afterwards."""
    if not out_dir.exists():
        os.rename(new, out_dir)
        return
    if _exchange(new, out_dir):
        # *new* now holds the previous outputs
        _fsync_dir(out_dir.parent)
        shutil.rmtree(new, ignore_errors=True)
        return
    os.rename(out_dir, backup)
    try:
        os.rename(new, out_dir)
    except BaseException:
        os.rename(backup, out_dir)
        raise
    _fsync_dir(out_dir.parent)
    shutil.rmtree(backup, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: Path, name: str) -> None:
    """Remove temporary/backup siblings left by runs that were killed (their process no longer exists).

    A stale backup is only removed while OUT_DIR exists (otherwise it may hold the only copy of the outputs).
    """
    for kind in ("tmp", "old"):
        prefix = f".{name}.{kind}-"
        try:
            candidates = [p for p in parent.iterdir() if p.name.startswith(prefix)]
        except OSError:
            return
        for p in candidates:
            suffix = p.name[len(prefix):]
            if not suffix.isdigit() or (int(suffix) != os.getpid() and _pid_alive(int(suffix))):
                continue
            if kind == "old" and not (parent / name).is_dir():
                log.warning("%s holds the previous outputs of an interrupted run; %s is missing", p, parent / name)
                continue
            shutil.rmtree(p, ignore_errors=True)


def _check_target(out_dir: Path) -> None:
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(
            exc.errno, f"无法创建输出目录的上级目录 {parent} | cannot create the parent of the output directory: "
                       f"{exc.strerror}", str(parent)) from exc
    if not parent.is_dir():
        raise OutputDirError(errno.ENOTDIR, f"{parent} 不是目录 | the parent of OUT_DIR is not a directory",
                             str(parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputDirError(errno.EACCES, f"输出目录的上级目录 {parent} 不可写 | the parent of OUT_DIR is not "
                                           "writable (outputs are built next to OUT_DIR and swapped in)",
                             str(parent))
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputDirError(errno.ENOTDIR, f"{out_dir} 已存在且不是目录 | OUT_DIR exists and is not a directory",
                             str(out_dir))


# ---------------------------------------------------------------------------------------------------------- API

def check_out_dir(out_dir: Path) -> None:
    """Raise :class:`OutputDirError` now if OUT_DIR could not be written later (a command line checks this before
    reading thousands of documents, not after)."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        out_dir = out_dir.resolve()
    _check_target(out_dir.absolute())


_DEFAULT = object()   # write_outputs' default cache_dir: .auditor-cache beside OUT_DIR, when it exists


def write_outputs(out_dir: Path, frames: dict[str, pd.DataFrame], progress=None,
                  cache_dir: Path | None = _DEFAULT) -> None:  # type: ignore[assignment]
    """Write reports.csv, cells.csv/.parquet, sections.parquet, findings.csv/.parquet, indicators.csv, audit.xlsx
    (+ workbooks/*.xlsx for large batches), charts/*.png/.svg, notices/*.docx and index.html into *out_dir*,
    replacing its previous content completely and atomically.

    *frames* has the keys reports, cells, sections, findings, indicators (columns of ``pipeline/frames.py``;
    a missing key is written as an empty frame). *progress*, if given, is called with a short Chinese line as each
    group of files is started (for a command line to show: on large batches writing takes minutes).
    Raises :class:`OutputDirError` when OUT_DIR cannot be written; any other exception while building leaves the
    previous OUT_DIR untouched and no temporary directory behind.

    *cache_dir* is the audit's cache folder (the command line's ``--cache-dir``): per-agency workbooks, notices and
    (for large batches) the charts are kept in its ``outputs/`` subfolder and copied from there when the data they
    show did not change (see :mod:`pipeline.report.reuse`). None: no reuse. By default ``.auditor-cache`` beside
    OUT_DIR, when that folder exists (the audit command creates it unless run with ``--no-cache``).
    """
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        out_dir = out_dir.resolve()  # replace the directory the link points to, keep the link
    out_dir = out_dir.absolute()
    _check_target(out_dir)
    parent, name = out_dir.parent, out_dir.name
    _remove_stale(parent, name)
    if cache_dir is _DEFAULT:
        cache = reuse.default_cache(out_dir)
    else:
        cache = reuse.Cache(Path(cache_dir)) if cache_dir is not None else None

    pid = os.getpid()
    tmp = parent / f".{name}.tmp-{pid}"
    backup = parent / f".{name}.old-{pid}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            tmp.mkdir()
        except OSError as exc:
            raise OutputDirError(exc.errno, f"无法在 {parent} 中创建临时目录 | cannot create a temporary directory "
                                            f"next to OUT_DIR: {exc.strerror}", str(tmp)) from exc
        _build(tmp, frames, progress, cache)
        _fsync_tree(tmp)
        _swap(tmp, out_dir, backup)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
