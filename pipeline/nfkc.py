"""NFKC for long report text, fast: the same result as ``unicodedata.normalize("NFKC", text)``.

Report text is CJK and ASCII with a sprinkling of fullwidth punctuation and digits (（）：，０-９), which sends
`unicodedata.normalize` down its slow path (decompose and recompose every character of the string). Replacing a
character by its full compatibility decomposition (NFKD) never changes the NFKC of the whole string — NFKC(s) is
the composition of NFKD(s), and NFKD of a decomposed character is itself — so those characters are replaced first
by one `str.translate`; what remains is then usually already normalized, which `normalize` checks quickly.
"""
from __future__ import annotations

import re
import unicodedata

# The blocks report text draws its compatibility characters from (any subset gives the same result; these make the
# common case fast): Latin-1, general punctuation, letterlike and number forms, enclosed alphanumerics, CJK symbols,
# enclosed CJK, CJK compatibility ideographs and forms, small forms, halfwidth and fullwidth forms.
_BLOCKS = ((0x00A0, 0x0100), (0x2000, 0x2070), (0x2100, 0x2190), (0x2460, 0x2500), (0x3000, 0x3040),
           (0x3200, 0x3400), (0xF900, 0xFB00), (0xFE30, 0xFE70), (0xFF00, 0xFFF0))
_DECOMPOSE = {c: unicodedata.normalize("NFKD", chr(c)) for lo, hi in _BLOCKS for c in range(lo, hi)
              if unicodedata.normalize("NFKD", chr(c)) != chr(c)}


_COMPATIBLE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_DECOMPOSE)) + "]")


def _decompose(m: re.Match) -> str:
    return _DECOMPOSE[ord(m.group())]


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, computed faster on report text."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", _COMPATIBLE.sub(_decompose, text))
