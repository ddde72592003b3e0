"""Skip re-hashing unchanged input files on a warm run (the idea of git's index).

Computing a document's cache key means reading and hashing its bytes (and the pictures beside a web page that
ingest would read): for 10,000 reports that is most of a warm run. The index remembers, per file of RAW_DIR, its
`os.stat` signature (size, mtime, ctime, inode) and the key material computed from its bytes — its sha256 and the
pictures it references with their own signature and hash. When every signature still matches, the bytes are
not read again.

A file rewritten within the same timestamp tick as the index was saved could keep its signature: such "racy"
entries (modified less than `RACY_SECONDS` before the index was written) are never trusted, as git does.
Anything unexpected (no index, a damaged one, another format) only means the files are hashed again.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

FORMAT = 1
RACY_SECONDS = 2.0


def signature(path: Path) -> list[int] | None:
    """(size, mtime_ns, ctime_ns, inode) of a file, or None when it is not a readable regular file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class StatIndex:
    """absolute path → {"sig": signature, "sha": hex, "refs": [[rel, signature or None, sha or None], ...]} (refs:
    the pictures the page references inside RAW_DIR, by path relative to it, whether they exist or not)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.saved_at_ns = 0
        self.entries: dict[str, dict] = {}
        self.fresh: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.hits = 0
        if path is None:
            return
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") == FORMAT:
                self.saved_at_ns = int(data["saved_at_ns"])
                self.entries = {str(k): v for k, v in data["entries"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.entries = {}

    def _trusted(self, sig: list[int] | None) -> bool:
        return sig is not None and sig[1] < self.saved_at_ns - int(RACY_SECONDS * 1e9) \
            and sig[2] < self.saved_at_ns - int(RACY_SECONDS * 1e9)

    def lookup(self, key: str, sig: list[int] | None, raw_root: Path) -> dict | None:
        """The remembered entry of the file `key` when it and every picture it references are unchanged."""
        e = self.entries.get(key)
        if e is None or sig is None or e.get("sig") != sig or not self._trusted(sig):
            return None
        for ref_rel, ref_sig, _sha in e.get("refs", []):
            now = signature(raw_root / ref_rel)
            if now != ref_sig or (now is not None and not self._trusted(now)):
                return None
        with self._lock:
            self.hits += 1
            self.fresh[key] = e
        return e

    def remember(self, key: str, sig: list[int] | None, sha: str, refs: list[list]) -> None:
        if sig is None:
            return
        with self._lock:
            self.fresh[key] = {"sig": sig, "sha": sha, "refs": refs}

    def save(self, raw_root: Path | None = None) -> None:
        """Write the entries seen in this run, atomically; of the other entries only those outside `raw_root` are
        kept (other inboxes sharing the cache; files gone from this RAW_DIR are forgotten)."""
        if self.path is None:
            return
        keep = {}
        if raw_root is not None:
            prefix = str(raw_root).rstrip(os.sep) + os.sep
            keep = {k: v for k, v in self.entries.items() if not k.startswith(prefix)}
        keep.update(self.fresh)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"format": FORMAT, "saved_at_ns": time.time_ns(),
                                       "entries": dict(sorted(keep.items()))}, ensure_ascii=False),
                           encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
