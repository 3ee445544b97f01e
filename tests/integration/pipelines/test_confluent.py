"""`newsflow run --value-format confluent` against the real broker and the real schema registry:
third-party Confluent consumers read the outputs, schema evolution follows the registry's rules."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from kafka import KafkaProducer

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic
from schemas.codec import ARTICLE_EVENT, SCHEMA_DIR
from schemas.confluent import REGISTRY_TIMEOUT_SECONDS, RegistryClient, ValueEncoder, subject_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
EXPECTED = json.loads((ROOT / "tests" / "data" / "expected_examples.json").read_text())
AVRO_EVENT = {
    "id": "confluent-framed-event",
    "source": "wire",
    "body": (
        "The harbour authority in Portsmouth approved a new ferry terminal on Tuesday after two "
        "years of planning disputes with residents and shipping companies.\n\n"
        "Councillors said the terminal would double passenger capacity by 2030, while opponents "
        "warned that traffic on the seafront road would rise sharply during the summer months."
    ),
}


def third_party_registry(url: str) -> SchemaRegistryClient:
    """confluent-kafka's own registry client, with a request timeout: without one (its default)
    httpx waits forever, and once in CI a request on a kept-alive connection to the local Apicurio
    was never answered (the test hung in get_associations_by_resource_name). Timed out, the client
    retries (3 times by default) on a new connection. newsflow's own client (``RegistryClient``)
    opens a connection per request with a 10 s timeout."""
    return SchemaRegistryClient({"url": url, "timeout": REGISTRY_TIMEOUT_SECONDS})


def avsc(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())


@pytest.fixture
def topics(unique_topic) -> dict[str, str]:
    return {name: unique_topic(3 if name == "raw" else 1, name) for name in
            ("raw", "enriched", "duplicates", "dlq")}  # fmt: skip


def confluent_records(bootstrap: str, topic: str, registry_url: str) -> list[dict]:
    """Every value of ``topic``, decoded by confluent-kafka's own AvroDeserializer."""
    deserialize = AvroDeserializer(third_party_registry(registry_url))
    group = f"check-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        _, end = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        records = []
        while len(records) < end:
            message = consumer.poll(10)
            assert message is not None, f"{topic}: only {len(records)} of {end} records arrived"
            assert message.error() is None, message.error()
            context = SerializationContext(topic, MessageField.VALUE)
            records.append(deserialize(message.value(), context))
        return records
    finally:
        consumer.close()


def send_confluent_event(bootstrap: str, topic: str, registry_url: str) -> None:
    """One input event as Avro framed for the registry, as a Confluent producer would send it."""
    schema_id = RegistryClient(registry_url).register(
        subject_for(topic), json.dumps(avsc(ARTICLE_EVENT))
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topic, value=ValueEncoder(ARTICLE_EVENT, schema_id)(AVRO_EVENT))
    producer.flush()
    producer.close()


def test_confluent_outputs_read_by_confluent_deserializer_and_schema_evolves(
    kafka_bootstrap, schema_registry_url, topics, run_args, tmp_path
):
    registry = third_party_registry(schema_registry_url)
    enriched_subject = subject_for(topics["enriched"])
    older = copy.deepcopy(avsc("enriched_article"))
    older["fields"] = [f for f in older["fields"] if f["name"] != "comments"]
    RegistryClient(schema_registry_url).register(enriched_subject, json.dumps(older))
    sent = produce(str(EXAMPLES), topics["raw"], kafka_bootstrap, {})
    send_confluent_event(kafka_bootstrap, topics["raw"], schema_registry_url)
    group = f"{topics['raw']}.group"
    confluent = ("--value-format", "confluent", "--schema-registry-url", schema_registry_url)

    args = run_args(kafka_bootstrap, topics, group, tmp_path / "out", "--stop-at-end", *confluent)
    assert cli.main(args) == 0

    # A compatible evolution (the optional `comments` field added) became version 2.
    assert registry.get_versions(enriched_subject) == [1, 2]
    enriched = confluent_records(kafka_bootstrap, topics["enriched"], schema_registry_url)
    duplicates = confluent_records(kafka_bootstrap, topics["duplicates"], schema_registry_url)
    dead = confluent_records(kafka_bootstrap, topics["dlq"], schema_registry_url)
    assert len(enriched) == EXPECTED["enriched_count"] + 1
    assert len(enriched) + len(duplicates) + len(dead) == sent + 1
    framed = next(r for r in enriched if r["id"] == AVRO_EVENT["id"])
    assert framed["body"] == AVRO_EVENT["body"]
    assert ("Portsmouth", "GPE") in {(e["text"], e["label"]) for e in framed["entities"]}
    assert {r["id"]: r["duplicate_of"] for r in duplicates} == EXPECTED["duplicates"]
    assert sorted(r["error_code"] for r in dead) == sorted(EXPECTED["dead_letters"].values())
    values = list(read_topic(topics["enriched"], kafka_bootstrap, {}))
    assert all(m.value[:1] == b"\x00" for m in values)
    tailed = describe(values[0], RegistryClient(schema_registry_url))  # what `newsflow tail` shows
    assert (tailed["schema"], tailed["id"]) == ("enriched_article", enriched[0]["id"])
    assert "pass --schema-registry-url" in describe(values[0])["raw"]


def test_incompatible_schema_is_refused_before_the_job_starts(
    kafka_bootstrap, schema_registry_url, topics, run_args, tmp_path, capsys
):
    clashing = copy.deepcopy(avsc("enriched_article"))
    next(f for f in clashing["fields"] if f["name"] == "word_count")["type"] = "string"
    subject = subject_for(topics["enriched"])
    RegistryClient(schema_registry_url).register(subject, json.dumps(clashing))
    produce(str(EXAMPLES), topics["raw"], kafka_bootstrap, {})
    confluent = ("--value-format", "confluent", "--schema-registry-url", schema_registry_url)
    group = f"{topics['raw']}.group"

    args = run_args(kafka_bootstrap, topics, group, tmp_path / "out", "--stop-at-end", *confluent)
    assert cli.main(args) == 2

    error = capsys.readouterr().err
    assert "not compatible" in error and subject in error
    assert third_party_registry(schema_registry_url).get_versions(subject) == [1]
    assert list(read_topic(topics["enriched"], kafka_bootstrap, {})) == []
