"""The batch: discover inputs, run ingest+normalize per document (in worker processes), assemble the frames."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .frames import CELLS_COLUMNS, REPORTS_COLUMNS, SECTIONS_COLUMNS
from .ingest import read_document
from .isolation import Limits, imap_isolated
from .normalize import Normalized, normalize

METADATA_FILES = {"manifest.csv", "agencies.csv"}


@dataclass(frozen=True)
class InputFile:
    path: Path
    rel: str            # '/'-separated path relative to RAW_DIR
    note: str = ""      # why it cannot be read (e.g. a symlink leaving RAW_DIR)


LINK_DIR_OUTSIDE = ("链接指向输入目录之外的文件夹，未读取其中的文件 | Symbolic link to a folder outside RAW_DIR; its files "
                    "were not read")


def _inside(link: Path, raw_dir: Path) -> bool:
    """Whether a symbolic link resolves to a path inside raw_dir (a loop or a broken link does not)."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return target.is_relative_to(raw_dir)


def discover(raw_dir: Path) -> list[InputFile]:
    """Every regular file under raw_dir (recursively), except hidden files and the metadata CSVs."""
    raw_dir = raw_dir.resolve()
    found: list[InputFile] = []
    for root, dirs, files in os.walk(raw_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in dirs:  # os.walk does not descend into linked folders: one that leaves RAW_DIR is reported
            p = Path(root) / name
            if p.is_symlink() and not _inside(p, raw_dir):
                found.append(InputFile(p, p.relative_to(raw_dir).as_posix(), LINK_DIR_OUTSIDE))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            rel = p.relative_to(raw_dir).as_posix()
            if rel in METADATA_FILES:
                continue
            note = ""
            if p.is_symlink():
                if not p.exists():
                    note = "链接无效（目标不存在或循环链接），未读取 | Broken symbolic link (missing target or a loop); not read"
                elif not _inside(p, raw_dir):
                    note = "链接指向输入目录之外，未读取 | Symbolic link points outside RAW_DIR; not followed"
                elif not p.resolve().is_file():
                    continue
            elif not p.is_file():
                continue
            found.append(InputFile(p, rel, note))
    return sorted(found, key=lambda f: f.rel)


def read_manifest(raw_dir: Path) -> dict[str, dict]:
    p = raw_dir / "manifest.csv"
    if not p.is_file():
        return {}
    text = p.read_bytes().decode("utf-8-sig", errors="replace")
    rows = {}
    for row in csv.DictReader(io.StringIO(text)):
        f = (row.get("file") or "").strip().replace("\\", "/")
        if f:
            rows[f] = {k.strip(): (v or "").strip() for k, v in row.items() if k and k.strip() != "file"}
    return rows


def read_agencies(raw_dir: Path) -> pd.DataFrame | None:
    """RAW_DIR/agencies.csv (the office's roster), all columns as text; None when absent."""
    p = raw_dir / "agencies.csv"
    if not p.is_file():
        return None
    text = p.read_bytes().decode("utf-8-sig", errors="replace")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def report_id_for(rel: str, sha256: str) -> str:
    """Stable across runs; two copies of the same bytes under different names stay two reports."""
    return hashlib.sha256(f"{rel}\0{sha256}".encode("utf-8")).hexdigest()[:16]


def process_one(item: tuple[str, str, str, dict]) -> Normalized:
    """Worker entry point: ingest + normalize one file. Never raises."""
    path, rel, note, overrides = item
    try:
        if note:
            from .document import Document
            doc = Document(source_file=rel, format="unknown", sha256="", status="failed", error=note)
        else:
            doc = read_document(Path(path), rel)
        rid = report_id_for(rel, doc.sha256)
        return normalize(doc, rid, overrides)
    except Exception as exc:  # a bug must cost one document, not the batch
        from .document import Document
        from .isolation import current_memory_limit, memory_message
        error = (memory_message(current_memory_limit()) if isinstance(exc, MemoryError) else
                 f"处理文件时发生内部错误：{type(exc).__name__} | Internal error while processing: {exc}")
        doc = Document(source_file=rel, format="unknown", sha256="", status="failed", error=error)
        return normalize(doc, report_id_for(rel, ""), overrides)


def process_many(items: list[tuple[str, str, str, dict]]) -> list[Normalized]:
    """Dask task: process_one over a few documents."""
    return [process_one(it) for it in items]


def _cluster_result(client, future, chunk: list) -> list[Normalized]:
    """The results of one Dask task. A task that fails as a whole (its worker died, e.g. killed by the nanny's
    memory limit: KilledWorker; or anything else the cluster raises) costs only its documents: each is tried again
    alone, and one that fails again becomes a failed row with a bilingual error — the batch goes on."""
    try:
        return future.result()
    except Exception:
        pass
    out = []
    for item in chunk:
        try:
            out.append(client.submit(process_one, item, pure=False).result())
        except Exception as exc:
            out.append(failed_one(item, f"集群工作进程处理该文件时失败（{type(exc).__name__}），已跳过 | the cluster "
                                        f"worker failed on this file ({type(exc).__name__}: {exc}); skipped"))
    return out


def failed_one(item: tuple[str, str, str, dict], error: str) -> Normalized:
    """The result of a document whose reading was stopped (time or memory limit, crashed parser): a failed row
    with `error`, identified as a normal read would identify it (sha256 of the bytes, format from the content)."""
    from .document import Document
    from .ingest.sniff import sniff_format

    path, rel, _note, overrides = item
    sha, fmt = "", "unknown"
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            head = fh.read(65536)
            h.update(head)
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        sha = h.hexdigest()
        fmt = sniff_format(head, rel)
    except Exception:  # noqa: BLE001 - the row is written whatever the file does
        pass
    doc = Document(source_file=rel, format=fmt if fmt in ("html", "pdf", "docx", "doc", "txt", "md") else "unknown",
                   sha256=sha, status="failed", error=error)
    return normalize(doc, report_id_for(rel, sha), overrides)


class Progress:
    """A bar on a terminal, periodic lines otherwise (stderr)."""

    def __init__(self, total: int, stream=None):
        stream = sys.stderr if stream is None else stream   # looked up now (sys.stderr may be redirected)
        self.total, self.done, self.stream = total, 0, stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.t0 = self.last = time.monotonic()

    def step(self, n: int = 1):
        self.done += n
        now = time.monotonic()
        if self.tty:
            width = 30
            filled = int(width * self.done / max(1, self.total))
            self.stream.write(f"\r读取报告 [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif now - self.last >= 5 or self.done >= self.total and self.total >= 50:
            self.last = now
            self.stream.write(f"读取报告 {self.done}/{self.total} ({now - self.t0:.0f}s)\n")
            self.stream.flush()


def run_documents(files: list[InputFile], manifest: dict[str, dict], workers: int, scheduler: str | None = None,
                  progress: bool = True, limits: Limits | None = None, sink=None) -> list[Normalized]:
    """Every file read and normalized, in `files` order. Locally each document runs in a worker process under
    `limits` (time per document, memory per worker; see pipeline/isolation.py).
    With `sink`, each result is handed to `sink(index in files, result)` as it arrives and not kept (returns [])."""
    items = [(str(f.path), f.rel, f.note, manifest.get(f.rel, {})) for f in files]
    prog = Progress(len(items)) if progress else None
    results: list[Normalized] = []
    if scheduler:
        from distributed import Client  # optional dependency

        with Client(scheduler) as client:
            # a few documents per task: a task costs the scheduler about as much as reading a small report
            threads = max(1, sum(client.nthreads().values()))
            size = max(1, min(16, len(items) // (4 * threads)))
            chunks = [items[k:k + size] for k in range(0, len(items), size)]
            futures = client.map(process_many, chunks, pure=False)
            for c in range(len(futures)):
                part = _cluster_result(client, futures[c], chunks[c])
                futures[c] = None  # release the results on the cluster
                for j, res in enumerate(part):
                    if sink:
                        sink(c * size + j, res)
                    else:
                        results.append(res)
                if prog:
                    prog.step(len(part))
    else:
        placed: list[Normalized | None] = [None] * (0 if sink else len(items))
        for idx, res in imap_isolated(process_one, items, workers, limits or Limits(), failed_one):
            if sink:
                sink(idx, res)
            else:
                placed[idx] = res
            if prog:
                prog.step()
        results = placed  # type: ignore[assignment]
    return results


def frames_from(results: list[Normalized]) -> dict[str, pd.DataFrame]:
    """Plain per-document results → one long frame per kind for the whole batch."""
    reports = pd.DataFrame([r.report for r in results], columns=REPORTS_COLUMNS)
    reports["year"] = pd.array(reports["year"].tolist(), dtype="Int64") if len(reports) else pd.array([], dtype="Int64")
    for c in ("n_errors", "n_warnings", "n_infos", "template_markers_2021", "template_markers_2019"):
        reports[c] = pd.to_numeric(reports[c]).fillna(0).astype("int64")
    cells = pd.DataFrame([c for r in results for c in r.cells], columns=CELLS_COLUMNS)
    cells["value"] = pd.to_numeric(cells["value"], errors="coerce").astype("float64")
    cells["page"] = pd.array(cells["page"].tolist(), dtype="Int64") if len(cells) else pd.array([], dtype="Int64")
    for c in ("report_id", "table", "row_id", "col_id", "state", "raw", "location", "block", "unit", "note"):
        cells[c] = cells[c].fillna("").astype(str)
    sections = pd.DataFrame([s for r in results for s in r.sections], columns=SECTIONS_COLUMNS)
    sections["order"] = pd.to_numeric(sections["order"]).astype("int64") if len(sections) else sections["order"]
    for c in ("report_id", "section_id", "heading", "canonical_heading", "text"):
        sections[c] = sections[c].fillna("").astype(str)
    return {"reports": reports, "cells": cells, "sections": sections}
