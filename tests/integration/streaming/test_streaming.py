"""The streaming job on the real broker: completeness, latency, a partition added while it runs,
clean stop, and no loss or duplicate output after a SIGKILL and restart."""

from __future__ import annotations

import os
import statistics
import time

import fastavro
import pytest

pytestmark = pytest.mark.integration

# Generous on purpose: 17 s measured on a quiet 2-core machine (README), 37-86 s here with eight
# test runs sharing the 2 cores. A job that cannot keep up fails the growth check instead.
LATENCY_P99_CEILING_SECONDS = 120
# A job below capacity ends the run no slower than it began (its warm-up makes the first quarter
# slow); one above capacity builds a backlog, and its last inputs wait longest.
BACKLOG_GROWTH_SLACK_SECONDS = 15


def test_steady_stream_is_complete_with_bounded_latency(
    kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    """Every input in exactly one output topic and every enriched record in a file, with p99
    latency under a generous ceiling and no backlog growing over the run."""
    # Below the ~5 articles/s this 2-core machine sustains. NEWSFLOW_STREAM_EVENTS=2000 gives the
    # figure README reports (11 minutes); the default keeps `make test` short.
    count = int(os.environ.get("NEWSFLOW_STREAM_EVENTS", "240"))
    rate = 3.0
    # A group per test run: the group also names the dedup changelog, which outlives a run.
    group = f"{stream_topics['raw']}.latency"
    job = job_factory(kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files"))
    time.sleep(15)
    kit.add_partition(kafka_bootstrap, stream_topics["raw"], 4)
    producer = kit.produce_steadily(
        kafka_bootstrap,
        stream_topics["raw"],
        kit.events(count, 1),
        rate,
        partition_of=lambda n: 3 if n % 4 == 3 else None,
    )
    producer.join()
    found = kit.wait_for_outputs(kafka_bootstrap, stream_topics, count, timeout=240)
    time.sleep(12)  # one more file window
    assert job.stop() == 0, "SIGTERM stops the job cleanly"

    per_input = kit.accounted(found)
    assert len(per_input) == count and set(per_input.values()) == {1}
    assert {p for p, _ in per_input} == {0, 1, 2, 3}, "the partition added while running is read"
    sent = kit.input_timestamps(kafka_bootstrap, stream_topics["raw"])
    sent_and_out = sorted((sent[(p, o)], ts) for rows in found.values() for (p, o, _, ts) in rows)
    by_send_time = [out_ms - sent_ms for sent_ms, out_ms in sent_and_out]
    latencies = sorted(by_send_time)
    p50 = statistics.median(latencies) / 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] / 1000
    quarter = len(by_send_time) // 4
    first = statistics.median(by_send_time[:quarter]) / 1000
    last = statistics.median(by_send_time[-quarter:]) / 1000
    print(
        f"\nstreaming latency over {count} events at {rate}/s: p50={p50:.1f} s p99={p99:.1f} s;"
        f" median of the first quarter {first:.1f} s, of the last {last:.1f} s"
    )
    assert p99 <= LATENCY_P99_CEILING_SECONDS, f"p99 latency {p99:.1f} s"
    assert last <= first + BACKLOG_GROWTH_SLACK_SECONDS, "the job keeps up: no growing backlog"
    assert len(found["dlq"]) == count // 50

    in_files = set()
    for path in (tmp_path / "files").glob("enriched-*.avro"):
        with path.open("rb") as fh:
            in_files.update(r["id"] for r in fastavro.reader(fh))
    assert in_files == {row[2] for row in found["enriched"]}


def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
    kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    count = 400
    group = f"{stream_topics['raw']}.killed"
    argv = kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files")
    first = job_factory(argv)
    time.sleep(15)
    producer = kit.produce_steadily(
        kafka_bootstrap, stream_topics["raw"], kit.events(count, 2), 20.0
    )
    partial = kit.wait_for_outputs(kafka_bootstrap, stream_topics, count // 3, timeout=180)
    assert 0 < len(kit.accounted(partial)) < count, "killed mid-stream"
    first.kill()
    producer.join()

    second = job_factory(argv)
    found = kit.wait_for_outputs(kafka_bootstrap, stream_topics, count, timeout=300)
    time.sleep(12)
    assert second.stop() == 0

    found = kit.output_records(kafka_bootstrap, stream_topics)
    per_input = kit.accounted(found)
    assert len(per_input) == count, "every input has an output"
    assert set(per_input.values()) == {1}, "no input has two outputs"
    ids = [row[2] for row in found["enriched"]]
    assert len(ids) == len(set(ids)), "no duplicate enriched record for one id"

    committed, ends = kit.committed_vs_end(kafka_bootstrap, stream_topics["raw"], group)
    assert committed == ends, "after the restart every input is committed"
    in_files = set()
    for path in (tmp_path / "files").glob("enriched-*.avro"):
        with path.open("rb") as fh:
            in_files.update(r["id"] for r in fastavro.reader(fh))
    assert in_files == set(ids), "the files hold every enriched record (at-least-once)"
