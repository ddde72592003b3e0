"""Per-document isolation (pipeline/isolation.py, batch.run_documents): a hang, a crash, a runaway allocation or an
exception costs one document, the others' results are unchanged, and results do not depend on --workers."""
from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from pipeline import batch as B
from pipeline.isolation import Limits, imap_isolated


def _job(x):
    if x == "hang":
        time.sleep(600)
    if x == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if x == "exit":
        os._exit(3)
    if x == "balloon":
        chunks = [bytearray(64 << 20) for _ in range(64)]  # 4 GB of address space, far above the 256 MB limit
        return len(chunks)
    if x == "raise":
        raise ValueError("boom")
    if x == "slow":
        time.sleep(1.0)
        return "slow done"
    if x == "limit":
        import resource
        return resource.getrlimit(resource.RLIMIT_DATA)[0]
    return f"done:{x}"


def _fallback(item, message):
    return ("failed", item, message)


def test_each_fault_costs_only_its_own_item():
    items = ["a", "hang", "b", "segfault", "c", "balloon", "d", "raise", "exit", "e", "limit"]
    t0 = time.monotonic()
    got = dict(imap_isolated(_job, items, 2, Limits(timeout=1.5, max_memory_mb=256), _fallback))
    assert time.monotonic() - t0 < 30
    assert sorted(got) == list(range(len(items)))
    for i, x in enumerate(items):
        if x in ("a", "b", "c", "d", "e"):
            assert got[i] == f"done:{x}"
    kinds = {"hang": ("超时", "time limit (1.5 s)"), "segfault": ("异常退出", "SIGSEGV"),
             "exit": ("异常退出", "exit status 3"), "balloon": ("内存超过上限（256 MB）", "memory"),
             "raise": ("内部错误", "ValueError: boom")}
    for i, x in enumerate(items):
        if x in kinds:
            status, item, message = got[i]
            zh, _, en = message.partition(" | ")
            assert status == "failed" and item == x
            assert kinds[x][0] in zh and kinds[x][1] in en, message
    assert got[items.index("limit")] == 256 * 1024 * 1024  # the worker really runs under the limit


def test_the_time_limit_runs_from_when_a_document_is_started_not_handed_over():
    # one worker holds two documents at once (the second waits in its pipe): each takes 1 s of a 1.5 s limit
    got = dict(imap_isolated(_job, ["slow", "slow", "slow"], 1, Limits(timeout=1.5, max_memory_mb=None), _fallback))
    assert got == {0: "slow done", 1: "slow done", 2: "slow done"}


def test_documents_waiting_behind_a_crash_are_read_by_another_worker():
    items = ["segfault", "a", "exit", "b", "c"]
    got = dict(imap_isolated(_job, items, 1, Limits(timeout=5, max_memory_mb=None), _fallback))
    assert got[1] == "done:a" and got[3] == "done:b" and got[4] == "done:c"
    assert got[0][0] == "failed" and got[2][0] == "failed"


def test_no_limits_and_one_worker():
    got = dict(imap_isolated(_job, ["a", "b", "limit"], 1, Limits(timeout=None, max_memory_mb=None), _fallback))
    import resource

    assert got[0] == "done:a" and got[1] == "done:b"
    assert got[2] == resource.getrlimit(resource.RLIMIT_DATA)[0]
    assert dict(imap_isolated(_job, [], 2, Limits(), _fallback)) == {}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    from pipeline.synth import make_report, render

    raw = tmp_path_factory.mktemp("iso-inbox")
    for i, (agency, fmt, ext) in enumerate([("测试市人民政府", "html_word", "html"), ("测试区司法局", "txt_cells", "txt"),
                                            ("测试县教育局", "html_word", "html"), ("测试镇人民政府", "txt_cells", "txt")]):
        rep = make_report(agency, 2023, "gb2021", seed=60 + i)
        (raw / f"r{i}.{ext}").write_bytes(render(rep, fmt, file=f"r{i}.{ext}")[0])
    (raw / "r9-hang.txt").write_bytes((raw / "r1.txt").read_bytes())
    return raw


def _plain(results):
    return [(r.report, r.cells, r.sections) for r in results]


def test_results_do_not_depend_on_the_number_of_workers(inbox):
    files = B.discover(inbox)
    one = B.run_documents(files, {}, workers=1, progress=False)
    two = B.run_documents(files, {}, workers=2, progress=False)
    three = B.run_documents(files, {}, workers=3, progress=False, limits=Limits(timeout=None, max_memory_mb=None))
    assert [r.report["source_file"] for r in one] == [f.rel for f in files]
    assert sum(r.report["status"] == "ok" for r in one) == len(files)
    assert _plain(one) == _plain(two) == _plain(three)


def test_a_hanging_reader_becomes_a_failed_row_and_the_batch_goes_on(inbox, monkeypatch):
    files = B.discover(inbox)
    normal = {r.report["source_file"]: r for r in B.run_documents(files, {}, workers=2, progress=False)}
    real = B.read_document

    def hanging(path, rel, data=None):
        if "hang" in rel:
            time.sleep(600)
        return real(path, rel, data)

    monkeypatch.setattr(B, "read_document", hanging)
    t0 = time.monotonic()
    got = B.run_documents(files, {}, workers=2, progress=False, limits=Limits(timeout=2, max_memory_mb=2048))
    assert time.monotonic() - t0 < 60
    by_name = {r.report["source_file"]: r for r in got}
    hung = by_name["r9-hang.txt"].report
    assert hung["status"] == "failed" and "超时" in hung["error"] and "time limit (2 s)" in hung["error"]
    # identified as a normal read would identify it: sha256 of the bytes, format from the content
    assert hung["sha256"] == hashlib.sha256((inbox / "r9-hang.txt").read_bytes()).hexdigest()
    assert hung["report_id"] == normal["r9-hang.txt"].report["report_id"] and hung["format"] == "txt"
    for name, r in by_name.items():
        if name != "r9-hang.txt":
            assert (r.report, r.cells, r.sections) == (normal[name].report, normal[name].cells, normal[name].sections)


