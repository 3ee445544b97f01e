"""The output floor: the output topics' end offsets, sampled before an input's outputs can exist.

Every output of an input is written after the input passes ``StampOutputFloor``, so the floor it
carries (``SourceRef.output_floor``) is at or below the offsets of its outputs. The commit step
records the floor of the input just below each committed offset in the commit's metadata
(``kafka_commit.commit_metadata``); inputs at or after the committed offset pass the stamp later
(a partition's records are read and passed on in order, the stamp fused with the reader), so all
their outputs lie at or after that floor: the restart scan (``recovery.py``) and the Flink restore
guard (``restore_guard.py``) start there and miss nothing. After a restart an earlier run's
outputs of later inputs may lie below a re-read input's stamp: ``recovery.FloorCaps`` lowers it.

A floor is resampled at most every ``max_age_seconds``: an older sample is still a floor, only a
lower one (a longer scan after a restart).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

import apache_beam as beam
from kafka import KafkaConsumer, TopicPartition

from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS
from transforms.io.kafka_clients import KafkaConnection
from transforms.text.models import RawEvent

# (output topic, partition, end offset) of every output partition.
Floor = tuple[tuple[str, int, int], ...]
# The floor stamped on inputs is resampled this often.
STAMP_MAX_AGE_SECONDS = 10.0


def partitions_of(consumer: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    return [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]


def output_floor(consumer: KafkaConsumer, topics: Iterable[str]) -> Floor:
    """The end offset of every partition of ``topics`` now: a lower bound for the offsets of any
    output written from here on."""
    partitions = partitions_of(consumer, topics)
    ends = consumer.end_offsets(partitions, ATTEMPT_TIMEOUT_MS) if partitions else {}
    return tuple(sorted((tp.topic, tp.partition, ends[tp]) for tp in partitions))


def floor_now(connection: KafkaConnection, topics: tuple[str, ...]) -> Floor:
    """``output_floor`` with a consumer of its own, retried through a broker outage."""

    def sample() -> Floor:
        consumer = connection.consumer()
        try:
            return output_floor(consumer, topics)
        finally:
            consumer.close(autocommit=False)

    return connection.broker.call("end offsets of the output topics", sample)


class FloorSampler:
    """The output floor of ``topics``, asked of the broker at most every ``max_age_seconds``
    through one consumer (built on first use, never pickled)."""

    def __init__(
        self, connection: KafkaConnection, topics: tuple[str, ...], max_age_seconds: float
    ) -> None:
        self._connection = connection
        self._topics = topics
        self._max_age = max_age_seconds
        self._consumer: KafkaConsumer | None = None
        self._sample: tuple[float, Floor] = (float("-inf"), ())

    def floor(self) -> Floor:
        sampled_at, floor = self._sample
        if time.monotonic() - sampled_at > self._max_age:
            sampled_at = time.monotonic()
            if self._consumer is None:
                self._consumer = self._connection.connected_consumer()
            floor = self._connection.broker.call(
                "end offsets of the output topics", output_floor, self._consumer, self._topics
            )
            self._sample = (sampled_at, floor)
        return floor

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None


class StampOutputFloorFn(beam.DoFn):
    """RawEvent -> the same event, its ref carrying the output floor sampled before it passed."""

    def __init__(self, connection: KafkaConnection, outputs: tuple[str, ...]) -> None:
        self._connection = connection
        self._outputs = outputs
        self._sampler: FloorSampler | None = None

    def setup(self) -> None:
        self._sampler = FloorSampler(self._connection, self._outputs, STAMP_MAX_AGE_SECONDS)

    def process(self, raw: RawEvent):
        ref = dataclasses.replace(raw.ref, output_floor=self._sampler.floor())
        yield dataclasses.replace(raw, ref=ref)

    def teardown(self) -> None:
        if self._sampler is not None:
            self._sampler.close()


class StampOutputFloor(beam.PTransform):
    """``PCollection[RawEvent]`` -> the same events with ``ref.output_floor`` set; apply it right
    after the Kafka reader, so it is fused with it and sees each partition's records in order."""

    def __init__(self, connection: KafkaConnection, outputs: tuple[str, ...]) -> None:
        super().__init__()
        self._fn = StampOutputFloorFn(connection, outputs)

    def expand(self, events):
        return events | "Stamp" >> beam.ParDo(self._fn).with_output_types(RawEvent)
