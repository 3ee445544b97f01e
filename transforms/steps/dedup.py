"""Exact and near-duplicate detection in one keyed step, its memory in Beam state that expires.

``Fingerprint`` (stateless, before the shuffle) computes each article's MinHash fingerprint, the
expensive part, wherever the runner has cores. ``DecideDuplicates`` is keyed by dedup shard: it
buffers what arrives until the event-time watermark passes it (``transforms.steps.buffering``),
then decides the whole batch in ``(fetched_at, input position)`` order against the shard's index
of first-seen kept articles (``transforms.text.dedup_index``): exact by content hash, near by LSH
band candidates judged on the full fingerprints. There is no per-band fan-out and no gather step:
one article costs well under one state request in file mode (counter
``newsflow.dedup/state_requests``).

Dedup memory lives in Beam state: an append-only bag of encoded index entries plus a version
(a fresh random token at every change, with the bag's entry count), carried in the pending bag
(``buffering.put_back``) so reading it costs no extra state request. The ``DedupIndex`` a DoFn holds
in memory is only a cache of that bag, used while its version equals the state's version, which is
read at every flush; otherwise it is rebuilt from the bag. Entries older than the TTL are dropped
from the cache at each flush and the bag is rewritten once it holds more expired entries than live
ones: memory is arrival rate x TTL.

With a changelog configured (Kafka mode), every entry added is written to the compacted topic and
acknowledged before the batch's decisions are emitted, and a shard whose Beam state is empty (a
new job, or a restarted local runner, whose state is in memory) restores its index from it.

All articles go to one shard key (``SHARD``): near-duplicates share no key a router could compute
before comparing them (any shared LSH band may be the one that matches), so one index must see
them all. The step's own work per article is an exact lookup, a vectorised band-key lookup and
``judge`` on the candidates; fingerprinting, cleaning and NER run in parallel around it.
"""

from __future__ import annotations

import random
import typing
from dataclasses import dataclass, field, replace

import apache_beam as beam
from apache_beam.coders import BytesCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import BagStateSpec, on_timer
from apache_beam.utils.timestamp import Duration

from transforms.io.changelog import ChangelogConfig, ChangelogWriter, ensure_topic, restore
from transforms.state_coders import FingerprintedCoder, IndexVersionCoder
from transforms.steps import buffering
from transforms.steps.dead_letters import article_payload, attempt
from transforms.steps.malloc import fix_mmap_threshold
from transforms.steps.shared import ARTICLES, DEAD_LETTER, DUPLICATES, arrival_order
from transforms.text.dedup_index import (
    DedupIndex,
    decide,
    decode_entry,
    encode_entry,
)
from transforms.text.fingerprint import fingerprint
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article

STEP = "dedup"
NAMESPACE = f"newsflow.{STEP}"
DEFAULT_TTL_HOURS = 24 * 7
SHARD = "all"
# String keys get Beam's deterministic UTF-8 coder, as keyed state requires.
Keyed = tuple[str, typing.Any]


@dataclass(frozen=True)
class DedupConfig:
    """How long a first copy is remembered, how near-duplicates are judged, and the changelog
    that makes the memory durable on a runner whose state is not (None: none, as in file mode)."""

    ttl_hours: float = DEFAULT_TTL_HOURS
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    changelog: ChangelogConfig | None = None

    @property
    def ttl(self) -> Duration:
        return Duration(seconds=self.ttl_hours * 3600)


class FingerprintFn(beam.DoFn):
    """Article -> ``(shard, (article, fingerprint))``; a failure is a ``dedup_failed`` dead
    letter."""

    def __init__(self, cfg: MinHashConfig) -> None:
        self._cfg = cfg

    def process(self, article: Article):
        fp, failure = attempt(STEP, article, article_payload, fingerprint, article.body, self._cfg)
        yield failure if failure is not None else (SHARD, (article, fp))


