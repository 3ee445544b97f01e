"""Story similarity against human ratings on the Lee corpus, and the same-story pairs dedup must
leave alone.

Usage: ``python benchmarks/story_lee.py``

The 50 rated Lee articles (ABC news, fetched through PyPI by ``corpora.py``) and the mean human
similarity of each of their 1,225 pairs (Lee, Pincombe and Welsh 2005). Each article is cleaned
and NER'd as the pipeline does, then becomes a story of its own in a ``StoryIndex`` (thresholds
above 1, so none joins another); the story similarity of a pair is the mean of the two scores
``StoryIndex.similarity`` gives (article i against story j and j against i: the score the story
step compares with its thresholds). Printed: Pearson and Spearman correlation with the ratings,
next to a plain TF-IDF cosine of the bodies as a reference, and for the pairs humans rated at
least 0.6 (``near_dup_cases.SAME_STORY_RATING``: the quality eval's ``same_story`` kind) how many
the story step would link and how many dedup flags (it must flag none).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import replace
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpora import lee_rated
from near_dup_cases import SAME_STORY_RATING, clean

from transforms.text.entities import resolve_entities
from transforms.text.fingerprint import fingerprint
from transforms.text.models import Article, SourceRef
from transforms.text.near_dup import MinHashConfig, judge
from transforms.text.ner import annotate, load_ner_model
from transforms.text.stories import StoryConfig, StoryIndex, story_id_for
from transforms.text.story_terms import article_terms, words


def pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return cov / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))


def ranks(values: list[float]) -> list[float]:
    """Ranks with ties averaged."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def spearman(xs: list[float], ys: list[float]) -> float:
    return pearson(ranks(xs), ranks(ys))


def tfidf_cosines(bodies: list[str]) -> dict[tuple[int, int], float]:
    """Reference: cosine of plain TF-IDF vectors of the whole bodies (IDF over the 50)."""
    counts = [Counter(words(body)) for body in bodies]
    df = Counter(term for c in counts for term in c)
    vectors = []
    for c in counts:
        v = {t: (1 + math.log(n)) * math.log(len(bodies) / df[t]) for t, n in c.items()}
        norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
        vectors.append({t: w / norm for t, w in v.items()})
    return {
        (i, j): sum(w * vectors[j].get(t, 0.0) for t, w in vectors[i].items())
        for i, j in combinations(range(len(bodies)), 2)
    }


def main() -> None:
    texts, ratings = lee_rated()
    cfg = StoryConfig()
    bodies = [clean([text], f"lee{i}") for i, text in enumerate(texts)]
    found = annotate(load_ner_model(), bodies, 32)
    articles = [
        Article(id=f"lee{i}", raw_body=b, body=b, fetched_at=0, ref=SourceRef(),
                entities=resolve_entities(e))
        for i, (b, e) in enumerate(zip(bodies, found, strict=True))
    ]  # fmt: skip
    terms = [article_terms(a, cfg.lead_chars) for a in articles]
    apart = replace(cfg, threshold=1.01, merge_threshold=1.01)  # every article its own story
    index = StoryIndex(apart)
    for a, t in zip(articles, terms, strict=True):
        index.decide(t, a.id, None)
    pairs = list(combinations(range(len(texts)), 2))
    story = {
        (i, j): (
            index.similarity(terms[i], story_id_for(articles[j].id))
            + index.similarity(terms[j], story_id_for(articles[i].id))
        )
        / 2
        for i, j in pairs
    }
    reference = tfidf_cosines(bodies)
    human = [ratings[i][j] for i, j in pairs]
    print(f"Lee corpus: {len(texts)} rated articles, {len(pairs)} pairs")
    for name, sims in (("story similarity", story), ("plain TF-IDF cosine", reference)):
        values = [sims[p] for p in pairs]
        print(
            f"{name:<20} Pearson {pearson(values, human):.3f}  "
            f"Spearman {spearman(values, human):.3f}"
        )
    same = [(i, j) for i, j in pairs if ratings[i][j] >= SAME_STORY_RATING]
    minhash = MinHashConfig()
    flagged = sum(
        judge(fingerprint(bodies[i], minhash), fingerprint(bodies[j], minhash), minhash).duplicate
        for i, j in same
    )
    linked = sum(story[p] >= cfg.threshold for p in same)
    others = [p for p in pairs if ratings[p[0]][p[1]] < SAME_STORY_RATING]
    print(
        f"same-story pairs (rated >= {SAME_STORY_RATING}): {len(same)}; linked by the story "
        f"threshold {linked}; flagged as duplicates by dedup {flagged} (must be 0)"
    )
    print(
        f"other pairs: {len(others)}; linked by the story threshold "
        f"{sum(story[p] >= cfg.threshold for p in others)}"
    )


if __name__ == "__main__":
    main()
