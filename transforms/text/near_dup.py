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

The parameters, and why their defaults are what they are, are in ``minhash_config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transforms.text.fingerprint import Fingerprint
from transforms.text.minhash_config import MinHashConfig

# A signature slot as packed in ``Fingerprint.signature``: unsigned 32-bit little-endian.
_SLOT = np.dtype("<u4")


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
