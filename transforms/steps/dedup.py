"""Exact and near-duplicate detection in one keyed step, its memory in Beam state that expires.

``Fingerprint`` (stateless, before the shuffle) computes each article's MinHash fingerprint, the
expensive part, wherever the runner has cores. ``DecideDuplicates`` is keyed by dedup shard: it
buffers what arrives until the event-time watermark passes it (``transforms.steps.buffering``),
then decides the whole batch in ``(fetched_at, input position)`` order against the shard's index
of first-seen kept articles (``transforms.text.dedup_index``): exact by content hash, near by LSH
band candidates judged on the full fingerprints. There is no per-band fan-out and no gather step:
one article costs well under one state request in file mode (counter
``newsflow.dedup/state_requests``).

Dedup memory lives in Beam state: encoded index entries appended to ``index_slices.BAGS`` bags,
one time slice of the TTL each (no state value grows with the number of remembered articles:
Flink's RocksDB backend refuses a value over 2**31 bytes; ``transforms.text.index_slices``), plus
an ``IndexVersion`` (a fresh random token at every change, the slice each bag holds), carried in
the bag ``pending`` (``buffering.put_back``), which every flush reads. The
``DedupIndex`` a DoFn holds in memory is only a cache of the bags, used while its version equals
the state's version, which is read at every flush; otherwise it is rebuilt from the bags. Entries
older than the TTL are dropped from the cache at each flush, and a bag whose slice has expired is
cleared: memory is arrival rate x TTL. State of format 1 (the whole index in the one bag
``index``) is read once and moved into the slices; a changed TTL re-slices the same way.

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
from collections.abc import Iterable
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
from transforms.steps.shared import ARTICLES, DEAD_LETTER, DUPLICATES, arrival_order
from transforms.steps.state_params import with_states
from transforms.text.dedup_index import (
    DedupIndex,
    IndexEntry,
    decide,
    decode_entry,
    encode_entry,
)
from transforms.text.fingerprint import fingerprint
from transforms.text.index_slices import (
    BAGS,
    EMPTY,
    IndexVersion,
    plan_slices,
    slice_width_ms,
)
from transforms.text.malloc import fix_mmap_threshold
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article

STEP = "dedup"
NAMESPACE = f"newsflow.{STEP}"
DEFAULT_TTL_HOURS = 24 * 7
SHARD = "all"
# String keys get Beam's deterministic UTF-8 coder, as keyed state requires.
Keyed = tuple[str, typing.Any]
# Entries in dedup_index's own versioned format (shared with the changelog topic): one bag per
# time slice, and format 1's single bag, read once to move its entries into the slices.
INDEX_BAGS = tuple(f"index_{bag:02d}" for bag in range(BAGS))
LEGACY_INDEX = "index"


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


class DecideDuplicatesFn(buffering.CountsStateRequests, beam.DoFn):
    """Keyed by shard: first copies go on, later copies go to ``duplicates`` with
    ``duplicate_of`` naming the kept first copy."""

    PENDING = buffering.pending_spec(FingerprintedCoder(), IndexVersionCoder())
    BUCKETS = buffering.bucket_specs(FingerprintedCoder(), IndexVersionCoder())
    FLUSH = buffering.flush_spec()
    INDEX = tuple(BagStateSpec(name, BytesCoder()) for name in (*INDEX_BAGS, LEGACY_INDEX))

    def __init__(self, config: DedupConfig) -> None:
        self._config = config
        self._ttl_ms = int(config.ttl.micros // 1000)
        self._slice_ms = slice_width_ms(self._ttl_ms)
        self._requests = buffering.StateRequests(NAMESPACE)
        self._exact = Metrics.counter(NAMESPACE, "duplicates_exact")
        self._near = Metrics.counter(NAMESPACE, "duplicates_near")
        self._restored = Metrics.counter(NAMESPACE, "entries_restored")
        self._replays = Metrics.counter(NAMESPACE, "inputs_replayed")
        self._cache: dict[str, tuple[object, DedupIndex]] = {}
        self._changelog: ChangelogWriter | None = None

    def setup(self) -> None:
        self._cache = {}
        fix_mmap_threshold()  # the index's freed arrays go back to the OS (text/malloc.py)
        if self._config.changelog is not None:
            ensure_topic(self._config.changelog)
            self._changelog = ChangelogWriter(self._config.changelog)

    def teardown(self) -> None:
        if self._changelog is not None:
            self._changelog.close()

    process = buffering.buffering_process(BUCKETS, FLUSH, buffering.DEDUP_PHASE)

    @on_timer(FLUSH)
    @with_states((*INDEX, *BUCKETS))
    def flush(
        self,
        key=beam.DoFn.KeyParam,
        fired_at=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        **bags,
    ):
        due = buffering.take_due(key, fired_at, pending, bags, self._requests)
        if not due.values:
            return
        now_ms = fired_at.micros // 1000
        cutoff_ms = now_ms - self._ttl_ms
        index = self._index(key, due.carried, bags, cutoff_ms)
        index.expire_before(cutoff_ms)
        outputs, added = [], []
        for article, fp in sorted(due.values, key=lambda item: arrival_order(item[0])):
            decision, failure = attempt(
                STEP, article, article_payload, decide, article, fp, index, now_ms
            )
            if failure is not None:
                outputs.append(failure)
                continue
            if decision.duplicate_of is None:  # kept, or the kept input itself read again
                if decision.entry is not None:
                    added.append(decision.entry)
                else:
                    self._replays.inc()
                outputs.append(article)
                continue
            (self._exact if decision.kind == "exact" else self._near).inc()
            duplicate = replace(article, duplicate_of=decision.duplicate_of)
            outputs.append(beam.pvalue.TaggedOutput(DUPLICATES, duplicate))
        if added and self._changelog is not None:
            self._changelog.write(added)
        version = self._persist(key, index, due.carried, added, bags, cutoff_ms)
        buffering.put_back(key, due, version, pending, bags, self._requests)
        yield from outputs

    def _index(self, key, version: IndexVersion | None, bags, cutoff_ms: int) -> DedupIndex:
        """The cached index when its version is the state's, else rebuilt from the bags, else
        (empty state) restored from the changelog (written to the bags by ``_persist``)."""
        cached = self._cache.get(key)
        if version is not None and cached is not None and cached[0] == version:
            return cached[1]
        cfg = self._config.minhash
        if version is not None:
            names = (
                [LEGACY_INDEX]
                if version.slice_ms == 0
                else [INDEX_BAGS[bag] for bag in version.filled_in_order()]
            )
            rows = [row for name in names for row in self._requests.read_all(key, name, bags[name])]
            return DedupIndex(cfg, (decode_entry(row, cfg) for row in rows))
        if self._config.changelog is None:
            return DedupIndex(cfg)
        restored = restore(self._config.changelog, cutoff_ms, cfg)
        self._restored.inc(len(restored))
        return DedupIndex(cfg, restored)

    def _persist(
        self, key, index: DedupIndex, version: IndexVersion | None, added, bags, cutoff_ms: int
    ) -> IndexVersion:
        """Append what was added to its slice's bag and clear the expired slices; all of the
        index is written when the state has none of it in this layout (new state, format 1, a
        changed TTL). Returns the new version (the same when nothing changed)."""
        if version is not None and version.slice_ms == self._slice_ms:
            plan = plan_slices(version.slices, self._slice_ms, added, cutoff_ms)
            if not plan.clear and not plan.add:
                return version
            cleared: Iterable[str] = (INDEX_BAGS[bag] for bag in plan.clear)
        else:
            entries: list[IndexEntry] = list(index.entries())
            plan = plan_slices((EMPTY,) * BAGS, self._slice_ms, entries, cutoff_ms)
            cleared = self._filled(version)
        for name in cleared:
            self._requests.clear(key, name, bags[name])
        for bag, entries in plan.add.items():
            for entry in entries:
                self._requests.add(key, INDEX_BAGS[bag], bags[INDEX_BAGS[bag]], encode_entry(entry))
        version = IndexVersion(random.getrandbits(63), self._slice_ms, plan.slices)
        self._cache[key] = (version, index)
        return version

    @staticmethod
    def _filled(version: IndexVersion | None) -> list[str]:
        """The bags an outdated layout holds entries in (none for new state)."""
        if version is None:
            return []
        if version.slice_ms == 0:
            return [LEGACY_INDEX]
        return [INDEX_BAGS[bag] for bag in version.filled_in_order()]


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
