"""Format detection from content (magic bytes, markup) and text decoding (BOM, meta charset, GB18030, detection)."""
from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([a-zA-Z0-9_\-]+)""", re.I)
_HTML_MARK = re.compile(r"<\s*(!doctype\s+html|html|head|body|table|div|p|meta)\b", re.I)
_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
_PIPE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)

# Names browsers treat as aliases; GBK/GB2312 pages are decoded as GB18030 (a superset) so that no character is lost.
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "cp936": "gb18030",
            "big5-hkscs": "big5hkscs", "utf8": "utf-8", "unicode": "utf-16"}


def sniff_format(data: bytes, name: str) -> str:
    """html|pdf|docx|doc|txt|md|unknown, decided by content first and the extension only as a tie-breaker."""
    head = data[:2048]
    if head.lstrip()[:5] == b"%PDF-" or data[:1024].find(b"%PDF-") >= 0:
        return "pdf"
    if head[:4] == b"PK\x03\x04":
        return "docx" if b"word/" in data[:65536] or name.lower().endswith(".docx") else "unknown"
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "doc"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff":
        return "image"  # a table photographed or exported as a picture (read by OCR; reported as format unknown)
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not utf16_without_bom(data):
        return "unknown"
    text, _ = decode_text(data[:65536], allow_partial=True)
    if _HTML_MARK.search(text[:8192]) and re.search(r"</\s*(html|body|div|p|table|td)\s*>", text, re.I):
        return "html"
    lower = name.lower()
    if lower.endswith((".md", ".markdown")):
        return "md"
    # a table rule has three dashes or more: the substring test spares the regex (tried at every character)
    if "---" in text and _PIPE_RULE.search(text) and len(_PIPE_ROW.findall(text)) >= 3:
        return "md"
    return "txt"


def _norm_codec(name: str) -> str | None:
    name = name.strip().lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, declared: str | None = None, allow_partial: bool = False) -> tuple[str, str]:
    """Decode bytes to str; returns (text, encoding used).

    Order: BOM, declared charset (HTML meta), strict UTF-8, GB18030, then charset-normalizer's guess.
    `allow_partial` tolerates a multi-byte sequence cut at the end of a prefix.
    """
    errors = "ignore" if allow_partial else "strict"
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(enc if enc != "utf-8" else "utf-8-sig", errors="replace"), enc
    u16 = utf16_without_bom(data)
    if u16:
        return data[: len(data) // 2 * 2].decode(u16, errors="replace"), u16
    candidates = []
    if declared:
        c = _norm_codec(declared)
        if c:
            candidates.append(c)
    for c in ("utf-8", "gb18030"):
        if c not in candidates:
            candidates.append(c)
    for enc in candidates:
        try:
            text = data.decode(enc, errors=errors)
        except (UnicodeDecodeError, LookupError):
            continue
        if enc == "gb18030":
            if not _looks_chinese(text):
                continue
            if not (declared and candidates[0] == "gb18030"):
                alt = _big5_instead(data, text, errors)
                if alt is not None:
                    return alt, "big5"
        return text, enc
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            return str(best), best.encoding
    except Exception:  # pragma: no cover - detection is best effort
        pass
    return data.decode("utf-8", errors="replace"), "utf-8?"


def utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' for UTF-16 text saved without a byte-order mark (Windows "Unicode" exports), else
    None. Recognised by the zero high bytes of ASCII characters (line breaks, digits) falling on one parity only, and
    confirmed by a strict decode of the start that reads as Chinese or ASCII text."""
    sample = data[:8192]
    sample = sample[: len(sample) // 2 * 2]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if even + odd < 4 or min(even, odd) * 3 > max(even, odd):
        return None
    enc = "utf-16-le" if odd > even else "utf-16-be"
    try:
        text = sample.decode(enc)
    except UnicodeDecodeError:
        if len(sample) < 4:
            return None
        try:
            text = sample[:-2].decode(enc)  # a surrogate pair cut by the sample's end
        except UnicodeDecodeError:
            return None
    if "\x00" in text or not _looks_chinese(text):
        return None
    return enc


# The most frequent characters of Chinese text and of these reports, in simplified and traditional forms: a GB18030
# reading of Big5 bytes (or the reverse) is mojibake made of rare characters.
_COMMON = frozenset(
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所然家种事"
    "成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实"
    "這個們來為國說時會對於著過發後裡種經麼學現當沒動還樣裡從實開"
    "政府信息公开開工作度报報告申请請依复復议議诉訴讼訟处處理办辦件数數总總计計情况況机關关市县縣区區省委局"
    "其他结結果予以不部分同意无無法提供本身重新向条條例规規定范範围圍内內容收到上年结轉转转下继繼续續")


_CJK = re.compile("[\u4e00-\u9fff]")
_NOT_TEXT = re.compile("[^\x00-\x7f\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")  # neither CJK nor ASCII


def _common_share(text: str) -> float:
    cjk = _CJK.findall(text[:20000])
    return sum(map(_COMMON.__contains__, cjk)) / len(cjk) if cjk else 0.0


def _big5_instead(data: bytes, gb_text: str, errors: str) -> str | None:
    """The Big5 reading of `data` when it decodes and reads as much more common Chinese than the GB18030 one."""
    try:
        b5 = data.decode("big5", errors=errors)
    except UnicodeDecodeError:
        return None
    return b5 if _common_share(b5) > 2 * _common_share(gb_text) + 0.05 else None


def _looks_chinese(text: str) -> bool:
    """GB18030 decodes almost any byte string; accept it only when the result is mostly common CJK/ASCII."""
    sample = text[:20000]
    if not sample:
        return True
    other = len(_NOT_TEXT.findall(sample))
    return (len(sample) - other) / len(sample) > 0.9


def html_declared_charset(data: bytes) -> str | None:
    m = _META_CHARSET.search(data[:16384])
    return m.group(1).decode("ascii", "ignore") if m else None
