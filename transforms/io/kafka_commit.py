"""Commit consumed offsets only over inputs whose outputs are all written, in batch and streaming.

Every input accounts for the offsets ``[span_start, offset + 1)`` of its partition (see
``SourceRef.span_start``), and every input ends in exactly one output, so a partition's committed
offset may advance to ``n`` exactly when the written spans chain from the current committed offset
up to ``n``. ``CommitWrittenFn`` keeps the spans written beyond that point in keyed state per
partition and commits in ``finish_bundle``: one commit per partition per bundle, never past a hole.
A restart therefore resumes at the first input whose outputs were not all written; inputs after it
that were written are read again (at-least-once; the sinks' id-keyed records make that visible and
removable by consumers).

Enriched articles go to Kafka and, with ``--output-dir``, to files too: ``JoinAcks`` passes a ref on
only when every sink that must write it has acknowledged it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from schemas.errors import KafkaIOError
from transforms.io.kafka_config import client_config, for_client
from transforms.text.models import SourceRef

_LOG = logging.getLogger(__name__)

NAMESPACE = "newsflow.commit_offsets"
COMMIT_TIMEOUT_MS = 30000

Span = tuple[int, int]
PartitionKey = tuple[str, int]


def advance(committed: int, written: dict[int, int], span: Span) -> tuple[int, dict[int, int]]:
    """Add a written ``[start, end)`` span; return the new committable offset and the spans still
    waiting beyond it. Spans never overlap: each offset belongs to exactly one input."""
    waiting = {**written, span[0]: span[1]}
    while committed in waiting:
        committed = waiting.pop(committed)
    return committed, waiting


def span_of(ref: SourceRef) -> Span:
    start = ref.span_start if ref.span_start is not None else ref.offset
    return start, ref.offset + 1


class CommitWrittenFn(beam.DoFn):
    """Keyed by ``(topic, partition)``: chains written spans, commits the contiguous end."""

    COMMITTED = ReadModifyWriteStateSpec("committed", VarIntCoder())
    WAITING = ReadModifyWriteStateSpec("waiting", PickleCoder())

    def __init__(self, config: dict[str, Any], consumer_group: str) -> None:
        self._config = config
        self._group = consumer_group
        self._consumer: KafkaConsumer | None = None
        self._due: dict[TopicPartition, int] = {}
        self._commits = Metrics.counter(NAMESPACE, "commits")
        self._waiting = Metrics.distribution(NAMESPACE, "spans_waiting")

    def setup(self) -> None:
        self._consumer = KafkaConsumer(
            **for_client(self._config, KafkaConsumer),
            group_id=self._group,
            enable_auto_commit=False,
        )

    def process(
        self,
        element: tuple[PartitionKey, Span],
        committed_state=beam.DoFn.StateParam(COMMITTED),
        waiting_state=beam.DoFn.StateParam(WAITING),
    ) -> Iterator[tuple[str, int, int]]:
        (topic, partition), span = element
        tp = TopicPartition(topic, partition)
        before = committed_state.read()
        if before is None:
            before = self._starting_offset(tp)
        after, waiting = advance(before, waiting_state.read() or {}, span)
        committed_state.write(after)
        waiting_state.write(waiting)
        self._waiting.update(len(waiting))
        if after != before:
            self._due[tp] = after
            yield topic, partition, after

    def finish_bundle(self) -> None:
        """Commit what this bundle advanced, now that its inputs' outputs are known written."""
        if not self._due:
            return
        metadata = json.dumps({"committed_at": int(time.time() * 1000)})
        offsets = {tp: OffsetAndMetadata(n, metadata, -1) for tp, n in self._due.items()}
        try:
            self._consumer.commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)
        except KafkaError as exc:
            where = ", ".join(f"{tp.topic}/{tp.partition}@{n}" for tp, n in self._due.items())
            raise KafkaIOError(f"cannot commit {where} for {self._group}: {exc!r}") from exc
        self._commits.inc(len(offsets))
        _LOG.info(
            "committed %s for %s",
            {f"{t.topic}/{t.partition}": n for t, n in self._due.items()},
            self._group,
        )
        self._due = {}

    def teardown(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def _starting_offset(self, tp: TopicPartition) -> int:
        """Where the reader started: the group's committed offset, else the log start (the same
        rule as ``PartitionRestrictionProvider.initial_restriction``)."""
        try:
            committed = self._consumer.committed(tp, timeout_ms=COMMIT_TIMEOUT_MS)
            beginning = self._consumer.beginning_offsets([tp], COMMIT_TIMEOUT_MS)[tp]
        except KafkaError as exc:
            raise KafkaIOError(f"cannot read offsets of {tp.topic}/{tp.partition}") from exc
        return beginning if committed is None else max(committed, beginning)


class JoinAcksFn(beam.DoFn):
    """Keyed by input: emits the ref once ``required`` sinks have acknowledged writing it."""

    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())

    def __init__(self, required: int) -> None:
        self._required = required

    def process(self, element: tuple[str, SourceRef], count=beam.DoFn.StateParam(COUNT)):
        seen = (count.read() or 0) + 1
        if seen < self._required:
            count.write(seen)
            return
        count.clear()
        yield element[1]


class JoinAcks(beam.PTransform):
    """Refs acknowledged by several sinks -> each ref once, when all of them have written it."""

    def __init__(self, required: int) -> None:
        super().__init__()
        self._required = required

    def expand(self, acks):
        if self._required == 1:
            return acks
        return (
            acks
            | "KeyByInput"
            >> beam.Map(lambda ref: (str(ref), ref)).with_output_types(tuple[str, Any])
            | "CountAcks" >> beam.ParDo(JoinAcksFn(self._required))
        )


class CommitOffsets(beam.PTransform):
    """``PCollection[SourceRef]`` of inputs whose outputs are all written -> committed offsets
    ``(topic, partition, offset)``. Refs without Kafka coordinates (file mode) are skipped."""

    def __init__(
        self,
        bootstrap_servers: str,
        consumer_group: str,
        client_overrides: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._config = client_config(bootstrap_servers, client_overrides or {})
        self._group = consumer_group

    def expand(self, refs):
        return (
            refs
            | "OnlyKafkaInputs" >> beam.Filter(lambda ref: ref.topic is not None)
            | "KeyByPartition"
            >> beam.Map(lambda ref: ((ref.topic, ref.partition), span_of(ref))).with_output_types(
                tuple[tuple[str, int], tuple[int, int]]
            )
            | "Commit" >> beam.ParDo(CommitWrittenFn(self._config, self._group))
        )
