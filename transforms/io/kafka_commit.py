"""Commit consumed offsets only over inputs whose outputs are all written, in batch and streaming.

Every input accounts for the offsets ``[span_start, offset + 1)`` of its partition (see
``SourceRef.span_start``), and every input ends in exactly one output, so a partition's committed
offset may advance to ``n`` exactly when the written spans chain from the current committed offset
up to ``n``. ``CommitWrittenFn`` keeps the spans written beyond that point in keyed state per
partition and commits in ``finish_bundle``: one commit per partition per bundle, never past a hole.
A restart therefore resumes at the first input whose outputs were not all written; inputs after it
that were written are read again and recognised by ``recovery.SkipWritten``.

Each commit records, in its metadata, the output floor of the input just before the committed
offset (``SourceRef.output_floor``, stamped by ``output_floor.StampOutputFloor``). Inputs at or
after the committed offset passed the stamp later, so all their outputs lie at or after that
floor: the restart scan starts there and misses nothing (DESIGN.md, "Kafka commit metadata"; an
input read again after a restart has its floor capped by the scan, see ``recovery.FloorCaps``).
``CommitStarts`` gives a partition its group never committed a first commit, at its log start
with the floor sampled then, before the reader starts on it: every partition a job has read has
a floor, and a restart scans the outputs from there instead of from their beginning.

Enriched articles go to Kafka and, with ``--output-dir``, to files too: ``JoinAcks`` passes a ref on
only when every sink that must write it has acknowledged it (distinct sinks, not acknowledgements).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.output_floor import Floor, output_floor
from transforms.state_coders import CommitWaitingCoder, SinksCoder
from transforms.text.models import SourceRef

_LOG = logging.getLogger(__name__)

NAMESPACE = "newsflow.commit_offsets"

Span = tuple[int, int]
PartitionKey = tuple[str, int]
# A written span waiting behind a hole: start -> (end, the output floor of its input).
Waiting = dict[int, tuple[int, Floor | None]]


def advance(
    committed: int, waiting: Waiting, span: Span, floor: Floor | None = None
) -> tuple[int, Floor | None, Waiting]:
    """Add a written ``[start, end)`` span (its input's output floor with it); return the new
    committable offset, the floor of the span ending there (None if it did not move) and the
    spans still waiting beyond it.

    Spans never overlap (each offset belongs to one input); a span acknowledged twice, or one
    below the committed offset (written again after a restart), changes nothing."""
    if span[1] <= committed:
        return committed, None, waiting
    waiting = {**waiting, span[0]: (span[1], floor)}
    last: Floor | None = None
    while committed in waiting:
        committed, last = waiting.pop(committed)
    return committed, last, waiting


def span_of(ref: SourceRef) -> Span:
    """The offsets ``ref``'s input accounts for: from the reader's position before it through it."""
    start = ref.span_start if ref.span_start is not None else ref.offset
    return start, ref.offset + 1


def commit_metadata(committed_at_ms: int, floor: Floor | None) -> str:
    """The commit's metadata (DESIGN.md, "Kafka commit metadata"): JSON, commit time and, when
    known, the output floor as ``{topic: {partition: offset}}``."""
    data: dict[str, Any] = {"committed_at": committed_at_ms}
    if floor is not None:
        outputs: dict[str, dict[str, int]] = {}
        for topic, partition, offset in floor:
            outputs.setdefault(topic, {})[str(partition)] = offset
        data["output_floor"] = outputs
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def parse_output_floor(metadata: str | None) -> Floor | None:
    """The output floor recorded by ``commit_metadata``; None when absent or unreadable (a commit
    by an older version, or by another tool)."""
    try:
        outputs = json.loads(metadata or "{}").get("output_floor")
        if not isinstance(outputs, dict):
            return None
        return tuple(
            sorted(
                (topic, int(partition), int(offset))
                for topic, offsets in outputs.items()
                for partition, offset in offsets.items()
            )
        )
    except (ValueError, TypeError, AttributeError):
        return None


class CommitWrittenFn(beam.DoFn):
    """Keyed by ``(topic, partition)``: chains written spans, commits the contiguous end."""

    COMMITTED = ReadModifyWriteStateSpec("committed", VarIntCoder())
    WAITING = ReadModifyWriteStateSpec("waiting", CommitWaitingCoder())

    def __init__(self, connection: KafkaConnection, consumer_group: str) -> None:
        self._connection = connection
        self._group = consumer_group
        self._broker = connection.broker
        self._consumer: KafkaConsumer | None = None
        self._due: dict[TopicPartition, tuple[int, Floor | None]] = {}
        self._commits = Metrics.counter(NAMESPACE, "commits")
        self._waiting = Metrics.distribution(NAMESPACE, "spans_waiting")

    def setup(self) -> None:
        self._consumer = self._connection.connected_consumer(self._group)

    def process(
        self,
        element: tuple[PartitionKey, tuple[Span, Floor | None]],
        committed_state=beam.DoFn.StateParam(COMMITTED),
        waiting_state=beam.DoFn.StateParam(WAITING),
    ) -> Iterator[tuple[str, int, int]]:
        (topic, partition), (span, floor) = element
        tp = TopicPartition(topic, partition)
        before = committed_state.read()
        if before is None:
            before = self._starting_offset(tp)
        after, last_floor, waiting = advance(before, waiting_state.read() or {}, span, floor)
        committed_state.write(after)
        waiting_state.write(waiting)
        self._waiting.update(len(waiting))
        if after != before:
            self._due[tp] = (after, last_floor)
            yield topic, partition, after

    def finish_bundle(self) -> None:
        """Commit what this bundle advanced, now that its inputs' outputs are known written;
        retried through a broker outage (a commit is idempotent)."""
        if not self._due:
            return
        now_ms = int(time.time() * 1000)
        offsets = {
            tp: OffsetAndMetadata(n, commit_metadata(now_ms, floor), -1)
            for tp, (n, floor) in self._due.items()
        }
        where = ", ".join(f"{tp.topic}/{tp.partition}@{n}" for tp, (n, _) in self._due.items())
        self._broker.call(
            f"committing {where} for {self._group}",
            self._consumer.commit,
            offsets,
            ATTEMPT_TIMEOUT_MS,
        )
        self._commits.inc(len(offsets))
        _LOG.info("committed %s for %s", where, self._group)
        self._due = {}

    def teardown(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def _starting_offset(self, tp: TopicPartition) -> int:
        """Where the reader started: the group's committed offset, even below the log start (the
        offsets deleted there are an input, ``offset_gaps``), else the log start (the same
        rule as ``PartitionRestrictionProvider.initial_restriction``)."""
        committed = self._broker.call(
            f"committed offset of {tp.topic}/{tp.partition}",
            self._consumer.committed,
            tp,
            False,
            ATTEMPT_TIMEOUT_MS,
        )
        if committed is not None:
            return committed
        return self._broker.call(
            f"log start of {tp.topic}/{tp.partition}",
            self._consumer.beginning_offsets,
            [tp],
            ATTEMPT_TIMEOUT_MS,
        )[tp]


def acknowledged_by_all(seen: frozenset[str], sink: str, required: frozenset[str]):
    """Record ``sink``'s acknowledgement; return (every required sink has written, sinks seen).
    A sink acknowledging twice (a retried bundle, a window file written again) counts once."""
    seen = seen | {sink}
    return required <= seen, seen


class JoinAcksFn(beam.DoFn):
    """Keyed by input: emits the ref once every required sink has acknowledged writing it."""

    SEEN = ReadModifyWriteStateSpec("sinks", SinksCoder())

    def __init__(self, required: frozenset[str]) -> None:
        self._required = required

    def process(
        self, element: tuple[str, tuple[str, SourceRef]], seen_state=beam.DoFn.StateParam(SEEN)
    ):
        sink, ref = element[1]
        done, seen = acknowledged_by_all(seen_state.read() or frozenset(), sink, self._required)
        if not done:
            seen_state.write(seen)
            return
        seen_state.clear()
        yield ref


class JoinAcks(beam.PTransform):
    """``(sink name, ref)`` acknowledgements -> each ref once, when every sink in ``sinks`` has
    written it."""

    def __init__(self, sinks: frozenset[str]) -> None:
        super().__init__()
        self._sinks = frozenset(sinks)

    def expand(self, acks):
        if len(self._sinks) == 1:
            return acks | "Refs" >> beam.Map(lambda ack: ack[1])
        return (
            acks
            | "KeyByInput"
            >> beam.Map(lambda ack: (str(ack[1]), ack)).with_output_types(tuple[str, Any])
            | "JoinSinks" >> beam.ParDo(JoinAcksFn(self._sinks))
        )


class CommitOffsets(beam.PTransform):
    """``PCollection[SourceRef]`` of inputs whose outputs are all written -> committed offsets
    ``(topic, partition, offset)``. Refs without Kafka coordinates (file mode) are skipped."""

    def __init__(self, connection: KafkaConnection, consumer_group: str) -> None:
        super().__init__()
        self._connection = connection
        self._group = consumer_group

    def expand(self, refs):
        return (
            refs
            | "OnlyKafkaInputs" >> beam.Filter(lambda ref: ref.topic is not None)
            | "KeyByPartition"
            >> beam.Map(
                lambda ref: ((ref.topic, ref.partition), (span_of(ref), ref.output_floor))
            ).with_output_types(tuple[tuple[str, int], Any])
            | "Commit" >> beam.ParDo(CommitWrittenFn(self._connection, self._group))
        )


def commit_start_if_new(
    connection: KafkaConnection,
    group: str,
    tp: TopicPartition,
    outputs: tuple[str, ...],
    at_end: bool = False,
) -> bool:
    """Commit ``tp``'s log start (``at_end``: its end, so only what is appended from now on is
    read) with the output floor sampled now, unless ``group`` has a commit of it; True if it
    committed."""
    consumer = connection.consumer(group)
    try:
        if consumer.committed(tp, timeout_ms=ATTEMPT_TIMEOUT_MS) is not None:
            return False
        offsets = consumer.end_offsets if at_end else consumer.beginning_offsets
        start = offsets([tp], ATTEMPT_TIMEOUT_MS)[tp]
        metadata = commit_metadata(int(time.time() * 1000), output_floor(consumer, outputs))
        consumer.commit({tp: OffsetAndMetadata(start, metadata, -1)}, ATTEMPT_TIMEOUT_MS)
        return True
    finally:
        consumer.close(autocommit=False)


class CommitStartsFn(beam.DoFn):
    """``(topic, partition)`` -> itself, once the group has a commit (with an output floor) of
    it: a partition never committed gets its log start committed first."""

    def __init__(
        self, connection: KafkaConnection, consumer_group: str, outputs: tuple[str, ...]
    ) -> None:
        self._connection = connection
        self._group = consumer_group
        self._outputs = outputs

    def process(self, element: tuple[str, int]) -> Iterator[tuple[str, int]]:
        topic, partition = element
        if self._connection.broker.call(
            f"first commit of {topic}/{partition} for {self._group}",
            commit_start_if_new,
            self._connection,
            self._group,
            TopicPartition(topic, partition),
            self._outputs,
        ):
            _LOG.info("committed the log start of %s/%s for %s", topic, partition, self._group)
        yield element


class CommitStarts(beam.PTransform):
    """``(topic, partition)`` -> the same, each passed on once the group has a commit of it (see
    the module docstring); wired as the Kafka reader's ``before_read``."""

    def __init__(
        self, connection: KafkaConnection, consumer_group: str, outputs: tuple[str, ...]
    ) -> None:
        super().__init__()
        self._fn = CommitStartsFn(connection, consumer_group, outputs)

    def expand(self, partitions):
        return partitions | "CommitStarts" >> beam.ParDo(self._fn).with_output_types(
            tuple[str, int]
        )
