"""The restart scan on the real broker: a slow article's output, written long before the commit
that covers its neighbours, is found from the output floor in the commit metadata, and a restarted
job writes nothing for it a second time.

The state a crashed job leaves is built by hand: inputs on the raw topic, an output for the slow
input (a dead letter stamped two hours ago) written before the output of the input the job then
committed, and the commit with its metadata. A scan from five minutes before the commit time (the
previous design) would start after both outputs and miss the slow one.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from pipelines import cli
from pipelines.kafka_tools import read_topic
from schemas.codec import DEAD_LETTER, decode_any, encode
from transforms.io.kafka_commit import commit_metadata
from transforms.io.recovery import find_written
from transforms.text.models import DeadLetter, SourceRef
from transforms.text.records import dead_letter_record

pytestmark = pytest.mark.integration

TWO_HOURS_MS = 2 * 3600 * 1000


def _event(n: int) -> bytes:
    body = f"Article {n} about the harbour council. " * 20
    return json.dumps({"id": f"slow-{n}", "source": "test", "body": body}).encode()


def _old_output(producer: KafkaProducer, topic: str, raw: str, offset: int, stamp_ms: int) -> int:
    """A dead letter for ``raw/0@offset``, as a crashed job wrote it; returns its offset."""
    letter = DeadLetter(
        payload=_event(offset), ref=SourceRef(topic=raw, partition=0, offset=offset),
        step="enrich", code="enrich_failed", message="written before the crash",
        exception_class=None, failed_at=stamp_ms,
    )  # fmt: skip
    value = encode(dead_letter_record(letter, "test"), DEAD_LETTER)
    return producer.send(topic, value=value, timestamp_ms=stamp_ms).get(timeout=30).offset


@pytest.fixture
def crashed_job(kafka_bootstrap, unique_topic):
    """Topics and a group as a job leaves them that committed input 1 (inputs 0 and 1 done) while
    input 2's output had long been written and input 3 was never processed."""
    topics = {n: unique_topic(1, n) for n in ("raw", "enriched", "duplicates", "dlq")}
    group = f"test-recovery-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(4):
        producer.send(topics["raw"], value=_event(n), partition=0).get(timeout=30)
    floor = tuple((topics[n], 0, 0) for n in ("dlq", "duplicates", "enriched"))
    old = int(time.time() * 1000) - TWO_HOURS_MS
    slow_at = _old_output(producer, topics["dlq"], topics["raw"], 2, old)
    _old_output(producer, topics["dlq"], topics["raw"], 0, old + 1)
    _old_output(producer, topics["dlq"], topics["raw"], 1, old + 2)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    metadata = commit_metadata(int(time.time() * 1000), floor)
    consumer.commit({TopicPartition(topics["raw"], 0): OffsetAndMetadata(2, metadata, -1)})
    consumer.close()
    return topics, group, slow_at


def test_scan_from_the_floor_finds_an_output_written_long_before_the_commit(
    kafka_bootstrap, crashed_job
):
    topics, group, slow_at = crashed_job
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    outputs = (topics["enriched"], topics["duplicates"], topics["dlq"])
    try:
        written = find_written(consumer, topics["raw"], outputs, keep_records=False)
    finally:
        consumer.close()
    assert slow_at == 0, "the slow input's output is the oldest record of the topic"
    assert written == {f"{topics['raw']}/0@2": None}, "only uncommitted inputs; coordinates only"


def test_a_restart_writes_nothing_twice_for_the_slow_article(
    kafka_bootstrap, crashed_job, run_args, tmp_path
):
    topics, group, _ = crashed_job
    argv = [*run_args(kafka_bootstrap, topics, group, tmp_path / "files"), "--stop-at-end"]
    assert cli.main(argv) == 0

    per_input: dict[int, int] = {}
    for name in ("enriched", "duplicates", "dlq"):
        for message in read_topic(topics[name], kafka_bootstrap, {}):
            offset = decode_any(message.value)[1]["kafka"]["offset"]
            per_input[offset] = per_input.get(offset, 0) + 1
    assert per_input == {0: 1, 1: 1, 2: 1, 3: 1}, "input 2 kept its old output; 3 got one"
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    tp = TopicPartition(topics["raw"], 0)
    assert consumer.committed(tp) == 4, "input 2 was acknowledged, so the commit passed it"
    consumer.close()
