"""Offsets without records, on the broker.

Inputs the topic deleted before the job read them (a job stopped longer than the retention; here
deleted through the broker's admin API, as retention does, by moving the log start). Before, the
reader jumped to the log start and the lost inputs left no output, no counter and no line above
INFO. Now they are one dead letter ``deleted_before_read`` naming the range, ``newsflow status``
counts them while they wait, and the commit moves past; with ``auto.offset.reset=none`` the job
stops there at once (it was retried as an outage). A partition whose end fell below the commit
stops the job, saying what to do. And a transactional producer's last commit marker, an offset
with no record, is committed past."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from pipelines import cli
from pipelines.kafka_tools import read_topic, send_steadily
from pipelines.status import consumer_lag
from schemas.codec import DEAD_LETTER, ENRICHED, decode
from transforms.io.kafka_clients import KafkaConnection

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"


def delete_before(bootstrap: str, tp: TopicPartition, offset: int) -> None:
    """Delete ``tp``'s records below ``offset``; returns once the broker reports the new start."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_records({tp: offset}, timeout_ms=30_000)
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        assert consumer.beginning_offsets([tp])[tp] == offset
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        return consumer.committed(tp)
    finally:
        consumer.close()


def outcomes(bootstrap: str, topics: dict[str, str]) -> dict[int, list[tuple[str, dict]]]:
    """Every output of the run, by the input offset its coordinates name."""
    found: dict[int, list[tuple[str, dict]]] = {}
    for kind, schema in (("enriched", ENRICHED), ("duplicates", ENRICHED), ("dlq", DEAD_LETTER)):
        for message in read_topic(topics[kind], bootstrap, {}):
            record = decode(message.value, schema)
            found.setdefault(record["kafka"]["offset"], []).append((kind, record))
    return found


def test_inputs_deleted_before_the_read_are_a_dead_letter_and_the_commit_moves_past(
    kafka_bootstrap, unique_topic, run_args, tmp_path, capsys
):
    topics = {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}
    tp, group = TopicPartition(topics["raw"], 0), f"{topics['raw']}.group"
    lines = [line.encode() for line in EXAMPLES.read_text().splitlines() if line[:1] == "{"]
    producer = KafkaConnection.of(kafka_bootstrap).plain_producer(linger_ms=5)
    job = run_args(kafka_bootstrap, topics, group, tmp_path / "out", "--stop-at-end")
    # A policy many shops set on every consumer; the job's lock guard failed its first poll on it.
    no_reset = [*job, "--kafka-config", "auto.offset.reset=none"]

    send_steadily(producer, topics["raw"], lines[:3], per_second=1000)
    assert cli.main(no_reset) == 0  # offsets 0-2 read, committed at 3
    send_steadily(producer, topics["raw"], lines[3:7], per_second=1000)
    delete_before(kafka_bootstrap, tp, 5)  # 3 and 4 never read
    lags, _ = consumer_lag(KafkaConnection.of(kafka_bootstrap), group, topics["raw"])
    assert [(p.committed, p.lag, p.deleted_unread) for p in lags] == [(3, 2, 2)]

    assert cli.main(no_reset) == 2  # it stops at the deleted offsets, as that policy asks
    assert "offsets were deleted before they were read" in capsys.readouterr().err
    assert outcomes(kafka_bootstrap, topics).keys() == {0, 1, 2}

    assert cli.main(job) == 0

    found = outcomes(kafka_bootstrap, topics)
    assert sorted(found) == [0, 1, 2, 4, 5, 6], "one output each, the deleted range one at 4"
    assert all(len(outputs) == 1 for outputs in found.values())
    ((kind, letter),) = found[4]
    assert (kind, letter["error_code"], letter["payload"]) == ("dlq", "deleted_before_read", b"")
    assert letter["message"].startswith(f"offsets 3-4 of {topics['raw']}/0 were deleted")
    assert letter["message"].endswith("up to 2 inputs lost")
    assert committed(kafka_bootstrap, group, tp) == 7

    send_steadily(producer, topics["raw"], lines[7:9], per_second=1000)
    delete_before(kafka_bootstrap, tp, 9)  # everything unread is gone: nothing left to read
    assert cli.main(job) == 0

    found = outcomes(kafka_bootstrap, topics)
    assert sorted(found) == [0, 1, 2, 4, 5, 6, 8]
    ((_, last),) = found[8]
    assert last["error_code"] == "deleted_before_read"
    assert last["message"].startswith(f"offsets 7-8 of {topics['raw']}/0")
    assert committed(kafka_bootstrap, group, tp) == 9
    producer.close()
    enriched = [
        decode(m.value, ENRICHED) for m in read_topic(topics["enriched"], kafka_bootstrap, {})
    ]
    assert enriched, "the examples' articles read around the deletions were enriched"


def test_a_commit_past_the_partitions_end_stops_the_job_with_what_to_do(
    kafka_bootstrap, unique_topic, run_args, tmp_path, capsys
):
    """What a truncated partition (an unclean leader election) or an offset set by hand leaves:
    the group's commit past the end. Before, a bounded run read nothing and said nothing, and a
    streaming one failed every retry on Beam's claim check (``Position to be claimed cannot be
    smaller than the start position``) once records came."""
    topics = {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}
    tp, group = TopicPartition(topics["raw"], 0), f"{topics['raw']}.group"
    lines = [line.encode() for line in EXAMPLES.read_text().splitlines() if line[:1] == "{"]
    job = run_args(kafka_bootstrap, topics, group, tmp_path, "--stop-at-end")
    producer = KafkaConnection.of(kafka_bootstrap).plain_producer(linger_ms=5)
    send_steadily(producer, topics["raw"], lines[:3], per_second=1000)
    assert cli.main(job) == 0  # committed at 3
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    consumer.commit({tp: OffsetAndMetadata(10, "", -1)})
    consumer.close()
    producer.send(topics["raw"], value=lines[3]).get(timeout=60)  # offset 3, below the commit
    producer.close()

    assert cli.main(job) == 2
    line = capsys.readouterr().err
    assert f"PartitionRewoundError: {topics['raw']}/0: the job left off at offset 10" in line
    assert "but the partition ends at 4: it was truncated" in line
    assert sorted(outcomes(kafka_bootstrap, topics)) == [0, 1, 2], "nothing read past it"


def test_a_transactional_producers_commit_marker_is_committed_past(
    kafka_bootstrap, unique_topic, run_args, tmp_path, send_transactions
):
    """A transaction ends in a commit marker: an offset with no record. Before, no input's span
    covered a partition's last marker: the commit stayed on it (lag 1 for good), and a bounded
    run started there polled it forever. An aborted transaction's records are no articles
    (before, the job read uncommitted and enriched them)."""
    topics = {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}
    tp, group = TopicPartition(topics["raw"], 0), f"{topics['raw']}.group"
    lines = [line.encode() for line in EXAMPLES.read_text().splitlines() if line[:1] == "{"]
    send_transactions(kafka_bootstrap, topics["raw"], [(lines[:3], True), (lines[3:5], False)])
    job = run_args(kafka_bootstrap, topics, group, tmp_path, "--stop-at-end")

    assert cli.main(job) == 0
    assert committed(kafka_bootstrap, group, tp) == 7, "0-2, a commit, 4-5 aborted, an abort"
    assert sorted(outcomes(kafka_bootstrap, topics)) == [0, 1, 2]
    assert cli.main(job) == 0, "a run with nothing left to read ends"
    assert committed(kafka_bootstrap, group, tp) == 7
