"""The fast paths of the normalize stage against the plain computations they replace."""
from __future__ import annotations

import random
import re
import unicodedata

from pipeline.normalize import vocab


def _texts(n: int, seed: int) -> list[str]:
    """Mixes of table labels, CJK, ASCII, fullwidth forms, punctuation, spaces and rarer characters."""
    keys = list(vocab.vocabulary())
    pool = [chr(c) for lo, hi in ((0x20, 0x250), (0x2000, 0x2070), (0x3000, 0x3040), (0xFE30, 0xFE70),
                                  (0xFF00, 0xFFF0), (0x4E00, 0x4E40), (0xF900, 0xF910), (0x300, 0x310),
                                  (0x2460, 0x2470), (0x1100, 0x1110)) for c in range(lo, hi)]
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(0, 12)):
            if rnd.random() < 0.4:
                k = rnd.choice(keys)
                parts.append(k if rnd.random() < 0.7 else " ".join(k))   # spaced-out labels squeeze back
            else:
                parts.append("".join(rnd.choice(pool) for _ in range(rnd.randint(1, 6))))
        out.append("".join(parts))
    return out


def _squeeze_slow(raw: str) -> tuple[str, list[int]]:
    out, idx = [], []
    for i, ch in enumerate(raw):
        kept = "".join(c for c in unicodedata.normalize("NFKC", ch) if not vocab._SQUEEZE_DROP.match(c))
        out.append(kept)
        idx.extend([i] * len(kept))
    return "".join(out), idx


def test_squeeze_is_per_char_nfkc_without_dropped_chars():
    for text in _texts(20000, 3):
        expected = _squeeze_slow(text)
        assert vocab.squeeze_text(text) == expected[0], repr(text)
        assert vocab.squeeze(text) == expected, repr(text)


def test_cjk_unified_ideographs_squeeze_to_themselves():
    """squeeze_text keeps U+4E00–U+9FFF as they are without looking them up."""
    for c in range(0x4E00, 0xA000):
        assert vocab._squeeze_char(chr(c)) == chr(c)


def test_trie_anchor_pattern_matches_what_the_longest_first_alternation_matches():
    keys = [k for k in vocab._keys_by_length() if len(k) >= 2]
    alternation = re.compile("|".join(re.escape(k) for k in keys))
    trie = vocab.anchor_regex()
    texts = [vocab.squeeze_text(t) for t in _texts(5000, 5)]
    texts += ["".join(random.Random(i).choice(keys) for _ in range(8)) for i in range(500)]
    matched = 0
    for text in texts:
        got = [(m.span(), m.group(0)) for m in trie.finditer(text)]
        assert got == [(m.span(), m.group(0)) for m in alternation.finditer(text)], text
        matched += bool(got)
    assert matched > 3000


def test_table_text_normalized_piece_by_piece_is_norm_label_of_the_joined_text():
    from pipeline.normalize.classify import norm_table_text
    from pipeline.templates import norm_label

    texts = _texts(6000, 9) + ["e\u0301", "\u0301x", "가", "\u11a8", "ｅ", "\u0338<", "\uff1c", "\u3099か"]
    rnd = random.Random(13)
    for _ in range(3000):
        pieces = [rnd.choice(texts) for _ in range(rnd.randint(0, 6))]
        assert norm_table_text(pieces) == norm_label("\n".join(pieces)), pieces
