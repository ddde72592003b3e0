"""Incremental cache and streamed per-document results.

`run_batch` replaces "read every document, keep every result in memory, build the frames":

1. every input file is hashed (sha256 of its bytes, threads) and gets a **cache key**: sha256 of the file's bytes
   hash, its path relative to RAW_DIR (the report id and the format sniffing depend on it), its manifest.csv row,
   the images it shows from files beside it (`<img src="t3.png">`, read by OCR), and the **pipeline fingerprint**
   (the package version, the source of ingest/normalize and of the modules they use, rules/templates/*.yaml,
   rules/identities.yaml, the versions of the parsing libraries and of Python). Anything that can change what
   ingest + normalize return for the file changes the key; validation rules do not (they run on every run).
   A file whose `os.stat` signature (and its pictures') is unchanged since the last run is not read or hashed
   again: its hash comes from the stat index `v1/stat-index.json` (pipeline/statindex.py, git's idea);
2. documents whose key is in the cache are not read again: their rows are loaded from the cache's parquet parts;
3. the others are read by `batch.run_documents` (local worker processes under the isolation limits, or a Dask
   cluster); each result is handed over as it arrives and written, every `PACK_DOCS` documents, to a new **part**
   (three parquet files: reports, cells, sections rows of those documents) — memory holds at most one part's
   results, not the batch;
4. the frames for validation are the concatenation of the parts' rows, put in the order of the input files: the
   same frames, byte for byte, as reading every document serially (tests/test_cache.py checks it).

Layout of the cache directory (default: `.auditor-cache` beside OUT_DIR, `audit --cache-dir`, off with `--no-cache`):
`v1/parts/<id>.{reports,cells,sections}.parquet` and `v1/parts/<id>.keys` (one line per document of the part:
its key, and whether it may be reused). A part is written to temporary names and renamed; its `.keys` file is
written last, so a part interrupted half-way is never used. A part that cannot be read (damaged, truncated) is
ignored and its documents are read again. Documents whose reading failed are not reused (the cause — a time
limit, LibreOffice missing — may be gone next time). Several runs may share one cache directory. Deleting the
directory is always safe; nothing else removes old parts.

Without the cache the parts go to a temporary directory that is removed at the end of the run.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

from .frames import CELLS_COLUMNS, REPORTS_COLUMNS, SECTIONS_COLUMNS
from .statindex import StatIndex, signature

CACHE_FORMAT = "v1"
PACK_DOCS = 500                 # documents per part
STAT_INDEX = "stat-index.json"  # file signatures → hashes (pipeline/statindex.py), beside the parts
DEFAULT_DIR_NAME = ".auditor-cache"
KINDS = ("reports", "cells", "sections")
COLUMNS = {"reports": REPORTS_COLUMNS, "cells": CELLS_COLUMNS, "sections": SECTIONS_COLUMNS}
ROOT = Path(__file__).resolve().parent.parent
# what ingest + normalize depend on (paths relative to the project root; directories: every *.py / *.yaml below)
FINGERPRINT_PATHS = ("pipeline/ingest", "pipeline/normalize", "pipeline/document.py", "pipeline/templates.py",
                     "pipeline/identities.py", "pipeline/frames.py", "pipeline/batch.py",
                     "rules/templates", "rules/identities.yaml")   # the part layout is versioned by CACHE_FORMAT
LIBRARIES = ("lxml", "pdfplumber", "pdfminer.six", "pypdfium2", "python-docx", "charset-normalizer", "rapidocr",
             "onnxruntime", "opencv-python-headless", "Pillow", "PyYAML", "pandas", "pyarrow")


# --- keys -----------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def fingerprint() -> str:
    """A digest of everything besides the file itself that decides what ingest + normalize return."""
    from importlib import metadata

    h = hashlib.sha256(f"{CACHE_FORMAT}\0{sys.version}\0".encode())
    # switches that change how documents are read (pipeline/ingest/pdf.py: the source of a PDF page's objects)
    h.update(f"AUDITOR_PDF_OBJECTS={os.environ.get('AUDITOR_PDF_OBJECTS', '')}\0".encode())
    for name in ("gov-disclosure-auditor",) + LIBRARIES:
        try:
            v = metadata.version(name)
        except metadata.PackageNotFoundError:
            v = "-"
        h.update(f"{name}={v}\0".encode())
    for rel in FINGERPRINT_PATHS:
        p = ROOT / rel
        files = sorted(x for x in p.rglob("*") if x.suffix in (".py", ".yaml") and x.is_file()) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


_IMG = re.compile(rb"<img\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_IMG_TAG = re.compile(rb"<img", re.I)


def image_refs(data: bytes, path: Path, raw_root: Path) -> list[list]:
    """[relative path, signature or None, sha256 or None] of every picture file a web page references inside RAW_DIR
    (the same resolution as ingest: relative paths only; data: URIs are part of the bytes), existing or not."""
    if not _IMG_TAG.search(data):
        return []
    refs = []
    for m in _IMG.finditer(data):
        src = m.group(1).decode("latin-1")
        if src.startswith("data:"):
            continue
        parts = urlsplit(src)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        try:
            target = (path.parent / unquote(parts.path)).resolve()
            if not target.is_relative_to(raw_root):
                continue
            sig = signature(target)
            refs.append([target.relative_to(raw_root).as_posix(), sig,
                         hashlib.sha256(target.read_bytes()).hexdigest() if sig is not None else None])
        except (OSError, ValueError):
            continue
    return refs


def image_deps(data: bytes, path: Path, raw_root: Path) -> list[list[str]]:
    """[relative path, sha256] of the image files beside a web page that ingest would read for its `<img>` tables."""
    return _deps(image_refs(data, path, raw_root))


def _deps(refs: list[list]) -> list[list[str]]:
    return sorted([rel, sha] for rel, _sig, sha in refs if sha is not None)


def file_key(path: Path, rel: str, overrides: dict, raw_root: Path, fp: str,
             index: StatIndex | None = None) -> str | None:
    """The cache key of one input file, or None when it cannot be read (then it is simply read again). With a
    `StatIndex`, a file whose signature (and its pictures') is unchanged since the last run is not read again."""
    entry = sig = None
    where = str(raw_root / rel)
    if index is not None:
        sig = signature(path)
        entry = index.lookup(where, sig, raw_root)
    if entry is not None:
        sha, deps = entry["sha"], _deps(entry["refs"])
    else:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        sha = hashlib.sha256(data).hexdigest()
        refs = image_refs(data, path, raw_root)
        deps = _deps(refs)
        if index is not None:
            index.remember(where, sig, sha, refs)
    payload = json.dumps([fp, rel, sha, sorted((str(k), str(v)) for k, v in (overrides or {}).items()), deps],
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:40]


# --- parts ----------------------------------------------------------------------------------------------------------

def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class PartStore:
    """A directory of parts. `index()` maps reusable keys to part ids."""

    def __init__(self, root: Path):
        self.dir = Path(root) / CACHE_FORMAT / "parts"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def keys_of(self, part: str) -> list[tuple[str, bool]]:
        lines = (self.dir / f"{part}.keys").read_text(encoding="ascii").splitlines()
        return [(k, flag == "1") for k, _, flag in (ln.partition("\t") for ln in lines if ln)]

    def index(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in sorted(self.dir.glob("*.keys")):      # sorted: with duplicates, the oldest part wins
            part = p.name[:-5]
            try:
                for k, reusable in self.keys_of(part):
                    if reusable:
                        out.setdefault(k, part)
            except (OSError, UnicodeDecodeError):
                continue
        return out

    def write(self, docs: list[tuple[str, bool, object]]) -> str:
        """docs: [(key, reusable, Normalized)] → a new part id (files written atomically, .keys last)."""
        from .batch import frames_from

        self._n += 1
        part = f"{time.time_ns():x}-{os.getpid()}-{self._n}"
        fr = frames_from([d[2] for d in docs])
        rows = {"reports": [1] * len(docs), "cells": [len(d[2].cells) for d in docs],
                "sections": [len(d[2].sections) for d in docs]}
        for kind in KINDS:
            df = fr[kind]
            counts = np.asarray(rows[kind], dtype=np.int64)
            df["_doc"] = np.repeat(np.arange(len(docs), dtype=np.int32), counts)
            starts = np.repeat(np.cumsum(counts) - counts, counts)
            df["_seq"] = (np.arange(len(df), dtype=np.int64) - starts).astype(np.int32)
            _atomic_write(self.dir / f"{part}.{kind}.parquet", lambda t, df=df: df.to_parquet(t, index=False))
        text = "".join(f"{d[0]}\t{'1' if d[1] else '0'}\n" for d in docs)
        _atomic_write(self.dir / f"{part}.keys", lambda t: t.write_text(text, encoding="ascii"))
        return part

    def read(self, part: str, wanted: dict[str, int]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
        """The rows of the documents of `part` whose key is in `wanted` (key → position in the run), with a
        `_pos` column; and the keys actually found (one reports row each). Raises on a damaged part."""
        keys = [k for k, _ in self.keys_of(part)]
        pos = np.array([wanted.get(k, -1) for k in keys], dtype=np.int64)
        out = {}
        for kind in KINDS:
            df = pd.read_parquet(self.dir / f"{part}.{kind}.parquet")
            if len(df) and (df["_doc"].min() < 0 or df["_doc"].max() >= len(keys)):
                raise ValueError(f"part {part}: document index out of range")
            p = pos[df["_doc"].to_numpy()] if len(df) else np.empty(0, dtype=np.int64)
            keep = p >= 0
            df = df.loc[keep].copy() if not keep.all() else df
            df["_pos"] = p[keep]
            out[kind] = df
        counts = np.bincount(out["reports"]["_doc"].to_numpy(), minlength=len(keys))
        found = {k: int(pos[i]) for i, k in enumerate(keys) if pos[i] >= 0 and counts[i] == 1}
        if len(found) < int((pos >= 0).sum()):  # a document without exactly one reports row: drop it entirely
            good = np.zeros(len(keys), dtype=bool)
            good[[i for i, k in enumerate(keys) if k in found]] = True
            for kind in KINDS:
                df = out[kind]
                out[kind] = df.loc[good[df["_doc"].to_numpy()]]
        return out, found

    def drop(self, part: str) -> None:
        """Forget a damaged part (its .keys file first, so it is no longer indexed)."""
        for name in [f"{part}.keys"] + [f"{part}.{k}.parquet" for k in KINDS]:
            try:
                (self.dir / name).unlink()
            except OSError:
                pass


# --- frames ---------------------------------------------------------------------------------------------------------

def _typed(kind: str, df: pd.DataFrame) -> pd.DataFrame:
    """The dtypes `batch.frames_from` gives (idempotent)."""
    if kind == "reports":
        df["year"] = pd.array(df["year"].tolist(), dtype="Int64") if len(df) else pd.array([], dtype="Int64")
        for c in ("n_errors", "n_warnings", "n_infos", "template_markers_2021", "template_markers_2019"):
            df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    elif kind == "cells":
        df["value"] = pd.to_numeric(df["value"], errors="coerce").astype("float64")
        df["page"] = df["page"].astype("Int64") if len(df) else pd.array([], dtype="Int64")
        for c in ("report_id", "table", "row_id", "col_id", "state", "raw", "location", "block", "unit", "note"):
            df[c] = df[c].fillna("").astype(str)
    else:
        if len(df):
            df["order"] = pd.to_numeric(df["order"]).astype("int64")
        for c in ("report_id", "section_id", "heading", "canonical_heading", "text"):
            df[c] = df[c].fillna("").astype(str)
    return df


def assemble(pieces: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Concatenate part rows into one frame per kind, in input-file order (then row order within a document).

    The lists of `pieces` are emptied, and the frames are built column by column: each column is copied once into
    one contiguous array in input order, then that column of every part is released — the parts and the frames
    are never held whole at the same time (and the frames do not keep the parts' buffers alive)."""
    from .batch import frames_from

    empty = frames_from([])
    out = {}
    for kind in KINDS:
        dfs = [d for d in pieces.get(kind, []) if len(d)]
        if kind in pieces:
            pieces[kind].clear()
        if not dfs:
            out[kind] = empty[kind]
            continue
        pos = np.concatenate([d["_pos"].to_numpy() for d in dfs])
        seq = np.concatenate([d["_seq"].to_numpy() for d in dfs])
        in_order = len(pos) < 2 or bool(np.all((pos[1:] > pos[:-1]) | ((pos[1:] == pos[:-1]) & (seq[1:] > seq[:-1]))))
        order = np.arange(len(pos)) if in_order else np.lexsort((seq, pos))
        del pos, seq
        cols = {}
        for c in COLUMNS[kind]:
            cols[c] = pd.concat([d[c] for d in dfs], ignore_index=True).array.take(order)
            dfs = [d.drop(columns=c) for d in dfs]
            release_memory(trim=False)     # the pool keeps freed pages until told
        del dfs
        out[kind] = _typed(kind, pd.DataFrame(cols, copy=False))
        del cols
    return out


# --- the run --------------------------------------------------------------------------------------------------------

@dataclass
class Stats:
    documents: int = 0
    reused: int = 0                 # taken from the cache
    read: int = 0                   # read and normalized in this run
    damaged_parts: int = 0
    seconds_keys: float = 0.0
    unchanged_by_stat: int = 0      # keys taken from the stat index (bytes not read again)
    seconds_read: float = 0.0
    seconds_load: float = 0.0
    parts_written: list = field(default_factory=list)


def default_cache_dir(out_dir: Path) -> Path:
    return Path(out_dir).resolve().parent / DEFAULT_DIR_NAME


def run_batch(raw_dir: Path, files: list, manifest: dict[str, dict], workers: int, scheduler: str | None = None,
              progress: bool = True, limits=None, cache_dir: Path | None = None,
              pack_docs: int = PACK_DOCS) -> tuple[dict[str, pd.DataFrame], Stats]:
    """Ingest + normalize every file (reusing cached results when `cache_dir` is given) → the batch frames."""
    from . import batch

    raw_root = Path(raw_dir).resolve()
    st = Stats(documents=len(files))
    t0 = time.perf_counter()
    fp = fingerprint()
    keys: list[str | None]
    if cache_dir is not None:
        index = StatIndex(Path(cache_dir) / CACHE_FORMAT / STAT_INDEX)

        def one(f):
            if f.note:
                return None
            return file_key(Path(f.path), f.rel, manifest.get(f.rel, {}), raw_root, fp, index)

        with ThreadPoolExecutor(max_workers=max(2, min(8, (os.cpu_count() or 1) * 2))) as ex:
            keys = list(ex.map(one, files, chunksize=64))
        st.unchanged_by_stat = index.hits
        index.save(raw_root)
    else:
        keys = [None] * len(files)
    st.seconds_keys = time.perf_counter() - t0

    tmp_root = None
    if cache_dir is not None:
        try:
            store = PartStore(cache_dir)
        except OSError as exc:
            print(f"警告：无法使用缓存目录 {cache_dir}（{exc}），本次不使用缓存 | warning: cache directory unusable, "
                  f"running without cache: {exc}", file=sys.stderr)
            cache_dir = None
            keys = [None] * len(files)
    if cache_dir is None:
        tmp_root = Path(tempfile.mkdtemp(prefix="auditor-parts-"))
        store = PartStore(tmp_root)
    try:
        pieces: dict[str, list[pd.DataFrame]] = {k: [] for k in KINDS}
        t1 = time.perf_counter()
        done: set[int] = set()
        if cache_dir is not None:
            index = store.index()
            by_part: dict[str, dict[str, int]] = {}
            for i, k in enumerate(keys):
                if k is not None and k in index:
                    by_part.setdefault(index[k], {})[k] = i
            for part in sorted(by_part):
                try:
                    rows, found = store.read(part, by_part[part])
                except Exception:  # noqa: BLE001 - a damaged part: its documents are read again
                    st.damaged_parts += 1
                    store.drop(part)
                    continue
                for kind in KINDS:
                    pieces[kind].append(rows[kind])
                done.update(found.values())
        st.reused = len(done)
        st.seconds_load = time.perf_counter() - t1

        todo = [i for i in range(len(files)) if i not in done]
        st.read = len(todo)
        if progress and cache_dir is not None and st.reused:
            print(f"缓存：{st.reused} 份报告未变化，直接复用；需读取 {st.read} 份 | cache: {st.reused} unchanged reports "
                  f"reused, {st.read} to read", file=sys.stderr)
        t2 = time.perf_counter()
        buffer: list[tuple[str, bool, object]] = []
        new_parts: list[tuple[str, dict[str, int]]] = []

        def flush():
            if buffer:
                buffer.sort(key=lambda d: d[3])       # input order inside a part: assembling rarely reorders
                part = store.write(buffer)
                new_parts.append((part, {k: p for k, p in ((b[0], b[3]) for b in buffer)}))
                st.parts_written.append(part)
                buffer.clear()

        def sink(j: int, res) -> None:
            i = todo[j]
            k = keys[i]
            reusable = k is not None and res.report.get("status") != "failed"
            buffer.append(_Doc(k if k is not None else f"run-{i}", reusable, res, i))
            if len(buffer) >= pack_docs:
                flush()

        if todo:
            batch.run_documents([files[i] for i in todo], manifest, workers, scheduler, progress=progress,
                                limits=limits, sink=sink)
        flush()
        st.seconds_read = time.perf_counter() - t2
        for part, wanted in new_parts:
            rows, found = store.read(part, wanted)
            if len(found) != len(wanted):
                raise RuntimeError(f"part {part} lost documents while being written")
            for kind in KINDS:
                pieces[kind].append(rows[kind])
        rows = found = None                # the last part read: its rows are in pieces
        frames = assemble(pieces)
        del pieces
        release_memory()
    finally:
        if tmp_root is not None:
            shutil.rmtree(tmp_root, ignore_errors=True)
    return frames, st


def release_memory(trim: bool = True) -> None:
    """Give memory that is free but still held by the allocators back to the system: pyarrow's pool keeps what the
    parquet parts and their assembly used (~0.7 GB for 10,000 reports) until told, and glibc keeps freed blocks
    inside its heap; both would stay resident through validation and the outputs. Best effort (no-op where the
    calls do not exist), milliseconds."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # noqa: BLE001 - an allocator without this call: nothing to release
        pass
    if not trim:
        return
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):   # not glibc
        pass


class _Doc(tuple):
    """(key, reusable, Normalized, position in the run) — a tuple, as PartStore.write expects its first three."""

    def __new__(cls, key, reusable, res, pos):
        return super().__new__(cls, (key, reusable, res, pos))
