"""Offsets an input topic deleted before the reader got to them, found and made an input.

A topic deletes its oldest records by retention (or an operator's records deletion) whether or
not a consumer has read them: a job stopped longer than the retention, or one that fell that far
behind, finds its next offset gone. Kafka's consumer then resets to the log start (or wherever
``auto.offset.reset`` says) and the next record it returns is further on, without a word above
INFO. The reader asks, whenever it is handed a record past the offset it expected (or finds its
position moved with no record), whether the log start moved past that offset; if so the offsets
``[expected, min(log start, next record))`` were deleted unread. They become one ``RawEvent``
with ``deleted`` set, whose span covers them: it ends in a dead letter ``deleted_before_read``
naming the range, and the commit moves past the range like past any input's span.

A gap the log start did not move past (compaction, transaction markers) is no deletion: its
offsets go to the next record's span as before (``SourceRef.span_start``).

A read that lands *below* the offset expected found no offset there at all, and the consumer
reset to an earlier one; likewise a commit past the partition's end at start. The partition was
truncated below what the job read (an unclean leader election), or its group's offset was set
past the end by hand. (A topic deleted and recreated is not this: Kafka drops the group's
offsets with it, and the job starts the new topic at its beginning.) Reading on would give new
records the coordinates of old ones, whose outputs a restart's scan recognises as written, or
fail on the claim; the job stops with ``PartitionRewoundError`` saying what to do instead.
"""

from __future__ import annotations

import logging

from apache_beam.metrics import Metrics
from kafka import KafkaConsumer, TopicPartition

from schemas.errors import PartitionRewoundError
from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS, BrokerCalls
from transforms.text.models import RawEvent, SourceRef

_LOG = logging.getLogger(__name__)


def deleted_end(expected: int, arrived: int, log_start: int) -> int | None:
    """The end of the offsets from ``expected`` the topic deleted unread, or None: the reader
    expected ``expected`` and got ``arrived`` (the next record's offset, or its position), and
    the partition now starts at ``log_start``. Offsets at or past ``arrived`` are not lost (a
    log start that moved on since the fetch is the next read's business)."""
    end = min(arrived, log_start)
    return end if end > expected else None


def rewound_message(tp: TopicPartition, expected: int, found: str) -> str:
    """Why the job stops at a partition whose offsets went back (``found``: what the partition
    holds instead), and what to do about it."""
    return (
        f"{tp.topic}/{tp.partition}: the job left off at offset {expected}, but the partition "
        f"{found}: it was truncated (an unclean leader election) or the group's offset was set "
        "past its end. newsflow does not guess which records are new: set the consumer group's "
        "offset for it (kafka-consumer-groups --reset-offsets --to-earliest, or --to-offset N) "
        "and start the job again"
    )


def deleted_event(tp: TopicPartition, start: int, end: int) -> RawEvent:
    """The input standing for offsets ``[start, end)`` of ``tp``: no payload, its span theirs."""
    ref = SourceRef(topic=tp.topic, partition=tp.partition, offset=end - 1, span_start=start)
    return RawEvent(payload=b"", ref=ref, deleted=True)


class DeletedOffsets:
    """Asks the log start when a read skipped ahead; counts and logs what was deleted unread."""

    def __init__(self, broker: BrokerCalls, namespace: str) -> None:
        self._broker = broker
        self._deleted = Metrics.counter(namespace, "deleted_before_read")

    def since(
        self, consumer: KafkaConsumer, tp: TopicPartition, expected: int, arrived: int
    ) -> RawEvent | None:
        """The input for offsets deleted from ``expected`` on, None if none were (the common
        case, a record at the expected offset, asks the broker nothing).
        ``PartitionRewoundError`` if the read went back below ``expected``."""
        if arrived < expected:
            found = f"has no offset there: the read went back to {arrived}"
            raise PartitionRewoundError(rewound_message(tp, expected, found))
        if arrived == expected:
            return None
        log_start = self._broker.call(
            f"log start of {tp.topic}/{tp.partition}",
            consumer.beginning_offsets,
            [tp],
            ATTEMPT_TIMEOUT_MS,
        )[tp]
        end = deleted_end(expected, arrived, log_start)
        if end is None:
            return None
        self._deleted.inc(end - expected)
        _LOG.warning(
            "%s/%s: offsets [%s, %s) were deleted from the topic (retention or a records "
            "deletion) before they were read: up to %s inputs lost; dead letter "
            "deleted_before_read at %s/%s@%s",
            tp.topic,
            tp.partition,
            expected,
            end,
            end - expected,
            tp.topic,
            tp.partition,
            end - 1,
        )
        return deleted_event(tp, expected, end)
