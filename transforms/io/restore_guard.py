"""Effectively-once outputs across Flink restores: an input whose output exists gets no second one.

A Flink failover (a lost TaskManager, a crashed SDK worker) or a resubmission from a savepoint
restores every task from a checkpoint and replays what came after it: the source re-reads from its
checkpointed positions and elements held in keyed state (dedup's pending articles) are decided
again. Outputs written after the checkpoint stay in the topics, since the sinks are not
transactional. ``GuardRestoresFn`` sits between the decisions and the sinks, on one key, so one
DoFn instance sees every outcome:

- Per outcome it stores, in checkpointed keyed state, a floor (the output topics' end offsets
  sampled before that outcome is passed on, hence before anything it leads to is written) with
  its instance token and a sequence number.
- When the state it reads is not the state it last wrote (another token, or an older sequence
  number: the state was restored), it scans the outputs once from the stored floor to their end
  and adds the input coordinates it finds to a pending set kept in the same state. Every output
  written after the checkpoint lies after the floor, so the scan misses none. The scan runs once
  per restore, by the one instance that holds the key; none runs in steady state.
- An outcome whose input is pending is not written again: it leaves as an acknowledgement
  (``written``), or, for an enriched article when files are written too, for the file sink only
  (``already_enriched``; files are at-least-once), and is removed from the set. Keeping the set in
  state makes a second restore before every replay has passed safe too.
- With no state at all (a new job, possibly resuming a group another job committed, or a
  restore from a checkpoint completed before the first outcome reached the guard), the floor is
  the lowest of the floors the group's commits record (``kafka_commit.commit_metadata``) and the
  floor the launcher sampled at submission, and inputs below the offsets the group had committed
  at submission, which this job never reads, are left out. Not the offsets committed now: a
  restore from such an early checkpoint re-reads inputs this job wrote and committed since (the
  benchmark's read-back found them written twice, deploy/README.md "Time from a TaskManager
  kill").

Trade-off: every outcome passes one keyed step (a state read and write each); its throughput,
thousands per second, is far above NER's. The pending set may keep a few seconds' worth of input
coordinates that are never replayed (written just before a checkpoint).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.coders import IterableCoder, StrUtf8Coder, TupleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from kafka import KafkaConsumer

from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.output_floor import Floor, FloorSampler, floor_now, partitions_of
from transforms.io.recovery import WRITTEN, OutputScan, resume_points, scan_starts

_LOG = logging.getLogger(__name__)

STEP = "guard_restores"
GUARD_KEY = "outputs"
ENRICHED = "enriched"
DUPLICATES = "duplicates"
DEAD_LETTERS = "dead_letters"
ALREADY_ENRICHED = "already_enriched"
# The floor stored with an outcome is resampled this often: an older one is still a floor, only
# a lower one (a longer scan after a restore).
FLOOR_MAX_AGE_SECONDS = 1.0

# (instance token, sequence number, floor, pending input coordinates): Beam's standard coders,
# not pickle, so a savepoint restores into code whose classes moved.
FLOOR_CODER = IterableCoder(TupleCoder([StrUtf8Coder(), VarIntCoder(), VarIntCoder()]))
GUARD_STATE_CODER = TupleCoder(
    [StrUtf8Coder(), VarIntCoder(), FLOOR_CODER, IterableCoder(StrUtf8Coder())]
)
GuardState = tuple[str, int, Floor, tuple[str, ...]]


def written_inputs(
    consumer: KafkaConsumer,
    input_topic: str,
    outputs: tuple[str, ...],
    floors: list[Floor | None],
    committed: dict[int, int],
) -> set[str]:
    """``topic/partition@offset`` of every input of ``input_topic`` with an output at or after
    the lowest of ``floors``, at or after its partition's ``committed`` offset (0 if absent)."""
    partitions = partitions_of(consumer, outputs)
    log_starts = consumer.beginning_offsets(partitions, ATTEMPT_TIMEOUT_MS)
    ends = consumer.end_offsets(partitions, ATTEMPT_TIMEOUT_MS)
    bounds = {(tp.topic, tp.partition): (log_starts[tp], ends[tp]) for tp in partitions}
    starts = scan_starts(floors, bounds)
    found: set[str] = set()
    ends_by_partition = {tp: end for tp, (_, end) in bounds.items()}
    scan = OutputScan(consumer, starts, ends_by_partition)
    for _position, _schema, record in scan:
        coords = record.get("kafka")
        if (
            coords
            and coords["topic"] == input_topic
            and coords["offset"] >= committed.get(coords["partition"], 0)
        ):
            found.add(f"{coords['topic']}/{coords['partition']}@{coords['offset']}")
    _LOG.info("restore scan read %d output records: %d inputs written", scan.read, len(found))
    return found


