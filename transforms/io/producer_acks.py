"""Whether every record a producer sent was written: asked of each record's future, not of flush.

kafka-python's ``KafkaProducer.flush`` cannot say it. It never raises for a record the broker
refused (it logs a warning), and when the broker answers MESSAGE_TOO_LARGE for a batch of
records that each fit the topic (its ``max.message.bytes`` under the producer's ``batch.size``),
kafka-python 3.0 splits the batch and sends the halves again, and the flush already waiting fails
with ``UnknownError: Future not done`` (or returns) while they are in flight. Each record's
future follows the record into its new batch and ends with the record's own outcome, so a writer
that must know its records are written flushes (to send them now) and then waits on the futures.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata


def first_unwritten(
    producer: KafkaProducer,
    futures: Sequence[FutureRecordMetadata],
    timeout_seconds: float | None,
) -> tuple[int, KafkaError] | None:
    """``(position, error)`` of the first of ``futures`` not acknowledged within
    ``timeout_seconds`` of the call (None: as long as the producer's delivery timeout lets it
    try), or None when every one was."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    with contextlib.suppress(KafkaError):  # each future below holds its record's own outcome
        producer.flush(timeout=timeout_seconds)
    for position, future in enumerate(futures):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            future.get(timeout=left)
        except KafkaError as exc:
            return position, exc
    return None
