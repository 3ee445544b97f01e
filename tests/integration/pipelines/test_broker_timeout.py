"""A short ``--broker-timeout-seconds`` works end to end on a healthy broker (issue 16: with 20 s
the producer was refused by kafka-python, reported as an outage, and the job wrote nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"


def test_a_broker_timeout_of_20_seconds_writes_every_output(
    kafka_bootstrap, unique_topic, run_args, avro_ids, tmp_path
):
    topics = {name: unique_topic(3 if name == "raw" else 1, name) for name in
              ("raw", "enriched", "duplicates", "dlq")}  # fmt: skip
    sent = produce(str(EXAMPLES), topics["raw"], kafka_bootstrap, {})
    inputs = {(m.partition, m.offset) for m in read_topic(topics["raw"], kafka_bootstrap, {})}
    assert sent == len(inputs)
    argv = run_args(
        kafka_bootstrap, topics, f"{topics['raw']}.group", tmp_path / "out",
        "--stop-at-end", "--broker-timeout-seconds", "20",
    )  # fmt: skip

    assert cli.main(argv) == 0

    written = {
        name: [describe(m) for m in read_topic(topics[name], kafka_bootstrap, {})]
        for name in ("enriched", "duplicates", "dlq")
    }
    seen = [(r["kafka"]["partition"], r["kafka"]["offset"]) for rs in written.values() for r in rs]
    assert sorted(seen) == sorted(inputs), "every input in exactly one output topic"
    assert written["enriched"], "the enriched topic was written"
    assert avro_ids(tmp_path / "out") == {r["id"] for r in written["enriched"]}
