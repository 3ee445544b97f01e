"""Decide whether two article fingerprints are near-duplicates.

LSH bands only propose candidates (a stored article sharing at least one band with the new one);
``judge`` makes the call from the full signatures. The share of equal MinHash slots estimates the
Jaccard similarity J of the two word-shingle sets; with both shingle counts it gives the
containment of the smaller set in the larger, |A & B| / |A| = J (|A| + |B|) / ((1 + J) |A|). A
syndicated excerpt of half an article, or a copy with a tenth of its words edited, keeps most of
its shingles inside the original (containment 0.45-1.0) while its Jaccard falls to 0.25-0.5;
different articles, even on the same story or from the same site and day, share under a quarter.
A size-ratio guard keeps a digest that reprints a short article among much new text (containment
1.0, but three quarters new) from being dropped as its copy.

Defaults come from ``benchmarks/near_dup_calibration.py`` on the pairs of
``benchmarks/near_dup_cases.py`` (Lee corpus and examples/, gold by construction; figures and
the curve in docs/quality.md):

* 4-word shingles: copy-edits keep more 4-grams than 5-grams (lowest true containment of a
  10%-edited copy 0.51 vs 0.42) while distinct articles stay at or under 0.24; 3-grams gain little
  on copies and bring more stock phrases ("said on Tuesday") shared by distinct articles;
* 128 permutations as 64 bands x 2 rows: P(candidate) = 1 - (1 - s^2)^64 is 0.15 at s = 0.05,
  0.93 at 0.2, 0.98 at 0.25, so LSH proposes the hard copies (Jaccard 0.2-0.4) it must judge;
  a fingerprint is 512 signature bytes and 64 band keys (about 1.2 KB pickled);
* containment >= 0.35 (distinct articles reach 0.24, required copies start at 0.44), smaller
  shingle set >= 0.4 of the larger (an excerpt holds at least half; digests sit under 0.33).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transforms.text.fingerprint import Fingerprint

# A signature slot as packed in ``Fingerprint.signature``: unsigned 32-bit little-endian.
_SLOT = np.dtype("<u4")
# Candidates judged per lookup at most. benchmarks/dedup_ceiling.py, a million remembered articles
# of shared news sentences: LSH proposes ~255 a lookup (p99 ~800, max ~1,900); judging the 200
# sharing most band keys found every labelled copy the uncapped lookup found (a cap of 50 missed 5
# of 5,430), and bounds the worst lookup.
DEFAULT_MAX_CANDIDATES = 200


@dataclass(frozen=True)
class MinHashConfig:
    """MinHash/LSH parameters; fixed ``seed`` so every worker computes identical signatures.

    ``threshold`` is the estimated containment of the smaller article in the other at which they
    are near-duplicates, ``min_size_ratio`` the least shingle count of the smaller as a share of
    the larger (a digest that reprints a short article among much new text is not its copy).
    ``max_candidates`` caps the remembered articles judged per lookup, those sharing the most
    band keys first (0: no cap): a stock sentence shared by thousands of articles would otherwise
    make every lookup judge them all.
    """

    num_perm: int = 128
    bands: int = 64
    rows: int = 2
    shingle_size: int = 4
    seed: int = 1
    threshold: float = 0.35
    min_size_ratio: float = 0.4
    max_candidates: int = DEFAULT_MAX_CANDIDATES

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
        if not 0.0 <= self.min_size_ratio <= 1.0:
            raise ValueError("MinHashConfig.min_size_ratio must be in [0, 1]")
        if self.max_candidates < 0:
            raise ValueError("MinHashConfig.max_candidates must be >= 0 (0: no cap)")


@dataclass(frozen=True)
class Verdict:
    """Whether the new article duplicates the stored one; the estimated Jaccard similarity and
    containment of the smaller in the larger that decided it."""

    duplicate: bool
    similarity: float
    containment: float


def judge(new: Fingerprint, stored: Fingerprint, cfg: MinHashConfig) -> Verdict:
    """Near-duplicates when the smaller article is mostly contained in the other and not much
    smaller than it: an excerpt, a copy with a new lede, edits or wrapper lines."""
    _check_length(stored.signature, cfg)
    duplicate, similarity, containment = judge_many(
        new, np.frombuffer(stored.signature, _SLOT)[None, :], [stored.shingle_count], cfg
    )
    return Verdict(bool(duplicate[0]), float(similarity[0]), float(containment[0]))


def judge_many(
    new: Fingerprint, signatures: np.ndarray, shingle_counts: Sequence[int], cfg: MinHashConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``judge`` of ``new`` against many stored articles at once (one row of ``signatures``, the
    uint32 slots, per stored article): arrays of (duplicate, similarity, containment). A lookup
    judges its candidates in one pass rather than one Python call each."""
    _check_length(new.signature, cfg)
    if signatures.ndim != 2 or signatures.shape[1] != cfg.num_perm:
        raise ValueError(f"stored signatures must be rows of {cfg.num_perm} slots")
    equal = signatures == np.frombuffer(new.signature, _SLOT)
    similarity = equal.sum(axis=1) / cfg.num_perm
    counts = np.asarray(shingle_counts, dtype=np.int64)
    small = np.minimum(counts, new.shingle_count)
    large = np.maximum(counts, new.shingle_count)
    containment = estimated_containment(similarity, small, large)
    duplicate = (containment >= cfg.threshold) & (small >= cfg.min_size_ratio * large)
    return duplicate, similarity, containment


def _check_length(signature: bytes, cfg: MinHashConfig) -> None:
    expected = cfg.num_perm * _SLOT.itemsize
    if len(signature) != expected:
        raise ValueError(
            f"signatures must have {expected} bytes ({cfg.num_perm} slots), got {len(signature)}"
        )


def estimated_containment(
    similarity: float | np.ndarray, small: int | np.ndarray, large: int | np.ndarray
) -> np.ndarray:
    """|A & B| / |A| for the smaller set A, from the Jaccard estimate and both set sizes (numbers
    or numpy arrays of them).

    |A & B| = J (|A| + |B|) / (1 + J); capped at 1, since the estimate of J is noisy. Two empty
    texts contain each other; an empty and a non-empty one share nothing.
    """
    small, large = np.asarray(small), np.asarray(large)
    with np.errstate(divide="ignore", invalid="ignore"):
        contained = np.minimum(1.0, similarity * (small + large) / ((1.0 + similarity) * small))
    return np.where(small == 0, (large == 0).astype(float), contained)


def shares_band(new: Fingerprint, stored: Fingerprint) -> bool:
    """Whether LSH proposes the pair as candidates: at least one band key in common."""
    return any(a == b for a, b in zip(new.bands, stored.bands, strict=True))


def candidate_probability(similarity: float, cfg: MinHashConfig) -> float:
    """P(two articles of Jaccard ``similarity`` share a band): the LSH S-curve 1-(1-s^r)^b."""
    return 1.0 - (1.0 - similarity**cfg.rows) ** cfg.bands
