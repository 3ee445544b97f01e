"""The restart scan on the real broker: it reads the output topics from the floor recorded in
the commit metadata (above their log start) to their ends, no more, holds only the inputs after
the committed offset that have an output, finds a slow article's output written long before the
commit that covers its neighbours, and a restarted job writes nothing for it a second time.

The state a crashed job leaves is built by hand: a history of inputs committed long ago with
their outputs (below the floor), then inputs on the raw topic and an output for the slow input (a
dead letter stamped two hours ago) written before the outputs of the inputs the job then
committed, and the commit with its metadata. A scan from five minutes before the commit time (the
previous design) would start after both outputs and miss the slow one; a scan from the log start
would read the history too.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from apache_beam.internal import pickler
from apache_beam.pvalue import TaggedOutput
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from pipelines import cli
from pipelines.kafka_tools import read_topic
from schemas.codec import DEAD_LETTER, decode_any, encode
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_commit import commit_metadata
from transforms.io.output_floor import floor_now
from transforms.io.recovery import WRITTEN, SkipWrittenFn, find_written
from transforms.text.models import DeadLetter, RawEvent, SourceRef
from transforms.text.records import dead_letter_record

pytestmark = pytest.mark.integration

TWO_HOURS_MS = 2 * 3600 * 1000


HISTORY = 300  # inputs committed long ago, whose outputs lie below the floor


def _event(n: int) -> bytes:
    body = f"Article {n} about the harbour council. " * 20
    return json.dumps({"id": f"slow-{n}", "source": "test", "body": body}).encode()


def _letter(raw: str, offset: int, stamp_ms: int) -> bytes:
    """A dead letter for ``raw/0@offset``, as a crashed job wrote it."""
    letter = DeadLetter(
        payload=_event(offset), ref=SourceRef(topic=raw, partition=0, offset=offset),
        step="enrich", code="enrich_failed", message="written before the crash",
        exception_class=None, failed_at=stamp_ms,
    )  # fmt: skip
    return encode(dead_letter_record(letter, "test"), DEAD_LETTER)


def _outputs_per_input(topics: dict[str, str], bootstrap: str) -> dict[int, int]:
    """Input offset -> how many output records (in any of the three topics) it has."""
    per_input: dict[int, int] = {}
    for name in ("enriched", "duplicates", "dlq"):
        for message in read_topic(topics[name], bootstrap, {}):
            offset = decode_any(message.value)[1]["kafka"]["offset"]
            per_input[offset] = per_input.get(offset, 0) + 1
    return per_input


def _send_in_order(producer: KafkaProducer, topic: str, values: list[tuple[bytes, int]]) -> list:
    """Send ``(value, timestamp)`` pairs to partition 0 one after the other; their offsets."""
    return [
        producer.send(topic, value=v, partition=0, timestamp_ms=ts).get(timeout=30).offset
        for v, ts in values
    ]


def crash(bootstrap: str, unique_topic, done_after_floor: int):
    """Topics and a group as a job leaves them that committed the ``HISTORY`` inputs long ago,
    then ``done_after_floor`` inputs more, while the next input's (the slow one's) output had
    been written before theirs and the input after it was never processed. Returns the topics,
    the group, the slow input's offset, its output's offset and the floor."""
    topics = {n: unique_topic(1, n) for n in ("raw", "enriched", "duplicates", "dlq")}
    group = f"test-recovery-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    now = int(time.time() * 1000)
    inputs = HISTORY + done_after_floor + 2
    for n in range(inputs):
        producer.send(topics["raw"], value=_event(n), partition=0)
    for n in range(HISTORY):
        producer.send(topics["dlq"], value=_letter(topics["raw"], n, now), partition=0)
    producer.flush()
    floor_at = HISTORY  # the dlq's end offset when the reader sampled it, before it read on
    slow = HISTORY + done_after_floor
    old = now - TWO_HOURS_MS
    offsets = _send_in_order(
        producer, topics["dlq"],
        [(_letter(topics["raw"], slow, old), old)]
        + [(_letter(topics["raw"], n, old + 1), old + 1) for n in range(HISTORY, slow)],
    )  # fmt: skip
    producer.close()
    floor = ((topics["dlq"], 0, floor_at), (topics["duplicates"], 0, 0), (topics["enriched"], 0, 0))
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    metadata = commit_metadata(now, floor)
    consumer.commit({TopicPartition(topics["raw"], 0): OffsetAndMetadata(slow, metadata, -1)})
    consumer.close()
    return topics, group, slow, offsets[0], floor_at


@pytest.mark.parametrize("done_after_floor", [2, 400])
def test_the_scan_reads_from_the_floor_and_holds_only_what_was_in_flight(
    kafka_bootstrap, unique_topic, done_after_floor
):
    topics, group, slow, slow_at, floor_at = crash(kafka_bootstrap, unique_topic, done_after_floor)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    outputs = (topics["enriched"], topics["duplicates"], topics["dlq"])
    try:
        tp = TopicPartition(topics["dlq"], 0)
        log_start, end = consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
        found = find_written(consumer, topics["raw"], outputs, keep_records=False)
    finally:
        consumer.close()
    assert log_start == 0 < floor_at == slow_at, "the floor is above the log start"
    assert found.records_read == end - floor_at == done_after_floor + 1, (
        "the scan read exactly the records between the floor and the end, not the history"
    )
    assert found.found.written == {f"{topics['raw']}/0@{slow}": None}, (
        "it holds one entry, the uncommitted input's coordinates, however many records it read"
    )


def test_a_restart_writes_nothing_twice_for_the_slow_article(
    kafka_bootstrap, unique_topic, run_args, tmp_path
):
    topics, group, slow, _, _ = crash(kafka_bootstrap, unique_topic, 2)
    argv = [*run_args(kafka_bootstrap, topics, group, tmp_path / "files"), "--stop-at-end"]
    assert cli.main(argv) == 0

    per_input = _outputs_per_input(topics, kafka_bootstrap)
    assert per_input == dict.fromkeys(range(slow + 2), 1), "the slow input kept its old output"
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    tp = TopicPartition(topics["raw"], 0)
    assert consumer.committed(tp) == slow + 2, "the slow input was acknowledged: commit passed it"
    consumer.close()


def _setup_copy(fn: SkipWrittenFn) -> SkipWrittenFn:
    """What the SDK harness does for each bundle it runs at the same time: a DoFn instance
    unpickled from the pipeline, then ``setup``."""
    copy = pickler.loads(pickler.dumps(fn))
    copy.setup()
    return copy


def _outputs(fn: SkipWrittenFn, event: RawEvent) -> list[tuple[str, object]]:
    return [
        (out.tag, out.value) if isinstance(out, TaggedOutput) else ("events", out)
        for out in fn.process(event)
    ]


def test_the_instances_of_one_run_share_one_scan_and_a_restart_scans_again(
    kafka_bootstrap, unique_topic
):
    topics, group, slow, _, _ = crash(kafka_bootstrap, unique_topic, 2)
    outputs = (topics["enriched"], topics["duplicates"], topics["dlq"])
    slow_input = RawEvent(b"", SourceRef(topic=topics["raw"], partition=0, offset=slow))
    kafka = KafkaConnection.of(kafka_bootstrap)

    def run(token: str) -> SkipWrittenFn:
        return SkipWrittenFn(kafka, group, topics["raw"], outputs, refile=False, run=token)

    first, second = _setup_copy(run("a")), _setup_copy(run("a"))
    assert _outputs(second, slow_input) == [(WRITTEN, slow_input.ref)]
    assert _outputs(first, slow_input) == [("events", slow_input)], (
        "the second instance freed the input in the scan's result the first one holds: one scan"
    )
    restarted = _setup_copy(run("b"))
    assert _outputs(restarted, slow_input) == [(WRITTEN, slow_input.ref)], (
        "a new run (a restarted job) scans again"
    )


def test_a_second_crash_after_committing_past_skipped_inputs_loses_no_earlier_output(
    kafka_bootstrap, unique_topic, run_args, tmp_path
):
    """Run 1 read 100 inputs, wrote outputs for 0..80 (dlq offsets 0..80), committed 50 with
    floor 50 and died. Run 2 (a real ``SkipWrittenFn`` on its own scan) re-reads 50..60, stamped
    with its own floor (81, the end when it read), skips them, commits 61 with the floor input 60
    carries, and dies. Run 3 must still find run 1's outputs of 61..80 and write none again."""
    topics = {n: unique_topic(1, n) for n in ("raw", "enriched", "duplicates", "dlq")}
    outputs = (topics["enriched"], topics["duplicates"], topics["dlq"])
    group = f"test-recovery-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    now = int(time.time() * 1000)
    _send_in_order(producer, topics["raw"], [(_event(n), now) for n in range(100)])
    _send_in_order(
        producer, topics["dlq"], [(_letter(topics["raw"], n, now), now) for n in range(81)]
    )
    producer.close()
    raw_tp = TopicPartition(topics["raw"], 0)
    run1_floor = ((topics["dlq"], 0, 50), (topics["duplicates"], 0, 0), (topics["enriched"], 0, 0))
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    consumer.commit({raw_tp: OffsetAndMetadata(50, commit_metadata(now, run1_floor), -1)})

    kafka = KafkaConnection.of(kafka_bootstrap)
    run2 = _setup_copy(SkipWrittenFn(kafka, group, topics["raw"], outputs, False, "run-2"))
    stamped = floor_now(kafka, outputs)
    assert (topics["dlq"], 0, 81) in stamped, (
        "run 2 stamps its re-read inputs above run 1's outputs"
    )
    passed = [
        _outputs(run2, RawEvent(b"", SourceRef(topics["raw"], 0, n, output_floor=stamped)))
        for n in range(50, 61)
    ]
    assert all(tag == WRITTEN for [(tag, _)] in passed), "run 2 skips inputs 50..60"
    last_ref = passed[-1][0][1]
    consumer.commit(
        {raw_tp: OffsetAndMetadata(61, commit_metadata(now, last_ref.output_floor), -1)}
    )

    found = find_written(consumer, topics["raw"], outputs, keep_records=False)
    consumer.close()
    assert set(found.found.written) == {f"{topics['raw']}/0@{n}" for n in range(61, 81)}, (
        "run 3's scan starts at or below run 1's outputs of the inputs after the commit"
    )
    argv = [*run_args(kafka_bootstrap, topics, group, tmp_path / "files"), "--stop-at-end"]
    assert cli.main(argv) == 0
    per_input = _outputs_per_input(topics, kafka_bootstrap)
    assert per_input == dict.fromkeys(range(100), 1), "every input has exactly one output record"
