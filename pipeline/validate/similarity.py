"""Near-duplicate texts without all-pairs comparison: character n-gram shingles, MinHash signatures and LSH bands,
with numpy only (no extra dependency).

    index = ShingleIndex.build(texts, k=5)              # texts: list[str] (already normalised)
    pairs = index.candidate_pairs(permutations=64, bands=16, seed=1)   # (i, j) with i < j, likely similar
    j = index.jaccard(i, j)                            # exact Jaccard of the shingle sets

Signatures are computed for all documents at once: the shingle hashes of every document are concatenated and,
for each of the `permutations` hash functions, one `np.minimum.reduceat` gives every document's minimum. With b
bands of r rows a pair of Jaccard similarity s becomes a candidate with probability 1 − (1 − s^r)^b (96
permutations as 12 bands × 8 rows: 0.9 → 0.9988, 0.7 → 0.55, 0.5 → 0.046); candidates whose signature estimate is
far below the threshold are dropped, the others verified exactly. 10,000 reports of a few thousand
characters each take a few seconds, not the 50 million comparisons of all pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 -> uint64, wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def shingles(text: str, k: int) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character k-grams of `text`."""
    if not text or len(text) < k:
        return np.zeros(0, dtype=np.uint64)
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(cp) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * np.uint64(1000003) + cp[j:j + n]
    return np.unique(_mix(h))


