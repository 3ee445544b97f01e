"""Malformed messages between good ones on a live topic: the streaming job stays up, the good ones
are enriched, each bad one is in the dead-letter topic with its reason code, and the offsets are
committed past all of them."""

from __future__ import annotations

import pytest
from kafka import TopicPartition

from pipelines.kafka_tools import read_topic
from schemas.codec import ARTICLE_EVENT, DEAD_LETTER, HEADER_LEN, decode, encode

pytestmark = pytest.mark.integration

BAD = {
    b'{"id": "lone", "body": "a lone \\ud800 surrogate in the body"}': "bad_unicode",
    b'{"body": "a body", "fetched_at": NaN}': "date_out_of_range",
    b'{"body": "a body", "fetched_at": -Infinity}': "date_out_of_range",
    b'{"body": "a body", "fetched_at": 1e300}': "date_out_of_range",
    b'{"body": "a body", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}": "too_deep",
    b'{"body": "a body", "fetched_at": ' + b"7" * 5000 + b"}": "bad_number",
    b'{"body": "a body", "id": "' + b"i" * 2000 + b'"}': "field_too_large",
    b"\xff\xfe\x00garbage": "not_utf8",
    b"[1, 2, 3]": "not_object",
    encode({"body": "x"}, ARTICLE_EVENT)[:HEADER_LEN] + b"\xff\xff\xff\xff": "bad_avro",
}
COMMIT_TIMEOUT_SECONDS = 60


def test_malformed_messages_between_good_ones_leave_the_job_running(
    kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    good = kit.events(len(BAD) + 1, 9)
    payloads = [p for pair in zip(good, [*BAD, None], strict=True) for p in pair if p is not None]
    group = f"{stream_topics['raw']}.hostile"
    job = job_factory(kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files"))
    job.wait_until_reading(stream_topics["raw"], 3)
    kit.produce_steadily(
        kafka_bootstrap, stream_topics["raw"], payloads, 5.0, partition_of=lambda _n: 0
    ).join()

    found = kit.wait_for_outputs(kafka_bootstrap, stream_topics, len(payloads), timeout=240)
    assert job.proc.poll() is None, "the job is still running after every malformed message"
    per_input = kit.accounted(found)
    assert sorted(per_input) == [(0, offset) for offset in range(len(payloads))]
    assert set(per_input.values()) == {1}, "each input in exactly one output"
    assert len(found["enriched"]) == len(good)

    letters = {
        message.offset: decode(message.value, DEAD_LETTER)
        for message in read_topic(stream_topics["dlq"], kafka_bootstrap, {})
    }
    by_payload = {record["payload"]: record for record in letters.values()}
    assert {payload: record["error_code"] for payload, record in by_payload.items()} == BAD
    assert all(record["kafka"]["topic"] == stream_topics["raw"] for record in letters.values())

    partition = TopicPartition(stream_topics["raw"], 0)

    def committed_past_all() -> bool:
        committed, ends = kit.committed_vs_end(kafka_bootstrap, stream_topics["raw"], group)
        return committed[partition] == ends[partition] == len(payloads)

    kit.wait_until(committed_past_all, COMMIT_TIMEOUT_SECONDS, "every input is committed", 2)
    assert job.stop() == 0, "SIGTERM stops the job cleanly"
