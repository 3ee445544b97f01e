"""The baseline of ``stories.py``: single-pass TF-IDF centroid clustering of titles.

Each title is a TF-IDF vector (IDF from the document frequencies of the titles seen so far);
candidate clusters are those holding one of its ``RARE`` rarest tokens (an inverted index); it
joins the candidate whose centroid is most cosine-similar at or above ``threshold``, else starts
a cluster. No entities, no time, no forgetting: the textbook streaming method the story step must
beat.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from transforms.text.story_terms import STOP_WORDS

RARE = 6
_TOKEN = re.compile(r"[^\W_]+")


def tokens(title: str) -> list[str]:
    """Lowercased words of two letters or more, English stop words out (the story step's list)."""
    return [t for t in _TOKEN.findall(title.lower()) if len(t) > 1 and t not in STOP_WORDS]


class TitleCentroids:
    """Clusters of titles, in arrival order."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._df: Counter[str] = Counter()
        self._seen = 0
        self._centroids: list[dict[str, float]] = []
        self._norms: list[float] = []
        self._index: dict[str, set[int]] = {}

    def add(self, title: str) -> int:
        """The cluster number of ``title``."""
        counts = Counter(tokens(title))
        self._seen += 1
        self._df.update(counts.keys())
        vector = {
            t: (1 + math.log(c)) * math.log((self._seen + 1) / self._df[t])
            for t, c in counts.items()
        }
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        vector = {t: w / norm for t, w in vector.items()}
        rare = sorted(counts, key=lambda t: (self._df[t], t))[:RARE]
        candidates = set().union(*(self._index.get(t, ()) for t in rare)) if rare else set()
        best, best_sim = None, self.threshold
        for cluster in sorted(candidates):
            centroid = self._centroids[cluster]
            dot = sum(w * centroid.get(t, 0.0) for t, w in vector.items())
            sim = dot / self._norms[cluster] if self._norms[cluster] else 0.0
            if sim >= best_sim:
                best, best_sim = cluster, sim
        if best is None:
            best = len(self._centroids)
            self._centroids.append({})
            self._norms.append(0.0)
        centroid = self._centroids[best]
        for t, w in vector.items():
            centroid[t] = centroid.get(t, 0.0) + w
            self._index.setdefault(t, set()).add(best)
        self._norms[best] = math.sqrt(sum(w * w for w in centroid.values()))
        return best
