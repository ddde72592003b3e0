"""A hostile inbox, audited once by the real command line in a subprocess that may not touch the network.

The corpus is built here (session fixture): empty and random files, broken/encrypted/image-only PDFs, a zip bomb and
entity tricks in DOCX, a 25 MB page, a 200,000-deep page, a page full of scripts and remote resources, re-encoded
and renamed copies of real reports, formula-injection names, a symlink out of RAW_DIR, and three documents on which
a (simulated) parser hangs, crashes or allocates without bound. `python -m pipeline audit` must exit 0, list every
file, fail the bad ones alone with a bilingual error, read the readable ones exactly as their originals, stay under
4 GB, reach no network, and write nothing from outside RAW_DIR and no cell that a spreadsheet would run.

The simulated parser faults and the network guard live in a `sitecustomize` put on PYTHONPATH for the subprocess:
an audit hook (PEP 578) that records and refuses every socket connect/DNS look-up, and that — in worker processes
only — hangs, segfaults or allocates without bound when a file with a marker name is opened.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import CORPUS, ROOT

FIXTURES = ROOT / "tests" / "fixtures"
MARKER = "OUTSIDE-RAWDIR-SECRET-7f3a9c"
TIMEOUT = 20          # --timeout of the hostile run: the simulated hang holds one worker this long (the OCR of the
                      # scanned page, the slowest real document here, takes ~10 s)
MAX_MEMORY = 1536     # --max-memory of the hostile run (MB per worker)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

SITECUSTOMIZE = r'''
import os, signal, socket, sys, time
_MAIN = os.getpid()
_LOG = os.environ.get("HOSTILE_NET_LOG", "")
_busy = [False]

def _record(line):
    _busy[0] = True
    try:
        fd = os.open(_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(fd, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))
        os.close(fd)
    finally:
        _busy[0] = False

_NET = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr",
        "socket.sendto", "socket.sendmsg", "urllib.Request", "http.client.connect", "ftplib.connect",
        "smtplib.connect", "imaplib.open", "poplib.connect", "nntplib.connect", "telnetlib.Telnet.open"}

def _hook(event, args):
    if _busy[0]:
        return
    if event in ("socket.connect", "socket.connect_ex"):
        sock = args[0]
        if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
            return
        _record(f"{os.getpid()} {event} {args[1]!r}")
        raise OSError("network access blocked by the hostile-input test")
    if event in _NET:
        _record(f"{os.getpid()} {event} {args!r}"[:300])
        raise OSError("network access blocked by the hostile-input test")
    if event == "open" and os.getpid() != _MAIN and isinstance(args[0], str):
        name = os.path.basename(args[0])
        if "hang-parser" in name:
            time.sleep(3600)
        elif "crash-parser" in name:
            os.kill(os.getpid(), signal.SIGSEGV)
        elif "balloon-parser" in name:
            chunks = []
            for _ in range(96):           # 6 GB of address space at most, then give up (the limit did not work)
                chunks.append(bytearray(64 << 20))
            del chunks

if _LOG:
    sys.addaudithook(_hook)
'''

RUN_WRAPPER = r'''
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[2:])
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as fh:
    json.dump({"returncode": proc.returncode, "peak_rss_kb": peak_kb}, fh)
'''


# --- building the corpus --------------------------------------------------------------------------------------------

def _sources() -> dict[str, tuple[str, bytes]]:
    """name -> (file name, bytes) of the readable originals: real corpus reports when available, else generated."""
    if CORPUS.is_dir():
        out = {}
        for key, name in (("txt", "pingtan-2021.txt"), ("page", "pingtan-2023-page.html"),
                          ("html", "shuyang-fgj-2023.html"), ("pdf", "hongze-qu-2023.pdf")):
            out[key] = (name, (CORPUS / name).read_bytes())
        return out
    from pipeline.synth import make_report, render

    rep = make_report("测试市人民政府", 2023, "gb2021", seed=11)
    rep2 = make_report("测试区司法局", 2022, "gb2021", seed=12)
    return {"txt": ("gen-2023.txt", render(rep, "txt_cells", file="gen-2023.txt")[0]),
            "page": ("gen-2022-page.html", render(rep2, "html_word", file="gen-2022-page.html")[0]),
            "html": ("gen-2023.html", render(rep, "html_word", file="gen-2023.html")[0])}


def _docx_with(document_xml_transform) -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph("测试市人民政府2023年政府信息公开工作年度报告")
    d.add_paragraph("PLACEHOLDER")
    buf = io.BytesIO()
    d.save(buf)
    zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "word/document.xml":
                data = document_xml_transform(data)
            z.writestr(info.filename, data)
    return out.getvalue()


def _with_doctype(decl: bytes, ref: bytes):
    def transform(xml: bytes) -> bytes:
        xml = xml.replace(b"PLACEHOLDER", ref)
        i = xml.index(b"?>") + 2
        return xml[:i] + decl + xml[i:]
    return transform


def _zip_bomb_docx() -> bytes:
    """A DOCX whose document.xml inflates 1000:1 (50 MB of spaces in a few tens of KB)."""
    def transform(xml: bytes) -> bytes:
        i = xml.index(b"<w:body>")
        return xml[:i] + b" " * (50 << 20) + xml[i:]
    return _docx_with(transform)


def _image_only_pdf() -> bytes:
    """The scanned table 三 of tests/fixtures/scan as a one-page PDF holding only the picture."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(FIXTURES / "scan" / "bailu-xian-2023-t3.png").save(buf, "PDF", resolution=200)
    return buf.getvalue()


