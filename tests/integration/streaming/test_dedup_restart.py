"""Dedup memory survives a restart of the local runner: SIGKILL the job after it kept an article,
restart it, send a copy, and the copy is a duplicate of the article kept before the kill. With
``--dedup-changelog off`` the same run enriches the copy: the changelog is what remembers (Prism
keeps state in memory only)."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaProducer

from pipelines.kafka_tools import read_topic
from schemas.codec import decode_any
from transforms.io.changelog import changelog_topic

pytestmark = pytest.mark.integration


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
