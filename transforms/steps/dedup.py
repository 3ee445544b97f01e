"""Exact and near-duplicate detection, with all memory in keyed Beam state that expires.

Each keyed step buffers what arrives until the event-time watermark passes it, then decides in
``(fetched_at, input position)`` order, so the first-seen copy is the one kept whatever order a
runner delivers elements in (in batch the watermark only moves at the end, which sorts the whole
input). What a key remembers (the first copy's id, or its MinHash signature) is cleared by an
event-time timer ``ttl`` after it was stored: memory is bounded by arrival rate x TTL.

Each buffering step declares its own ``PENDING``/``FLUSH`` specs rather than inheriting them: Beam
binds one ``on_timer`` callback per ``TimerSpec`` object, so a shared base class cannot hold them.

Near-dup runs in three keyed steps: articles are fanned out to their LSH band buckets, each bucket
judges new members against the first signature it saw, and a step keyed per input gathers every
band's verdict before the article moves on as kept or duplicate.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, replace

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.text.fingerprint import fingerprint
from transforms.text.models import Article
from transforms.text.near_dup import MinHashConfig, judge

STEP = "dedup"
ARTICLES = "articles"
DUPLICATES = "duplicates"
DEFAULT_TTL_HOURS = 24 * 7
FLUSH_DELAY = Duration(micros=1000)
# String keys get Beam's deterministic UTF-8 coder, as keyed state requires.
Keyed = tuple[str, typing.Any]
KeyedArticle = tuple[str, Article]


@dataclass(frozen=True)
class DedupConfig:
    """How long a first copy is remembered, and how near-duplicates are judged."""

    ttl_hours: float = DEFAULT_TTL_HOURS
    minhash: MinHashConfig = field(default_factory=MinHashConfig)

    @property
    def ttl(self) -> Duration:
        return Duration(seconds=self.ttl_hours * 3600)


def flush_time(timestamp: Timestamp) -> Timestamp:
    """When a buffered element is decided: just after its own timestamp, never at it.

    An element may carry exactly the current watermark (the source lifts early Kafka timestamps to
    it, and a timer's outputs carry the timer's time); a timer set at the watermark may count as
    already passed and never fire, stranding what it buffered. One millisecond later is in the
    future."""
    return timestamp + FLUSH_DELAY


def arrival_order(article: Article) -> tuple[int, tuple[int, int], str]:
    """Earliest fetched first, then input position: DESIGN.md's rule for which copy is kept."""
    return (article.fetched_at, article.ref.position, article.id)


def input_key(article: Article) -> str:
    """Unique per input (ids can repeat across inputs; coordinates cannot)."""
    return f"{article.id}|{article.ref}"