@dataclass(frozen=True)
class GuardConfig:
    """What the guard watches: the job's Kafka connection and consumer group, its input topic
    and output topics, and whether enriched articles also go to files (``refile``)."""

    connection: KafkaConnection
    group: str
    input_topic: str
    outputs: tuple[str, ...]
    refile: bool


class GuardRestoresFn(beam.DoFn):
    """``(GUARD_KEY, (outcome tag, article or dead letter))`` -> the outcome on its tag, unless its
    input already has an output (then ``written`` ref or ``already_enriched`` article)."""

    STATE = ReadModifyWriteStateSpec("restore_guard", GUARD_STATE_CODER)

    def __init__(self, cfg: GuardConfig, submit_floor: Floor, submit_committed: dict[int, int]):
        self._connection = cfg.connection
        self._group = cfg.group
        self._input_topic = cfg.input_topic
        self._outputs = cfg.outputs
        self._submit_floor = submit_floor
        self._submit_committed = submit_committed
        self._refile = cfg.refile
        self._consumer: KafkaConsumer | None = None
        self._sampler: FloorSampler | None = None
        self._token = ""
        self._seq = -1
        self._replays = Metrics.counter(f"newsflow.{STEP}", "already_written")
        self._scans = Metrics.counter(f"newsflow.{STEP}", "restore_scans")

    def setup(self) -> None:
        self._token = uuid.uuid4().hex
        self._consumer = self._connection.connected_consumer(self._group)
        self._sampler = FloorSampler(self._connection, self._outputs, FLOOR_MAX_AGE_SECONDS)

    def teardown(self) -> None:
        if self._sampler is not None:
            self._sampler.close()
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def process(self, element, state=beam.DoFn.StateParam(STATE)) -> Iterator[Any]:
        tag, outcome = element[1]
        stored: GuardState | None = state.read()
        pending = set(stored[3]) if stored else set()
        if stored is None or (stored[0], stored[1]) != (self._token, self._seq):
            pending |= self._scan(stored)
        key = str(outcome.ref)
        replayed = key in pending
        pending.discard(key)
        self._seq = stored[1] + 1 if stored and stored[0] == self._token else 0
        state.write((self._token, self._seq, self._sampler.floor(), tuple(sorted(pending))))
        if not replayed:
            yield beam.pvalue.TaggedOutput(tag, outcome)
            return
        self._replays.inc()
        if tag == ENRICHED and self._refile:
            yield beam.pvalue.TaggedOutput(ALREADY_ENRICHED, outcome)
        else:
            yield beam.pvalue.TaggedOutput(WRITTEN, outcome.ref)

    def _scan(self, stored: GuardState | None) -> set[str]:
        """The inputs written since the stored floor (a restore), or since the group's commit
        floors and the submission (no state: a new job)."""
        self._scans.inc()
        return self._connection.broker.call(
            f"scanning {', '.join(self._outputs)} for written inputs", self._written_since, stored
        )

    def _written_since(self, stored: GuardState | None) -> set[str]:
        if stored is not None:
            return written_inputs(
                self._consumer, self._input_topic, self._outputs, [tuple(stored[2])], {}
            )
        points = resume_points(self._consumer, self._input_topic)
        floors = [self._submit_floor, *(floor for _, floor in points.values())]
        return written_inputs(
            self._consumer, self._input_topic, self._outputs, floors, self._submit_committed
        )


def committed_now(cfg: GuardConfig) -> dict[int, int]:
    """The group's committed offsets of the input topic, per partition, retried through a broker
    outage (sampled at submission: where this job starts reading)."""

    def sample() -> dict[int, int]:
        consumer = cfg.connection.connected_consumer(cfg.group)
        try:
            points = resume_points(consumer, cfg.input_topic)
            return {partition: offset for partition, (offset, _) in points.items()}
        finally:
            consumer.close(autocommit=False)

    return cfg.connection.broker.call(f"committed offsets of {cfg.group}", sample)


class GuardRestores(beam.PTransform):
    """Outcomes (a dict of ``enriched``, ``duplicates``, ``dead_letters`` PCollections) -> the
    same tags, minus inputs already written, plus ``written`` refs and ``already_enriched``
    articles (see the module docstring)."""

    def __init__(self, cfg: GuardConfig) -> None:
        super().__init__()
        self._fn = GuardRestoresFn(cfg, floor_now(cfg.connection, cfg.outputs), committed_now(cfg))

    def expand(self, outcomes):
        tagged = [
            outcomes[tag]
            | f"Tag_{tag}"
            >> beam.Map(lambda item, tag=tag: (GUARD_KEY, (tag, item))).with_output_types(
                tuple[str, Any]
            )
            for tag in (ENRICHED, DUPLICATES, DEAD_LETTERS)
        ]
        return (
            tagged
            | "AllOutcomes" >> beam.Flatten()
            | "Guard"
            >> beam.ParDo(self._fn).with_outputs(
                ENRICHED, DUPLICATES, DEAD_LETTERS, WRITTEN, ALREADY_ENRICHED
            )
        )
