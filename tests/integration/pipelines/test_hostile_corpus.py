"""Hostile inputs through the real steps, not only their pure core (tests/unit/fuzz): the
decode/clean/templates/dedup/NER/encode DoFns, their coders, keyed dedup state and templates
memory across articles, the real spaCy model in its process pool, and the sinks.

* 2,000 generated hostile events (conftest.py) in a file through ``newsflow process`` on Prism:
  JSON twins and the Avro file.
* A few hundred on a live topic (with a tombstone and an empty value) through ``newsflow run
  --stop-at-end`` on the local broker: the three output topics.

Each input must end in exactly one output, in an outcome its class allows; no ``<step>_failed``
dead letter (an unexpected exception on an input that decoded is a bug to fix, not a reason code),
dead letters carry the input's exact bytes, exact copies name their original, and the command
exits 0.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from kafka import KafkaProducer

from pipelines.kafka_tools import read_topic
from schemas.codec import decode_any

ROOT = Path(__file__).resolve().parents[3]
FILE_EVENTS = 2000
TOPIC_EVENTS = 300
TOPIC_MAX_BODY_BYTES = 100_000  # the broker's default message size limit is 1 MB
COMMAND_TIMEOUT_SECONDS = 1200


def newsflow(*argv: str) -> tuple[int, str, float]:
    """``newsflow ARGV`` as its own process: exit code, stderr, seconds taken."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *argv], cwd=ROOT, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS,
    )  # fmt: skip
    return done.returncode, done.stderr, time.monotonic() - started


def allowed(outcome: str, outcomes: tuple[str, ...]) -> bool:
    return outcome in outcomes or (outcome.startswith("dead:") and "dead:*" in outcomes)


def check_accounting(events, found: dict[int, list[tuple[str, dict]]]) -> Counter:
    """Every input in exactly one output, each outcome allowed by its class; returns the count of
    each outcome (``enriched``, ``duplicates``, ``dead:<code>``)."""
    assert sorted(found) == list(range(len(events))), (
        f"inputs without an output: {sorted(set(range(len(events))) - set(found))[:20]}"
    )
    twice = {i: [o for o, _ in found[i]] for i in found if len(found[i]) != 1}
    assert twice == {}, "each input in exactly one output"
    outcomes = {i: found[i][0][0] for i in found}
    failed = {i: (events[i].name, outcomes[i]) for i in found if outcomes[i].endswith("_failed")}
    assert failed == {}, "a step raised on an input that decoded (fix it, with a unit test)"
    wrong = {
        i: (events[i].name, outcomes[i], events[i].outcomes)
        for i in found
        if not allowed(outcomes[i], events[i].outcomes)
    }
    assert wrong == {}, "each input ends as its class allows"
    for i, [(outcome, record)] in found.items():
        if events[i].duplicate_of is not None and outcome == "duplicates":
            assert record["duplicate_of"] == events[i].duplicate_of
    templated = [r for i, [(o, r)] in found.items() if events[i].name == "templated article"]
    assert any(s["kind"] == "template" for r in templated for s in r["boilerplate"]), (
        "the templates memory learned the sources' header and footer lines"
    )
    return Counter(outcomes.values())


def report(label: str, counts: Counter, events, seconds: float) -> None:
    """The figures of the run, for the docs (``pytest -s`` shows them)."""
    classes = Counter(event.name for event in events)
    print(f"\n{label}: {len(events)} inputs, {seconds:.0f} s, {dict(sorted(counts.items()))}")
    print(f"{label} classes: {dict(sorted(classes.items()))}")


@pytest.mark.stream
def test_two_thousand_hostile_events_through_newsflow_process(hostile_events, avro_ids, tmp_path):
    events = hostile_events(FILE_EVENTS, seed=2016, one_line=True)
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\n".join(event.payload for event in events) + b"\n")
    out = tmp_path / "out"

    code, stderr, seconds = newsflow("process", str(source), "--output", str(out))
    assert code == 0, stderr[-2000:]

    line_of = {event.article_id: n for n, event in enumerate(events) if event.article_id}
    found: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    for name in ("enriched", "duplicates"):
        for record in json_lines(out, name):
            assert record["id"] in line_of, f"{name} record of no input: {record['id'][:80]!r}"
            found[line_of[record["id"]]].append((name, record))
    for record in json_lines(out, "dead_letter"):
        index = record["line"] - 1
        assert payload_bytes(record) == events[index].payload, "the dead letter holds the input"
        found[index].append((f"dead:{record['error_code']}", record))
    counts = check_accounting(events, found)

    enriched_ids = {record["id"] for record in json_lines(out, "enriched")}
    assert avro_ids(out) == enriched_ids, "the Avro file holds every enriched record"
    report("newsflow process", counts, events, seconds)


@pytest.mark.integration
def test_hostile_events_on_a_live_topic_through_newsflow_run(
    kafka_bootstrap, unique_topic, run_args, hostile_events, tmp_path
):
    topics = {name: unique_topic(3 if name == "raw" else 1, name)
              for name in ("raw", "enriched", "duplicates", "dlq")}  # fmt: skip
    events = hostile_events(TOPIC_EVENTS, 18, one_line=False, max_body_bytes=TOPIC_MAX_BODY_BYTES)
    at = produce(kafka_bootstrap, topics["raw"], [e.payload for e in events] + [None])
    tombstone = len(events)

    argv = run_args(kafka_bootstrap, topics, f"{topics['raw']}.group", tmp_path / "files")
    code, stderr, seconds = newsflow(
        *argv, "--stop-at-end", "--max-body-bytes", str(TOPIC_MAX_BODY_BYTES)
    )
    assert code == 0, stderr[-2000:]

    found: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    for name, topic in (("enriched", "enriched"), ("duplicates", "duplicates"), ("dead", "dlq")):
        for message in read_topic(topics[topic], kafka_bootstrap, {}):
            _, record = decode_any(message.value)
            coords = record["kafka"]
            index = at[(coords["partition"], coords["offset"])]
            if name == "dead":
                assert record["payload"] == (b"" if index == tombstone else events[index].payload)
                found[index].append((f"dead:{record['error_code']}", record))
            else:
                assert record["id"] == events[index].article_id
                found[index].append((name, record))
    assert [o for o, _ in found.pop(tombstone)] == ["dead:not_json"], "a tombstone is no event"
    counts = check_accounting(events, found)
    report("newsflow run --stop-at-end", counts, events, seconds)


def produce(bootstrap: str, topic: str, values: list[bytes | None]) -> dict[tuple[int, int], int]:
    """Send every value (the n-th to partition n % 3; a None value, a tombstone, with a key as
    Kafka requires); returns (partition, offset) -> n."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2**20)
    try:
        sent = [
            producer.send(topic, value=v, key=None if v else b"k", partition=n % 3)
            for n, v in enumerate(values)
        ]
        return {(m.partition, m.offset): n for n, m in enumerate(f.get(60) for f in sent)}
    finally:
        producer.close()


def json_lines(folder: Path, prefix: str) -> list[dict]:
    return [json.loads(line) for p in folder.glob(f"{prefix}-*.jsonl") for line in p.open()]


def payload_bytes(record: dict) -> bytes:
    if record["payload_encoding"] == "base64":
        return base64.b64decode(record["payload"])
    return record["payload"].encode("utf-8")
