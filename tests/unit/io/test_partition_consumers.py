"""A reader instance's consumers: one per partition, moved only when a read starts elsewhere."""

from __future__ import annotations

from kafka import TopicPartition

from transforms.io.broker_retry import BrokerCalls
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
