"""The MinHash/LSH settings shared by fingerprinting (``fingerprint``) and judging (``near_dup``).

Both modules import this one and neither imports the other's config, so the text layer's imports
stay a tree. Defaults come from ``benchmarks/near_dup_calibration.py`` on the pairs of
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

from dataclasses import dataclass

# Candidates judged per lookup at most. benchmarks/dedup_ceiling.py, a million remembered articles
# of shared news sentences: LSH proposes ~255 a lookup (p99 ~800, max ~1,900); judging the 100 or
# 200 sharing most band keys found every labelled copy the uncapped lookup found (a cap of 50
# missed 5 of 5,430, 25 missed 9), and bounds the worst lookup (deploy/README.md, sizing).
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