@dataclass
class ShingleIndex:
    hashes: np.ndarray     # all documents' k-gram hashes, concatenated in document order (not deduplicated)
    starts: np.ndarray     # start offset of each document (len = n_docs + 1)

    @classmethod
    def build(cls, texts, k: int = 5, chunk_chars: int = 1 << 20) -> "ShingleIndex":
        """All documents at once: one rolling hash over the concatenated code points, k-grams that cross a
        document boundary dropped. Done over runs of whole documents of about `chunk_chars` characters (a k-gram
        never spans two documents, so the result does not depend on the runs; memory stays bounded)."""
        texts = list(texts)
        lens = np.array([len(t) for t in texts], dtype=np.int64)
        if not len(texts) or lens.sum() == 0:
            return cls(np.zeros(0, dtype=np.uint64), np.zeros(len(texts) + 1, dtype=np.int64))
        hashes = np.empty(int(lens.sum()), dtype=np.uint64)   # a document has at most one k-gram per character
        grams = np.zeros(len(texts), dtype=np.int64)
        i = at = 0
        while i < len(texts):
            j, size = i + 1, lens[i]
            while j < len(texts) and size + lens[j] <= chunk_chars:
                size += lens[j]
                j += 1
            h, g = _hash_run(texts[i:j], lens[i:j], k)
            hashes[at:at + len(h)] = h
            at += len(h)
            grams[i:j] = g
            i = j
        return cls(hashes[:at].copy() if at < len(hashes) // 2 else hashes[:at],
                   np.concatenate([[0], np.cumsum(grams)]))

    @property
    def n(self) -> int:
        return len(self.starts) - 1

    def doc(self, i: int) -> np.ndarray:
        """The document's shingle set (sorted, unique)."""
        return np.unique(self.hashes[self.starts[i]:self.starts[i + 1]])

    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)

    def estimate(self, sig: np.ndarray, pairs: np.ndarray, step: int = 1 << 15) -> np.ndarray:
        """MinHash estimate of the Jaccard similarity of each pair (rows of `pairs`), `step` pairs at a time."""
        if not len(pairs):
            return np.zeros(0)
        return np.concatenate([(sig[pairs[a:a + step, 0]] == sig[pairs[a:a + step, 1]]).mean(axis=1)
                               for a in range(0, len(pairs), step)])

    def signatures(self, permutations: int = 64, seed: int = 1, sample: int = 4) -> np.ndarray:
        """n_docs × permutations uint32 MinHash signatures (empty documents get all-max rows).

        Computed on a consistent sample of the shingles (those whose hash is 0 modulo `sample`): the Jaccard
        similarity of the sampled sets estimates that of the full sets, at 1/sample of the cost (the candidates are
        verified exactly on the full sets). Arithmetic in 32 bits: h·a + b modulo 2^32 with odd a."""
        n = self.n
        sig = np.full((n, permutations), np.iinfo(np.uint32).max, dtype=np.uint32)
        if not len(self.hashes):
            return sig
        if sample > 1:
            keep = np.empty(len(self.hashes), dtype=bool)
            step = 1 << 20                                  # bounded temporaries
            for a0 in range(0, len(self.hashes), step):
                keep[a0:a0 + step] = (self.hashes[a0:a0 + step] % np.uint64(sample)) == 0
            kept = np.flatnonzero(keep)
            del keep
        else:
            kept = np.arange(len(self.hashes))
        h = (self.hashes[kept] >> np.uint64(32)).astype(np.uint32)
        doc = np.searchsorted(self.starts, kept, side="right") - 1      # the document of each kept shingle
        del kept
        if not len(h):
            return sig
        nonempty = np.unique(doc)
        st = np.searchsorted(doc, nonempty)
        rng = np.random.default_rng(seed)
        a = (rng.integers(0, 2**32, size=permutations, dtype=np.uint64) | np.uint64(1)).astype(np.uint32)
        b = rng.integers(0, 2**32, size=permutations, dtype=np.uint64).astype(np.uint32)
        with np.errstate(over="ignore"):
            for p in range(permutations):
                sig[nonempty, p] = np.minimum.reduceat(h * a[p] + b[p], st)
        return sig

    def candidate_pairs(self, permutations: int = 64, bands: int = 16, seed: int = 1,
                        max_bucket: int = 2000) -> np.ndarray:
        """Array (m, 2) of document pairs (i < j) sharing at least one LSH band."""
        if self.n < 2:
            return np.zeros((0, 2), dtype=np.int64)
        return self._candidates(self.signatures(permutations, seed), bands, max_bucket)

    def _candidates(self, sig: np.ndarray, bands: int, max_bucket: int = 2000) -> np.ndarray:
        if self.n < 2:
            return np.zeros((0, 2), dtype=np.int64)
        permutations = sig.shape[1]
        r = permutations // bands
        ok = np.nonzero((sig != np.iinfo(np.uint32).max).any(axis=1))[0]   # documents with a signature
        pairs = []
        for b in range(bands):
            block = np.ascontiguousarray(sig[ok, b * r:(b + 1) * r])
            key = block.view(np.dtype((np.void, block.dtype.itemsize * r))).ravel()
            _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
            multi = np.nonzero(counts > 1)[0]
            if not len(multi):
                continue
            order = np.argsort(inv, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(counts)])
            two = multi[counts[multi] == 2]                  # most buckets: one pair, vectorised
            if len(two):
                pairs.append(np.stack([ok[order[bounds[two]]], ok[order[bounds[two] + 1]]], axis=1))
            for g in multi[counts[multi] > 2]:
                members = ok[order[bounds[g]:bounds[g + 1]]][:max_bucket]
                ii, jj = np.triu_indices(len(members), k=1)
                pairs.append(np.stack([members[ii], members[jj]], axis=1))
        if not pairs:
            return np.zeros((0, 2), dtype=np.int64)
        p = np.concatenate(pairs)
        p = np.sort(p, axis=1)
        return np.unique(p, axis=0)

    def jaccard(self, i: int, j: int) -> float:
        return jaccard_sets(self.doc(i), self.doc(j))

    def similar_pairs(self, threshold: float, permutations: int = 64, bands: int = 16, seed: int = 1,
                      slack: float = 0.15, sample: int = 4) -> list[tuple[int, int, float]]:
        """(i, j, exact Jaccard) of the pairs with Jaccard >= threshold: LSH candidates, filtered by the signature
        estimate (>= threshold - slack), verified exactly."""
        sig = self.signatures(permutations, seed, sample)
        pairs = self._candidates(sig, bands)
        if not len(pairs):
            return []
        est = self.estimate(sig, pairs)
        pairs = pairs[est >= threshold - slack]
        out = []
        for i, j in pairs:
            s = self.jaccard(int(i), int(j))
            if s >= threshold:
                out.append((int(i), int(j), s))
        return out


def _hash_run(texts: list, lens: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(k-gram hashes of the documents in order, number of k-grams of each document) of a run of documents."""
    if lens.sum() == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(len(texts), dtype=np.int64)
    cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(cp) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(len(texts), dtype=np.int64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * np.uint64(1000003) + cp[j:j + n]
    del cp
    h = _mix(h)
    ends = np.cumsum(lens)
    valid = np.ones(n, dtype=bool)
    for j in range(1, k):                            # k-grams starting in the last k-1 characters of a document
        idx = ends - j
        valid[idx[(idx >= 0) & (idx < n)]] = False
    pos = np.nonzero(valid)[0]
    doc = np.searchsorted(ends, pos, side="right")
    return h[pos], np.bincount(doc, minlength=len(texts))


def jaccard_sets(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted arrays of unique hashes."""
    if not len(a) or not len(b):
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    idx = np.searchsorted(b, a)
    idx[idx == len(b)] = 0
    inter = int(np.count_nonzero(b[idx] == a))
    return inter / (len(a) + len(b) - inter)
