"""One Kafka consumer per partition a reader instance reads, kept from one bundle to the next.

A runner hands one reader instance several partitions in turn (a Flink subtask reads every
partition whose key falls in its key groups; Prism pools its DoFn instances). A kafka-python
consumer keeps at most one fetch in flight per broker, and the broker holds a fetch up to
``fetch.max.wait.ms`` (500 ms by default) while the partition has nothing new. One consumer
re-assigned to each partition in turn found the last partition's fetch still in flight, so its
poll for the next partition returned nothing while that partition had records: they waited for
the following resume, a second or more later (up to 4.5 s with two partitions and 0.5 s between
records; docs/performance.md). Beam Java's Kafka reader keeps a consumer per partition for the
same reason.

A kept consumer stays assigned to its one partition and keeps fetching ahead. It is moved
(``seek``, which drops what it fetched ahead) only when a read starts where the consumer does not
stand: after a split, a restore, or a read that stopped mid-batch. A consumer left unused for
``IDLE_SECONDS`` is closed: its partition is read by another instance now, or is gone. The cost
is a connection per partition an instance reads, and at most one fetch
(``max.partition.fetch.bytes``) buffered ahead for each (docs/operations.md).

Closing waits for the reads in progress. When its worker shuts down (a cancelled or stopped job),
Beam's SDK harness tears down the DoFns of bundles still running, from another thread
(``BundleProcessorCache.shutdown`` discards the active bundles): consumers closed then failed the
running read with a ``KeyError`` traceback at a clean stop. The last read to end closes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS, BrokerCalls

# A partition this instance reads is resumed every second or so; one unused this long has moved.
IDLE_SECONDS = 120.0


@dataclass
class _Held:
    consumer: KafkaConsumer
    used: float


class PartitionConsumers:
    """Consumers by partition, opened on first use; one thread at a time (a DoFn instance), but
    for ``close``, which may come from another (the module doc)."""

    def __init__(
        self,
        open_consumer: Callable[[], KafkaConsumer],
        broker: BrokerCalls,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open = open_consumer
        self._broker = broker
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._held: dict[TopicPartition, _Held] = {}
        self._lock = threading.Lock()
        self._reads = 0
        self._closing = False

    def at(self, tp: TopicPartition, offset: int) -> KafkaConsumer:
        """``tp``'s consumer, its next record the one at ``offset``."""
        now = self._clock()
        self._close_idle(now)
        held = self._held.get(tp)
        if held is None:
            consumer = self._open()
            consumer.assign([tp])
            consumer.seek(tp, offset)
            held = self._held[tp] = _Held(consumer, now)
        elif self.position(tp) != offset:
            held.consumer.seek(tp, offset)
        held.used = now
        return held.consumer

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record ``tp``'s consumer returns (retried through an outage)."""
        return self._broker.call(
            f"position of {tp.topic}/{tp.partition}",
            self._held[tp].consumer.position,
            tp,
            ATTEMPT_TIMEOUT_MS,
            local=True,
        )

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Around a read: a ``close`` while it runs is carried out when it ends."""
        with self._lock:
            self._reads += 1
        try:
            yield
        finally:
            with self._lock:
                self._reads -= 1
                close = self._closing and not self._reads
            if close:
                self._close_all()

    def close(self) -> None:
        """Close every consumer now, or when the last read in progress ends."""
        with self._lock:
            self._closing = True
            if self._reads:
                return
        self._close_all()

    def _close_all(self) -> None:
        for tp in list(self._held):
            self._close(tp)

    def _close_idle(self, now: float) -> None:
        for tp in [tp for tp, held in self._held.items() if now - held.used > self._idle_seconds]:
            self._close(tp)

    def _close(self, tp: TopicPartition) -> None:
        self._held.pop(tp).consumer.close(autocommit=False)
