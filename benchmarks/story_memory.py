"""The story index's memory per remembered article: in the worker, and in Beam state.

The articles ``memory_soak.py`` feeds the job (recombined real NewsArticles sentences, every one
distinct, so nearly every article starts a story of its own: the stream the soak measures),
decoded and cleaned as the job does and, unless ``--no-ner``, given their entities by spaCy as the
NER step does, go one second apart through ``StoryIndex.decide``; every ``--flush-articles``
articles the index's changed records are appended to a bag, as the step does. Printed:

- ``built``: tracemalloc bytes of the index as the worker holds it after the run (the records
  held here for the replay left out);
- ``replayed``: the same, for an index rebuilt from its records (after a restore, or when the
  cached copy is stale), in a fresh process as a restored worker would (in this one, tables the
  first index grew and left behind would count for or against the replay);
- ``live records``: bytes of every live record (the bag after a rewrite);
- ``appended``: bytes appended to the bag over the run (the bag before a rewrite: at most twice
  the live records);

each over the articles remembered (all of them: the run is shorter than the idle time), with
the live stories, the share of them holding one article, and the terms per story. No assertion:
figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_soak import recombined_events

from transforms.text.cleaning import clean_article
from transforms.text.entities import resolve_entities
from transforms.text.event import decode_event
from transforms.text.models import Article, RawEvent, SourceRef
from transforms.text.ner import annotate, load_ner_model
from transforms.text.stories import StoryConfig, StoryIndex, decode_record
from transforms.text.story_terms import article_terms

START_MS = 1_700_000_000_000


def articles(count: int, sentences: int, per_paragraph: int, ner: bool) -> list[Article]:
    """The job's cleaned articles for ``count`` soak events, fetched one second apart, with
    their entities when ``ner``."""
    cleaned = [
        clean_article(decode_event(RawEvent(payload, SourceRef()), START_MS + 1000 * n))
        for n, payload in enumerate(recombined_events(count, sentences, per_paragraph))
    ]
    if not ner:
        return cleaned
    found = annotate(load_ner_model(), [article.body for article in cleaned])
    return [
        replace(article, entities=resolve_entities(entities))
        for article, entities in zip(cleaned, found, strict=True)
    ]


def measure(batch: list[Article], flush: int, cfg: StoryConfig) -> dict[str, float]:
    """Bytes per article of the index built, replayed, and in state (see the module doc)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    index, bag = StoryIndex(cfg), []
    started = time.process_time()
    for n, article in enumerate(batch, 1):
        index.decide(article_terms(article, cfg.lead_chars), article.id, article.duplicate_of)
        if n % flush == 0 or n == len(batch):
            bag.extend(record for _, record in index.changes())
    cpu = time.process_time() - started
    held = sys.getsizeof(bag) + sum(map(sys.getsizeof, bag))
    built = tracemalloc.get_traced_memory()[0] - base - held
    appended = sum(map(len, bag))
    live = sum(len(record) for record in index.records())
    count, stories = len(batch), len(index)
    sizes = [decode_record(r) for r in index.records()]
    singles = sum(1 for r in sizes if r["k"] == "s" and r["n"] == 1)
    terms = sum(len(v) for r in sizes if r["k"] == "s" for v in r["v"])
    tracemalloc.stop()
    del index, sizes
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        replayed, rebuilt = pool.submit(replay, cfg, bag).result()
    assert replayed == stories
    return {
        "stories": stories,
        "single": singles / stories,
        "terms": terms / stories,
        "built": built / count,
        "replayed": rebuilt / count,
        "live records": live / count,
        "appended": appended / count,
        "decisions/cpu s": count / cpu,
    }


def replay(cfg: StoryConfig, bag: list[bytes]) -> tuple[int, int]:
    """``(live stories, traced bytes)`` of an index replayed from ``bag``."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    index = StoryIndex(cfg, bag)
    return len(index), tracemalloc.get_traced_memory()[0] - base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=3000, help="per shape (3000)")
    parser.add_argument("--flush-articles", type=int, default=6, help="decided per flush (6)")
    parser.add_argument("--no-ner", action="store_true", help="no entities (skips spaCy)")
    parser.add_argument(
        "--shapes", nargs="+", default=["16/2"],
        help="SENTENCES/PARAGRAPH_SENTENCES per shape (16/2: the soak's 8 paragraphs)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    cfg = StoryConfig()
    print(
        "| shape | stories | one article | terms per story | built | replayed | live records "
        "| appended | decisions per CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for shape in args.shapes:
        sentences, per_paragraph = (int(part) for part in shape.split("/"))
        batch = articles(args.articles, sentences, per_paragraph, not args.no_ner)
        row = measure(batch, args.flush_articles, cfg)
        print(
            f"| {sentences} sentences, {per_paragraph} per paragraph | {row['stories']:,} | "
            f"{row['single']:.1%} | {row['terms']:.0f} | {row['built']:,.0f} | "
            f"{row['replayed']:,.0f} | {row['live records']:,.0f} | {row['appended']:,.0f} | "
            f"{row['decisions/cpu s']:,.0f} |"
        )


if __name__ == "__main__":
    main()
