"""A streaming newsflow job as a real process, a steady producer, and output bookkeeping."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions

from pipelines.kafka_tools import read_topic, send_steadily
from schemas.codec import ARTICLE_EVENT, DEAD_LETTER, HEADER_LEN, decode, decode_any, encode

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
# Prism's start-up and the NER pool's model loads, on a loaded machine.
READING_TIMEOUT_SECONDS = 300
# A file window as long as the time since the epoch: the window open now ends decades ahead, so no
# file is written while a job runs with it, and its enriched inputs stay uncommitted by
# construction (an enriched input is committed only once its file is written).
NO_FILE_WINDOW_SECONDS = 2 * int(time.time())


def vocabulary() -> list[str]:
    """Words of the example articles, in their natural frequencies (so generated bodies read as
    English to the filler detector while no two share a 5-word shingle)."""
    words: list[str] = []
    for line in EXAMPLES.open():
        try:
            body = json.loads(line).get("body")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(body, str) and "<html" not in body:
            words.extend(body.split())
    return words


def events(count: int, seed: int) -> list[bytes]:
    """``count`` distinct article events, with a bad one every 50th to exercise dead letters."""
    rng, words = random.Random(seed), vocabulary()
    out = []
    for i in range(count):
        if i % 50 == 49:
            out.append(f'{{"id": "bad-{seed}-{i}", "body": 7}}'.encode())
            continue
        body = "\n\n".join(" ".join(rng.choices(words, k=25)) + "." for _ in range(4))
        out.append(json.dumps({"id": f"gen-{seed}-{i}", "source": "gen", "body": body}).encode())
    return out


def produce_steadily(
    bootstrap: str,
    topic: str,
    payloads: list[bytes],
    per_second: float,
    partition_of: Callable[[int], int | None] = lambda _n: None,
):
    """Send at a steady rate from a thread (``partition_of(n)`` pins the n-th event to a
    partition); returns the thread (join to wait for the last send)."""

    def run() -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        send_steadily(producer, topic, payloads, per_second, partition_of)
        producer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class Job:
    """``newsflow run`` (streaming, Prism, or Flink from ``python`` = .venv-flink's) in its own
    process group."""

    def __init__(self, argv: list[str], log: Path, python: str = sys.executable) -> None:
        self._log_path = log
        self._log_start = log.stat().st_size if log.exists() else 0
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [python, "-m", "pipelines.cli", *argv],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_until_reading(self, topic: str, partitions: int) -> None:
        """Poll this job's log (it runs with -v) until its reader has started on every partition
        of ``topic``: the group lock is held and its partitions are listed by then."""

        def reading() -> bool:
            with self._log_path.open("rb") as fh:
                fh.seek(self._log_start)
                log = fh.read().decode(errors="replace")
            assert self.proc.poll() is None, f"the job ended: {log[-3000:]}"
            return all(f"{topic}/{p}: reading offsets" in log for p in range(partitions))

        wait_until(reading, READING_TIMEOUT_SECONDS, f"the job reads {topic}")

    def kill(self) -> None:
        """SIGKILL to the whole group: the job and its runner die as in a machine failure."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self._log.close()

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM, as an operator or a process manager would; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()


def run_once(
    argv: list[str], timeout: float = 240, python: str = sys.executable
) -> subprocess.CompletedProcess:
    """``newsflow`` as a command that is expected to end by itself; stderr captured."""
    return subprocess.run(
        [python, "-m", "pipelines.cli", *argv], cwd=ROOT, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """Poll ``condition`` until it returns a true value (returned), failing with ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting until {what}"
        time.sleep(every)
    return value


def output_records(bootstrap: str, topics: dict[str, str]) -> dict[str, list[tuple]]:
    """Per output: (input partition, offset, id, output Kafka timestamp) of each record."""
    found: dict[str, list[tuple]] = {}
    for name in ("enriched", "duplicates", "dlq"):
        rows = []
        for message in read_topic(topics[name], bootstrap, {}):
            _, record = decode_any(message.value)
            coords = record["kafka"]
            rows.append(
                (coords["partition"], coords["offset"], record.get("id"), message.timestamp)
            )
        found[name] = rows
    return found


def wait_for_outputs(bootstrap: str, topics: dict[str, str], expected: int, timeout: float):
    """Poll until the outputs hold at least ``expected`` distinct inputs; returns them."""

    def enough() -> dict[str, list[tuple]] | None:
        found = output_records(bootstrap, topics)
        return found if len(accounted(found)) >= expected else None

    return wait_until(enough, timeout, f"{expected} inputs have an output", every=2)


def input_timestamps(bootstrap: str, topic: str) -> dict[tuple[int, int], int]:
    return {(m.partition, m.offset): m.timestamp for m in read_topic(topic, bootstrap, {})}


def committed_vs_end(bootstrap: str, topic: str, group: str) -> tuple[dict, dict]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(partitions)
        return {tp: consumer.committed(tp) for tp in partitions}, ends
    finally:
        consumer.close()


def add_partition(bootstrap: str, topic: str, total: int) -> None:
    """Grow ``topic`` to ``total`` partitions, as an operator scaling a live topic would."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_partitions({topic: NewPartitions(total_count=total)})
    finally:
        admin.close()


def kafka_sh(command: str) -> None:
    """``kafka.sh down`` (SIGTERM to the test broker, as an operator stops it; returns once it has
    exited) or ``kafka.sh up`` (returns once it answers)."""
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    subprocess.run(
        [str(KAFKA_SH), command], env=env, stdin=subprocess.DEVNULL, check=True, timeout=300,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_until_complete(
    bootstrap: str, topics: dict[str, str], group: str, count: int, files: Path, timeout: float,
    file_ids: Callable[[Path], set[str]],
) -> dict[str, list[tuple]]:  # fmt: skip
    """Poll until ``count`` inputs have an output, the group has committed every input and the
    files under ``files`` (ids read by ``file_ids``) hold every enriched record; returns the
    outputs. This replaces waiting "one more file window": the last window's file and commit are
    observed, not assumed."""

    def complete() -> dict[str, list[tuple]] | None:
        found = output_records(bootstrap, topics)
        committed, ends = committed_vs_end(bootstrap, topics["raw"], group)
        done = len(accounted(found)) >= count and committed == ends
        in_files = file_ids(files)
        return found if done and {row[2] for row in found["enriched"]} <= in_files else None

    return wait_until(complete, timeout, f"{count} inputs are written and committed", every=2)


def uncommitted_outputs(found: dict[str, list[tuple]], committed: dict) -> set[tuple[int, int]]:
    """Inputs that have an output but whose offset the group has not committed."""
    done = {tp.partition: (meta or 0) for tp, meta in committed.items()}
    return {(p, o) for rows in found.values() for (p, o, _, _) in rows if o >= done.get(p, 0)}


def accounted(found: dict[str, list[tuple]]) -> Counter:
    """How many output records each input has across all outputs (must be exactly 1)."""
    return Counter((p, o) for rows in found.values() for (p, o, _, _) in rows)


# Malformed messages, each with the reason code its dead letter must carry.
HOSTILE = {
    b'{"id": "lone", "body": "a lone \\ud800 surrogate in the body"}': "bad_unicode",
    b'{"body": "a body", "fetched_at": NaN}': "date_out_of_range",
    b'{"body": "a body", "fetched_at": -Infinity}': "date_out_of_range",
    b'{"body": "a body", "fetched_at": 1e300}': "date_out_of_range",
    b'{"body": "a body", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}": "too_deep",
    b'{"body": "a body", "fetched_at": ' + b"7" * 5000 + b"}": "bad_number",
    b'{"body": "a body", "id": "' + b"i" * 2000 + b'"}': "field_too_large",
    b"\xff\xfe\x00garbage": "not_utf8",
    b"[1, 2, 3]": "not_object",
    encode({"body": "x"}, ARTICLE_EVENT)[:HEADER_LEN] + b"\xff\xff\xff\xff": "bad_avro",
}
HOSTILE_COMMIT_TIMEOUT_SECONDS = 60


def with_hostile(good: list[bytes]) -> list[bytes]:
    """``good`` (one more than ``HOSTILE``) with a malformed message between each two."""
    return [p for pair in zip(good, [*HOSTILE, None], strict=True) for p in pair if p is not None]


def send_with_hostile(bootstrap: str, topic: str, good: list[bytes]) -> None:
    """``with_hostile(good)`` to partition 0 of ``topic``, 5 a second: one partition, so the
    offsets a check expects are the payloads' positions."""
    produce_steadily(bootstrap, topic, with_hostile(good), 5.0, partition_of=lambda _n: 0).join()


def assert_hostile_handled(bootstrap: str, topics: dict, group: str, job, good: list[bytes]):
    """``with_hostile(good)``, sent to partition 0 of the raw topic: the job is still running,
    each input is in exactly one output, the good ones enriched, each malformed one a dead letter
    with its reason code and coordinates, and the group committed past all of them."""
    payloads = with_hostile(good)
    found = wait_for_outputs(bootstrap, topics, len(payloads), timeout=240)
    assert job.proc.poll() is None, "the job is still running after every malformed message"
    per_input = accounted(found)
    assert sorted(per_input) == [(0, offset) for offset in range(len(payloads))]
    assert set(per_input.values()) == {1}, "each input in exactly one output"
    assert len(found["enriched"]) == len(good)

    letters = [decode(m.value, DEAD_LETTER) for m in read_topic(topics["dlq"], bootstrap, {})]
    assert {record["payload"]: record["error_code"] for record in letters} == HOSTILE
    assert all(record["kafka"]["topic"] == topics["raw"] for record in letters)

    partition = TopicPartition(topics["raw"], 0)

    def committed_past_all() -> bool:
        committed, ends = committed_vs_end(bootstrap, topics["raw"], group)
        return committed[partition] == ends[partition] == len(payloads)

    wait_until(committed_past_all, HOSTILE_COMMIT_TIMEOUT_SECONDS, "every input is committed", 2)


def late_files(files: Path) -> list[str]:
    """Avro files of a window's later panes (``<prefix>-<window>-<pane>-<id>.avro``, pane > 0):
    records that reached the file sink after their window had closed."""
    return sorted(p.name for p in files.glob("*.avro") if p.name.rsplit("-", 2)[1] != "0")


@pytest.fixture
def stream_topics(unique_topic) -> dict[str, str]:
    return {name: unique_topic(3 if name == "raw" else 1, name)
            for name in ("raw", "enriched", "duplicates", "dlq")}  # fmt: skip


@pytest.fixture
def job_factory(tmp_path) -> Iterator:
    jobs: list[Job] = []

    def start(argv: list[str], python: str = sys.executable) -> Job:
        job = Job(argv, tmp_path / "job.log", python)
        jobs.append(job)
        return job

    yield start
    for job in jobs:
        if job.proc.poll() is None:
            # SIGTERM first, so a Flink launcher cancels its job: after a failed test it would
            # otherwise hold the cluster's slots and the next tests' jobs would wait for them.
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.stop(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.proc.pid, signal.SIGKILL)


@pytest.fixture
def kit(run_args, avro_ids) -> SimpleNamespace:
    """The helpers above, for the tests of this folder."""

    def run_argv(bootstrap: str, topics: dict[str, str], group: str, output: Path) -> list[str]:
        """The streaming job (no --stop-at-end), logging at info, 5 s file windows."""
        return ["-v", *run_args(bootstrap, topics, group, output, "--window-seconds", "5")]

    return SimpleNamespace(
        EXAMPLES=EXAMPLES,
        events=events,
        produce_steadily=produce_steadily,
        output_records=output_records,
        wait_for_outputs=wait_for_outputs,
        accounted=accounted,
        run_argv=run_argv,
        input_timestamps=input_timestamps,
        committed_vs_end=committed_vs_end,
        add_partition=add_partition,
        kafka_sh=kafka_sh,
        run_once=run_once,
        uncommitted_outputs=uncommitted_outputs,
        wait_until=wait_until,
        wait_until_complete=partial(wait_until_complete, file_ids=avro_ids),
        file_ids=avro_ids,
        late_files=late_files,
        HOSTILE=HOSTILE,
        with_hostile=with_hostile,
        send_with_hostile=send_with_hostile,
        assert_hostile_handled=assert_hostile_handled,
        NO_FILE_WINDOW_SECONDS=NO_FILE_WINDOW_SECONDS,
    )
