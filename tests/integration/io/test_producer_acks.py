"""Every writer knows its records were written when the broker takes them only in smaller batches
(MESSAGE_TOO_LARGE for a batch of records that each fit) or refuses one: a topic's
``max.message.bytes`` set under the producer's batch on the local broker.

Before ``transforms.io.producer_acks``, the first case failed the output sink's bundle and the
changelog's write with kafka-python's ``UnknownError: Future not done`` although every record
was written in the end, and ``newsflow produce`` reported a line the broker refused as produced.
"""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.kafka_tools import produce, read_topic
from schemas.errors import KafkaIOError
from transforms.io.changelog import ChangelogConfig, ChangelogWriter
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_sink import WriteToKafka
from transforms.text.models import SourceRef

pytestmark = pytest.mark.integration

RUNNER = "FnApiRunner"  # as in test_kafka_io.py
LIMIT = 2_000
RECORDS = 20
VALUE = bytes(500)  # four fit under LIMIT, a batch of all twenty does not


def _keys(bootstrap: str, topic: str, skip: bytes) -> list[bytes]:
    return sorted(m.key for m in read_topic(topic, bootstrap, {}) if m.key != skip)


def test_the_changelog_writes_records_the_broker_takes_only_in_smaller_batches(
    kafka_bootstrap, unique_topic, message_limits
):
    topic = unique_topic(1, "changelog")
    message_limits.set(topic, LIMIT)
    writer = ChangelogWriter(ChangelogConfig(KafkaConnection.of(kafka_bootstrap), topic, 10**9))
    keys = [f"k{n:02d}".encode() for n in range(RECORDS)]
    try:
        assert writer.send([(key, VALUE) for key in keys], "records") == RECORDS
    finally:
        writer.close()
    assert _keys(kafka_bootstrap, topic, message_limits.PROBE_KEY) == keys


def test_the_sink_acknowledges_records_the_broker_takes_only_in_smaller_batches(
    kafka_bootstrap, unique_topic, message_limits
):
    topic = unique_topic(1, "out")
    message_limits.set(topic, LIMIT)
    refs = [SourceRef(topic="in", partition=0, offset=n) for n in range(RECORDS)]
    with beam.Pipeline(runner=RUNNER) as p:
        written = (
            p
            | beam.Create([(f"k{ref.offset:02d}".encode(), VALUE, ref) for ref in refs])
            | WriteToKafka(KafkaConnection.of(kafka_bootstrap), topic)
        )
        assert_that(written, equal_to(refs))
    expected = [f"k{n:02d}".encode() for n in range(RECORDS)]
    assert _keys(kafka_bootstrap, topic, message_limits.PROBE_KEY) == expected


def test_the_sink_fails_naming_the_input_of_a_record_the_broker_refuses(
    kafka_bootstrap, unique_topic, message_limits
):
    topic = unique_topic(1, "out")
    message_limits.set(topic, LIMIT)
    small, large = SourceRef("in", 0, 1), SourceRef("in", 0, 2)
    refused = r"output of in/0@2 .* failed: MessageSizeTooLargeError"
    with pytest.raises(Exception, match=refused), beam.Pipeline(runner=RUNNER) as p:
        _ = (
            p
            | beam.Create([(b"a", b"x", small), (b"b", bytes(LIMIT + 1), large)])
            | (WriteToKafka(KafkaConnection.of(kafka_bootstrap), topic))
        )


def test_produce_fails_naming_the_line_the_broker_refuses(
    kafka_bootstrap, unique_topic, message_limits, tmp_path
):
    topic = unique_topic(1, "raw")
    message_limits.set(topic, LIMIT)
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "a"}\n\n{"id": "b", "body": "' + "x" * LIMIT + '"}\n{"id": "c"}\n')
    with pytest.raises(KafkaIOError, match=r"feed\.jsonl:3: not written to .*MessageSizeTooLarge"):
        produce(str(feed), topic, kafka_bootstrap, {})
