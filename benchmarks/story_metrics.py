"""Clustering scores against gold story ids: pairwise and BCubed precision, recall and F1.

Pairwise counts pairs of articles put together (Rand-style, dominated by large stories); BCubed
(Bagga and Baldwin 1998; Amigó et al. 2009) averages per article the share of its predicted
cluster that is in its gold story (precision) and of its gold story in its cluster (recall).
Both are computed from the contingency counts, in linear time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    pairwise: tuple[float, float, float]
    bcubed: tuple[float, float, float]
    predicted: int
    gold: int


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def scores(predicted: Sequence[str], gold: Sequence[str]) -> Scores:
    """Scores of the clustering ``predicted`` (one label per article) against ``gold``."""
    cells = Counter(zip(predicted, gold, strict=True))
    sizes_p, sizes_g = Counter(predicted), Counter(gold)

    def pairs(counts) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    together = pairs(cells)
    p_pairs, g_pairs = pairs(sizes_p), pairs(sizes_g)
    pair_p = together / p_pairs if p_pairs else 1.0
    pair_r = together / g_pairs if g_pairs else 1.0
    n = len(predicted)
    b_p = sum(c * c / sizes_p[p] for (p, _), c in cells.items()) / n
    b_r = sum(c * c / sizes_g[g] for (_, g), c in cells.items()) / n
    return Scores(
        (pair_p, pair_r, f1(pair_p, pair_r)),
        (b_p, b_r, f1(b_p, b_r)),
        len(sizes_p),
        len(sizes_g),
    )


def resolve(labels: Sequence[str], aliases: dict[str, str]) -> list[str]:
    """Each story id followed through its aliases to the story it is now part of."""
    out = []
    for label in labels:
        seen = set()
        while label in aliases and label not in seen:
            seen.add(label)
            label = aliases[label]
        out.append(label)
    return out
