"""Reuse of per-agency output files between runs (the per-agency workbooks and 整改通知 notices).

An unchanged inbox audited again gives the same frames, and most agencies' files would be written again byte for
byte (timestamps aside). Each such file is therefore kept under a digest of exactly the data it shows — for a
workbook: the agency's report rows, its per-report sheet names, every cell of its reports and its findings; for a
notice: its reports and its errors/warnings with the rule titles — plus the writer's fingerprint (the source of
``pipeline/report``, ``pipeline/templates.py``, ``rules/templates/*.yaml``, the package version and the versions of
the libraries that write the files). When the digest is in the store, the stored file is copied into the new
output folder instead of being written; otherwise the file is written and a copy stored.

The digest is a SHA-256 of the data pickled without memo (equal data gives equal bytes, whatever objects hold
it), so an entry is only reused for exactly the data it was written from. Entries are written atomically (temporary
name, then rename) and checked when reused (a complete zip); a damaged entry is written again. Entries not used for
:data:`MAX_AGE_DAYS` days are deleted at the end of a run.

Layout: ``<cache_dir>/outputs/<FORMAT>/<kind>/<2 hex>/<digest>.<ext>``; the default cache_dir is the audit's
``.auditor-cache`` beside OUT_DIR, used only when that folder exists (the audit command creates it unless run
with ``--no-cache``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
import pickle
import shutil
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT = "v1"
SUBDIR = "outputs"
MIN_FILES = 40        # kinds with fewer files per run are written without the store (nothing to gain)
MAX_AGE_DAYS = 30     # entries not used for this long are deleted at the end of a run
MANIFEST = "MANIFEST"

ROOT = Path(__file__).resolve().parents[2]
_SOURCES = ("pipeline/report/*.py", "pipeline/templates.py", "pipeline/frames.py", "rules/templates/*.yaml")
_LIBRARIES = ("xlsxwriter", "openpyxl", "python-docx", "lxml", "matplotlib", "pillow", "noto-cjk-sans-otc", "numpy",
              "pandas")


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """What decides how the files are written, apart from the data: sources, package and library versions."""
    h = hashlib.sha256(f"{FORMAT}\0{sys.version_info[:2]}\0".encode())
    for pattern in _SOURCES:
        for p in sorted(ROOT.glob(pattern)):
            h.update(str(p.relative_to(ROOT)).encode() + b"\0")
            h.update(p.read_bytes())
    for lib in ("gov-disclosure-auditor", *_LIBRARIES):
        try:
            v = metadata.version(lib)
        except metadata.PackageNotFoundError:
            v = "-"
        h.update(f"{lib}={v}\0".encode())
    return h.hexdigest()


def digest(data, salt: bool = True) -> str:
    """SHA-256 of *data* (plain Python values) pickled in fast mode: no memo, so the bytes depend on the values
    only, not on which of them happen to be the same object; salted with :func:`fingerprint`."""
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=5)
    p.fast = True
    p.dump(data)
    h = hashlib.sha256(fingerprint().encode() if salt else b"")
    h.update(buf.getbuffer())
    return h.hexdigest()


def frame_token(df) -> str:
    """A digest of a frame's columns, dtypes and values (equal frames give equal tokens, whatever their memory
    layout)."""
    import numpy as np

    h = hashlib.sha256(f"{list(map(str, df.columns))}\0{len(df)}\0".encode())
    for name in df.columns:
        s = df[name]
        h.update(f"{name}\0{s.dtype}\0".encode())
        if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":
            h.update(np.ascontiguousarray(s.to_numpy()).tobytes())
        else:
            h.update(digest(s.tolist(), salt=False).encode())
    return h.hexdigest()


def _valid_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return bool(z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


class Store:
    """The entries of one kind of file ("workbooks", "notices")."""

    def __init__(self, root: Path, kind: str, ext: str):
        self.dir = root / kind
        self.ext = ext
        self.kind = kind

    def key(self, data) -> str:
        return digest(data)

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}{self.ext}"

    def fetch(self, key: str, target: Path) -> bool:
        """Copy the entry *key* to *target*; False when there is none (or it is damaged)."""
        src = self._path(key)
        try:
            if not _valid_zip(src):
                return False
            shutil.copyfile(src, target)
            os.utime(src)   # recently used: kept by prune()
            return True
        except OSError:
            return False

    def put(self, key: str, source: Path) -> None:
        """Store a copy of *source* as entry *key* (atomically; a failure only costs the reuse)."""
        dest = self._path(key)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            log.warning("output cache: cannot store %s: %s", dest, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def fetch_files(self, key: str, target_dir: Path) -> list[str] | None:
        """Copy the files of entry *key* (a folder, see :meth:`put_files`) into *target_dir*; their names, or None
        when there is no complete entry."""
        src = self._path(key)
        try:
            names = (src / MANIFEST).read_text(encoding="utf-8").splitlines()
            sizes = [(n.rsplit("\t", 1)[0], int(n.rsplit("\t", 1)[1])) for n in names]
            if any((src / n).stat().st_size != size for n, size in sizes):
                return None
            for n, _ in sizes:
                shutil.copyfile(src / n, target_dir / n)
            os.utime(src)
            return [n for n, _ in sizes]
        except (OSError, ValueError, IndexError):
            return None

    def put_files(self, key: str, paths: list[Path]) -> None:
        """Store copies of *paths* (plain file names) as entry *key*: a folder renamed into place when complete."""
        dest = self._path(key)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            lines = []
            for p in paths:
                shutil.copyfile(p, tmp / p.name)
                lines.append(f"{p.name}\t{p.stat().st_size}")
            (tmp / MANIFEST).write_text("\n".join(lines), encoding="utf-8")
            os.rename(tmp, dest)
        except OSError as exc:
            if not (dest / MANIFEST).is_file():
                log.warning("output cache: cannot store %s: %s", dest, exc)
            shutil.rmtree(tmp, ignore_errors=True)

    def done(self, reused: int, total: int) -> None:
        self.reused, self.total = reused, total
        log.info("output cache %s: %d of %d files reused", self.kind, reused, total)
        self.prune()

    def prune(self, max_age_days: float = MAX_AGE_DAYS) -> None:
        limit = time.time() - max_age_days * 86400
        try:
            shards = list(os.scandir(self.dir))
        except OSError:
            return
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False):
                continue
            try:
                entries = list(os.scandir(shard.path))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.stat(follow_symlinks=False).st_mtime < limit:
                        if e.is_dir(follow_symlinks=False):
                            shutil.rmtree(e.path, ignore_errors=True)
                        else:
                            os.unlink(e.path)
                except OSError:
                    pass


class Cache:
    """The output store under *cache_dir* (``<cache_dir>/outputs/<FORMAT>``)."""

    def __init__(self, cache_dir: Path, min_files: int | None = None):
        self.root = Path(cache_dir) / SUBDIR / FORMAT
        self.min_files = MIN_FILES if min_files is None else min_files
        self.stores: list[Store] = []

    def kind(self, name: str, n_files: int, ext: str = ".xlsx", min_files: int | None = None) -> Store | None:
        """The store for *name*, or None when a run writes too few such files to bother."""
        if n_files < (self.min_files if min_files is None else min_files):
            return None
        store = Store(self.root, name, ext)
        self.stores.append(store)
        return store


def default_cache(out_dir: Path) -> Cache | None:
    """The store inside the audit's default cache folder (``.auditor-cache`` beside OUT_DIR) when it exists."""
    from pipeline.cache import default_cache_dir

    d = default_cache_dir(out_dir)
    return Cache(d) if d.is_dir() else None
