"""`newsflow run --stop-at-end` on the FlinkRunner gives the DirectRunner's outputs, input by input.

Both runners read the same input topic (each with its own consumer group) into their own output
topics; the records are then compared on what the pipeline decides: ids, clean bodies, titles,
dates, entities, removed spans, content hashes, duplicate decisions and dead-letter codes, keyed by
the Kafka coordinates of the input. Provenance (``processed_at``) and the output offsets may differ.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.flink]

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
EXPECTED = json.loads((ROOT / "tests" / "data" / "expected_examples.json").read_text())
OUTPUTS = ("enriched", "duplicates", "dlq")
BOUNDED = "--stop-at-end"
# What the pipeline decides about an article; the rest is provenance.
DECIDED_FIELDS = (
    "id", "url", "source", "title", "byline", "published_at", "fetched_at", "language", "body",
    "word_count", "entities", "boilerplate", "content_hash", "duplicate_of",
)  # fmt: skip


def flink_flags(jar: str, master: str = "[local]") -> list[str]:
    return [
        "--runner", "FlinkRunner",
        f"--flink_master={master}",
        "--environment_type=LOOPBACK",
        "--parallelism=2",
        f"--flink_job_server_jar={jar}",
    ]  # fmt: skip


def run_on_flink(newsflow: str, args: list[str], jar: str, master: str = "[local]") -> None:
    """``newsflow run`` from .venv-flink, whose Beam SDK is the job server's version."""
    done = subprocess.run(
        [newsflow, *args, *flink_flags(jar, master)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"FlinkRunner job failed:\n{done.stderr[-4000:]}"


def decisions(bootstrap: str, topics: dict[str, str]) -> dict[str, dict]:
    """Each output as {input coordinates: what was decided about that input}."""
    result: dict[str, dict] = {}
    for name in OUTPUTS:
        records = [describe(m) for m in read_topic(topics[name], bootstrap, {})]
        keyed = {}
        for record in records:
            where = (record["kafka"]["partition"], record["kafka"]["offset"])
            if name == "dlq":
                keyed[where] = (record["error_code"], record["payload"])
            else:
                keyed[where] = {field: record[field] for field in DECIDED_FIELDS}
        assert len(keyed) == len(records), f"an input appears twice in {name}"
        result[name] = keyed
    return result


def assert_known_answer(outputs: dict[str, dict], runner: str) -> None:
    """The examples' documented outcome (tests/data/expected_examples.json)."""
    assert len(outputs["enriched"]) == EXPECTED["enriched_count"], runner
    duplicates = {r["id"]: r["duplicate_of"] for r in outputs["duplicates"].values()}
    assert duplicates == EXPECTED["duplicates"], runner
    codes = sorted(code for code, _payload in outputs["dlq"].values())
    assert codes == sorted(EXPECTED["dead_letters"].values()), runner


@pytest.fixture
def raw_topic(kafka_bootstrap, unique_topic) -> str:
    topic = unique_topic(3, "raw")
    assert produce(str(EXAMPLES), topic, kafka_bootstrap, {}) == 27
    return topic


def output_topics(unique_topic, runner: str) -> dict[str, str]:
    return {name: unique_topic(1, f"{runner}.{name}") for name in OUTPUTS}


def test_flink_runner_matches_direct_runner(
    kafka_bootstrap, unique_topic, raw_topic, flink_job_server_jar, flink_newsflow, run_args,
    avro_ids, tmp_path,
):  # fmt: skip
    direct = output_topics(unique_topic, "direct")
    flink = output_topics(unique_topic, "flink")

    direct, flink = {**direct, "raw": raw_topic}, {**flink, "raw": raw_topic}
    direct_run = run_args(kafka_bootstrap, direct, f"{raw_topic}.d", tmp_path / "d", BOUNDED)
    assert cli.main(direct_run) == 0
    flink_run = run_args(kafka_bootstrap, flink, f"{raw_topic}.f", tmp_path / "f", BOUNDED)
    run_on_flink(flink_newsflow, flink_run, flink_job_server_jar)

    expected = decisions(kafka_bootstrap, direct)
    got = decisions(kafka_bootstrap, flink)
    # Each runner against the known answer first, so a failure says which runner is wrong.
    assert_known_answer(expected, "DirectRunner")
    assert_known_answer(got, "FlinkRunner")
    for name in OUTPUTS:
        assert got[name] == expected[name], f"{name} differs between FlinkRunner and DirectRunner"
    assert avro_ids(tmp_path / "f") == {r["id"] for r in got["enriched"].values()}


def test_standalone_flink_cluster_matches_expected_and_a_rerun_reads_nothing_again(
    kafka_bootstrap, unique_topic, raw_topic, flink_job_server_jar, flink_newsflow, flink_cluster,
    run_args, avro_ids, tmp_path,
):  # fmt: skip
    """The examples on the cluster give the known answer; a second run with the same consumer
    group writes no record to any topic and no file (an enriched input read again would be filed
    again by recovery's refile, so empty files show the rerun read nothing)."""
    topics = output_topics(unique_topic, "cluster")

    def run(output: str) -> None:
        flags = [f"{raw_topic}.cluster", tmp_path / output, BOUNDED]
        args = run_args(kafka_bootstrap, {**topics, "raw": raw_topic}, *flags)
        run_on_flink(flink_newsflow, args, flink_job_server_jar, flink_cluster)

    run("first")
    got = decisions(kafka_bootstrap, topics)
    assert_known_answer(got, "FlinkRunner on the standalone cluster")
    run("rerun")
    assert decisions(kafka_bootstrap, topics) == got
    assert avro_ids(tmp_path / "rerun") == set()
