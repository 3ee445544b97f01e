"""A real local broker for the integration tests, and uniquely named topics on it.

``kafka_bootstrap`` starts the broker with the project's own ``deploy/local/kafka.sh up`` (a no-op
when one already answers, e.g. under ``make test``) and stops it at the end of the session only if
this session started it. ``KAFKA_PORT`` and ``NEWSFLOW_KAFKA_HOME`` are passed through to the
script, so a test run can use its own broker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import fastavro
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import MessageSizeTooLargeError, RetriableError

KAFKA_SH = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka.sh"
REGISTRY_SH = KAFKA_SH.with_name("registry.sh")
TOPIC_READY_TIMEOUT_SECONDS = 30


def _kafka_sh(command: str, check: bool, script: Path = KAFKA_SH) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    return subprocess.run(
        [str(script), command], env=env, stdin=subprocess.DEVNULL, check=check, timeout=600
    )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a running local broker with the DESIGN.md topics."""
    started = _kafka_sh("status", check=False).returncode != 0
    _kafka_sh("up", check=True)
    yield f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    if started:
        _kafka_sh("down", check=True)


@pytest.fixture(scope="session")
def schema_registry_url() -> Iterator[str]:
    """The Confluent-compatible API of the local schema registry (``deploy/local/registry.sh``),
    started for the session unless one already answers, and then stopped again."""
    started = _kafka_sh("status", check=False, script=REGISTRY_SH).returncode != 0
    _kafka_sh("up", check=True, script=REGISTRY_SH)
    yield f"http://127.0.0.1:{os.environ.get('REGISTRY_PORT', '8085')}/apis/ccompat/v7"
    if started:
        _kafka_sh("down", check=True, script=REGISTRY_SH)


@pytest.fixture
def unique_topic(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """Factory: ``unique_topic(partitions=1, suffix="", accept=None)`` creates a fresh topic,
    returns its name.

    Names carry the test name and a random part, so reruns and parallel sessions never share data;
    ``accept``, given, picks the random part until it takes the name. The topics are deleted after
    the test.
    """
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="newsflow-tests")
    created: list[str] = []
    test_name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:80]

    def create(
        partitions: int = 1, suffix: str = "", accept: Callable[[str], bool] | None = None
    ) -> str:
        name = f"test.{test_name}{'.' + suffix if suffix else ''}.{uuid.uuid4().hex[:8]}"
        while accept is not None and not accept(name):
            name = f"{name[:-8]}{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(name, partitions, 1)], timeout_ms=30000)
        created.append(name)
        _wait_for_partitions(kafka_bootstrap, name, partitions)
        return name

    yield create
    admin.close()
    if created:
        _delete_topics(kafka_bootstrap, created)


class MessageLimits:
    """Sets and lifts a topic's ``max.message.bytes``, each returning once the broker acts on it:
    how a test makes the broker answer MESSAGE_TOO_LARGE for records the client accepts. Its
    probes are keyed ``PROBE_KEY``; a lifted limit's probe lands on the topic (and one may before
    a limit is in force), so a test reading the topic leaves those out."""

    PROBE_KEY = b"probe"

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap

    def set(self, topic: str, limit_bytes: int) -> None:
        self._alter(topic, {"max.message.bytes": str(limit_bytes)})
        self._await_probe(topic, bytes(limit_bytes + 1), taken=False)

    def lift(self, topic: str) -> None:
        """Back to Kafka's default limit (``message.max.bytes``, 1,048,588)."""
        self._alter(topic, {"max.message.bytes": "1048588"})
        self._await_probe(topic, bytes(2048), taken=True)

    def _alter(self, topic: str, config: dict[str, str]) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="newsflow-tests")
        try:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=config)])
        finally:
            admin.close()

    def _await_probe(self, topic: str, probe: bytes, taken: bool) -> None:
        producer = KafkaProducer(bootstrap_servers=self._bootstrap, acks="all")
        deadline = time.monotonic() + TOPIC_READY_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                try:
                    producer.send(topic, key=self.PROBE_KEY, value=probe).get(timeout=10)
                    if taken:
                        return
                except MessageSizeTooLargeError:
                    if not taken:
                        return
            raise TimeoutError(f"{topic}'s limit not in force: {len(probe)} bytes taken={taken}")
        finally:
            producer.close()


