"""Offsets a read finds without records: deleted unread, skipped at the end, or gone backwards.

Every input accounts for the offsets from the reader's position before it through its own
(``SourceRef.span_start``), so a gap before a record (compaction, a transaction marker) is the
record's span, and the commit never waits on a hole. Three gaps have no record after them:

* **Deleted unread.** A topic deletes its oldest records by retention (or an operator's records
  deletion) whether or not a consumer read them: a job stopped longer than the retention, or one
  that fell that far behind, finds its next offset gone. Kafka's consumer resets to the log start
  (or wherever ``auto.offset.reset`` says) and says so only at INFO. Whenever a read lands past
  the offset it expected (a record further on, or its position moved with none), the reader asks
  for the log start; if it moved past that offset, offsets ``[expected, min(log start, where the
  read landed))`` were deleted unread. They become one ``RawEvent`` (``absent`` ``DELETED``)
  spanning them, which decode turns into a dead letter ``deleted_before_read`` naming the range.
* **Skipped at the end.** A partition's last offsets may hold no record: a transactional
  producer's commit marker ends every transaction (Kafka Connect, Streams, Flink's exactly-once
  sink write so). A poll that returns nothing but moves the position past them leaves no record
  to carry their span: the commit stayed one offset short of the end for good, and a bounded run
  (``--stop-at-end``) started there polled the marker forever. They become a ``RawEvent``
  (``absent`` ``SKIPPED``) whose ref goes straight to the commit (``SkippedOffsets``).
* **Gone backwards.** A read that lands *below* the offset expected found no offset there at all
  and the consumer reset to an earlier one; likewise a commit past the partition's end at start.
  The partition was truncated below what the job read (an unclean leader election), or its
  group's offset was set past the end by hand. (A topic deleted and recreated is not this: Kafka
  drops the group's offsets with it, and the job starts the new topic at its beginning.) Reading
  on would give new records the coordinates of old ones, whose outputs a restart's scan
  recognises as written, or fail on the claim; the job stops with ``PartitionRewoundError``
  saying what to do instead.
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.metrics import Metrics
from kafka import KafkaConsumer, TopicPartition

from schemas.errors import PartitionRewoundError
from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS, BrokerCalls
from transforms.text.models import DELETED, SKIPPED, RawEvent, SourceRef

_LOG = logging.getLogger(__name__)

SKIPPED_REFS = "skipped"


def deleted_end(expected: int, arrived: int, log_start: int) -> int | None:
    """The end of the offsets from ``expected`` the topic deleted unread, or None: the reader
    expected ``expected`` and got ``arrived`` (the next record's offset, or its position), and
    the partition now starts at ``log_start``. Offsets at or past ``arrived`` are not lost (a
    log start that moved on since the fetch is the next read's business)."""
    end = min(arrived, log_start)
    return end if end > expected else None


def absent_event(tp: TopicPartition, start: int, end: int, why: str) -> RawEvent:
    """The input standing for offsets ``[start, end)`` of ``tp``: no payload, its span theirs."""
    ref = SourceRef(topic=tp.topic, partition=tp.partition, offset=end - 1, span_start=start)
    return RawEvent(payload=b"", ref=ref, absent=why)


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


class OffsetGaps:
    """Asks the log start when a read skipped ahead; counts and logs what was deleted unread."""

    def __init__(self, broker: BrokerCalls, namespace: str) -> None:
        self._broker = broker
        self._deleted = Metrics.counter(namespace, "deleted_before_read")

    def since(
        self,
        consumer: KafkaConsumer,
        tp: TopicPartition,
        expected: int,
        arrived: int,
        record_follows: bool,
        span_start: int | None = None,
    ) -> list[RawEvent]:
        """The inputs standing for offsets from ``expected`` up to ``arrived`` that hold no
        record, in offset order: deleted ones, then (``record_follows`` False: the read landed
        on its position, not a record) the rest, skipped. The first of them also accounts for
        the offsets from ``span_start`` (below ``expected`` when an earlier poll moved past
        markers with no record after them). A read that landed on the expected offset asks the
        broker nothing."""
        if arrived < expected:
            found = f"has no offset there: the read went back to {arrived}"
            raise PartitionRewoundError(rewound_message(tp, expected, found))
        if arrived == expected:
            return []
        log_start = self._broker.call(
            f"log start of {tp.topic}/{tp.partition}",
            consumer.beginning_offsets,
            [tp],
            ATTEMPT_TIMEOUT_MS,
        )[tp]
        events, start = [], expected if span_start is None else span_start
        end = deleted_end(expected, arrived, log_start)
        if end is not None:
            events.append(self._deleted_unread(tp, start, end))
            start = end
        if not record_follows and arrived > start:
            events.append(absent_event(tp, start, arrived, SKIPPED))
        return events

    def _deleted_unread(self, tp: TopicPartition, start: int, end: int) -> RawEvent:
        self._deleted.inc(end - start)
        _LOG.warning(
            "%s/%s: offsets [%s, %s) were deleted from the topic (retention or a records "
            "deletion) before they were read: up to %s inputs lost; dead letter "
            "deleted_before_read at %s/%s@%s",
            tp.topic,
            tp.partition,
            start,
            end,
            end - start,
            tp.topic,
            tp.partition,
            end - 1,
        )
        return absent_event(tp, start, end, DELETED)


class _SplitSkipped(beam.DoFn):
    def process(self, raw: RawEvent):
        if raw.absent == SKIPPED:
            yield beam.pvalue.TaggedOutput(SKIPPED_REFS, raw.ref)
        else:
            yield raw


class SkippedOffsets(beam.PTransform):
    """RawEvents -> the events to process (main) and, ``skipped``, the refs of offsets skipped
    at a partition's end: written by definition, acknowledged to the commit as they are (after
    the output floor is stamped on them, which the commit records)."""

    def expand(self, events):
        return events | "SplitSkipped" >> beam.ParDo(_SplitSkipped()).with_outputs(
            SKIPPED_REFS, main="events"
        )
