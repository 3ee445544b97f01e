"""Story linking on the UCI News Aggregator headlines, against a title-centroid baseline.

Usage: ``python benchmarks/stories.py PATH/uci-news-aggregator-dev.tsv.gz [--seed N] [--tune]``

The file is the caller's (the project never reads it on its own). Its headlines become a seeded
stream of headline-feed events (``headline_stream``), split by day: the first half of the days is
for tuning, the second half is where the figures are reported. Each half is its own stream, run
through what newsflow does to it: decode and clean (``clean_article``), dedup
(``dedup_index.decide``, in arrival order), spaCy NER on the kept articles (``ner.annotate``,
entities resolved as in the NER step), then the story step's logic (``story_terms`` and
``StoryIndex``), duplicates taking their original's story. Aliases are resolved before scoring, as
a consumer of ``articles.story_aliases`` would.

Reported for both halves: pairwise and BCubed P/R/F1 against the gold story ids, stories found and
gold stories, peak live stories, the state's size at the end (its records' bytes), and the step's
own throughput (terms and decisions, expiry included, timed; no NER, no I/O). Next to it, in the
same run, the baseline (``title_baseline``): its threshold tuned on the first half (best BCubed
F1 + pairwise F1), reported on the second. ``--tune`` also searches the story step's main
parameters on the first half and prints the best (the defaults in ``StoryConfig`` came from that
search).
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headline_stream import DEFAULT_SEED, Headline, read_headlines, split_days
from story_metrics import Scores, resolve, scores
from title_baseline import TitleCentroids

from schemas.errors import NewsflowError
from transforms.text.cleaning import clean_article
from transforms.text.dedup_index import DedupIndex, decide
from transforms.text.entities import resolve_entities
from transforms.text.event import decode_event
from transforms.text.fingerprint import fingerprint
from transforms.text.models import Article, RawEvent, SourceRef
from transforms.text.near_dup import MinHashConfig
from transforms.text.ner import annotate, load_ner_model
from transforms.text.stories import StoryConfig, StoryIndex
from transforms.text.story_terms import article_terms

TUNING, REPORTING = "tune (first half)", "report (second half)"
BASELINE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
# The step encodes its changed records once per flush (a second of event time): at 100 articles
# a second, once per 100 articles.
FLUSH_ARTICLES = 100
# The second round's main grid (docs/stories.md, "Parameters and how they were tuned").
TUNE_GRID = {
    "threshold": (0.12, 0.15, 0.18),
    "merge_threshold": (0.4, 0.5, 0.6),
    "time_scale_hours": (3.0, 6.0, 12.0),
    "max_age_hours": (20.0, 24.0, 30.0),
}


@dataclass(frozen=True)
class Stream:
    """One half: its articles in arrival order (duplicates carry ``duplicate_of``) and gold ids."""

    articles: list[Article]
    gold: list[str]
    rejected: int
    duplicates: int


@dataclass(frozen=True)
class Run:
    """Scores, peak live stories, state bytes at the end, wall and CPU seconds, aliases."""

    scores: Scores
    peak: int
    state_bytes: int
    seconds: float
    aliases: int
    cpu_seconds: float = 0.0


def prepare(headlines: list[Headline], nlp) -> Stream:
    """Decode, clean, dedup and NER, as the pipeline would."""
    cfg = MinHashConfig()
    index = DedupIndex(cfg)
    articles, gold, rejected = [], [], 0
    for line, headline in enumerate(headlines, 1):
        raw = RawEvent(json.dumps(headline.event()).encode(), SourceRef(file="uci", line=line))
        try:
            article = clean_article(decode_event(raw, 0))
        except NewsflowError:
            rejected += 1
            continue
        decision = decide(article, fingerprint(article.body, cfg), index, article.fetched_at)
        articles.append(replace(article, payload=b"", duplicate_of=decision.duplicate_of))
        gold.append(headline.story)
    kept = [i for i, a in enumerate(articles) if a.duplicate_of is None]
    found = annotate(nlp, [articles[i].body for i in kept], 256)
    for i, entities in zip(kept, found, strict=True):
        articles[i] = replace(articles[i], entities=resolve_entities(entities))
    return Stream(articles, gold, rejected, len(articles) - len(kept))


def prepared(path: str, seed: int, cache: Path | None) -> dict[str, Stream]:
    """Both halves, prepared (or read back from ``cache``, written by an earlier run)."""
    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())
    first, second = split_days(read_headlines(path, seed))
    nlp = load_ner_model()
    halves = {
        "tune (first half)": prepare(first, nlp),
        "report (second half)": prepare(second, nlp),
    }
    if cache is not None:
        cache.write_bytes(pickle.dumps(halves))
    return halves


def run_stories(stream: Stream, cfg: StoryConfig) -> Run:
    index = StoryIndex(cfg)
    labels, aliases = [], {}
    start, cpu_start = time.perf_counter(), time.process_time()
    for article in stream.articles:
        terms = article_terms(article, cfg.lead_chars)
        assignment = index.decide(terms, article.id, article.duplicate_of)
        labels.append(assignment.story_id)
        aliases.update((a.story_id, a.alias_of) for a in assignment.aliases)
        if len(labels) % FLUSH_ARTICLES == 0:
            index.changes()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    state = sum(len(record) for record in index.records())
    clustering = scores(resolve(labels, aliases), stream.gold)
    return Run(clustering, index.peak, state, seconds, len(aliases), cpu)


def run_baseline(stream: Stream, threshold: float) -> Run:
    clusters = TitleCentroids(threshold)
    start = time.perf_counter()
    labels = [str(clusters.add(article.title or article.body)) for article in stream.articles]
    seconds = time.perf_counter() - start
    return Run(scores(labels, stream.gold), 0, 0, seconds, 0)


def objective(run: Run) -> float:
    return run.scores.bcubed[2] + run.scores.pairwise[2]


def tune_stories(stream: Stream, base: StoryConfig) -> StoryConfig:
    best = None
    for values in itertools.product(*TUNE_GRID.values()):
        cfg = replace(base, **dict(zip(TUNE_GRID, values, strict=True)))
        run = run_stories(stream, cfg)
        print(f"  tune {dict(zip(TUNE_GRID, values, strict=True))}: {row(run)}", flush=True)
        if best is None or objective(run) > objective(best[1]):
            best = (cfg, run)
    return best[0]


def row(run: Run) -> str:
    s = run.scores
    return (
        "pairwise P/R/F1 {:.3f}/{:.3f}/{:.3f}  BCubed P/R/F1 {:.3f}/{:.3f}/{:.3f}  "
        "stories {:,} (gold {:,})".format(*s.pairwise, *s.bcubed, s.predicted, s.gold)
    )


def report(name: str, stream: Stream, run: Run, extra: str = "") -> None:
    """Scores, then the rate per wall second and, for the step, per CPU second of this process
    (what a busy shared machine does not distort)."""
    rate = len(stream.articles) / run.seconds if run.seconds else float("inf")
    cpu = (
        f" ({len(stream.articles) / run.cpu_seconds:,.0f} per CPU second)"
        if run.cpu_seconds
        else ""
    )
    print(f"{name:<10} {row(run)}")
    print(f"{'':<10} {rate:,.0f} articles/s{cpu}{extra}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="uci-news-aggregator TSV (gzip or plain)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the times drawn")
    parser.add_argument("--tune", action="store_true", help="also search StoryConfig on half 1")
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep the prepared (NER'd) streams in this file"
    )
    args = parser.parse_args(argv)
    halves = prepared(args.path, args.seed, args.cache)
    tuning = halves[TUNING]
    threshold = max(BASELINE_THRESHOLDS, key=lambda t: objective(run_baseline(tuning, t)))
    cfg = tune_stories(tuning, StoryConfig()) if args.tune else StoryConfig()
    print(f"story config: {cfg}")
    print(f"baseline threshold (tuned on the first half): {threshold}")
    for name, stream in halves.items():
        print(
            f"\n{name}: {len(stream.articles):,} articles ({stream.duplicates:,} duplicates, "
            f"{stream.rejected} dead letters)"
        )
        base, ours = run_baseline(stream, threshold), run_stories(stream, cfg)
        report("baseline", stream, base)
        extra = (
            f"; peak live stories {ours.peak:,}; state {ours.state_bytes / 1e6:.1f} MB at the "
            f"end; {ours.aliases} aliases"
        )
        report("stories", stream, ours, extra)
        print(
            f"{'':<10} gain over baseline: BCubed F1 "
            f"{ours.scores.bcubed[2] - base.scores.bcubed[2]:+.3f}, pairwise F1 "
            f"{ours.scores.pairwise[2] - base.scores.pairwise[2]:+.3f}"
        )


if __name__ == "__main__":
    main()