def test_cli_limits_are_validated(capsys):
    from pipeline.cli import build_parser

    args = build_parser().parse_args(["audit", "x", "--timeout", "0", "--max-memory", "0"])
    assert args.timeout == 0 and args.max_memory == 0
    args = build_parser().parse_args(["audit", "x"])
    assert args.timeout == 60 and args.max_memory == 2048
    for bad in (["--timeout", "-1"], ["--timeout", "abc"], ["--max-memory", "-5"], ["--timeout", "inf"]):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["audit", "x", *bad])
        assert exc.value.code == 2
    assert "--max-memory" in capsys.readouterr().err


def _long_job(x):
    from pipeline.isolation import still_working

    kind, n = x
    for _ in range(n):
        time.sleep(0.2)
        if kind == "progress":
            still_working()
    return f"done:{n}"


def test_a_long_document_that_keeps_making_progress_is_not_stopped():
    """A reader reporting progress (pages of a long scan) gets its deadline moved on, up to MAX_EXTENSION timeouts;
    one that stays silent as long is stopped, and so is one that reports progress for ever."""
    items = [("progress", 6), ("silent", 6), ("progress", 1000)]  # 1.2 s, 1.2 s, 200 s of work; timeout 0.5 s
    t0 = time.monotonic()
    got = dict(imap_isolated(_long_job, items, 3, Limits(timeout=0.5, max_memory_mb=None, max_extension=4),
                             _fallback))
    elapsed = time.monotonic() - t0
    assert got[0] == "done:6"
    assert got[1][0] == "failed" and "超时" in got[1][2]
    assert got[2][0] == "failed" and "超时" in got[2][2]
    assert 2.0 <= elapsed < 10  # the endless one was stopped at 4 timeouts


def test_a_file_larger_than_any_report_is_not_read(tmp_path, monkeypatch):
    from pipeline import ingest

    p = tmp_path / "video.pdf"
    with open(p, "wb") as fh:  # sparse: 3 MB on paper, nothing on disk
        fh.truncate(3 * 1024 * 1024)
    assert "文件过大" not in ingest.read_document(p, "video.pdf").error  # under the limit: read (and refused)
    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 2 * 1024 * 1024)
    doc = ingest.read_document(p, "video.pdf")
    assert doc.status == "failed" and "文件过大" in doc.error and "too large (3 MB, limit 2 MB)" in doc.error


def _convert(_item):
    from pipeline.ingest.doc import convert_doc

    return convert_doc(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))


def test_a_stopped_worker_takes_its_libreoffice_with_it(tmp_path, monkeypatch):
    """LibreOffice runs in its own process group: when the worker converting a .doc is stopped, the group dies too
    and its temporary folder is removed (a fake soffice that hangs stands in for a stuck conversion)."""
    pidfile = tmp_path / "pid"
    fake = tmp_path / "bin" / "soffice"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\npwd >> {pidfile}\nexec sleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    got = dict(imap_isolated(_convert, ["x"], 1, Limits(timeout=2, max_memory_mb=None), _fallback))
    assert got[0][0] == "failed" and "超时" in got[0][2]
    pid, workdir = pidfile.read_text().split("\n")[:2]
    assert Path(workdir).name.startswith("soffice-")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            state = "gone"
        if state in ("gone", "Z"):
            break
        time.sleep(0.1)
    assert state in ("gone", "Z"), f"soffice stand-in {pid} still running ({state})"
    assert not Path(workdir).exists()


def test_a_document_that_breaks_its_cluster_task_costs_only_itself(tmp_path, monkeypatch):
    """On a Dask cluster a task that fails as a whole (here: the reader raises past process_one, as when the worker
    dies) is retried document by document; the document that fails again becomes a bilingual failed row."""
    distributed = pytest.importorskip("distributed")
    from pipeline import batch
    from pipeline.synth import make_report, render

    raw = tmp_path / "raw"
    raw.mkdir()
    for k in range(3):
        rep = make_report(f"测试{k}县司法局", 2023, "gb2021", seed=20 + k)
        (raw / f"r{k}.html").write_bytes(render(rep, "html_word", file=f"r{k}.html")[0])
    real = batch.process_one

    def fragile(item):
        if item[1] == "r1.html":
            raise SystemError("worker lost")     # not caught by process_one's own guard: the task itself fails
        return real(item)

    monkeypatch.setattr(batch, "process_one", fragile)
    files = batch.discover(raw)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        res = batch.run_documents(files, {}, 1, cl.scheduler_address, progress=False)
    by_file = {r.report["source_file"]: r.report for r in res}
    assert [r.report["source_file"] for r in res] == ["r0.html", "r1.html", "r2.html"]
    assert by_file["r0.html"]["status"] == "ok" and by_file["r2.html"]["status"] == "ok"
    assert by_file["r1.html"]["status"] == "failed"
    zh, en = by_file["r1.html"]["error"].split(" | ", 1)
    assert "集群" in zh and "SystemError" in en
