"""Read Kafka partitions with a splittable DoFn, on any runner, without Java expansion services.

Each ``(topic, partition)`` is one element whose restriction is an ``OffsetRange`` of Kafka
offsets: it starts at the consumer group's committed offset (else at the beginning of the
partition) and ends at the end offset seen when the read starts (``stop_at_end``, a bounded read
that finishes) or never (a streaming read). Offsets are committed elsewhere, by ``CommitOffsets``
after the outputs are written, so the reader only uses ``assign`` and ``seek``: no group
membership, no auto-commit.

Every record is emitted, as a ``RawEvent`` timestamped with its Kafka timestamp; nothing is dropped
here (a tombstone's missing value becomes an empty payload for the decoder to dead-letter). Broker
failures raise ``KafkaIOError`` with the topic/partition/offset; bodies are never logged.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.userstate import BagStateSpec
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from schemas.errors import KafkaIOError
from transforms.io.kafka_config import client_config, for_client
from transforms.text.models import RawEvent, SourceRef

_LOG = logging.getLogger(__name__)

METRICS_NAMESPACE = "newsflow.read_kafka"
COUNTER_OUT = "out"
COUNTER_EMPTY_POLLS = "empty_polls"

# End of an open-ended (streaming) restriction: larger than any Kafka offset.
UNBOUNDED_END = sys.maxsize
POLL_TIMEOUT_MS = 1000
MAX_POLL_RECORDS = 500
# An empty poll hands the rest of the partition back to the runner, to be resumed after this delay.
RESUME_DELAY_SECONDS = 1.0
# A busy partition hands the rest back after this long: a runner emits a bundle's outputs when the
# bundle ends, and a partition that never runs dry would otherwise never end its bundle.
MAX_READ_SECONDS = 1.0
# A caught-up partition advances its watermark to wall clock minus this lag, so idle partitions
# do not hold back windows of the busy ones.
IDLE_WATERMARK_LAG_SECONDS = 2.0
METADATA_TIMEOUT_MS = 30000
PARTITION_DISCOVERY_SECONDS = 30.0

# DoFn parameter markers: the DoFn is its own restriction provider; the watermark is set by hand
# from Kafka timestamps.
_RESTRICTION = beam.DoFn.RestrictionParam()
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())


def _consumer(config: dict[str, Any], group_id: str | None = None) -> KafkaConsumer:
    """A consumer that never joins the group or commits by itself: offsets are managed by hand.

    A seek below the log start (retention deleted the records) resumes at the earliest record
    left, not at the end, unless ``auto.offset.reset`` says otherwise.
    """
    return KafkaConsumer(
        **{"auto_offset_reset": "earliest", **for_client(config, KafkaConsumer)},
        group_id=group_id,
        enable_auto_commit=False,
    )


class ListPartitionsFn(beam.DoFn):
    """Turns each impulse into one ``(topic, partition)`` per partition of the topic.

    Each listing asks the broker with a new consumer: a long-lived one answers from metadata it
    refreshes only every ``metadata.max.age.ms`` (5 minutes), so a partition added to a live topic
    would be found minutes late."""

    def __init__(self, config: dict[str, Any], topic: str) -> None:
        self._config = config
        self._topic = topic

    def process(self, _impulse: bytes) -> Iterator[tuple[str, int]]:
        consumer = _consumer(self._config)
        try:
            partitions = consumer.partitions_for_topic(self._topic)
        except KafkaError as exc:
            raise KafkaIOError(f"cannot list partitions of {self._topic}: {exc!r}") from exc
        finally:
            consumer.close(autocommit=False)
        if not partitions:
            raise KafkaIOError(f"topic {self._topic} does not exist or has no partitions")
        _LOG.info("reading %s partitions %s", self._topic, sorted(partitions))
        for partition in sorted(partitions):
            yield self._topic, partition


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


class EndOffsets:
    """End offsets of partitions, looked up at most every ``max_age_seconds`` per partition.

    Runners ask for restriction sizes often (to report backlog and to decide splits); one shared
    consumer per worker, created on first use and never pickled, keeps that cheap."""

    def __init__(self, config: dict[str, Any], max_age_seconds: float = 5.0) -> None:
        self._config = config
        self._max_age = max_age_seconds
        self._consumer: KafkaConsumer | None = None
        self._cache: dict[tuple[str, int], tuple[float, int]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"_config": self._config, "_max_age": self._max_age}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_config"], state["_max_age"])

    def latest(self, element: tuple[str, int]) -> int:
        now = time.monotonic()
        cached = self._cache.get(element)
        if cached is not None and now - cached[0] < self._max_age:
            return cached[1]
        if self._consumer is None:
            self._consumer = _consumer(self._config)
        tp = TopicPartition(*element)
        try:
            end = self._consumer.end_offsets([tp], METADATA_TIMEOUT_MS)[tp]
        except KafkaError as exc:
            raise KafkaIOError(f"cannot read end offset of {tp.topic}/{tp.partition}") from exc
        self._cache[element] = (now, end)
        return end


class NewPartitionsFn(beam.DoFn):
    """Keyed by topic: passes on each partition the first time it is listed, so a periodic listing
    starts one reader per partition, including partitions added while the job runs."""

    SEEN = BagStateSpec("seen", VarIntCoder())

    def process(
        self, element: tuple[str, int], seen=beam.DoFn.StateParam(SEEN)
    ) -> Iterator[tuple[str, int]]:
        if element[1] in set(seen.read()):
            return
        seen.add(element[1])
        _LOG.info("new partition %s/%s", *element)
        yield element


class PartitionRestrictionProvider(RestrictionProvider):
    """Offset ranges of one partition: from the group's committed offset to the end (or forever).

    The initial restriction is looked up with a short-lived consumer: it is computed once per
    partition and a ``RestrictionProvider`` has no setup/teardown in which to keep a client.
    """

    def __init__(self, config: dict[str, Any], consumer_group: str, stop_at_end: bool) -> None:
        self._config = config
        self._consumer_group = consumer_group
        self._stop_at_end = stop_at_end
        self._end_offsets = EndOffsets(config)

    def initial_restriction(self, element: tuple[str, int]) -> OffsetRange:
        topic, partition = element
        tp = TopicPartition(topic, partition)
        consumer = _consumer(self._config, group_id=self._consumer_group)
        try:
            committed = consumer.committed(tp, timeout_ms=METADATA_TIMEOUT_MS)
            beginning = consumer.beginning_offsets([tp], METADATA_TIMEOUT_MS)[tp]
            end = consumer.end_offsets([tp], METADATA_TIMEOUT_MS)[tp]
        except KafkaError as exc:
            raise KafkaIOError(f"cannot look up offsets of {topic}/{partition}: {exc!r}") from exc
        finally:
            consumer.close(autocommit=False)
        # A committed offset below the log start was deleted by retention: resume at the start.
        start = beginning if committed is None else max(committed, beginning)
        stop = max(start, end) if self._stop_at_end else UNBOUNDED_END
        _LOG.info(
            "%s/%s: reading offsets [%s, %s) (committed %s, end %s)",
            topic,
            partition,
            start,
            "end of stream" if stop == UNBOUNDED_END else stop,
            committed,
            end,
        )
        return OffsetRange(start, stop)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return PartitionOffsetTracker(restriction)

    def restriction_size(self, element: tuple[str, int], restriction: OffsetRange) -> int:
        """Backlog in records: up to the partition's current end offset for an open-ended read."""
        if restriction.stop != UNBOUNDED_END:
            return restriction.size()
        return max(0, self._end_offsets.latest(element) - restriction.start)

    def truncate(self, element: tuple[str, int], restriction: OffsetRange) -> None:
        """Nothing is left to read once a pipeline drains: unread offsets stay uncommitted."""
        return None


