"""Encodings: re-encoded copies of real reports read exactly like the originals (cell by cell), without mojibake.

UTF-8 with/without BOM, UTF-16 LE/BE with/without BOM, GB18030/GBK (declared, undeclared, or declared wrongly as
UTF-8), and Big5. The real reports are simplified Chinese, which Big5 cannot hold: the Big5 check uses the report's
text restricted to the characters Big5 can encode and compares the decoded text blocks with the UTF-8 reading.
"""
from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from conftest import CORPUS
from pipeline.batch import process_one
from pipeline.ingest import read_document
from pipeline.ingest.sniff import decode_text


def _sources() -> dict[str, bytes]:
    if CORPUS.is_dir():
        return {name: (CORPUS / name).read_bytes() for name in ("pingtan-2022.txt", "shuyang-xian-2025.txt",
                                                                "pingtan-2021-page.html")}
    from pipeline.synth import make_report, render

    rep = make_report("测试市人民政府", 2023, "gb2021", seed=21)
    return {"gen.txt": render(rep, "txt_cells", file="gen.txt")[0],
            "gen-page.html": render(rep, "html_word", file="gen-page.html")[0]}


def _cells(path: Path, rel: str):
    r = process_one((str(path), rel, "", {}))
    return r.report["status"], [(c["table"], c["block"], c["row_id"], c["col_id"], c["state"], c["value"], c["raw"])
                                for c in r.cells]


def _variants(name: str, data: bytes) -> dict[str, bytes]:
    text = data.decode("utf-8")
    out = {
        "utf8-bom": codecs.BOM_UTF8 + data,
        "gb18030": text.encode("gb18030"),
        "utf16le-bom": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        "utf16le": text.encode("utf-16-le"),
        "utf16be-bom": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        "utf16be": text.encode("utf-16-be"),
    }
    if name.endswith(".html"):
        # a GBK page whose meta still says utf-8 (saved by a tool that re-encoded the bytes only)
        out["gbk-meta-says-utf8"] = text.encode("gb18030")
        out["gbk-declared"] = text.replace('charset="utf-8"', 'charset="gbk"').encode("gb18030")
    return out


@pytest.mark.parametrize("name", sorted(_sources()))
def test_re_encoded_copies_read_exactly_like_the_original(name, tmp_path):
    data = _sources()[name]
    ext = Path(name).suffix
    (tmp_path / name).write_bytes(data)
    status, ref = _cells(tmp_path / name, name)
    assert status in ("ok", "partial")
    assert sum(1 for c in ref if c[4] == "NUMBER") >= 50  # a real, readable report
    for label, blob in _variants(name, data).items():
        rel = f"{Path(name).stem}-{label}{ext}"
        (tmp_path / rel).write_bytes(blob)
        doc = read_document(tmp_path / rel, rel)
        assert doc.status != "failed", (label, doc.error)
        got_status, got = _cells(tmp_path / rel, rel)
        assert got_status == status, label
        assert got == ref, label


def _big5_subset(text: str) -> str:
    return "".join(ch for ch in text if ch in "\n\t" or ch.encode("big5", "ignore"))


@pytest.mark.parametrize("name", sorted(n for n in _sources() if n.endswith(".txt")))
def test_big5_text_is_not_read_as_gb18030_mojibake(name, tmp_path):
    text = _big5_subset(_sources()[name].decode("utf-8"))
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) >= 500
    (tmp_path / "utf8.txt").write_text(text, encoding="utf-8")
    (tmp_path / "big5.txt").write_bytes(text.encode("big5"))
    a = read_document(tmp_path / "utf8.txt", "utf8.txt")
    b = read_document(tmp_path / "big5.txt", "big5.txt")
    assert b.encoding == "big5"
    assert [(x.kind, x.text) for x in b.blocks] == [(x.kind, x.text) for x in a.blocks]


@pytest.mark.parametrize("text", ["政府信息公开工作年度报告", "本机关2023年共收到政府信息公开申请12件，办结11件。",
                                  "一、总体情况\n二、主动公开政府信息情况\n（一）自然人 81 12 0 0 2 0 95"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "big5-if-possible", "utf-16",
                                      "utf-16-le", "utf-16-be"])
def test_short_texts_decode_in_every_encoding(text, encoding):
    if encoding == "big5-if-possible":
        text, encoding = _big5_subset(text), "big5"
    data = text.encode(encoding)
    decoded, _used = decode_text(data)
    assert decoded == text


def test_utf16_detection_does_not_misread_other_files():
    from pipeline.ingest.sniff import sniff_format, utf16_without_bom

    assert utf16_without_bom(b"%PDF-1.7\n" + bytes(range(256)) * 10) is None
    assert utf16_without_bom("普通文本，没有零字节。".encode("utf-8")) is None
    assert sniff_format(bytes(64) + b"\x01\x02" * 100, "x.pdf") == "unknown"
    assert sniff_format("标题\n正文 123\n".encode("utf-16-le"), "x.txt") == "txt"
