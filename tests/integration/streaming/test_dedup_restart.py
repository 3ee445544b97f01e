"""Dedup memory survives a restart of the local runner: SIGKILL the job after it kept an article,
restart it, send a copy, and the copy is a duplicate of the article kept before the kill. With
``--dedup-changelog off`` the same run enriches the copy: the changelog is what remembers (Prism
keeps state in memory only). And a producer's clock decades ahead neither stalls nor expires it."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import InvalidTimestampError

from pipelines.kafka_tools import read_topic
from schemas.codec import decode_any
from transforms.io.changelog import changelog_topic

pytestmark = pytest.mark.integration

AHEAD_MS = 40 * 365 * 86_400_000
SETTING_TIMEOUT_SECONDS = 60


def send(bootstrap: str, topic: str, payload: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topic, value=payload)
    producer.flush()
    producer.close()


def duplicates_of(bootstrap: str, topic: str) -> dict[str, str]:
    """``id -> duplicate_of`` of every record on the duplicates topic."""
    records = (decode_any(message.value)[1] for message in read_topic(topic, bootstrap, {}))
    return {record["id"]: record["duplicate_of"] for record in records}


@pytest.mark.parametrize("changelog", ["on", "off"])
def test_a_copy_after_sigkill_and_restart_is_a_duplicate_of_the_original(
    changelog, kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    group = f"{stream_topics['raw']}.restart"
    argv = [
        *kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files"),
        "--dedup-changelog", changelog,
    ]  # fmt: skip
    original = json.loads(kit.events(1, 3)[0])
    copy = {**original, "id": "copy-after-restart"}

    first = job_factory(argv)
    first.wait_until_reading(stream_topics["raw"], 3)
    send(kafka_bootstrap, stream_topics["raw"], json.dumps(original).encode())
    found = kit.wait_for_outputs(kafka_bootstrap, stream_topics, 1, timeout=180)
    assert [row[2] for row in found["enriched"]] == [original["id"]], "the original is kept"
    first.kill()

    if changelog == "on":
        entries = list(read_topic(changelog_topic(group), kafka_bootstrap, {}))
        assert len(entries) == 1, "the kept article's index entry is in the changelog"

    second = job_factory(argv)
    second.wait_until_reading(stream_topics["raw"], 3)
    send(kafka_bootstrap, stream_topics["raw"], json.dumps(copy).encode())
    found = kit.wait_for_outputs(kafka_bootstrap, stream_topics, 2, timeout=180)
    assert second.stop() == 0
    enriched = [row[2] for row in found["enriched"]]
    if changelog == "on":
        assert duplicates_of(kafka_bootstrap, stream_topics["duplicates"]) == {
            "copy-after-restart": original["id"]
        }
        assert enriched == [original["id"]], "the copy is not enriched"
    else:
        assert not found["duplicates"], "without the changelog the restarted job forgot"
        assert enriched == [original["id"], copy["id"]], "so the copy is enriched"


def allow_any_timestamp(bootstrap: str, topic: str) -> None:
    """What a Kafka 3 broker does by default: take any CreateTime (Kafka 4 refuses one over an
    hour ahead, ``message.timestamp.after.max.ms``)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        limit = {"message.timestamp.after.max.ms": str(2**63 - 1)}
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=limit)])
    finally:
        admin.close()


def send_stamped(bootstrap: str, topic: str, payload: bytes, timestamp_ms: int, partition: int):
    """One record stamped ``timestamp_ms``, sent again while the topic still refuses the stamp
    (a topic's new setting takes effect on the broker shortly after it is acknowledged)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    deadline = time.monotonic() + SETTING_TIMEOUT_SECONDS
    try:
        while True:
            future = producer.send(topic, payload, timestamp_ms=timestamp_ms, partition=partition)
            try:
                future.get(timeout=30)
                return
            except InvalidTimestampError:
                assert time.monotonic() < deadline, f"{topic} still refuses future timestamps"
                time.sleep(0.2)
    finally:
        producer.close()


def test_a_producer_clock_decades_ahead_leaves_dedup_memory_alone(
    kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    """A producer whose clock is 40 years ahead writes to every partition. Before, its stamps were
    the records' event time, and dedup holds an article until the watermark passes it: the three
    were never decided (no output in 180 s; their offsets, and every later one's, never
    committed), and a watermark that reached them would have expired dedup's whole memory. Now
    they are read at most 30 s ahead of the clock, and a copy of an earlier article is still its
    duplicate."""
    raw = stream_topics["raw"]
    allow_any_timestamp(kafka_bootstrap, raw)
    group = f"{raw}.clock"
    original = json.loads(kit.events(1, 5)[0])
    copy = {**original, "id": "copy-after-the-clock"}
    job = job_factory(kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files"))
    job.wait_until_reading(raw, 3)
    send(kafka_bootstrap, raw, json.dumps(original).encode())
    kit.wait_for_outputs(kafka_bootstrap, stream_topics, 1, timeout=180)

    now_ms = int(time.time() * 1000)
    for partition, payload in enumerate(kit.events(3, 6)):
        event = {**json.loads(payload), "fetched_at": now_ms}  # the crawl time is right
        send_stamped(kafka_bootstrap, raw, json.dumps(event).encode(), now_ms + AHEAD_MS, partition)
    kit.wait_for_outputs(kafka_bootstrap, stream_topics, 4, timeout=180)
    send(kafka_bootstrap, raw, json.dumps(copy).encode())
    kit.wait_for_outputs(kafka_bootstrap, stream_topics, 5, timeout=180)
    assert job.stop() == 0

    assert duplicates_of(kafka_bootstrap, stream_topics["duplicates"]) == {
        copy["id"]: original["id"]
    }