class ReadPartitionFn(beam.DoFn, RestrictionProvider):
    """Reads the claimed offset range of one partition; emits a timestamped ``RawEvent`` each.

    An offset is claimed before its record is emitted, so after a split every record belongs to
    exactly one restriction. An empty poll before the end defers the rest of the range. The DoFn is
    its own restriction provider, delegating to ``PartitionRestrictionProvider``.
    """

    def __init__(self, config: dict[str, Any], restrictions: PartitionRestrictionProvider) -> None:
        super().__init__()
        self._config = config
        self._restrictions = restrictions
        self._consumer: KafkaConsumer | None = None
        self._out = Metrics.counter(METRICS_NAMESPACE, COUNTER_OUT)
        self._empty_polls = Metrics.counter(METRICS_NAMESPACE, COUNTER_EMPTY_POLLS)

    def initial_restriction(self, element: tuple[str, int]) -> OffsetRange:
        return self._restrictions.initial_restriction(element)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return self._restrictions.create_tracker(restriction)

    def restriction_size(self, element: tuple[str, int], restriction: OffsetRange) -> int:
        return self._restrictions.restriction_size(element, restriction)

    def truncate(self, element: tuple[str, int], restriction: OffsetRange) -> None:
        return self._restrictions.truncate(element, restriction)

    def setup(self) -> None:
        self._consumer = _consumer(self._config)

    def process(
        self,
        element: tuple[str, int],
        tracker: OffsetRestrictionTracker = _RESTRICTION,
        watermark: ManualWatermarkEstimator = _WATERMARK,
    ) -> Iterator[TimestampedValue]:
        topic, partition = element
        tp = TopicPartition(topic, partition)
        next_offset = tracker.current_restriction().start
        if next_offset >= tracker.current_restriction().stop:
            return
        self._consumer.assign([tp])
        self._consumer.seek(tp, next_offset)
        span_start = next_offset
        # A bounded read (--stop-at-end) holds its watermark until it ends, so keyed steps decide
        # once over the whole input, in the same order as file mode; a streaming read moves it on,
        # since deciding as data arrives is the point.
        live = tracker.current_restriction().stop == UNBOUNDED_END
        deadline = time.monotonic() + MAX_READ_SECONDS
        while True:
            records = self._poll(tp, next_offset)
            if not records:
                self._empty_polls.inc()
                if live:
                    self._advance_idle_watermark(tp, watermark)
                tracker.defer_remainder(Duration.of(RESUME_DELAY_SECONDS))
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
            next_offset = self._position(tp)
            if next_offset >= tracker.current_restriction().stop:
                # Offsets up to the end may be missing (compaction, transaction markers): claiming
                # the position past the range tells the tracker the range is done.
                tracker.try_claim(next_offset)
                return
            if time.monotonic() >= deadline:
                tracker.defer_remainder()
                return

    def teardown(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def _poll(self, tp: TopicPartition, next_offset: int) -> list[Any]:
        try:
            batches = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_POLL_RECORDS)
        except KafkaError as exc:
            raise KafkaIOError(
                f"poll failed on {tp.topic}/{tp.partition}@{next_offset}: {exc!r}"
            ) from exc
        return batches.get(tp, [])

    def _position(self, tp: TopicPartition) -> int:
        try:
            return self._consumer.position(tp, timeout_ms=METADATA_TIMEOUT_MS)
        except KafkaError as exc:
            raise KafkaIOError(
                f"cannot read position of {tp.topic}/{tp.partition}: {exc!r}"
            ) from exc

    def _advance_idle_watermark(
        self, tp: TopicPartition, watermark: ManualWatermarkEstimator
    ) -> None:
        """On a caught-up partition, move the watermark on with the wall clock."""
        highwater = self._consumer.highwater(tp)
        if highwater is not None and self._position(tp) >= highwater:
            _set_watermark(watermark, Timestamp.now() - IDLE_WATERMARK_LAG_SECONDS)


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


