"""Single-object Avro ArticleEvents on a live topic, end to end: ``fetched_at`` (a
timestamp-millis, which fastavro decodes to a datetime) reaches the enriched records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from pipelines import cli
from pipelines.kafka_tools import read_topic
from schemas.codec import ARTICLE_EVENT, DEAD_LETTER, ENRICHED, decode, encode

pytestmark = pytest.mark.integration

FETCHED = datetime(2017, 3, 26, 10, 0, tzinfo=UTC)
STORIES = [
    "The council approved the new budget for the bridge repairs on Tuesday evening.\n\n"
    "Work on the northern span will start in the spring and last about six months.",
    "Heavy rain flooded the valley road overnight; the fire service pumped out twenty homes.\n\n"
    "Forecasters expect the river to fall again by the weekend.",
    "The orchestra announced a free concert in the park for the first Saturday of July.\n\n"
    "Tickets are not needed, and the music will start at seven in the evening.",
]


@pytest.fixture
def topics(unique_topic) -> dict[str, str]:
    return {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}


def test_avro_events_are_enriched_with_their_fetched_at(
    kafka_bootstrap, topics, run_args, tmp_path
):
    events = [
        {
            "id": f"avro-{n}",
            "source": "avro-feed",
            "fetched_at": FETCHED + timedelta(minutes=n),
            "content_type": "text/plain",
            "body": body,
        }
        for n, body in enumerate(STORIES)
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for event in events:
        producer.send(topics["raw"], value=encode(event, ARTICLE_EVENT))
    producer.send(topics["raw"], value=b"\xc3\x01" + b"\x00" * 8 + b"not an article event")
    producer.flush()
    producer.close()

    group = f"{topics['raw']}.group"
    argv = run_args(kafka_bootstrap, topics, group, tmp_path / "out", "--stop-at-end")
    assert cli.main(argv) == 0

    enriched = [
        decode(m.value, ENRICHED) for m in read_topic(topics["enriched"], kafka_bootstrap, {})
    ]
    assert {r["id"]: r["fetched_at"] for r in enriched} == {
        e["id"]: e["fetched_at"] for e in events
    }
    assert {r["source"] for r in enriched} == {"avro-feed"}
    dead = [decode(m.value, DEAD_LETTER) for m in read_topic(topics["dlq"], kafka_bootstrap, {})]
    assert [(r["error_code"], r["kafka"]["offset"]) for r in dead] == [("bad_avro", len(events))]
