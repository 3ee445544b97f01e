"""A reader instance's consumers: one per partition, moved only when a read starts elsewhere, closed
only once no read is using them."""

from __future__ import annotations

import time
from types import SimpleNamespace

from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from kafka import TopicPartition

from transforms.io.broker_retry import BrokerCalls
from transforms.io.kafka_source import MAX_STAMP_AHEAD, ReadPartitionFn
from transforms.io.partition_consumers import IDLE_SECONDS, PartitionConsumers

A, B = TopicPartition("raw", 0), TopicPartition("raw", 1)


class FakeConsumer:
    """Records what the reader asks of it; ``read`` stands for a poll that returned records."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.closed = False
        self._position: dict[TopicPartition, int] = {}

    def assign(self, partitions):
        self.calls.append(("assign", tuple(partitions)))

    def seek(self, tp, offset):
        self.calls.append(("seek", tp, offset))
        self._position[tp] = offset

    def position(self, tp, timeout_ms=None):
        return self._position[tp]

    def read(self, tp, records: int) -> None:
        self._position[tp] += records

    def close(self, autocommit=True):
        self.closed = True


def _consumers(clock=lambda: 0.0) -> tuple[PartitionConsumers, list[FakeConsumer]]:
    opened: list[FakeConsumer] = []

    def open_consumer() -> FakeConsumer:
        opened.append(FakeConsumer())
        return opened[-1]

    return PartitionConsumers(open_consumer, BrokerCalls("x:1", 10.0, False), clock=clock), opened


def test_each_partition_has_its_own_consumer_assigned_to_it_alone():
    consumers, opened = _consumers()

    first, second, again = consumers.at(A, 5), consumers.at(B, 9), consumers.at(A, 5)

    assert first is again and first is not second and len(opened) == 2
    assert first.calls == [("assign", (A,)), ("seek", A, 5)]
    assert second.calls == [("assign", (B,)), ("seek", B, 9)]


def test_a_read_that_starts_where_the_last_stopped_keeps_what_was_fetched_ahead():
    consumers, _ = _consumers()
    consumer = consumers.at(A, 5)
    consumer.read(A, 3)

    assert consumers.at(A, 8) is consumer
    assert consumer.calls == [("assign", (A,)), ("seek", A, 5)]


def test_a_read_that_starts_elsewhere_moves_the_consumer():
    consumers, _ = _consumers()
    consumer = consumers.at(A, 5)
    consumer.read(A, 3)  # the claim failed at 6 (a split): the rest is another restriction's

    consumers.at(A, 6)

    assert consumer.calls[-1] == ("seek", A, 6)
    assert consumers.position(A) == 6


def test_a_consumer_left_unused_is_closed_and_others_are_kept():
    now = [0.0]
    consumers, opened = _consumers(clock=lambda: now[0])
    consumers.at(A, 0)
    now[0] = IDLE_SECONDS / 2
    consumers.at(B, 0)

    now[0] = IDLE_SECONDS + 1
    kept = consumers.at(B, 0)

    assert [c.closed for c in opened] == [True, False] and kept is opened[1]
    consumers.close()
    assert opened[1].closed
    assert consumers.at(A, 0) is opened[2]  # closed ones are opened anew when read again


def test_a_close_during_a_read_waits_for_the_read_to_end():
    consumers, opened = _consumers()
    with consumers.reading():
        consumers.at(A, 0)
        consumers.close()  # Beam's harness tearing the DoFn down from another thread
        assert not opened[0].closed
        assert consumers.position(A) == 0, "the read in progress still has its consumer"
    assert opened[0].closed


def test_a_close_waits_for_the_last_of_several_reads():
    consumers, opened = _consumers()
    with consumers.reading():
        with consumers.reading():
            consumers.at(A, 0)
            consumers.close()
        assert not opened[0].closed
    assert opened[0].closed


class FakeRecord:
    def __init__(self, offset: int, timestamp: int | None = None) -> None:
        self.topic, self.partition, self.offset = A.topic, A.partition, offset
        self.value, self.key = b"{}", None
        self.timestamp = 1_700_000_000_000 + offset if timestamp is None else timestamp


class PollingConsumer(FakeConsumer):
    """A consumer of partition A holding offsets [0, ``end``)."""

    def __init__(self, end: int) -> None:
        super().__init__()
        self._end = end

    def poll(self, timeout_ms=0, max_records=None):
        start = self._position[A]
        self._position[A] = self._end
        return {A: [FakeRecord(o) for o in range(start, self._end)]}


def test_a_reader_torn_down_mid_bundle_finishes_its_read_then_closes_its_consumer():
    """What a cancelled job's worker does: teardown from the harness while ``process`` runs. The
    read failed before (a KeyError or AttributeError traceback: its consumers dropped under it)."""
    consumer = PollingConsumer(end=4)
    connection = SimpleNamespace(
        broker=BrokerCalls("x:1", 10.0, False), connected_consumer=lambda: consumer
    )
    fn = ReadPartitionFn(connection, restrictions=None)
    fn.setup()
    tracker = OffsetRestrictionTracker(OffsetRange(0, 4))
    read = fn.process(("raw", 0), tracker, ManualWatermarkEstimator(None))

    first = next(read)
    fn.teardown()
    rest = list(read)

    assert [e.value.ref.offset for e in [first, *rest]] == [0, 1, 2, 3]
    assert consumer.closed


def test_a_record_stamped_decades_ahead_is_read_at_most_half_a_minute_ahead():
    """A producer's clock decades ahead: its stamp as event time would move the watermark, and
    the keyed steps' TTLs, there."""
    ahead_ms = int(time.time() * 1000) + 40 * 365 * 86_400_000

    class AheadConsumer(PollingConsumer):
        def poll(self, timeout_ms=0, max_records=None):
            self._position[A] = 1
            return {A: [FakeRecord(0, ahead_ms)]}

    consumer = AheadConsumer(end=1)
    connection = SimpleNamespace(
        broker=BrokerCalls("x:1", 10.0, False), connected_consumer=lambda: consumer
    )
    fn = ReadPartitionFn(connection, restrictions=None)
    fn.setup()
    before = time.time()

    (read,) = fn.process(
        ("raw", 0), OffsetRestrictionTracker(OffsetRange(0, 1)), ManualWatermarkEstimator(None)
    )

    seconds_ahead = read.timestamp.micros / 1e6 - before
    assert 0 <= seconds_ahead <= MAX_STAMP_AHEAD.micros / 1e6 + (time.time() - before)
    assert read.value.timestamp_ms == ahead_ms, "the event keeps its stamp"
