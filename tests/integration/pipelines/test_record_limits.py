"""Inputs the input topic takes whose outputs its peers would refuse, through `newsflow run` with
Kafka's default limits (1 MiB a message): an article whose record its entities make larger than
the output topic takes, and junk just under the input limit, whose dead letter (payload and
error) is over it. Before ``--max-record-bytes`` the broker refused each output on every retry:
the job failed at the input and failed again at it after every restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.kafka_tools import produce, read_topic
from schemas.codec import DEAD_LETTER, ENRICHED, decode

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
BODY_BYTES = 720_000  # its record, with ~0.7x in entities, is over 1 MiB
JUNK_BYTES = 1_048_000  # under the input topic's 1,048,588 with the batch's headers


def long_report() -> bytes:
    """The examples' article bodies, paragraph after paragraph, numbered, to ``BODY_BYTES``."""
    events = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line[:1] == "{"]
    paragraphs = [
        p
        for event in events
        if isinstance(event.get("body"), str) and len(event["body"]) > 2_000
        for p in event["body"].split("\n\n")[3:]
        if len(p) > 200
    ]
    body, n = [], 0
    while sum(map(len, body)) < BODY_BYTES:
        body.append(f"Part {n}. {paragraphs[n % len(paragraphs)]}")
        n += 1
    event = {"id": "long-report", "fetched_at": "2024-05-01T10:00:00Z", "body": "\n\n".join(body)}
    return json.dumps(event).encode()


def test_outputs_over_the_topics_limit_are_dead_letters_that_fit_and_the_job_goes_on(
    kafka_bootstrap, unique_topic, run_args, tmp_path
):
    topics = {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}
    small = EXAMPLES.read_text().splitlines()[1].encode()
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join([long_report(), b"x" * JUNK_BYTES, small]) + b"\n")
    assert produce(str(feed), topics["raw"], kafka_bootstrap, {}) == 3
    group = f"{topics['raw']}.group"

    assert (
        cli.main(run_args(kafka_bootstrap, topics, group, tmp_path / "out", "--stop-at-end")) == 0
    )

    inputs = [m.value for m in read_topic(topics["raw"], kafka_bootstrap, {})]
    dlq = [decode(m.value, DEAD_LETTER) for m in read_topic(topics["dlq"], kafka_bootstrap, {})]
    letters = {letter["kafka"]["offset"]: letter for letter in dlq}
    assert sorted(letters) == [0, 1]
    too_large = letters[0]
    assert too_large["error_code"] == "record_too_large"
    replayable = json.loads(too_large["payload"])  # the input's event (its bytes released by clean)
    assert (replayable["id"], replayable["body"]) == ("long-report", json.loads(inputs[0])["body"])
    assert "> --max-record-bytes 1000000" in too_large["message"]
    junk = letters[1]
    kept = len(junk["payload"])
    assert junk["error_code"] == "not_json" and junk["payload"] == inputs[1][:kept]
    assert f"payload cut to its first {kept} of {JUNK_BYTES} bytes" in junk["message"]
    enriched = [
        decode(m.value, ENRICHED) for m in read_topic(topics["enriched"], kafka_bootstrap, {})
    ]
    assert [record["id"] for record in enriched] == [json.loads(small)["id"]]