def _secret_png() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("L", (1400, 300), 255)
    try:
        from PIL import ImageFont

        font = ImageFont.load_default(size=48)  # large enough for OCR, were the picture ever read
    except TypeError:  # Pillow < 10.1
        font = None
    ImageDraw.Draw(img).text((20, 120), MARKER, fill=0, font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _insert_before(html: bytes, tag: bytes, extra: bytes) -> bytes:
    i = html.lower().rfind(tag)
    return html[:i] + extra + html[i:] if i >= 0 else html + extra


def _huge_page(page: bytes) -> bytes:
    """The real page padded to > 25 MB with what makes real pages huge: inline scripts, styles, data-URI pictures,
    comments and attributes."""
    rnd = random.Random(25)
    junk_img = base64.b64encode(rnd.randbytes(6 << 20))
    pad = b"".join([
        b"<script>var payload='", b"A" * (8 << 20), b"';</script>\n",
        b"<style>", b".c{color:red}" * (250_000), b"</style>\n",
        b'<img width="800" height="600" src="data:image/png;base64,', junk_img, b'">\n',
        b"<!--", b"-" * 10 + b" comment " * 400_000, b"-->\n",
        b'<div data-x="', b"x" * (2 << 20), b'"></div>\n',
    ])
    return _insert_before(page, b"</body>", pad)


def _deep_page() -> bytes:
    head = ('<html><head><meta charset="utf-8"><title>嵌套</title></head><body><p>测试市人民政府2023年政府信息公开工作'
            '年度报告</p>').encode("utf-8")
    return head + b"<div>" * 200_000 + "内容".encode("utf-8") + b"</div>" * 200_000 + b"</body></html>"


def _scripted_page(page: bytes, outside_rel: str) -> bytes:
    head_extra = (b'<base href="http://example.invalid/">'
                  b'<script src="http://example.invalid/track.js"></script>'
                  b'<link rel="stylesheet" href="https://example.invalid/site.css">'
                  b'<link rel="preload" as="image" href="https://example.invalid/big.png">'
                  b"<script>fetch('http://example.invalid/beacon');document.write('<h1>INJECTED</h1>');</script>")
    body_extra = (b'<img src="http://example.invalid/chart.png" width="800" height="600">'
                  b'<img src="//example.invalid/protocol-relative.png" width="800" height="600">'
                  b'<img src="file:///etc/passwd" width="800" height="600">'
                  + f'<img src="{outside_rel}" width="900" height="300">'.encode()
                  + b'<img src="img-link-out.png" width="900" height="300">'   # a link inside RAW_DIR leading out
                  + b'<iframe src="http://example.invalid/frame.html"></iframe>'
                  b'<object data="http://example.invalid/x.swf"></object>'
                  b'<svg><image href="http://example.invalid/s.png" width="900" height="300"/></svg>'
                  b'<video src="http://example.invalid/v.mp4" poster="http://example.invalid/p.png"></video>')
    page = _insert_before(page, b"</head>", head_extra)
    return _insert_before(page, b"</body>", body_extra)


# file name -> expected outcome for the failed ones: (substring of the Chinese part, substring of the English part)
EXPECTED_FAILURES = {
    "empty.pdf": ("空", "empty"),
    "blank.txt": ("空", "empty"),
    "random-bytes.pdf": ("无法识别", "Unrecognised"),
    "truncated.pdf": ("损坏", "damaged"),
    "error-page.pdf": ("网页", "web page"),
    "zip-bomb.docx": ("压缩炸弹", "zip bomb"),
    "billion-laughs.docx": ("DTD", "DTD"),
    "external-entity.docx": ("DTD", "DTD"),
    "link-out.txt": ("链接", "link"),
    "img-link-out.png": ("链接", "link"),
    "linked-folder-out": ("文件夹", "folder outside"),
    "broken-link.txt": ("链接无效", "broken"),
    "0-hang-parser.txt": ("超时", "time limit"),
    "crash-parser.txt": ("异常退出", "crashed"),
    "balloon-parser.txt": ("内存", "memory"),
}
ODD_NAMES = ['报告 "引号" \'单引号\' (副本).txt', "=1+2 公式开头.txt", "@SUM(A1) 文件.txt", "+cmd 文件.txt",
             "-减号开头.txt", "换行\n文件名.txt", "空 格  多.txt"]


def build_corpus(base: Path) -> dict:
    raw, outside = base / "raw", base / "outside"
    raw.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{MARKER}\n本文件在输入目录之外。\n", encoding="utf-8")
    (outside / "secret.png").write_bytes(_secret_png())
    src = _sources()
    orig = raw / "originals"
    orig.mkdir()
    for _key, (name, data) in src.items():
        (orig / name).write_bytes(data)
    txt_name, txt = src["txt"]
    text = txt.decode("utf-8-sig")
    page_name, page = src["page"]
    html_name, html = src["html"]

    # broken, encrypted, image-only
    (raw / "empty.pdf").write_bytes(b"")
    (raw / "blank.txt").write_bytes(b"  \r\n\n \t\n")
    (raw / "random-bytes.pdf").write_bytes(random.Random(7).randbytes(65536))
    good_pdf = (FIXTURES / "pdf" / "gb2019.pdf").read_bytes()
    (raw / "truncated.pdf").write_bytes(good_pdf[: len(good_pdf) // 2])
    (raw / "error-page.pdf").write_bytes(b"<!DOCTYPE html><html><head><title>404</title></head><body><h1>404 Not "
                                         b"Found</h1><p>nginx</p></body></html>")
    for name in ("owner-only.pdf", "encrypted-user.pdf"):
        if (FIXTURES / "pdf" / "special" / name).is_file():
            shutil.copy(FIXTURES / "pdf" / "special" / name, raw / name)
    (raw / "scanned-image-only.pdf").write_bytes(_image_only_pdf())
    from test_pdf import _minimal_pdf

    (raw / "no-table.pdf").write_bytes(_minimal_pdf(["2023 annual report on government information disclosure",
                                                     "A text layer and no statistical table at all."]))

    # Word tricks
    (raw / "zip-bomb.docx").write_bytes(_zip_bomb_docx())
    lol = (b'<!DOCTYPE w:document [<!ENTITY a "lollollollollollollollollollol">'
           + b"".join(b'<!ENTITY %s "%s">' % (chr(98 + k).encode(), (b"&%s;" % chr(97 + k).encode()) * 10)
                      for k in range(9)) + b"]>")
    (raw / "billion-laughs.docx").write_bytes(_docx_with(_with_doctype(lol, b"&j;")))
    xxe = f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{outside / "secret.txt"}">]>'.encode()
    (raw / "external-entity.docx").write_bytes(_docx_with(_with_doctype(xxe, b"&xxe;")))

    # pages
    (raw / "huge-25mb.html").write_bytes(_huge_page(page))
    (raw / "deep-200000.html").write_bytes(_deep_page())
    (raw / "scripts-and-remote.html").write_bytes(_scripted_page(html, "../outside/secret.png"))

    # encodings of the real text report and of the real page
    enc = raw / "encodings"
    enc.mkdir()
    stem = Path(txt_name).stem
    copies = {
        f"encodings/{stem}-utf8-bom.txt": b"\xef\xbb\xbf" + text.encode("utf-8"),
        f"encodings/{stem}-gb18030.txt": text.encode("gb18030"),
        f"encodings/{stem}-utf16le-bom.txt": b"\xff\xfe" + text.encode("utf-16-le"),
        f"encodings/{stem}-utf16be-nobom.txt": text.encode("utf-16-be"),
    }
    page_text = page.decode("utf-8")
    gbk_page = page_text.replace('charset="utf-8"', 'charset="gb2312"').replace("charset=utf-8", "charset=gb2312")
    copies[f"encodings/{Path(page_name).stem}-gbk.html"] = gbk_page.encode("gb18030")
    for rel, data in copies.items():
        (raw / rel).write_bytes(data)
    same_as = {rel: f"originals/{txt_name}" for rel in copies}
    same_as[f"encodings/{Path(page_name).stem}-gbk.html"] = f"originals/{page_name}"
    same_as["huge-25mb.html"] = f"originals/{page_name}"
    same_as["scripts-and-remote.html"] = f"originals/{html_name}"

    # odd names and formula injection (file names, manifest agency, document title)
    for name in ODD_NAMES:
        (raw / name).write_bytes(txt)
        same_as[name] = f"originals/{txt_name}"
    (raw / "formula-agency.txt").write_bytes(txt)
    same_as["formula-agency.txt"] = f"originals/{txt_name}"
    lines = text.splitlines()
    titled = "\n".join(["标题: =HYPERLINK(\"http://example.invalid/x\",\"点击\")测试市人民政府2023年政府信息公开工作年度报告",
                        "==== 正文 ===="] + [ln for ln in lines if not ln.startswith("标题")])
    (raw / "formula-title.txt").write_text(titled, encoding="utf-8")
    with open(raw / "manifest.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "agency"])
        w.writerow(["formula-agency.txt", '=HYPERLINK("http://example.invalid/x","点击")'])
        w.writerow(["@SUM(A1) 文件.txt", "+1+1 某机关"])

    # a symlink out of RAW_DIR, and the simulated parser faults (see SITECUSTOMIZE)
    os.symlink(outside / "secret.txt", raw / "link-out.txt")
    os.symlink(outside / "secret.png", raw / "img-link-out.png")   # also referenced by scripts-and-remote.html
    os.symlink(outside, raw / "linked-folder-out")              # a folder outside RAW_DIR (holding secret.txt)
    os.symlink(raw / "no-such-file.txt", raw / "broken-link.txt")
    for name in ("0-hang-parser.txt", "crash-parser.txt", "balloon-parser.txt"):  # the hang first: it overlaps
        (raw / name).write_bytes(txt)
    return {"raw": raw, "outside": outside, "same_as": same_as, "sources": src}


# --- the run --------------------------------------------------------------------------------------------------------

def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _unneutralise(s: str) -> str:
    return s[1:] if s[:1] == "'" and s[1:2] in "=+-@\t\r" else s


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    corpus = build_corpus(base)
    hooks = base / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    (hooks / "run_measured.py").write_text(RUN_WRAPPER, encoding="utf-8")
    net_log = base / "network-attempts.log"
    stats = base / "stats.json"
    out = base / "out"
    env = dict(os.environ, PYTHONPATH=str(hooks), HOSTILE_NET_LOG=str(net_log))
    cmd = [sys.executable, str(hooks / "run_measured.py"), str(stats), sys.executable, "-m", "pipeline", "audit",
           str(corpus["raw"]), "--out", str(out), "--workers", "2", "--timeout", str(TIMEOUT),
           "--max-memory", str(MAX_MEMORY), "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    result = json.loads(stats.read_text())
    reports = _read_csv(out / "reports.csv") if (out / "reports.csv").is_file() else []
    return {**corpus, "out": out, "proc": proc, "hooks": hooks, "returncode": result["returncode"],
            "peak_rss_kb": result["peak_rss_kb"], "net_log": net_log,
            "reports": {_unneutralise(r["source_file"]): r for r in reports}}


def _bilingual(error: str) -> bool:
    zh, sep, en = error.partition(" | ")
    return bool(sep) and any("\u4e00" <= ch <= "\u9fff" for ch in zh) and any(c.isascii() and c.isalpha() for c in en)


def test_the_audit_completes_and_lists_every_file(hostile):
    assert hostile["returncode"] == 0, hostile["proc"].stderr[-3000:]
    raw = hostile["raw"]
    expected = set()
    for root, dirs, files in os.walk(raw):
        for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:  # links to folders: reported too
            rel = (Path(root) / name).relative_to(raw).as_posix()
            if rel not in ("manifest.csv", "agencies.csv") and not name.startswith("."):
                expected.add(rel)
    assert len(expected) >= 30
    assert set(hostile["reports"]) == expected
    assert len(hostile["reports"]) == len(_read_csv(hostile["out"] / "reports.csv"))  # one row per file


def test_every_bad_file_fails_alone_with_a_clear_bilingual_error(hostile):
    reports = hostile["reports"]
    for name, (zh, en) in EXPECTED_FAILURES.items():
        r = reports[name]
        assert r["status"] == "failed", (name, r["status"], r["error"])
        assert _bilingual(r["error"]), (name, r["error"])
        cn, _, english = r["error"].partition(" | ")
        assert zh in cn and en.lower() in english.lower(), (name, r["error"])
    for name, r in reports.items():
        if r["status"] == "failed":
            assert _bilingual(r["error"]), (name, r["error"])
    if "encrypted-user.pdf" in reports:
        assert "加密" in reports["encrypted-user.pdf"]["error"] and "password" in reports["encrypted-user.pdf"]["error"]
    if "owner-only.pdf" in reports:  # printing/copying restrictions only: readable
        assert reports["owner-only.pdf"]["status"] == "ok", reports["owner-only.pdf"]["error"]
    # a PDF with a text layer and no table: partial, with the finding that no table could be found
    assert reports["no-table.pdf"]["status"] == "partial", reports["no-table.pdf"]
    rid = reports["no-table.pdf"]["report_id"]
    assert any(f["report_id"] == rid and f["rule_id"] == "R-EXT-04" for f in _read_csv(hostile["out"] / "findings.csv"))
    # the deep page is read (what libxml2 keeps of it) or refused, never a crash of the run
    deep = reports["deep-200000.html"]
    assert deep["status"] in ("ok", "partial", "failed")
    assert "内部错误" not in deep["error"] and "超时" not in deep["error"], deep["error"]


def _cells_by_report(out: Path) -> dict[str, dict]:
    cells: dict[str, dict] = {}
    for c in _read_csv(out / "cells.csv"):
        cells.setdefault(c["report_id"], {})[(c["table"], c["block"], c["row_id"], c["col_id"])] = (
            c["state"], c["value"], _unneutralise(c["raw"]))
    return cells


def test_re_encoded_renamed_and_padded_copies_read_exactly_like_their_originals(hostile):
    reports, cells = hostile["reports"], _cells_by_report(hostile["out"])
    for copy, original in sorted(hostile["same_as"].items()):
        a, b = reports[copy], reports[original]
        assert b["status"] in ("ok", "partial") and a["status"] == b["status"], (copy, a["status"], a["error"])
        ca, cb = cells[a["report_id"]], cells[b["report_id"]]
        assert sum(1 for s, _v, _r in cb.values() if s != "MISSING") >= 150, original  # a real, readable report
        assert ca == cb, copy
        assert a["template"] == b["template"] and a["year"] == b["year"], copy


def test_the_real_pdf_and_the_scanned_page_are_read(hostile):
    reports, cells = hostile["reports"], _cells_by_report(hostile["out"])
    pdfs = [n for n in reports if n.startswith("originals/") and n.endswith(".pdf")]
    for name in pdfs:
        assert reports[name]["status"] in ("ok", "partial"), reports[name]["error"]
    from pipeline.ingest import ocr

    scan = reports["scanned-image-only.pdf"]
    if not ocr.ocr_available():
        assert scan["status"] == "failed" and "OCR" in scan["error"]
        pytest.skip("OCR not available: the scanned page fails with a clear message instead")
    truth = json.loads((FIXTURES / "scan" / "bailu-xian-2023-scan.json").read_text(encoding="utf-8"))["t3"]
    got = cells[scan["report_id"]]
    wrong = [(row, col, v, got.get(("t3", "", row, col))) for row, cols in truth.items() for col, v in cols.items()
             if got.get(("t3", "", row, col), ("", "", ""))[1] != str(v)]
    assert not wrong, wrong[:10]


def _all_output_text(out: Path) -> dict[str, str]:
    """Every text an output holds: CSV as text, parquet cells, xlsx XML parts (decompressed)."""
    import pandas as pd

    texts = {}
    for p in sorted(out.rglob("*")):
        if p.suffix == ".csv":
            texts[p.name] = p.read_text(encoding="utf-8-sig")
        elif p.suffix == ".parquet":
            df = pd.read_parquet(p)
            texts[p.name] = "\n".join(df.astype(str).to_csv(index=False).splitlines())
        elif p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as z:
                texts[p.name] = "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return texts


def test_nothing_from_outside_raw_dir_reaches_any_output(hostile):
    texts = _all_output_text(hostile["out"])
    assert {"reports.csv", "cells.csv", "findings.csv", "sections.parquet", "audit.xlsx"} <= set(texts)
    for name, text in texts.items():
        assert MARKER not in text, name
        assert "INJECTED" not in text, name  # document.write in a script never ran


def test_no_output_cell_would_run_as_a_formula(hostile):
    from openpyxl import load_workbook

    from pipeline.report.csvout import is_number_column

    out = hostile["out"]
    for p in sorted(out.glob("*.csv")):
        for row in _read_csv(p):
            for col, v in row.items():
                if is_number_column(col):
                    assert v == "" or v.lstrip("-").replace(".", "", 1).isdigit(), (p.name, col, v)
                else:
                    assert not v.startswith(FORMULA_START), (p.name, col, v)
    # the injected names did reach the outputs (neutralised), so the check above had something to check
    names = {r["source_file"] for r in _read_csv(out / "reports.csv")}
    assert "'=1+2 公式开头.txt" in names and "'@SUM(A1) 文件.txt" in names
    agencies = {r["agency"] for r in _read_csv(out / "reports.csv")}
    assert "'=HYPERLINK(\"http://example.invalid/x\",\"点击\")" in agencies
    wb = load_workbook(out / "audit.xlsx", read_only=True)
    n_cells = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                n_cells += 1
                where = (ws.title, getattr(cell, "coordinate", ""), cell.value)
                assert cell.data_type != "f", where
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "@")), where
    assert n_cells > 50


def test_no_network_access_was_attempted(hostile):
    log = hostile["net_log"]
    attempts = log.read_text(encoding="utf-8") if log.exists() else ""
    assert attempts == "", attempts[:2000]


def test_the_network_guard_itself_records_and_refuses(hostile, tmp_path):
    """The guard of the hostile run works: a connect and a DNS look-up in a process with it are logged and refused."""
    log = tmp_path / "net.log"
    env = dict(os.environ, PYTHONPATH=str(hostile["hooks"]), HOSTILE_NET_LOG=str(log))
    code = ("import socket\n"
            "for f in (lambda: socket.getaddrinfo('localhost', 80),\n"
            "          lambda: socket.socket().connect(('127.0.0.1', 9))):\n"
            "    try: f()\n"
            "    except OSError as e: print('refused', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.count("refused network access blocked") == 2, proc.stdout + proc.stderr
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "getaddrinfo" in lines[0] and "127.0.0.1" in lines[1]


def test_peak_memory_stays_under_4_gb(hostile):
    assert hostile["returncode"] == 0
    assert 0 < hostile["peak_rss_kb"] < 4 * 1024 * 1024, hostile["peak_rss_kb"]