class ExactDedupFn(beam.DoFn):
    """Keyed by content hash: the first copy goes on, later ones go to ``duplicates``."""

    PENDING = BagStateSpec("pending", PickleCoder())
    FIRST = ReadModifyWriteStateSpec("first", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig) -> None:
        self._config = config
        self._dups = Metrics.counter(f"newsflow.{STEP}", "duplicates_exact")

    def process(
        self,
        element: tuple[str, Article],
        timestamp=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        pending.add(element[1])
        flush.set(flush_time(timestamp))

    @on_timer(FLUSH)
    def decide(
        self,
        fired_at=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        first=beam.DoFn.StateParam(FIRST),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        kept = first.read()
        for article in sorted(pending.read(), key=arrival_order):
            if kept is None:
                kept = article.id
                first.write(kept)
                expire.set(fired_at + self._config.ttl)
                yield article
            else:
                self._dups.inc()
                yield beam.pvalue.TaggedOutput(DUPLICATES, replace(article, duplicate_of=kept))
        pending.clear()

    @on_timer(EXPIRE)
    def forget(self, first=beam.DoFn.StateParam(FIRST)):
        first.clear()


class BandBucketFn(beam.DoFn):
    """Keyed by LSH band bucket: judge each member against the first signature the bucket saw and
    emit ``(input_key, duplicate_of or None, similarity)``."""

    PENDING = BagStateSpec("pending", PickleCoder())
    FIRST = ReadModifyWriteStateSpec("first", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig) -> None:
        self._config = config

    def process(
        self,
        element: tuple[str, tuple],
        timestamp=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        pending.add(element[1])
        flush.set(flush_time(timestamp))

    @on_timer(FLUSH)
    def decide(
        self,
        fired_at=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        first=beam.DoFn.StateParam(FIRST),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        stored = first.read()
        for _, key, article_id, fp in sorted(pending.read(), key=lambda m: m[0]):
            if stored is None:
                stored = (article_id, fp)
                first.write(stored)
                expire.set(fired_at + self._config.ttl)
                yield key, (None, 0.0)
                continue
            verdict = judge(fp, stored[1], self._config.minhash)
            yield key, (stored[0] if verdict.duplicate else None, verdict.similarity)
        pending.clear()

    @on_timer(EXPIRE)
    def forget(self, first=beam.DoFn.StateParam(FIRST)):
        first.clear()


class GatherVerdictsFn(beam.DoFn):
    """Keyed per input: hold the article until every band has judged it, then route it.

    One small cell (article arrived?, verdicts counted, best match so far) is read and written per
    element; the article itself is stored once and read once. State reads cross the runner
    boundary, and an article gets a verdict from each of its bands."""

    ARTICLE = BagStateSpec("article", PickleCoder())
    TALLY = ReadModifyWriteStateSpec("tally", PickleCoder())

    def __init__(self, config: DedupConfig) -> None:
        self._bands = config.minhash.bands
        self._dups = Metrics.counter(f"newsflow.{STEP}", "duplicates_near")

    def process(
        self,
        element: tuple[str, tuple[str, object]],
        article_state=beam.DoFn.StateParam(ARTICLE),
        tally_state=beam.DoFn.StateParam(TALLY),
    ):
        kind, value = element[1]
        arrived, counted, best = tally_state.read() or (False, 0, None)
        if kind == "article":
            article_state.add(value)
            arrived = True
        else:
            counted += 1
            if value[0] is not None and (best is None or value[1] > best[1]):
                best = value
        if not arrived or counted < self._bands:
            tally_state.write((arrived, counted, best))
            return
        (article,) = article_state.read()
        article_state.clear()
        tally_state.clear()
        if best is None:
            yield article
            return
        self._dups.inc()
        yield beam.pvalue.TaggedOutput(DUPLICATES, replace(article, duplicate_of=best[0]))


def band_members(article: Article, cfg: MinHashConfig):
    """One ``(bucket, member)`` pair per LSH band of the article's fingerprint."""
    fp = fingerprint(article.body, cfg)
    member = (arrival_order(article), input_key(article), article.id, fp)
    for bucket in fp.bands:
        yield str(bucket), member


class DeduplicateArticles(beam.PTransform):
    """Outputs ``articles`` (first copies) and ``duplicates`` (``duplicate_of`` set)."""

    def __init__(self, config: DedupConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, articles):
        cfg = self._config
        exact = (
            articles
            | "KeyByContentHash"
            >> beam.Map(lambda a: (a.content_hash, a)).with_output_types(KeyedArticle)
            | "ExactDedup" >> beam.ParDo(ExactDedupFn(cfg)).with_outputs(DUPLICATES, main=ARTICLES)
        )
        verdicts = (
            exact[ARTICLES]
            | "FanOutToBands" >> beam.FlatMap(band_members, cfg.minhash).with_output_types(Keyed)
            | "JudgeInBands" >> beam.ParDo(BandBucketFn(cfg))
            | "TagVerdicts"
            >> beam.Map(lambda kv: (kv[0], ("verdict", kv[1]))).with_output_types(Keyed)
        )
        keyed = exact[ARTICLES] | "KeyByInput" >> beam.Map(lambda a: (input_key(a), ("article", a)))
        near = (
            (keyed, verdicts)
            | "JoinVerdicts" >> beam.Flatten()
            | "NearDedup"
            >> beam.ParDo(GatherVerdictsFn(cfg)).with_outputs(DUPLICATES, main=ARTICLES)
        )
        duplicates = (exact[DUPLICATES], near[DUPLICATES]) | "AllDuplicates" >> beam.Flatten()
        return {ARTICLES: near[ARTICLES], DUPLICATES: duplicates}
