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
    # Enriched inputs are committed only once their file window is written: a 15 s window keeps
    # some written-but-uncommitted for long enough that the kill below reliably catches them (with
    # 5 s, a slow poll of the output topics could see them and the commit land before the kill).
    window = 15
    argv = [
        *kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files"),
        "--window-seconds", str(window),
    ]  # fmt: skip
    first = job_factory(argv)
    time.sleep(15)
    producer = kit.produce_steadily(
        kafka_bootstrap, stream_topics["raw"], kit.events(count, 2), 10.0
    )
    refused = kit.run_once([*argv[1:], "--stop-at-end"])
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert f"pid {first.proc.pid}," in refused.stderr, "the refusal names the running job"
    assert f"consumer group {group} is in use" in refused.stderr
    assert first.proc.poll() is None, "the running job is unaffected"

    # Kill while some inputs are written but not yet committed (enriched ones wait for their
    # file window): those are what recovery must recognise. Outputs are read before the commits:
    # the other way round, an output committed between the two reads would look uncommitted
    # (duplicates and dead letters commit within a second of being written).
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        outputs = kit.output_records(kafka_bootstrap, stream_topics)
        committed, _ = kit.committed_vs_end(kafka_bootstrap, stream_topics["raw"], group)
        if kit.uncommitted_outputs(outputs, committed):
            break
        time.sleep(0.5)
    first.kill()
    producer.join()
    committed_at_kill, _ = kit.committed_vs_end(kafka_bootstrap, stream_topics["raw"], group)
    before_restart = kit.output_records(kafka_bootstrap, stream_topics)
    assert 0 < len(kit.accounted(before_restart)) < count, "killed mid-stream"
    written_not_committed = kit.uncommitted_outputs(before_restart, committed_at_kill)
    assert written_not_committed, "some inputs were written but not committed when killed"

    second = job_factory(argv)
    found = kit.wait_for_outputs(kafka_bootstrap, stream_topics, count, timeout=300)
    time.sleep(window + 7)  # the last file window closes and its inputs are committed
    assert second.stop() == 0

    found = kit.output_records(kafka_bootstrap, stream_topics)
    per_input = kit.accounted(found)
    assert len(per_input) == count, "every input has an output"
    assert set(per_input.values()) == {1}, "no input has two outputs"
    assert all(per_input[i] == 1 for i in written_not_committed), (
        f"the {len(written_not_committed)} inputs written before the kill but not committed were "
        "read again and recognised: no second record"
    )
    ids = [row[2] for row in found["enriched"]]
    assert len(ids) == len(set(ids)), "no duplicate enriched record for one id"

    committed, ends = kit.committed_vs_end(kafka_bootstrap, stream_topics["raw"], group)
    assert committed == ends, "after the restart every input is committed"
    in_files = set()
    for path in (tmp_path / "files").glob("enriched-*.avro"):
        with path.open("rb") as fh:
            in_files.update(r["id"] for r in fastavro.reader(fh))
    assert in_files == set(ids), "the files hold every enriched record (at-least-once)"


def test_broker_outage_mid_stream_is_ridden_through(
    kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    """The broker is stopped for 30 s while the job has inputs in flight and started again: the
    job stays up, logs the outage once, and every input ends in exactly one output."""
    count = 160
    payloads = kit.events(count, 3)
    job = job_factory(kit.run_argv(kafka_bootstrap, stream_topics, "outage", tmp_path / "files"))
    time.sleep(15)
    kit.produce_steadily(kafka_bootstrap, stream_topics["raw"], payloads[:100], 20.0).join()
    partial = kit.wait_for_outputs(kafka_bootstrap, stream_topics, 20, timeout=180)
    assert len(kit.accounted(partial)) < 100, "the outage starts with inputs in flight"

    down_seconds = kit.broker_outage(30)
    assert job.proc.poll() is None, "the job is alive after the outage"
    kit.produce_steadily(kafka_bootstrap, stream_topics["raw"], payloads[100:], 20.0).join()
    kit.wait_for_outputs(kafka_bootstrap, stream_topics, count, timeout=300)
    assert job.proc.poll() is None, "the job is alive at the end"
    time.sleep(12)
    assert job.stop() == 0

    per_input = kit.accounted(kit.output_records(kafka_bootstrap, stream_topics))
    print(f"\nbroker down {down_seconds:.0f} s; {len(per_input)}/{count} inputs accounted, "
          f"{sum(per_input.values())} output records")  # fmt: skip
    assert len(per_input) == count, "nothing lost"
    assert set(per_input.values()) == {1}, "nothing written twice"
    log = (tmp_path / "job.log").read_text()
    assert log.count("unreachable (") == 1, "one warning when the outage starts"
    assert log.count("reachable again after") == 1, "one line when it ends"
    assert "kafka.conn" not in log and "kafka.net" not in log, "kafka-python's loggers are quiet"
