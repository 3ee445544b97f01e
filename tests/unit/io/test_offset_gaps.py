"""Offsets a read finds without records: deleted unread (one input, a dead letter naming them,
never a silent jump), skipped at a partition's end (one input whose span is committed), or gone
backwards (the job stops). The consumer below resets as Kafka's does (``earliest``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker
from kafka import TopicPartition

from schemas.errors import DeletedInputsError, PartitionRewoundError
from transforms.io.broker_retry import BrokerCalls
from transforms.io.kafka_source import ReadPartitionFn
from transforms.io.offset_gaps import deleted_end
from transforms.text.event import decode_event

TP = TopicPartition("raw", 0)


@pytest.mark.parametrize(
    ("expected", "arrived", "log_start", "end"),
    [
        (3, 6, 6, 6),  # retention moved the log start to the next record
        (3, 9, 9, 9),  # everything deleted, nothing left to read
        (3, 8, 6, 6),  # deleted up to 6, then a compacted gap: 6 and 7 are the record's span
        (3, 6, 9, 6),  # the log start moved on after the fetch: the next read's business
        (3, 6, 0, None),  # a compaction or transaction-marker gap
        (3, 3, 9, None),  # the expected record came (the broker is not asked)
    ],
)
def test_deleted_end(expected, arrived, log_start, end):
    assert deleted_end(expected, arrived, log_start) == end


class Record:
    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = TP.topic, TP.partition, offset
        self.value, self.key, self.timestamp = b"{}", None, 1_700_000_000_000 + offset


class RetainingConsumer:
    """Partition ``TP`` holding the records at ``offsets`` from ``log_start`` on; a position
    outside them (below the log start, past the end) resets to the log start at the next poll,
    as Kafka's consumer does with ``auto.offset.reset=earliest``."""

    def __init__(
        self, log_start: int, offsets: list[int], batches: int = 1, end: int | None = None
    ) -> None:
        self.log_start, self.offsets, self.position_at = log_start, offsets, log_start
        self.end = end if end is not None else max(offsets) + 1 if offsets else log_start
        self.batch = max(1, -(-len(offsets) // batches))
        self.asked_log_start = 0

    def assign(self, partitions) -> None:
        pass

    def seek(self, tp, offset: int) -> None:
        self.position_at = offset

    def position(self, tp, timeout_ms=None) -> int:
        return self.position_at

    def beginning_offsets(self, partitions, timeout_ms=None):
        self.asked_log_start += 1
        return {TP: self.log_start}

    def poll(self, timeout_ms=0, max_records=None):
        if not self.log_start <= self.position_at <= self.end:
            self.position_at = self.log_start
        left = [o for o in self.offsets if o >= self.position_at]
        batch = left[: self.batch]
        # A fetch takes the offsets up to the next record (transaction markers, compacted
        # records) with it.
        self.position_at = left[len(batch)] if len(batch) < len(left) else self.end
        return {TP: [Record(o) for o in batch]} if batch else {}

    def close(self, autocommit=True) -> None:
        pass


def read(consumer: RetainingConsumer, start: int, stop: int) -> list:
    connection = SimpleNamespace(
        broker=BrokerCalls("x:1", 10.0, False), connected_consumer=lambda: consumer
    )
    fn = ReadPartitionFn(connection, restrictions=None)
    fn.setup()
    tracker = OffsetRestrictionTracker(OffsetRange(start, stop))
    view = RestrictionTrackerView(ThreadsafeRestrictionTracker(tracker))
    events = [e.value for e in fn.process(("raw", 0), view, ManualWatermarkEstimator(None))]
    tracker.check_done()  # read to the end in one call, the deleted range claimed with the rest
    return events


def spans(events) -> list[tuple[int, int, bool]]:
    return [(e.ref.span_start, e.ref.offset, e.absent) for e in events]


def test_offsets_deleted_before_the_read_are_one_input_before_the_records_left():
    events = read(RetainingConsumer(log_start=6, offsets=[6, 7, 8]), start=3, stop=9)

    assert spans(events) == [(3, 5, "deleted"), (6, 6, None), (7, 7, None), (8, 8, None)]
    assert events[0].payload == b""


def test_a_partition_deleted_to_its_end_is_one_input_for_the_whole_range():
    consumer = RetainingConsumer(log_start=9, offsets=[])

    events = read(consumer, start=3, stop=9)

    assert spans(events) == [(3, 8, "deleted")]


def test_a_gap_the_log_start_did_not_pass_belongs_to_the_next_record():
    consumer = RetainingConsumer(log_start=0, offsets=[0, 1, 5, 6], batches=2)

    events = read(consumer, start=0, stop=7)

    assert spans(events) == [(0, 0, None), (1, 1, None), (2, 5, None), (6, 6, None)]
    assert consumer.asked_log_start == 0, "a poll that moved past it is no reset"


def test_a_range_ending_in_a_transaction_marker_ends_in_a_skipped_input():
    """Its span goes to the commit: before, the commit stayed at the marker for good."""
    events = read(RetainingConsumer(log_start=0, offsets=[0, 1, 2], end=4), start=0, stop=4)

    assert spans(events) == [(0, 0, None), (1, 1, None), (2, 2, None), (3, 3, "skipped")]


def test_a_read_that_starts_on_a_trailing_marker_ends():
    """The bounded run a commit at the marker started: before, it polled the marker forever."""
    consumer = RetainingConsumer(log_start=0, offsets=[0, 1, 2], end=4)

    events = read(consumer, start=3, stop=4)

    assert spans(events) == [(3, 3, "skipped")]


def test_offsets_deleted_then_skipped_are_two_inputs():
    consumer = RetainingConsumer(log_start=5, offsets=[], end=7)  # deleted to 5, a marker at 6

    assert spans(read(consumer, start=3, stop=7)) == [(3, 4, "deleted"), (5, 6, "skipped")]


def test_the_dead_letter_names_the_deleted_range():
    (deleted,) = read(RetainingConsumer(log_start=9, offsets=[]), start=3, stop=9)

    with pytest.raises(DeletedInputsError) as raised:
        decode_event(deleted, now_ms=0)

    assert raised.value.code == "deleted_before_read"
    assert str(raised.value).startswith("offsets 3-8 of raw/0 were deleted from the topic")
    assert str(raised.value).endswith("before newsflow read them: up to 6 inputs lost")


def test_a_partition_that_went_back_below_the_commit_stops_the_read_with_what_to_do():
    """Truncated under a running job: it expects 500, the partition holds 0-2. Before, the claim
    of offset 0 below the range failed the bundle with Beam's ValueError, on every retry."""
    with pytest.raises(PartitionRewoundError) as raised:
        read(RetainingConsumer(log_start=0, offsets=[0, 1, 2]), start=500, stop=503)

    message = str(raised.value)
    assert message.startswith("raw/0: the job left off at offset 500")
    assert "has no offset there: the read went back to 0: it was truncated" in message
    assert "--reset-offsets" in message
