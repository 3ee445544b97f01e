"""Decide whether two MinHash signatures belong to near-duplicate articles.

LSH bands only propose candidates (a stored article sharing at least one band with the new one);
``judge`` makes the call from the full signatures: the share of equal MinHash slots estimates the
Jaccard similarity of the two articles' word-shingle sets.

Defaults come from ``benchmarks/near_dup_calibration.py`` (the seed article and seven
hand-written articles, cleaned as the pipeline would; 40 random copies per article and kind;
copies are left uncleaned, the worst case):

* shingles of 5 words. True Jaccard of the weakest copies: 4% of words edited 0.64-0.80, wire
  dateline + credit + 2% edits 0.76-0.89, dateline + credit 0.91+, appended 10% update 0.89+,
  trailing filler 0.81+, whitespace/punctuation noise 1.0. Different articles on the same story
  stay under 0.05, and a different article quoting a quarter of the paragraphs under 0.29.
  4-word shingles separate as well; 5 gives more room against shared stock phrases;
* 128 permutations in 32 bands x 4 rows: P(candidate) = 1 - (1 - s^4)^32 is 0.05 at s = 0.2,
  0.56 at 0.4, 0.87 at 0.5, 0.99 at 0.6, so copies are proposed and unrelated articles rarely;
* threshold 0.5 on the estimated Jaccard, between the lowest copy (0.555 estimated) and the
  highest different article (0.28 estimated).

On that set precision and recall at the threshold are both 1.000 (recall falls to 0.967 at 0.65
and 0.896 at 0.70). Real corpora will be noisier; re-run the benchmark with ``--corpus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transforms.text.fingerprint import Fingerprint

# A signature slot as packed in ``Fingerprint.signature``: unsigned 32-bit little-endian.
_SLOT = np.dtype("<u4")


@dataclass(frozen=True)
class MinHashConfig:
    """MinHash/LSH parameters; fixed ``seed`` so every worker computes identical signatures."""

    num_perm: int = 128
    bands: int = 32
    rows: int = 4
    shingle_size: int = 5
    seed: int = 1
    threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("num_perm", "bands", "rows", "shingle_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"MinHashConfig.{name} must be at least 1")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows ({self.bands} x {self.rows}) exceeds num_perm ({self.num_perm})"
            )
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("MinHashConfig.threshold must be in (0, 1]")


@dataclass(frozen=True)
class Verdict:
    """Whether the new article duplicates the stored one, and the estimated Jaccard similarity."""

    duplicate: bool
    similarity: float


def judge(new: Fingerprint, stored: Fingerprint, cfg: MinHashConfig) -> Verdict:
    """Estimated Jaccard similarity of two fingerprints and whether it reaches the threshold."""
    expected = cfg.num_perm * _SLOT.itemsize
    if len(new.signature) != expected or len(stored.signature) != expected:
        raise ValueError(
            f"signatures must have {expected} bytes ({cfg.num_perm} slots), "
            f"got {len(new.signature)} and {len(stored.signature)}"
        )
    equal = np.frombuffer(new.signature, _SLOT) == np.frombuffer(stored.signature, _SLOT)
    similarity = int(equal.sum()) / cfg.num_perm
    return Verdict(duplicate=similarity >= cfg.threshold, similarity=similarity)


def shares_band(new: Fingerprint, stored: Fingerprint) -> bool:
    """Whether LSH proposes the pair as candidates: at least one band key in common."""
    return any(a == b for a, b in zip(new.bands, stored.bands, strict=True))


def candidate_probability(similarity: float, cfg: MinHashConfig) -> float:
    """P(two articles of Jaccard ``similarity`` share a band): the LSH S-curve 1-(1-s^r)^b."""
    return 1.0 - (1.0 - similarity**cfg.rows) ** cfg.bands