class DecideDuplicatesFn(beam.DoFn):
    """Keyed by shard: first copies go on, later copies go to ``duplicates`` with
    ``duplicate_of`` naming the kept first copy."""

    PENDING = buffering.pending_spec(FingerprintedCoder(), IndexVersionCoder())
    FLUSH = buffering.flush_spec()
    # Entries in dedup_index's own versioned format (shared with the changelog topic).
    INDEX = BagStateSpec("index", BytesCoder())

    def __init__(self, config: DedupConfig) -> None:
        self._config = config
        self._requests = buffering.StateRequests(NAMESPACE)
        self._exact = Metrics.counter(NAMESPACE, "duplicates_exact")
        self._near = Metrics.counter(NAMESPACE, "duplicates_near")
        self._restored = Metrics.counter(NAMESPACE, "entries_restored")
        self._cache: dict[str, tuple[object, DedupIndex]] = {}
        self._changelog: ChangelogWriter | None = None

    def setup(self) -> None:
        self._cache = {}
        fix_mmap_threshold()  # the index's freed arrays go back to the OS (steps/malloc.py)
        if self._config.changelog is not None:
            ensure_topic(self._config.changelog)
            self._changelog = ChangelogWriter(self._config.changelog)

    def teardown(self) -> None:
        if self._changelog is not None:
            self._changelog.close()

    def start_bundle(self) -> None:
        self._requests.start_bundle()

    def finish_bundle(self) -> None:
        self._requests.finish_bundle()

    def process(
        self,
        element: Keyed,
        timestamp=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        key, value = element
        buffering.buffer(key, value, timestamp, pending, flush, self._requests)

    @on_timer(FLUSH)
    def flush(
        self,
        key=beam.DoFn.KeyParam,
        fired_at=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        index_state=beam.DoFn.StateParam(INDEX),
    ):
        due = buffering.take_due(key, fired_at, pending, self._requests)
        if not due.values:
            return
        now_ms = fired_at.micros // 1000
        version = due.carried
        index, stored, fresh = self._index(key, version, index_state, now_ms)
        index.expire_before(now_ms - int(self._config.ttl.micros // 1000))
        outputs, added = [], []
        for article, fp in sorted(due.values, key=lambda item: arrival_order(item[0])):
            decision, failure = attempt(
                STEP, article, article_payload, decide, article, fp, index, now_ms
            )
            if failure is not None:
                outputs.append(failure)
                continue
            if decision.entry is not None:
                added.append(decision.entry)
                outputs.append(article)
                continue
            (self._exact if decision.kind == "exact" else self._near).inc()
            duplicate = replace(article, duplicate_of=decision.duplicate_of)
            outputs.append(beam.pvalue.TaggedOutput(DUPLICATES, duplicate))
        if added and self._changelog is not None:
            self._changelog.write(added)
        if added or fresh or stored > 2 * len(index):
            version = self._persist(key, index, stored, added, index_state)
        buffering.put_back(key, due, version, pending, self._requests)
        yield from outputs

    def _index(self, key, version, index_state, now_ms: int):
        """``(index, entries in the state bag, whether the state was empty)``: the cached index
        when its version is the state's, else rebuilt from the bag, else (empty state) restored
        from the changelog."""
        cached = self._cache.get(key)
        if version is not None and cached is not None and cached[0] == version:
            return cached[1], version[1], False
        if version is not None:
            rows = self._requests.read_all(key, "index", index_state)
            return (
                DedupIndex(
                    self._config.minhash, (decode_entry(row, self._config.minhash) for row in rows)
                ),
                len(rows),
                False,
            )
        if self._config.changelog is None:
            return DedupIndex(self._config.minhash), 0, True
        since = now_ms - int(self._config.ttl.micros // 1000)
        restored = restore(self._config.changelog, since, self._config.minhash)
        self._restored.inc(len(restored))
        for entry in restored:
            self._requests.add(key, "index", index_state, encode_entry(entry))
        return DedupIndex(self._config.minhash, restored), len(restored), True

    def _persist(self, key, index, stored: int, added, index_state) -> tuple[int, int]:
        """Append what was added (or rewrite the bag once most of it has expired); returns the
        new version, so every cached copy elsewhere is known stale. ``stored`` is the bag's
        count."""
        if stored + len(added) > 2 * len(index):
            self._requests.clear(key, "index", index_state)
            for entry in index.entries():
                self._requests.add(key, "index", index_state, encode_entry(entry))
            stored = len(index)
        else:
            for entry in added:
                self._requests.add(key, "index", index_state, encode_entry(entry))
            stored += len(added)
        version = (random.getrandbits(63), stored)
        self._cache[key] = (version, index)
        return version


class DeduplicateArticles(beam.PTransform):
    """Outputs ``articles`` (first copies), ``duplicates`` (``duplicate_of`` set to the kept first
    copy) and ``dead_letter`` (``dedup_failed``: an unexpected error on one article)."""

    def __init__(self, config: DedupConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, articles):
        fingerprinted = articles | "Fingerprint" >> beam.ParDo(
            FingerprintFn(self._config.minhash)
        ).with_output_types(Keyed).with_outputs(DEAD_LETTER, main="keyed")
        decided = fingerprinted.keyed | "DecideDuplicates" >> beam.ParDo(
            DecideDuplicatesFn(self._config)
        ).with_outputs(DUPLICATES, DEAD_LETTER, main=ARTICLES)
        dead_letters = (fingerprinted[DEAD_LETTER], decided[DEAD_LETTER]) | (
            "DedupDeadLetters" >> beam.Flatten()
        )
        return {
            ARTICLES: decided[ARTICLES],
            DUPLICATES: decided[DUPLICATES],
            DEAD_LETTER: dead_letters,
        }
