"""Per-document isolation: every document is read in a worker process under a memory limit and a time limit.

A parser that hangs, crashes (segfault, abort) or allocates without bound must cost its own document only, never the
batch. `imap_isolated` runs a function over items in a small pool of worker processes that it manages itself:

- **memory**: each worker sets ``RLIMIT_DATA`` (heap and private writable mappings, Linux ≥ 4.7; ``RLIMIT_AS`` where
  ``RLIMIT_DATA`` is unavailable) to ``max_memory_mb`` when it starts. A runaway allocation then fails inside that
  worker: Python raises ``MemoryError`` (the caller's function turns it into a failed row), and a native library that
  aborts or crashes takes only the worker down;
- **time**: the parent gives each document a deadline; a worker still busy when it passes is killed (SIGKILL) and
  replaced, and the document gets the fallback result (a bilingual error). A reader that makes visible progress on
  a long document (a page of a scanned PDF read by OCR) calls `still_working()`, which moves its deadline on by
  `timeout` — up to `max_extension` (default 10) times `timeout` in all, so a long scan is read and an endless one
  still stops;
- **crashes**: a worker that dies while reading is replaced; the document gets the fallback result;
- workers die with the parent (``PR_SET_PDEATHSIG`` on Linux; otherwise they exit when the pipe closes), write no
  core dumps, and are shut down when the iteration ends or is abandoned.

Results do not depend on the number of workers: each document's result is computed by the same function from the
same input, whichever worker ran it; `imap_isolated` yields ``(index, result)`` pairs (in completion order) and the
caller places them by index.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable, Iterator

DEFAULT_TIMEOUT = 60.0        # seconds per document
DEFAULT_MAX_MEMORY_MB = 2048  # per worker process (a scanned report with OCR peaks near 1 GB)
MAX_EXTENSION = 10            # a document that keeps reporting progress gets at most this many timeouts in all


@dataclass(frozen=True)
class Limits:
    """`timeout` seconds per document and `max_memory_mb` per worker; None or 0 means no limit. A document whose
    reader reports progress (`still_working`) may take up to `max_extension` timeouts in all."""
    timeout: float | None = DEFAULT_TIMEOUT
    max_memory_mb: int | None = DEFAULT_MAX_MEMORY_MB
    max_extension: int = MAX_EXTENSION


def timeout_message(seconds: float) -> str:
    return (f"读取该文件超时（超过{seconds:g}秒），已跳过；可用 --timeout 调整时限 | Reading the file took longer than "
            f"the time limit ({seconds:g} s) and was stopped; see --timeout")


def memory_message(max_memory_mb: int | None) -> str:
    limit = f"{max_memory_mb} MB" if max_memory_mb else "?"
    return (f"读取该文件所需内存超过上限（{limit}），已跳过；可用 --max-memory 调整 | Reading the file needed more "
            f"memory than the limit ({limit}) and was stopped; see --max-memory")


def crash_message(exitcode: int | None, max_memory_mb: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = signal.Signals(-exitcode).name
        except ValueError:
            how = f"signal {-exitcode}"
    else:
        how = f"exit status {exitcode}"
    limit = f"{max_memory_mb} MB" if max_memory_mb else "无 none"
    return (f"读取该文件时解析程序异常退出（{how}；文件可能损坏，或所需内存超过上限 {limit}），已跳过 | The parser "
            f"crashed while reading the file ({how}; a damaged file, or more memory needed than the limit {limit})")


def internal_error_message(detail: str) -> str:
    return f"处理文件时发生内部错误：{detail} | Internal error while processing: {detail}"


# --- worker side --------------------------------------------------------------------------------------------------

_progress_conn = None  # in a worker: the pipe to the parent, and the index of the document being read
_progress_idx = -1


def still_working() -> None:
    """Called by a reader after each unit of visible progress (e.g. one OCR'd page): the parent moves this document's
    deadline on by one timeout (bounded by MAX_EXTENSION). A no-op outside a worker process."""
    if _progress_conn is None:
        return
    try:
        _progress_conn.send((_progress_idx, None, "progress"))
    except (OSError, ValueError):
        pass


def track_process_group(pgid: int, workdir: str | None = None) -> None:
    """Called by a reader that starts an external program in its own process group (LibreOffice): if this worker is
    killed (time limit, crash), the parent kills that group too and removes `workdir`. A no-op outside a worker."""
    if _progress_conn is None:
        return
    try:
        _progress_conn.send((_progress_idx, None, ("pgid", int(pgid), workdir)))
    except (OSError, ValueError):
        pass

def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - best effort
        pass


_current_limit_mb: int | None = None


def current_memory_limit() -> int | None:
    """The limit set by `set_memory_limit` in this process (MB), or None."""
    return _current_limit_mb


def set_memory_limit(max_memory_mb: int | None) -> None:
    """Limit this process's heap (RLIMIT_DATA, else RLIMIT_AS) to max_memory_mb; no core dumps."""
    global _current_limit_mb
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    if not max_memory_mb:
        return
    limit = int(max_memory_mb) * 1024 * 1024
    for name in ("RLIMIT_DATA", "RLIMIT_AS"):
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        try:
            _soft, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(kind, (limit, hard))
            _current_limit_mb = limit // (1024 * 1024)
            return
        except (ValueError, OSError):
            continue


def _worker_main(conn, fn: Callable, max_memory_mb: int | None) -> None:
    global _progress_conn, _progress_idx
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import faulthandler

    faulthandler.disable()  # a crash is reported as the document's failed row, not as a traceback on stderr
    set_memory_limit(max_memory_mb)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        idx, item = msg
        _progress_conn, _progress_idx = conn, idx
        try:
            out = (idx, True, fn(item))
        except MemoryError:
            out = (idx, False, "memory")
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as this document's failure
            out = (idx, False, f"{type(exc).__name__}: {exc}"[:500])
        try:
            conn.send(out)
        except MemoryError:
            conn.send((idx, False, "memory"))
        except (EOFError, OSError, BrokenPipeError):
            return


# --- parent side --------------------------------------------------------------------------------------------------

def _context():
    methods = mp.get_all_start_methods()
    # fork: workers start in milliseconds with the parent's imports; elsewhere the platform's default
    return mp.get_context("fork" if "fork" in methods and sys.platform.startswith("linux") else None)


PREFETCH = 2  # documents handed to a worker at once: the next one waits in its pipe while the parent is busy


class _Worker:
    """One worker process and the documents handed to it (the first is being read, the others wait in its pipe)."""

    def __init__(self, ctx, fn: Callable, max_memory_mb: int | None):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, fn, max_memory_mb), daemon=True,
                                name="auditor-reader")
        self.proc.start()
        child.close()
        self.tasks: deque[tuple[int, Any]] = deque()
        self.deadline = self.last_deadline = float("inf")
        self.groups: list[tuple[int, str | None]] = []  # external programs started for the current document

    @property
    def task(self) -> tuple[int, Any] | None:
        """The document being read (None when idle)."""
        return self.tasks[0] if self.tasks else None

    def _start_clock(self, timeout: float | None, max_extension: int) -> None:
        now = time.monotonic()
        self.deadline = now + timeout if timeout else float("inf")
        self.last_deadline = now + timeout * max(1, max_extension) if timeout else float("inf")

    def give(self, idx: int, item, timeout: float | None, max_extension: int = MAX_EXTENSION) -> None:
        self.conn.send((idx, item))
        self.tasks.append((idx, item))
        if len(self.tasks) == 1:
            self._start_clock(timeout, max_extension)

    def done(self, timeout: float | None, max_extension: int = MAX_EXTENSION) -> None:
        """The current document is finished: the next one handed over starts its clock now."""
        self.tasks.popleft()
        self.groups = []
        if self.tasks:
            self._start_clock(timeout, max_extension)
        else:
            self.deadline = self.last_deadline = float("inf")

    def extend(self, timeout: float | None) -> None:
        if timeout:
            self.deadline = min(time.monotonic() + timeout, self.last_deadline)

    def kill(self) -> int | None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()
        for pgid, workdir in self.groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass
            if workdir:
                import shutil

                shutil.rmtree(workdir, ignore_errors=True)
        self.groups = []
        return self.proc.exitcode

    def stop(self) -> None:
        if self.tasks:  # abandoned mid-document (the caller stopped iterating, Ctrl-C)
            self.kill()
            return
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(1)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def imap_isolated(fn: Callable[[Any], Any], items: Iterable, workers: int, limits: Limits,
                  fallback: Callable[[Any, str], Any]) -> Iterator[tuple[int, Any]]:
    """Run `fn(item)` for every item in worker processes; yield (index, result) as each finishes.

    When a document exceeds the time limit, crashes its worker, runs out of memory, or `fn` raises, the result is
    `fallback(item, message)` with a bilingual message. `fn` and `fallback` must be picklable top-level functions
    where the platform has no fork. Each worker holds up to PREFETCH documents; a document's time limit runs from
    the moment its worker starts it. When a worker is killed or dies, the document it was reading gets the
    fallback and the ones waiting behind it go to another worker.
    """
    queue = deque(enumerate(items))
    if not queue:
        return
    ctx = _context()
    timeout = limits.timeout or None
    n = max(1, min(int(workers), len(queue)))
    pool = [_Worker(ctx, fn, limits.max_memory_mb) for _ in range(n)]

    def lost(w: _Worker) -> None:
        """A killed or dead worker: the documents waiting behind its current one go back to the queue."""
        waiting = list(w.tasks)[1:]
        w.tasks.clear()
        queue.extendleft(reversed(waiting))

    try:
        while True:
            for w in pool:
                while len(w.tasks) < PREFETCH and queue:
                    idx, item = queue.popleft()
                    try:
                        w.give(idx, item, timeout, limits.max_extension)
                    except (OSError, ValueError):  # the worker died
                        if w.tasks:  # its current document is reported below (its pipe or sentinel is ready)
                            queue.appendleft((idx, item))
                            break
                        yield idx, fallback(item, crash_message(w.kill(), limits.max_memory_mb))
                        pool[pool.index(w)] = w = _Worker(ctx, fn, limits.max_memory_mb)
            busy = [w for w in pool if w.tasks]
            if not busy:
                break
            wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic()) if timeout else None
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=wait_for)
            replace: list[_Worker] = []
            for w in busy:
                idx, item = w.tasks[0]
                if w.conn in ready or w.proc.sentinel in ready:
                    try:
                        if not w.conn.poll():
                            raise EOFError
                        ridx, ok, payload = w.conn.recv()
                    except (EOFError, OSError):
                        code = w.kill()
                        lost(w)
                        replace.append(w)
                        yield idx, fallback(item, crash_message(code, limits.max_memory_mb))
                        continue
                    if ok is None and isinstance(payload, tuple):  # track_process_group()
                        w.groups.append(payload[1:])
                        continue
                    if ok is None:  # still_working(): progress on a long document
                        w.extend(timeout)
                        if time.monotonic() < w.deadline:
                            continue
                        w.kill()  # past its last deadline, however busy it keeps
                        lost(w)
                        replace.append(w)
                        yield idx, fallback(item, timeout_message(timeout))
                        continue
                    w.done(timeout, limits.max_extension)
                    if ok:
                        yield ridx, payload
                    elif payload == "memory":
                        yield ridx, fallback(item, memory_message(limits.max_memory_mb))
                    else:
                        yield ridx, fallback(item, internal_error_message(payload))
                elif time.monotonic() >= w.deadline:
                    w.kill()
                    lost(w)
                    replace.append(w)
                    yield idx, fallback(item, timeout_message(timeout))
            for w in replace:
                i = pool.index(w)
                pool[i] = _Worker(ctx, fn, limits.max_memory_mb) if queue else None
            pool = [w for w in pool if w is not None]
            if not pool:
                break
    finally:
        for w in pool:
            w.stop()
