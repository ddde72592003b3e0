"""Ingest: bytes of one file → `Document` (text blocks and raw cell grids with provenance).

Never raises for a bad file: the Document comes back with status `failed` and a bilingual error instead.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..document import Document
from .html import parse_html
from .pdf import parse_pdf
from .sniff import decode_text, html_declared_charset, sniff_format
from .text import parse_text

UNSUPPORTED = {
    "docx": "暂不支持读取Word（DOCX）格式的报告 | Word (DOCX) reports are not supported by this version yet",
    "doc": "暂不支持读取旧版Word（DOC）格式的报告 | Legacy Word (DOC) reports are not supported by this version yet",
    "unknown": "无法识别的文件格式（不是HTML、文本、PDF或Word文档） | Unrecognised file format (not HTML, text, PDF or Word)",
}


def read_document(path: Path, rel: str, data: bytes | None = None) -> Document:
    """Read one input file. `rel` is its path relative to RAW_DIR (used as source_file)."""
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return Document(source_file=rel, format="unknown", sha256="", status="failed",
                            error=f"无法读取文件：{exc.strerror or exc} | Cannot read the file: {exc}")
    doc = Document(source_file=rel, format="unknown", sha256=hashlib.sha256(data).hexdigest())
    if not data.strip():
        doc.status, doc.error = "failed", "文件为空 | The file is empty"
        return doc
    try:
        doc.format = sniff_format(data, rel)
        if doc.format == "html":
            text, doc.encoding = decode_text(data, html_declared_charset(data))
            doc.blocks, doc.meta, doc.title = parse_html(text)
        elif doc.format in ("txt", "md"):
            text, doc.encoding = decode_text(data)
            doc.blocks, doc.meta, doc.title = parse_text(text, doc.format)
        elif doc.format == "pdf":
            import io

            doc.blocks, doc.meta, doc.title, n_pages = parse_pdf(io.BytesIO(data))
            doc.meta["pages"] = n_pages
            if not any(b.text.strip() for b in doc.blocks):
                doc.status = "failed"
                doc.error = ("PDF没有文字层（可能是扫描件），暂不支持识别 | The PDF has no text layer (scanned?); "
                             "OCR is not available in this version")
                return doc
        else:
            doc.status, doc.error = "failed", UNSUPPORTED[doc.format]
            return doc
    except Exception as exc:  # a parser bug or hostile input must not stop the batch
        doc.status = "failed"
        doc.error = f"解析文件时出错：{type(exc).__name__} | Failed to parse the file: {type(exc).__name__}: {exc}"
        doc.blocks = []
        return doc
    if not doc.blocks:
        doc.status, doc.error = "failed", "文件中没有可读取的正文 | No readable text in the file"
    return doc
