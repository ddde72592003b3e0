"""Tables published as pictures inside a web page: read by OCR from data: URIs or files saved beside the page.

Remote images are never fetched; small pictures (logos, QR codes) are not read.
"""
from __future__ import annotations

import base64
import copy
import json
import socket
from pathlib import Path

import pytest

from pipeline.ingest import ocr, read_document
from pipeline.ingest.ocr import ocr_available
from pipeline.normalize import normalize

SCAN = Path(__file__).parent / "fixtures" / "scan"

pytestmark = pytest.mark.skipif(not ocr_available(), reason="OCR (rapidocr + onnxruntime) not installed")


def _page(img_src: str) -> str:
    return (f"<html><head><meta charset='utf-8'><title>白鹭县人民政府2023年政府信息公开工作年度报告</title></head><body>"
            f"<img src='https://example.invalid/logo.png'><p>一、总体情况</p><p>三、收到和处理政府信息公开申请情况</p>"
            f"<p><img src='{img_src}'></p><p>四、政府信息公开行政复议、行政诉讼情况</p></body></html>")


def _check_t3(doc):
    truth = json.loads((SCAN / "bailu-xian-2023-scan.json").read_text(encoding="utf-8"))
    n = normalize(doc, "r")
    got = {(c["row_id"], c["col_id"]): (c["value"], c["location"]) for c in n.cells if c["table"] == "t3"}
    wrong = [(r, c) for r, cols in truth["t3"].items() for c, v in cols.items() if got[(r, c)][0] != v]
    assert not wrong, wrong[:10]
    assert all("OCR" in loc for v, loc in got.values())  # analysts see the cell came from OCR


def test_table_image_in_a_data_uri_and_beside_the_page(tmp_path, monkeypatch):
    png = (SCAN / "bailu-xian-2023-t3.png").read_bytes()
    raw = tmp_path / "raw"
    (raw / "files").mkdir(parents=True)
    (raw / "files" / "t3.png").write_bytes(png)
    (raw / "a.html").write_text(_page("data:image/png;base64," + base64.b64encode(png).decode()), encoding="utf-8")
    (raw / "b.html").write_text(_page("files/t3.png"), encoding="utf-8")
    (raw / "c.html").write_text(_page("../outside.png"), encoding="utf-8")
    (tmp_path / "outside.png").write_bytes(png)

    def no_network(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    real, read = ocr.ocr_image_bytes, {}

    def ocr_once(data, label):
        """The picture is OCR'd once (seconds): the second page hands over the very same bytes."""
        key = (bytes(data), label)
        if key not in read:
            read[key] = real(data, label)
        return copy.deepcopy(read[key])

    monkeypatch.setattr(ocr, "ocr_image_bytes", ocr_once)
    for name in ("a.html", "b.html"):
        _check_t3(read_document(raw / name, name))
    assert [data for data, _ in read] == [png]      # both pages gave the picture itself to OCR
    outside = read_document(raw / "c.html", "c.html")  # a path leaving RAW_DIR is not read
    assert not any(b.kind == "table" for b in outside.blocks)
