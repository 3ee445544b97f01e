"""`newsflow status` and `newsflow replay` against the real broker, around a real job run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
EXPECTED = json.loads((ROOT / "tests" / "data" / "expected_examples.json").read_text())


@pytest.fixture
def topics(unique_topic) -> dict[str, str]:
    return {name: unique_topic(3 if name == "raw" else 1, name) for name in
            ("raw", "enriched", "duplicates", "dlq")}  # fmt: skip


def status(capsys, bootstrap: str, topics: dict[str, str], group: str, *extra: str) -> str:
    outputs = [topics["enriched"], topics["duplicates"], topics["dlq"]]
    args = ["status", "--bootstrap-servers", bootstrap, "--consumer-group", group,
            "--input-topic", topics["raw"], "--output-topics", *outputs, *extra]  # fmt: skip
    capsys.readouterr()
    assert cli.main(args) == 0
    return capsys.readouterr().out


def replay(capsys, bootstrap: str, topics: dict[str, str], *extra: str) -> str:
    args = ["replay", "--bootstrap-servers", bootstrap, "--from-topic", topics["dlq"],
            "--to-topic", topics["raw"], *extra]  # fmt: skip
    capsys.readouterr()
    assert cli.main(args) == 0
    return capsys.readouterr().err


def test_status_shows_lag_then_none_and_replay_resends_chosen_dead_letters(
    kafka_bootstrap, topics, run_args, tmp_path, capsys
):
    sent = produce(str(EXAMPLES), topics["raw"], kafka_bootstrap, {})
    group = f"{topics['raw']}.group"

    before = json.loads(status(capsys, kafka_bootstrap, topics, group, "--json"))
    assert before["total_lag"] == sent == 27
    assert [p["committed"] for p in before["partitions"]] == [None, None, None]
    assert sum(p["end"] for p in before["partitions"]) == sent
    assert before["last_commit_at"] is None

    args = run_args(kafka_bootstrap, topics, group, tmp_path / "out", "--stop-at-end")
    assert cli.main(args) == 0

    after = json.loads(status(capsys, kafka_bootstrap, topics, group, "--json"))
    assert after["total_lag"] == 0
    assert all(p["committed"] == p["end"] and p["lag"] == 0 for p in after["partitions"])
    assert after["last_commit_at"] is not None
    dead = len(EXPECTED["dead_letters"])
    assert after["output_records"] == {
        topics["enriched"]: EXPECTED["enriched_count"],
        topics["duplicates"]: len(EXPECTED["duplicates"]),
        topics["dlq"]: dead,
    }
    table = status(capsys, kafka_bootstrap, topics, group)
    assert "total lag: 0" in table and f"{topics['dlq']}: {dead} records" in table

    dry = replay(capsys, kafka_bootstrap, topics, "--code", "not_json", "--dry-run")
    assert f"would send 1 dead letters to {topics['raw']} (not_json 1); skipped {dead - 1}" in dry
    assert len(list(read_topic(topics["raw"], kafka_bootstrap, {}))) == sent

    raw_before = read_topic(topics["raw"], kafka_bootstrap, {})
    before_replay = {(m.partition, m.offset) for m in raw_before}
    done = replay(capsys, kafka_bootstrap, topics, "--code", "not_json", "--code", "bad_date")
    assert f"sent 2 dead letters to {topics['raw']} (bad_date 1, not_json 1)" in done
    letters = [describe(m) for m in read_topic(topics["dlq"], kafka_bootstrap, {})]
    originals = sorted(r["payload"] for r in letters if r["error_code"] in {"not_json", "bad_date"})
    raw = list(read_topic(topics["raw"], kafka_bootstrap, {}))
    assert len(raw) == sent + 2
    replayed = [m.value.decode() for m in raw if (m.partition, m.offset) not in before_replay]
    assert sorted(replayed) == originals
    lagging = json.loads(status(capsys, kafka_bootstrap, topics, group, "--json"))
    assert lagging["total_lag"] == 2


def test_produce_names_the_line_the_client_refuses_and_what_was_sent(
    kafka_bootstrap, topics, tmp_path, capsys
):
    """A line over the producer's request size stops `newsflow produce` with exit 2 and one line
    naming the file and line; the lines before it are on the topic, the ones after are not."""
    events = tmp_path / "events.jsonl"
    big = json.dumps({"id": "big", "body": "word " * 300_000})
    events.write_text("\n".join(['{"id": "a", "body": "x"}', "", '{"id": "b"}', big, "after"]))
    args = ["produce", str(events), "--topic", topics["raw"],
            "--bootstrap-servers", kafka_bootstrap]  # fmt: skip
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{events}:4: not sent (" in err[0], err
    assert "MessageSizeTooLargeError" in err[0] and "2 earlier lines were" in err[0]
    assert sorted(r.value for r in read_topic(topics["raw"], kafka_bootstrap, {})) == [
        b'{"id": "a", "body": "x"}',
        b'{"id": "b"}',
    ]