class ReadFromKafka(beam.PTransform):
    """``PBegin`` to ``PCollection[RawEvent]``: each record of ``topic`` from the committed offsets.

    ``stop_at_end`` bounds the read at the end offsets seen at start, so a backfill or a test
    finishes; without it the read runs until the pipeline is cancelled or drained.
    ``client_overrides`` are Java-style settings (see ``kafka_config.client_config``).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        consumer_group: str,
        stop_at_end: bool,
        client_overrides: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._config = client_config(bootstrap_servers, client_overrides or {})
        self._topic = topic
        self._consumer_group = consumer_group
        self._stop_at_end = stop_at_end

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[RawEvent]:
        restrictions = PartitionRestrictionProvider(
            self._config, self._consumer_group, self._stop_at_end
        )
        read_fn = ReadPartitionFn if self._stop_at_end else ReadUnboundedPartitionFn
        return (
            _list_once_or_periodically(pbegin, self._config, self._topic, self._stop_at_end)
            | "SpreadPartitions" >> SeparateStage()
            | "ReadPartitions"
            >> beam.ParDo(read_fn(self._config, restrictions)).with_output_types(RawEvent)
        )


class SeparateStage(beam.PTransform):
    """A stage boundary the runner cannot fuse away, in batch and streaming.

    Partition readers run for the life of the job; fused to the step that discovers partitions,
    they would keep that step's bundle (and its state) open forever and pin every partition to one
    worker. Prism elides ``Reshuffle``, so this groups for real, firing per element, then puts
    the default global windowing back so no trigger leaks into the steps downstream."""

    def expand(self, pcoll):
        return (
            pcoll
            | "PerElement"
            >> beam.WindowInto(
                window.GlobalWindows(),
                trigger=trigger.Repeatedly(trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
            | "KeyByPartition"
            >> beam.Map(lambda tp: (tp[1], tp)).with_output_types(tuple[int, tuple[str, int]])
            | "Group" >> beam.GroupByKey()
            | "Ungroup" >> beam.FlatMap(lambda kv: kv[1]).with_output_types(tuple[str, int])
            | "DefaultWindowing" >> beam.WindowInto(window.GlobalWindows())
        )


def _list_once_or_periodically(pbegin, config, topic, stop_at_end: bool):
    """A bounded read lists partitions once; a streaming read re-lists them every
    ``PARTITION_DISCOVERY_SECONDS`` and starts readers for new ones only."""
    listing = ListPartitionsFn(config, topic)
    if stop_at_end:
        return (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "ListPartitions" >> beam.ParDo(listing).with_output_types(tuple[str, int])
        )
    return (
        pbegin
        | "ListEveryInterval"
        >> PeriodicImpulse(fire_interval=PARTITION_DISCOVERY_SECONDS, apply_windowing=False)
        | "ListPartitions" >> beam.ParDo(listing).with_output_types(tuple[str, int])
        | "OnlyNew" >> beam.ParDo(NewPartitionsFn()).with_output_types(tuple[str, int])
    )


def _raw_event(record: Any, span_start: int) -> tuple[RawEvent, Timestamp]:
    """The record as a ``RawEvent`` and its event time: the Kafka timestamp, else the wall clock."""
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
    timestamp = Timestamp.of(timestamp_ms / 1000) if timestamp_ms is not None else Timestamp.now()
    return event, timestamp


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
