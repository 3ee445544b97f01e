"""ReadFromKafka, WriteToKafka and CommitOffsets against the local broker.

Pipelines run on the FnApiRunner, named explicitly. Beam 2.77's DirectRunner would first try Prism,
which downloads its binary from GitHub; offline that fails (fast when DNS fails, slowly when the
connection hangs) and the DirectRunner falls back to the FnApiRunner anyway, the runner that
executes the bounded splittable DoFn here.
"""

from __future__ import annotations

import re
import uuid

import apache_beam as beam
import pytest
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas.errors import KafkaIOError
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_commit import CommitOffsets, CommitStarts, parse_output_floor
from transforms.io.kafka_sink import WriteToKafka
from transforms.io.kafka_source import (
    UNBOUNDED_END,
    IdleReads,
    PartitionRestrictionProvider,
    ReadFromKafka,
    ReadUnboundedPartitionFn,
)

pytestmark = pytest.mark.integration

RUNNER = "FnApiRunner"
BASE_TIMESTAMP_MS = 1_700_000_000_000


def _produce(
    bootstrap: str, topic: str, numbers: range, partitions: int
) -> list[tuple[int, int, bytes, bytes, int]]:
    """Sends ``article <n>`` round-robin over the partitions; returns what the broker stored."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = []
    for n in numbers:
        key, value, timestamp_ms = f"k{n}".encode(), f"article {n}".encode(), BASE_TIMESTAMP_MS + n
        future = producer.send(
            topic, key=key, value=value, partition=n % partitions, timestamp_ms=timestamp_ms
        )
        sent.append((future, key, value, timestamp_ms))
    producer.flush()
    stored = []
    for future, key, value, timestamp_ms in sent:
        metadata = future.get(timeout=10)
        stored.append((metadata.partition, metadata.offset, value, key, timestamp_ms))
    producer.close()
    return stored


def _group() -> str:
    return f"test-group-{uuid.uuid4().hex[:8]}"


def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    values = []
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(record.value for record in records)
    consumer.close()
    return values


def test_read_to_end_emits_each_record_once_at_its_kafka_timestamp(kafka_bootstrap, unique_topic):
    topic = unique_topic(partitions=3)
    stored = _produce(kafka_bootstrap, topic, range(30), partitions=3)

    with beam.Pipeline(runner=RUNNER) as p:
        events = p | "Read" >> ReadFromKafka(
            KafkaConnection.of(kafka_bootstrap), topic, _group(), stop_at_end=True
        )
        assert_that(
            events
            | "Fields"
            >> beam.Map(
                lambda e: (e.ref.partition, e.ref.offset, e.payload, e.key, e.timestamp_ms)
            ),
            equal_to(stored),
            label="AllRecords",
        )
        assert_that(
            events
            | "Timestamps"
            >> beam.Map(lambda e, ts=beam.DoFn.TimestampParam: (e.ref.topic, ts.micros // 1000)),
            equal_to([(topic, timestamp_ms) for *_, timestamp_ms in stored]),
            label="EventTimestamps",
        )


def test_round_trip_commits_end_offsets_and_a_rerun_resumes_after_them(
    kafka_bootstrap, unique_topic
):
    source = unique_topic(partitions=3, suffix="in")
    sink = unique_topic(partitions=1, suffix="out")
    group = _group()
    _produce(kafka_bootstrap, source, range(12), partitions=3)

    with beam.Pipeline(runner=RUNNER) as p:
        written = (
            p
            | "Read"
            >> ReadFromKafka(KafkaConnection.of(kafka_bootstrap), source, group, stop_at_end=True)
            | "ToRecord" >> beam.Map(lambda e: (e.key, e.payload.upper(), e.ref))
            | "Write" >> WriteToKafka(KafkaConnection.of(kafka_bootstrap), sink)
        )
        commits = written | "Commit" >> CommitOffsets(KafkaConnection.of(kafka_bootstrap), group)
        # Each advance of a partition's contiguous written spans is a commit; the last is the end.
        last = (
            commits
            | "ByPartition" >> beam.Map(lambda c: ((c[0], c[1]), c[2]))
            | "LastCommit" >> beam.CombinePerKey(max)
            | "Flat" >> beam.Map(lambda kv: (*kv[0], kv[1]))
        )
        assert_that(last, equal_to([(source, p, 4) for p in range(3)]))

    assert sorted(_read_all(kafka_bootstrap, sink)) == sorted(
        f"ARTICLE {n}".encode() for n in range(12)
    )
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    partitions = [TopicPartition(source, p) for p in range(3)]
    committed = {tp: consumer.committed(tp) for tp in partitions}
    assert committed == consumer.end_offsets(partitions)
    consumer.close()

    with beam.Pipeline(runner=RUNNER) as p:
        rerun = p | "Read" >> ReadFromKafka(
            KafkaConnection.of(kafka_bootstrap), source, group, stop_at_end=True
        )
        assert_that(rerun, equal_to([]))

    newer = _produce(kafka_bootstrap, source, range(12, 15), partitions=3)
    with beam.Pipeline(runner=RUNNER) as p:
        resumed = p | "Read" >> ReadFromKafka(
            KafkaConnection.of(kafka_bootstrap), source, group, stop_at_end=True
        )
        assert_that(
            resumed | beam.Map(lambda e: (e.ref.partition, e.ref.offset, e.payload)),
            equal_to([(partition, offset, value) for partition, offset, value, *_ in newer]),
        )


def test_unbounded_read_defers_the_rest_of_the_partition_once_caught_up(
    kafka_bootstrap, unique_topic
):
    topic = unique_topic(partitions=1)
    stored = _produce(kafka_bootstrap, topic, range(5), partitions=1)
    kafka = KafkaConnection.of(kafka_bootstrap)
    fn = ReadUnboundedPartitionFn(kafka, PartitionRestrictionProvider(kafka, _group(), False))
    restriction = fn.initial_restriction((topic, 0))
    assert restriction == OffsetRange(0, UNBOUNDED_END)
    tracker = ThreadsafeRestrictionTracker(fn.create_tracker(restriction))
    watermark = ManualWatermarkEstimator(None)

    fn.setup()
    try:
        emitted = list(fn.process((topic, 0), RestrictionTrackerView(tracker), watermark))
    finally:
        fn.teardown()

    assert [(v.value.ref.offset, v.value.payload) for v in emitted] == [
        (offset, value) for _, offset, value, *_ in stored
    ]
    residual, _delay = tracker.deferred_status()
    assert residual == OffsetRange(5, UNBOUNDED_END)
    assert watermark.current_watermark() >= Timestamp.of((BASE_TIMESTAMP_MS + 4) / 1000)


def _read_once(fn: ReadUnboundedPartitionFn, topic: str, partition: int) -> list[int]:
    """Offsets one resumed read of ``partition`` emits, from its initial restriction."""
    tracker = ThreadsafeRestrictionTracker(
        fn.create_tracker(fn.initial_restriction((topic, partition)))
    )
    emitted = fn.process(
        (topic, partition), RestrictionTrackerView(tracker), ManualWatermarkEstimator(None)
    )
    return [value.value.ref.offset for value in emitted]


def test_a_reader_given_partitions_in_turn_reads_each_ones_records_in_its_first_poll(
    kafka_bootstrap, unique_topic
):
    """As a Flink subtask reads the partitions of its key groups: partition 0 is read, and the
    fetch its consumer then sends ahead is held by the broker (``fetch.max.wait.ms``, 20 s here)
    since nothing new is there. Partition 1's read must still find its records in a poll shorter
    than that hold (one consumer re-assigned to each partition in turn waited for the held fetch
    and returned nothing: ``partition_consumers``)."""
    topic = unique_topic(partitions=2)
    stored = _produce(kafka_bootstrap, topic, range(4), partitions=2)
    kafka = KafkaConnection.of(kafka_bootstrap, {"fetch.max.wait.ms": "20000"})
    fn = ReadUnboundedPartitionFn(
        kafka, PartitionRestrictionProvider(kafka, _group(), False), IdleReads(poll_ms=10_000)
    )

    fn.setup()
    try:
        read = {partition: _read_once(fn, topic, partition) for partition in (0, 1)}
    finally:
        fn.teardown()

    assert read == {
        partition: [offset for p, offset, *_ in stored if p == partition] for partition in (0, 1)
    }


@pytest.mark.parametrize("rest_ms", [0, 1500])
def test_a_caught_up_partition_is_handed_back_to_rest_as_long_as_asked(
    kafka_bootstrap, unique_topic, rest_ms
):
    """An empty poll defers the partition with ``--idle-rest-millis`` as the requested delay (the
    runner resumes it no sooner), having moved its watermark to the wall clock minus the lag."""
    topic = unique_topic(partitions=1)
    kafka = KafkaConnection.of(kafka_bootstrap)
    fn = ReadUnboundedPartitionFn(
        kafka,
        PartitionRestrictionProvider(kafka, _group(), False),
        IdleReads(lag_seconds=0.5, poll_ms=100, rest_ms=rest_ms),
    )
    tracker = ThreadsafeRestrictionTracker(fn.create_tracker(fn.initial_restriction((topic, 0))))
    watermark = ManualWatermarkEstimator(None)
    fn.setup()
    try:
        before = Timestamp.now()
        emitted = list(fn.process((topic, 0), RestrictionTrackerView(tracker), watermark))
    finally:
        fn.teardown()

    residual, delay = tracker.deferred_status()
    assert emitted == []
    assert residual.start == 0
    assert rest_ms / 1000 - 1.0 < delay.micros / 1e6 <= rest_ms / 1000
    assert watermark.current_watermark() >= before - 0.5


def test_streaming_read_is_an_unbounded_pcollection():
    p = beam.Pipeline(runner=RUNNER)
    bounded = p | "Bounded" >> ReadFromKafka(
        KafkaConnection.of("127.0.0.1:1"), "t", "g", stop_at_end=True
    )
    unbounded = p | "Unbounded" >> ReadFromKafka(
        KafkaConnection.of("127.0.0.1:1"), "t", "g", stop_at_end=False
    )
    assert bounded.is_bounded
    assert not unbounded.is_bounded


def test_reading_a_missing_topic_fails_naming_the_topic(kafka_bootstrap):
    topic = f"test.missing.{uuid.uuid4().hex[:8]}"
    with (
        pytest.raises(KafkaIOError, match=re.escape(f"topic {topic} does not exist")),
        beam.Pipeline(runner=RUNNER) as p,
    ):
        _ = p | ReadFromKafka(
            KafkaConnection.of(kafka_bootstrap), topic, _group(), stop_at_end=True
        )


def _commits(bootstrap: str, topic: str, group: str, partitions: int) -> dict:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        return {
            p: consumer.committed(TopicPartition(topic, p), metadata=True)
            for p in range(partitions)
        }
    finally:
        consumer.close()


def test_the_reader_commits_nothing_and_commit_starts_gives_each_partition_a_floor(
    kafka_bootstrap, unique_topic
):
    source = unique_topic(partitions=2, suffix="in")
    sink = unique_topic(partitions=1, suffix="out")
    _produce(kafka_bootstrap, source, range(6), partitions=2)
    _produce(kafka_bootstrap, sink, range(4), partitions=1)
    kafka, reader_only, with_starts = KafkaConnection.of(kafka_bootstrap), _group(), _group()

    with beam.Pipeline(runner=RUNNER) as p:
        read = p | "Read" >> ReadFromKafka(kafka, source, reader_only, stop_at_end=True)
        assert_that(read | "Count" >> beam.combiners.Count.Globally(), equal_to([6]))
    assert _commits(kafka_bootstrap, source, reader_only, 2) == {0: None, 1: None}

    with beam.Pipeline(runner=RUNNER) as p:
        starts = CommitStarts(kafka, with_starts, (sink,))
        read = p | "Read" >> ReadFromKafka(
            kafka, source, with_starts, stop_at_end=True, before_read=starts
        )
        assert_that(read | "Count" >> beam.combiners.Count.Globally(), equal_to([6]))
    commits = _commits(kafka_bootstrap, source, with_starts, 2)
    assert {p: c.offset for p, c in commits.items()} == {0: 0, 1: 0}, "the log start"
    assert {p: parse_output_floor(c.metadata) for p, c in commits.items()} == {
        0: ((sink, 0, 4),),
        1: ((sink, 0, 4),),
    }, "with the output floor sampled before the partition was read"
