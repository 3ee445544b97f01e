"""Read Kafka partitions with a splittable DoFn, on any runner, without Java expansion services.

Each ``(topic, partition)`` is one element (on Flink with a salt that places its reader,
``reader_placement``) whose restriction is an ``OffsetRange`` of Kafka offsets: it starts at the
consumer group's committed offset (else at the beginning of the partition) and ends at the end
offset seen when the read starts (``stop_at_end``, a bounded read that finishes) or never (a
streaming read). The reader only reads: offsets are committed by
``kafka_commit`` after the outputs are written, and what a restart needs (the output floor, the
scan) is ``output_floor`` and ``recovery``'s. It only uses ``assign`` and ``seek``: no group
membership, no auto-commit. A reader instance keeps a consumer per partition it reads
(``partition_consumers``), so one partition's fetch never waits behind another's.

Every record is emitted, as a ``RawEvent`` timestamped with its Kafka timestamp; nothing is dropped
here (a tombstone's missing value becomes an empty payload for the decoder to dead-letter). Every
broker call is retried through an outage (``broker_retry``); past ``--broker-timeout-seconds`` it
raises ``BrokerUnavailableError`` naming what failed. Bodies are never logged.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.coders import Coder
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp
from kafka import KafkaConsumer, TopicPartition

from schemas.errors import PartitionRewoundError
from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS, BrokerCalls
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_partitions import (
    IDLE_WATERMARK_LAG_SECONDS,
    ListPartitionsFn,
    SeparateStage,
    list_once_or_periodically,
)
from transforms.io.offset_gaps import OffsetGaps, absent_event, rewound_message
from transforms.io.partition_consumers import PartitionConsumers
from transforms.io.reader_placement import FlinkPlacement, topic_partition
from transforms.state_coders import ManualWatermarks, OffsetRangeCoder
from transforms.text.models import SKIPPED, RawEvent, SourceRef

_LOG = logging.getLogger(__name__)

METRICS_NAMESPACE = "newsflow.read_kafka"
COUNTER_OUT = "out"
COUNTER_EMPTY_POLLS = "empty_polls"

# End of an open-ended (streaming) restriction: larger than any Kafka offset.
UNBOUNDED_END = sys.maxsize
MAX_POLL_RECORDS = 500
# A partition hands the rest back after this long of reading, or as soon as it runs dry after
# reading something: a runner emits a bundle's outputs (and the watermark they moved) only when
# the bundle ends, so every record waits for its bundle's end (1 s here cost ~1 s per record).
MAX_READ_SECONDS = 0.25
# How far a record's Kafka timestamp may run ahead of the reader's clock as event time (see
# ``_raw_event``): a producer's clock further ahead is wrong, and would hold its records.
MAX_STAMP_AHEAD = Duration(seconds=30)


@dataclass(frozen=True)
class IdleReads:
    """How a streaming read treats a caught-up partition.

    ``poll_ms``: how long a resumed read waits for new records before handing the partition back
    with its watermark moved on (``--idle-poll-millis``). ``rest_ms``: how long the partition then
    rests before the runner resumes it (``--idle-rest-millis``; Beam 2.62's FlinkRunner keeps only
    a rest's whole seconds). ``lag_seconds``: how far behind the wall clock the watermark of a
    caught-up partition follows it (``--idle-watermark-lag-seconds``). A partition's watermark
    moves only when it is polled, so poll plus rest is how stale it gets between records."""

    lag_seconds: float = IDLE_WATERMARK_LAG_SECONDS
    poll_ms: int = 1000
    rest_ms: int = 1000


class ReadWatermarkProvider(ManualWatermarks):
    """A watermark set by hand from Kafka timestamps, starting unset (a bounded read holds it
    until it ends) or, for a streaming read, at the wall clock minus the idle lag.

    A streaming read starts with a set watermark because a runner may hold its output watermark
    at the lowest one any deferred remainder reported, and Beam 2.62's FlinkRunner holds it at
    the minimum forever for a remainder deferred before the first record set one (so no
    event-time timer downstream ever fired). Records older than the start are lifted to it, as
    every record behind the watermark is (``_not_late``). Its state is checkpointed by
    ``ManualWatermarks``' versioned coder."""

    def __init__(self, start_at_wall_clock: bool) -> None:
        self._start_at_wall_clock = start_at_wall_clock

    def initial_estimator_state(self, element, restriction) -> Timestamp | None:
        if not self._start_at_wall_clock:
            return None
        return Timestamp.now() - IDLE_WATERMARK_LAG_SECONDS


# DoFn parameter markers: the DoFn is its own restriction provider; the watermark is set by hand
# from Kafka timestamps.
_RESTRICTION = beam.DoFn.RestrictionParam()
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(ReadWatermarkProvider(False))
_LIVE_WATERMARK = beam.DoFn.WatermarkEstimatorParam(ReadWatermarkProvider(True))


class PartitionOffsetTracker(OffsetRestrictionTracker):
    """An offset tracker that, on an open-ended range, splits only to checkpoint (fraction 0).

    A runner splitting ``[n, 2**63)`` in the middle (Prism does, to balance work) would hand a
    reader a range of offsets that will not exist for centuries; Kafka would then reset it to the
    log start. The records of one partition are read by one reader, in order."""

    def try_split(self, fraction_of_remainder: float):
        if self.current_restriction().stop == UNBOUNDED_END and fraction_of_remainder > 0:
            return None
        return super().try_split(fraction_of_remainder)

    def is_bounded(self) -> bool:
        return self.current_restriction().stop != UNBOUNDED_END


def end_offset(broker: BrokerCalls, consumer: KafkaConsumer, tp: TopicPartition) -> int:
    """The partition's end offset, asked of the broker (retried through an outage)."""
    return broker.call(
        f"end offset of {tp.topic}/{tp.partition}", consumer.end_offsets, [tp], ATTEMPT_TIMEOUT_MS
    )[tp]


class EndOffsets:
    """End offsets of partitions, looked up at most every ``max_age_seconds`` per partition.

    Runners ask for restriction sizes often (to report backlog and to decide splits); one shared
    consumer per worker, created on first use and never pickled, keeps that cheap."""

    def __init__(self, connection: KafkaConnection, max_age_seconds: float = 5.0) -> None:
        self._connection = connection
        self._max_age = max_age_seconds
        self._consumer: KafkaConsumer | None = None
        self._cache: dict[tuple[str, int], tuple[float, int]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"_connection": self._connection, "_max_age": self._max_age}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_connection"], state["_max_age"])

    def latest(self, element: tuple[str, int]) -> int:
        now = time.monotonic()
        cached = self._cache.get(element)
        if cached is not None and now - cached[0] < self._max_age:
            return cached[1]
        if self._consumer is None:
            self._consumer = self._connection.connected_consumer()
        tp = TopicPartition(*topic_partition(element))
        end = end_offset(self._connection.broker, self._consumer, tp)
        self._cache[element] = (now, end)
        return end


class PartitionRestrictionProvider(RestrictionProvider):
    """Offset ranges of one partition: from the group's committed offset to the end (or forever).

    The initial restriction is looked up with a short-lived consumer: it is computed once per
    partition and a ``RestrictionProvider`` has no setup/teardown in which to keep a client.
    """

    def __init__(self, connection: KafkaConnection, consumer_group: str, stop_at_end: bool) -> None:
        self._connection = connection
        self._consumer_group = consumer_group
        self._stop_at_end = stop_at_end
        self._end_offsets = EndOffsets(connection)

    def initial_restriction(self, element: tuple[str, int]) -> OffsetRange:
        topic, partition = topic_partition(element)
        committed, beginning, end = self._connection.broker.call(
            f"offsets of {topic}/{partition}",
            _group_offsets,
            self._connection,
            self._consumer_group,
            TopicPartition(topic, partition),
        )
        # A committed offset below the log start: the read finds the offsets deleted unread and
        # makes them a dead letter (``offset_gaps``), so it starts at the committed offset.
        start = beginning if committed is None else committed
        if start > end:
            found = f"ends at {end}"
            raise PartitionRewoundError(
                rewound_message(TopicPartition(topic, partition), start, found)
            )
        stop = end if self._stop_at_end else UNBOUNDED_END
        _LOG.info(
            "%s/%s: reading offsets [%s, %s) (committed %s, log start %s, end %s)",
            topic,
            partition,
            start,
            "end of stream" if stop == UNBOUNDED_END else stop,
            committed,
            beginning,
            end,
        )
        return OffsetRange(start, stop)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return PartitionOffsetTracker(restriction)

    def restriction_coder(self) -> Coder:
        """Versioned, not pickled: a checkpoint holds the restrictions of deferred reads."""
        return OffsetRangeCoder()

    def restriction_size(self, element: tuple[str, int], restriction: OffsetRange) -> int:
        """Backlog in records: up to the partition's current end offset for an open-ended read."""
        if restriction.stop != UNBOUNDED_END:
            return restriction.size()
        return max(0, self._end_offsets.latest(element) - restriction.start)

    def truncate(self, element: tuple[str, int], restriction: OffsetRange) -> None:
        """Nothing is left to read once a pipeline drains: unread offsets stay uncommitted."""
        return None


def _group_offsets(
    connection: KafkaConnection, group: str, tp: TopicPartition
) -> tuple[int | None, int, int]:
    """The group's committed offset of ``tp`` (None if never committed), its log start and end."""
    consumer = connection.consumer(group)
    try:
        committed = consumer.committed(tp, timeout_ms=ATTEMPT_TIMEOUT_MS)
        beginning = consumer.beginning_offsets([tp], ATTEMPT_TIMEOUT_MS)[tp]
        end = consumer.end_offsets([tp], ATTEMPT_TIMEOUT_MS)[tp]
    finally:
        consumer.close(autocommit=False)
    return committed, beginning, end


class ReadPartitionFn(beam.DoFn, RestrictionProvider):
    """Reads the claimed offset range of one partition; emits a timestamped ``RawEvent`` each.

    An offset is claimed before its record is emitted, so after a split every record belongs to
    exactly one restriction. An empty poll before the end defers the rest of the range. The DoFn is
    its own restriction provider, delegating to ``PartitionRestrictionProvider``.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        restrictions: PartitionRestrictionProvider,
        idle: IdleReads = IdleReads(),
    ) -> None:
        super().__init__()
        self._idle = idle
        self._connection = connection
        self._broker = connection.broker
        self._restrictions = restrictions
        self._consumers: PartitionConsumers | None = None
        self._out = Metrics.counter(METRICS_NAMESPACE, COUNTER_OUT)
        self._empty_polls = Metrics.counter(METRICS_NAMESPACE, COUNTER_EMPTY_POLLS)
        self._gaps = OffsetGaps(self._broker, METRICS_NAMESPACE)

    def initial_restriction(self, element: tuple[str, int]) -> OffsetRange:
        return self._restrictions.initial_restriction(element)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return self._restrictions.create_tracker(restriction)

    def restriction_coder(self) -> Coder:
        return self._restrictions.restriction_coder()

    def restriction_size(self, element: tuple[str, int], restriction: OffsetRange) -> int:
        return self._restrictions.restriction_size(element, restriction)

    def truncate(self, element: tuple[str, int], restriction: OffsetRange) -> None:
        return self._restrictions.truncate(element, restriction)

    def setup(self) -> None:
        self._consumers = PartitionConsumers(self._connection.connected_consumer, self._broker)

    def process(
        self,
        element: tuple[str, int],
        tracker: OffsetRestrictionTracker = _RESTRICTION,
        watermark: ManualWatermarkEstimator = _WATERMARK,
    ) -> Iterator[TimestampedValue]:
        with self._consumers.reading():
            yield from self._read(element, tracker, watermark)

    def _read(
        self,
        element: tuple[str, int],
        tracker: OffsetRestrictionTracker,
        watermark: ManualWatermarkEstimator,
    ) -> Iterator[TimestampedValue]:
        tp = TopicPartition(*topic_partition(element))
        next_offset = tracker.current_restriction().start
        if next_offset >= tracker.current_restriction().stop:
            return
        consumer = self._consumers.at(tp, next_offset)
        span_start = next_offset
        # A bounded read (--stop-at-end) holds its watermark until it ends, so keyed steps decide
        # once over the whole input, in the same order as file mode; a streaming read moves it on,
        # since deciding as data arrives is the point.
        live = tracker.current_restriction().stop == UNBOUNDED_END
        deadline = time.monotonic() + MAX_READ_SECONDS
        timeout_ms, first = self._idle.poll_ms, True
        while True:
            records = self._poll(consumer, tp, next_offset, timeout_ms)
            arrived = records[0].offset if records else self._consumers.position(tp)
            gaps = self._gaps.since(consumer, tp, next_offset, arrived, bool(records), span_start)
            if gaps:  # else the offsets a poll moved past stay the next record's span
                next_offset = yield from _emitted(tracker, gaps, watermark, next_offset)
                if next_offset is None:
                    return
                span_start = next_offset
            if _past_end(tracker, next_offset):
                return
            if not records and not first:
                # Dry after reading: hand back at once, so what was read leaves now and the
                # next bundle waits for new records in its first poll.
                tracker.defer_remainder()
                return
            if not records:
                self._empty_polls.inc()
                if live:
                    self._advance_idle_watermark(consumer, tp, watermark)
                tracker.defer_remainder(Duration.of(self._idle.rest_ms / 1000))
                return
            for record in records:
                if not tracker.try_claim(record.offset):
                    return
                event, timestamp = _raw_event(record, span_start)
                timestamp = _not_late(timestamp, watermark)
                span_start = record.offset + 1
                self._out.inc()
                yield TimestampedValue(event, timestamp)
                if live:
                    _set_watermark(watermark, timestamp)
            next_offset = self._consumers.position(tp)
            stop = tracker.current_restriction().stop
            if next_offset >= stop > span_start:  # the range ends in offsets with no record
                trailing = [absent_event(tp, span_start, stop, SKIPPED)]
                if (yield from _emitted(tracker, trailing, watermark, span_start)) is None:
                    return
            if _past_end(tracker, next_offset):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tracker.defer_remainder()
                return
            timeout_ms, first = int(remaining * 1000), False

    def teardown(self) -> None:
        if self._consumers is not None:
            self._consumers.close()

    def _poll(
        self, consumer: KafkaConsumer, tp: TopicPartition, next_offset: int, timeout_ms: int
    ) -> list[Any]:
        batches = self._broker.call(
            f"poll of {tp.topic}/{tp.partition}@{next_offset}",
            consumer.poll,
            timeout_ms,
            MAX_POLL_RECORDS,
            local=True,
        )
        return batches.get(tp, [])

    def _advance_idle_watermark(
        self, consumer: KafkaConsumer, tp: TopicPartition, watermark: ManualWatermarkEstimator
    ) -> None:
        """On a caught-up partition, move the watermark on with the wall clock. The end offset is
        asked of the broker (an empty poll cannot tell a caught-up partition from an outage),
        which is also where an outage is noticed when the stream is idle."""
        if self._consumers.position(tp) >= end_offset(self._broker, consumer, tp):
            _set_watermark(watermark, Timestamp.now() - self._idle.lag_seconds)


class ReadUnboundedPartitionFn(ReadPartitionFn):
    """``ReadPartitionFn`` for a streaming read: the range never ends, so the work per partition
    is unbounded and the runner must treat the output as an unbounded PCollection."""

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[str, int],
        tracker: OffsetRestrictionTracker = _RESTRICTION,
        watermark: ManualWatermarkEstimator = _WATERMARK,
    ) -> Iterator[TimestampedValue]:
        yield from super().process(element, tracker, watermark)


class ReadUnboundedPartitionFromNowFn(ReadPartitionFn):
    """``ReadUnboundedPartitionFn`` whose watermark starts at the wall clock (FlinkRunner; see
    ``ReadWatermarkProvider``)."""

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[str, int],
        tracker: OffsetRestrictionTracker = _RESTRICTION,
        watermark: ManualWatermarkEstimator = _LIVE_WATERMARK,
    ) -> Iterator[TimestampedValue]:
        yield from super().process(element, tracker, watermark)


class ReadFromKafka(beam.PTransform):
    """``PBegin`` to ``PCollection[RawEvent]``: each record of ``topic`` from the committed offsets.

    ``stop_at_end`` bounds the read at the end offsets seen at start, so a backfill or a test
    finishes; without it the read runs until the pipeline is cancelled or drained.
    ``watermark_from_now``: a streaming read's watermark starts at the wall clock (FlinkRunner).
    ``before_read``: a transform each ``(topic, partition)`` passes, once, before it is read
    (the job commits the start of a partition its group never committed there,
    ``kafka_commit.CommitStarts``). ``idle``: how caught-up partitions are polled; its lag is the
    partition listing's too. ``placement``: the FlinkRunner's parallelism, to spread the
    partitions' readers evenly over its subtasks (``reader_placement``).
    """

    def __init__(
        self,
        connection: KafkaConnection,
        topic: str,
        consumer_group: str,
        stop_at_end: bool,
        watermark_from_now: bool = False,
        before_read: beam.PTransform | None = None,
        idle: IdleReads = IdleReads(),
        placement: FlinkPlacement | None = None,
    ) -> None:
        super().__init__()
        self._idle = idle
        self._placement = placement
        self._connection = connection
        self._watermark_from_now = watermark_from_now
        self._topic = topic
        self._consumer_group = consumer_group
        self._stop_at_end = stop_at_end
        self._before_read = before_read

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[RawEvent]:
        restrictions = PartitionRestrictionProvider(
            self._connection, self._consumer_group, self._stop_at_end
        )
        read_fn = ReadPartitionFn
        if not self._stop_at_end:
            read_fn = (
                ReadUnboundedPartitionFromNowFn
                if self._watermark_from_now
                else ReadUnboundedPartitionFn
            )
        listing = ListPartitionsFn(self._connection, self._topic)
        partitions = list_once_or_periodically(
            pbegin, listing, self._stop_at_end, self._idle.lag_seconds
        )
        if self._before_read is not None:
            partitions = partitions | "BeforeRead" >> self._before_read
        partitions = partitions | "SpreadPartitions" >> SeparateStage()
        if self._placement is not None:
            partitions = partitions | "PlaceReaders" >> beam.Map(
                self._placement.spread
            ).with_output_types(tuple[str, int])
        return partitions | "ReadPartitions" >> beam.ParDo(
            read_fn(self._connection, restrictions, self._idle)
        ).with_output_types(RawEvent)


def _emitted(
    tracker: OffsetRestrictionTracker,
    events: list[RawEvent],
    watermark: ManualWatermarkEstimator,
    next_offset: int,
) -> Generator[TimestampedValue, None, int | None]:
    """Claims and emits inputs standing for offsets with no record (``offset_gaps``); the offset
    after the last of them (``next_offset`` if none), None if a claim failed (a split)."""
    for event in events:
        if not tracker.try_claim(event.ref.offset):
            return None
        yield TimestampedValue(event, _not_late(Timestamp.now(), watermark))
        next_offset = event.ref.offset + 1
    return next_offset


def _past_end(tracker: OffsetRestrictionTracker, next_offset: int) -> bool:
    """Whether the range is read up to ``next_offset``'s end. Offsets up to the end may be missing
    (compaction, transaction markers): claiming the position past the range tells the tracker the
    range is done."""
    if next_offset < tracker.current_restriction().stop:
        return False
    tracker.try_claim(next_offset)
    return True


def _raw_event(record: Any, span_start: int) -> tuple[RawEvent, Timestamp]:
    """The record as a ``RawEvent`` and its event time: the Kafka timestamp, but at most
    ``MAX_STAMP_AHEAD`` ahead of the wall clock. Keyed steps hold an element until the watermark
    passes it: a record stamped by a producer's clock years ahead (a Kafka 3 broker takes any
    CreateTime) waited that long, and held the commit of every later offset of its partition; a
    watermark that got there would have expired every keyed step's memory. Clocks a few seconds
    apart keep their order. The event keeps the stamp it came with."""
    timestamp_ms = (
        record.timestamp if record.timestamp is not None and record.timestamp >= 0 else None
    )
    event = RawEvent(
        payload=record.value if record.value is not None else b"",
        ref=SourceRef(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            span_start=span_start,
        ),
        timestamp_ms=timestamp_ms,
        key=record.key,
    )
    now = Timestamp.now()
    if timestamp_ms is None:
        return event, now
    return event, min(Timestamp.of(timestamp_ms / 1000), now + MAX_STAMP_AHEAD)


def _not_late(timestamp: Timestamp, watermark: ManualWatermarkEstimator) -> Timestamp:
    """Event time of a record: its Kafka timestamp, but never behind the partition's watermark.

    Producer-stamped (CreateTime) timestamps are not ordered, and a busy producer can append a
    record stamped before the wall-clock watermark of an idle partition. Emitting it late would
    put it behind timers downstream (dedup decides when the watermark passes an element); lifting
    it to the watermark keeps every element on time. Dedup orders copies by ``fetched_at``, not by
    this timestamp, so nothing about which copy is kept changes."""
    current = watermark.current_watermark()
    return timestamp if current is None or timestamp >= current else current


def _set_watermark(watermark: ManualWatermarkEstimator, timestamp: Timestamp) -> None:
    """Advances the watermark, never moving it back (Kafka timestamps are not ordered)."""
    current = watermark.current_watermark()
    if current is None or timestamp > current:
        watermark.set_watermark(timestamp)
