"""A streaming newsflow job as a real process, a steady producer, and output bookkeeping."""

from __future__ import annotations

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
from pathlib import Path
from types import SimpleNamespace

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions

from pipelines.kafka_tools import read_topic, send_steadily
from schemas.codec import decode_any

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"


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
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [python, "-m", "pipelines.cli", *argv],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

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


def run_once(argv: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    """``newsflow`` as a command that is expected to end by itself; stderr captured."""
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *argv], cwd=ROOT, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


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
    """Poll until the outputs hold ``expected`` distinct inputs (or time out); returns them."""
    deadline = time.monotonic() + timeout
    while True:
        found = output_records(bootstrap, topics)
        inputs = {(p, o) for rows in found.values() for (p, o, _, _) in rows}
        if len(inputs) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(3)


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


def broker_outage(seconds: float) -> float:
    """Stop the test broker (``kafka.sh down``: SIGTERM, as an operator would), keep it down
    ``seconds``, start it again; returns how long clients could not reach it."""
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}

    def kafka_sh(command: str) -> None:
        subprocess.run(
            [str(KAFKA_SH), command], env=env, stdin=subprocess.DEVNULL, check=True, timeout=300,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    started = time.monotonic()
    kafka_sh("down")
    time.sleep(seconds)
    kafka_sh("up")
    return time.monotonic() - started


def uncommitted_outputs(found: dict[str, list[tuple]], committed: dict) -> set[tuple[int, int]]:
    """Inputs that have an output but whose offset the group has not committed."""
    done = {tp.partition: (meta or 0) for tp, meta in committed.items()}
    return {(p, o) for rows in found.values() for (p, o, _, _) in rows if o >= done.get(p, 0)}


def accounted(found: dict[str, list[tuple]]) -> Counter:
    """How many output records each input has across all outputs (must be exactly 1)."""
    return Counter((p, o) for rows in found.values() for (p, o, _, _) in rows)


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
            os.killpg(job.proc.pid, signal.SIGKILL)


@pytest.fixture
def kit(run_args) -> SimpleNamespace:
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
        broker_outage=broker_outage,
        run_once=run_once,
        uncommitted_outputs=uncommitted_outputs,
    )