def _send_transactions(
    bootstrap: str, topic: str, batches: list[tuple[list[bytes], bool]], partitions: int = 1
) -> None:
    """Each ``(payloads, commit)`` batch in a transaction of its own, written and then committed
    or aborted, as Kafka Connect, Kafka Streams or Flink's exactly-once sink write; the n-th
    payload of a batch to partition ``n % partitions``."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}.tx")
    producer.init_transactions()
    for payloads, commit in batches:
        producer.begin_transaction()
        for n, payload in enumerate(payloads):
            producer.send(topic, value=payload, partition=n % partitions)
        producer.flush()
        if commit:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    producer.close()


@pytest.fixture
def send_transactions() -> Callable[..., None]:
    """``send_transactions(bootstrap, topic, [(payloads, commit), ...], partitions=1)``."""
    return _send_transactions


@pytest.fixture
def message_limits(kafka_bootstrap: str) -> MessageLimits:
    """``MessageLimits`` on the session's broker."""
    return MessageLimits(kafka_bootstrap)


def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    """With a client of its own, retried while the broker is not reachable: the factory's client
    lived through the test, and after a test's broker outage it still held the connection the
    outage broke (``NodeNotReadyError`` at teardown, once in a CI run)."""
    deadline = time.monotonic() + TOPIC_READY_TIMEOUT_SECONDS
    while True:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="newsflow-tests")
        try:
            admin.delete_topics(topics, timeout_ms=30000)
            return
        except RetriableError:
            if time.monotonic() > deadline:
                raise
        finally:
            admin.close()
        time.sleep(0.5)


def _wait_for_partitions(bootstrap: str, topic: str, partitions: int) -> None:
    """Waits until clients see every partition: creation returns before metadata propagates."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        deadline = time.monotonic() + TOPIC_READY_TIMEOUT_SECONDS
        while len(consumer.partitions_for_topic(topic)) < partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no metadata after creation")
            time.sleep(0.2)
    finally:
        consumer.close()


def _run_args(
    bootstrap: str, topics: dict[str, str], group: str, output_dir: Path, *extra: str
) -> list[str]:
    """``newsflow run`` arguments for one test's topics (keys raw, enriched, duplicates, dlq)."""
    return [
        "run",
        "--bootstrap-servers", bootstrap,
        "--input-topic", topics["raw"],
        "--output-topic", topics["enriched"],
        "--duplicates-topic", topics["duplicates"],
        "--dead-letter-topic", topics["dlq"],
        "--consumer-group", group,
        "--output-dir", str(output_dir),
        *extra,
    ]  # fmt: skip


@pytest.fixture
def run_args():
    """Builds ``newsflow run`` arguments; every integration test runs the job the same way."""
    return _run_args


def _avro_ids(folder: Path) -> set[str]:
    """Ids of the enriched records in a run's Avro files."""
    ids = set()
    for path in folder.glob("enriched*.avro"):
        with path.open("rb") as fh:
            ids.update(record["id"] for record in fastavro.reader(fh))
    return ids


@pytest.fixture
def avro_ids():
    """Reads the ids of the enriched records in a run's ``--output-dir``."""
    return _avro_ids


def _proc_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name (state first), None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        fields = _proc_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its reaper."""
    fields = _proc_fields(pid)
    return fields is not None and fields[0] != "Z"


@pytest.fixture
def procs() -> SimpleNamespace:
    """Reading the process table: ``children(pid)``, ``command_line(pid)``, ``alive(pid)``."""
    return SimpleNamespace(children=_children, command_line=_command_line, alive=_alive)
