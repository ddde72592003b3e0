"""Ingest: bytes of one file → `Document` (text blocks and raw cell grids with provenance).

Never raises for a bad file: the Document comes back with status `failed` and a bilingual error instead.
"""
from __future__ import annotations

import codecs
import functools
import hashlib
from pathlib import Path

from ..document import Document
from .html import parse_html
from .pdf import parse_pdf
from .sniff import decode_text, html_declared_charset, sniff_format
from .text import parse_text

UNSUPPORTED = {
    "unknown": "无法识别的文件格式（不是HTML、文本、PDF、Word文档或图片） | Unrecognised file format "
               "(not HTML, text, PDF, Word or an image)",
}
MAX_FILE_BYTES = 512 * 1024 * 1024  # a report is a few MB, a long scan ~100 MB; larger is a video or a disk image
NO_OCR = ("文件是图片或扫描件，需要文字识别（OCR），但本机未安装OCR组件（rapidocr、onnxruntime） | The file is an image "
          "or a scan and needs OCR, which is not installed (rapidocr, onnxruntime)")


def _image_loader(path, rel: str):
    """<img src> → bytes: data: URIs, or a file saved beside the page inside RAW_DIR. Never the network."""
    import base64
    import binascii
    from urllib.parse import unquote, urlsplit

    @functools.cache
    def page_and_root() -> tuple[Path, Path]:   # resolved on the first picture only: most pages have none
        page = Path(path).resolve()
        raw_root = page
        for _ in Path(rel).parts:
            raw_root = raw_root.parent
        return page, raw_root

    def load(src: str) -> bytes | None:
        if src.startswith("data:"):
            head, _, body = src.partition(",")
            try:
                return base64.b64decode(body) if ";base64" in head else unquote(body).encode("latin-1")
            except (binascii.Error, ValueError):
                return None
        parts = urlsplit(src)
        if parts.scheme or parts.netloc or not parts.path:
            return None  # remote: never fetched
        page, raw_root = page_and_root()
        target = (page.parent / unquote(parts.path)).resolve()
        if not target.is_relative_to(raw_root) or not target.is_file() or target.stat().st_size > 20_000_000:
            return None
        return target.read_bytes()

    return load


def read_document(path: Path, rel: str, data: bytes | None = None) -> Document:
    """Read one input file. `rel` is its path relative to RAW_DIR (used as source_file)."""
    if data is None:
        try:
            size = Path(path).stat().st_size
            if size > MAX_FILE_BYTES:
                return Document(source_file=rel, format="unknown", sha256="", status="failed",
                                error=f"文件过大（{size / 2 ** 20:.0f} MB，上限 {MAX_FILE_BYTES // 2 ** 20} MB），未读取 | "
                                      f"The file is too large ({size / 2 ** 20:.0f} MB, limit "
                                      f"{MAX_FILE_BYTES // 2 ** 20} MB); not read")
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
        ext = Path(rel).suffix.lower()
        if doc.format == "html" and ext in (".pdf", ".doc", ".docx"):
            doc.status = "failed"
            doc.error = (f"文件扩展名为{ext}，但内容是网页（可能是下载失败时保存的错误页面） | The file is named {ext} "
                         "but holds a web page (an error page saved by a failed download?)")
            return doc
        if doc.format == "html":
            text, doc.encoding = decode_text(data, html_declared_charset(data))
            utf8 = data if doc.encoding == "utf-8" and not data.startswith(codecs.BOM_UTF8) else None
            doc.blocks, doc.meta, doc.title = parse_html(text, _image_loader(path, rel), utf8)
        elif doc.format in ("txt", "md"):
            text, doc.encoding = decode_text(data)
            doc.blocks, doc.meta, doc.title = parse_text(text, doc.format)
        elif doc.format == "pdf":
            import io

            doc.blocks, doc.meta, doc.title, n_pages = parse_pdf(io.BytesIO(data))
            doc.meta["pages"] = n_pages
            if not any(b.text.strip() for b in doc.blocks):
                doc.status = "failed"
                doc.error = NO_OCR if doc.meta.get("image_pages") else "PDF中没有任何文字 | The PDF holds no text at all"
                return doc
        elif doc.format in ("docx", "doc"):
            from .docx import parse_docx

            if doc.format == "doc":
                from .doc import convert_doc

                data = convert_doc(data)
            doc.blocks, doc.meta, doc.title = parse_docx(data)
        elif doc.format == "image":
            doc.format = "unknown"  # contract formats: a picture is none of them; its cells say "OCR" in location
            from . import ocr

            if not ocr.ocr_available():
                doc.status, doc.error = "failed", NO_OCR
                return doc
            doc.blocks = ocr.ocr_image_bytes(data, "图片")
        else:
            doc.status, doc.error = "failed", UNSUPPORTED[doc.format]
            return doc
    except MemoryError:  # the worker's memory limit (pipeline/isolation.py): this document only
        from ..isolation import current_memory_limit, memory_message

        doc.status, doc.error, doc.blocks = "failed", memory_message(current_memory_limit()), []
        return doc
    except RecursionError:
        doc.status, doc.blocks = "failed", []
        doc.error = ("文件结构嵌套过深，无法读取 | The file's structure is nested too deeply to be read "
                     "(a damaged or hostile file)")
        return doc
    except Exception as exc:  # a parser bug or hostile input must not stop the batch
        doc.status = "failed"
        msg = str(exc)
        if " | " in msg:  # readers raise bilingual messages for the cases they recognise
            doc.error = msg
        else:
            doc.error = f"解析文件时出错：{type(exc).__name__} | Failed to parse the file: {type(exc).__name__}: {msg}"
        doc.blocks = []
        return doc
    if not doc.blocks:
        doc.status, doc.error = "failed", "文件中没有可读取的正文 | No readable text in the file"
    return doc
