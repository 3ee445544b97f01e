"""Which partitions to read: listed once (a bounded read) or every 30 s (a streaming read, so a
partition added to a live topic is read), each passed on once, in a stage of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.transforms import trigger, window
from apache_beam.transforms.periodicsequence import ImpulseSeqGenRestrictionProvider
from apache_beam.transforms.userstate import BagStateSpec
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Duration, Timestamp

from schemas.errors import KafkaIOError
from transforms.io.kafka_clients import KafkaConnection
from transforms.state_coders import ManualWatermarks, OffsetRangeCoder

_LOG = logging.getLogger(__name__)

PARTITION_DISCOVERY_SECONDS = 30.0
# A caught-up partition advances its watermark to wall clock minus this lag (by default; see
# --idle-watermark-lag-seconds), so idle partitions do not hold back windows of the busy ones;
# the listing's watermark follows the wall clock the same way.
IDLE_WATERMARK_LAG_SECONDS = 2.0
# Between ticks the listing resumes this often to move its watermark on with the wall clock. Beam
# 2.62's FlinkRunner rounds a requested delay down to whole seconds, and the SDK reports the delay
# left when the bundle ends, just under what was asked: 1.0 would resume at once, a busy loop; 1.5
# resumes every second there.
WATERMARK_STEP_SECONDS = 1.5


class ListingTicks(ImpulseSeqGenRestrictionProvider):
    """Beam's tick restriction, checkpointed with a versioned coder (Beam's default pickles)."""

    def restriction_coder(self) -> OffsetRangeCoder:
        return OffsetRangeCoder()


_TICKS = beam.DoFn.RestrictionParam(ListingTicks())
_TICKS_WATERMARK = beam.DoFn.WatermarkEstimatorParam(ManualWatermarks())


class ListingTicksFn(beam.DoFn):
    """Beam's ``PeriodicImpulse`` generator (``ImpulseSeqGenDoFn``), its watermark following the
    wall clock, ``idle_lag_seconds`` behind, between ticks.

    Beam's sets its watermark to its *next* tick, up to ``PARTITION_DISCOVERY_SECONDS`` ahead of
    the wall clock, and on Prism that watermark reached the windows downstream of the reader:
    the file sink's windows closed up to 30 s early and a burst of records became one late file
    each. Capped at the wall clock, but resumed only at the next tick, it stood still for 30 s:
    on Flink a deferred remainder holds its stage's output watermark at the watermark it reported
    until it resumes, the readers' watermark is held at their input's (this one's), and so every
    article waited for the next tick in the keyed steps (a 2 to 32 s floor, deploy/README.md,
    "Where the cluster's 30 s went"). So between ticks it resumes every
    ``WATERMARK_STEP_SECONDS`` only to move its watermark on."""

    def __init__(self, idle_lag_seconds: float = IDLE_WATERMARK_LAG_SECONDS) -> None:
        super().__init__()
        self._idle_lag = idle_lag_seconds

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[Timestamp, Timestamp, float],
        restriction_tracker=_TICKS,
        watermark_estimator=_TICKS_WATERMARK,
    ) -> Iterator[float]:
        start, _, interval = element
        index = restriction_tracker.current_restriction().start
        while (tick := start.micros / 1e6 + interval * index) <= time.time():
            if not restriction_tracker.try_claim(index):
                return
            yield tick
            index += 1
        watermark_estimator.set_watermark(Timestamp.now() - self._idle_lag)
        restriction_tracker.defer_remainder(Duration.of(WATERMARK_STEP_SECONDS))


class ListPartitionsFn(beam.DoFn):
    """Turns each impulse into one ``(topic, partition)`` per partition of the topic.

    Each listing asks the broker with a new consumer: a long-lived one answers from metadata it
    refreshes only every ``metadata.max.age.ms`` (5 minutes), so a partition added to a live topic
    would be found minutes late."""

    def __init__(self, connection: KafkaConnection, topic: str) -> None:
        self._connection = connection
        self._topic = topic

    def process(self, _impulse: bytes) -> Iterator[tuple[str, int]]:
        partitions = self._connection.broker.call(
            f"listing partitions of {self._topic}", _partitions_of, self._connection, self._topic
        )
        if not partitions:
            raise KafkaIOError(f"topic {self._topic} does not exist or has no partitions")
        _LOG.info("reading %s partitions %s", self._topic, sorted(partitions))
        for partition in sorted(partitions):
            yield self._topic, partition


def _partitions_of(connection: KafkaConnection, topic: str) -> set[int] | None:
    consumer = connection.consumer()
    try:
        return consumer.partitions_for_topic(topic)
    finally:
        consumer.close(autocommit=False)


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


class SeparateStage(beam.PTransform):
    """A stage boundary the runner cannot fuse away, in batch and streaming.

    Partition readers run for the life of the job; fused to the step that discovers partitions,
    they would keep that step's bundle (and its state) open forever and pin every partition to one
    worker. A ``Reshuffle`` is only a hint a runner may honour (Prism does, by making its consumers
    stage roots without moving elements: tests/stream/runners/test_prism_reshuffle.py); a
    ``GroupByKey`` is a stage boundary on every runner. So this groups, firing per element, then
    puts the default global windowing back so no trigger leaks into the steps downstream."""

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


def list_once_or_periodically(
    pbegin,
    listing: ListPartitionsFn,
    stop_at_end: bool,
    idle_lag_seconds: float = IDLE_WATERMARK_LAG_SECONDS,
):
    """A bounded read lists partitions once; a streaming read re-lists them every
    ``PARTITION_DISCOVERY_SECONDS`` (its watermark ``idle_lag_seconds`` behind the wall clock)
    and starts readers for new ones only."""
    if stop_at_end:
        return (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "ListPartitions" >> beam.ParDo(listing).with_output_types(tuple[str, int])
        )
    return (
        pbegin
        | "ListingSchedule"
        >> beam.Create([(Timestamp.now(), MAX_TIMESTAMP, PARTITION_DISCOVERY_SECONDS)])
        | "ListEveryInterval" >> beam.ParDo(ListingTicksFn(idle_lag_seconds))
        # Each tick at its own time, as Beam's PeriodicImpulse does (Beam 2.62's generator, on
        # the Flink job server, yields bare times).
        | "AtTickTime" >> beam.Map(lambda tick: window.TimestampedValue(tick, tick))
        | "ListPartitions" >> beam.ParDo(listing).with_output_types(tuple[str, int])
        | "OnlyNew" >> beam.ParDo(NewPartitionsFn()).with_output_types(tuple[str, int])
    )
