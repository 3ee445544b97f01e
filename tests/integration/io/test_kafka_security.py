"""The pipeline, produce, tail and the offset commits over SASL_SSL (SCRAM-SHA-512) and SSL, on a
broker started by ``KAFKA_SECURE=1 deploy/local/kafka.sh up``; a wrong password fails fast saying
so; the password is in no log, dead letter or pipeline option.

The secure broker gets its own ports (``NEWSFLOW_SECURE_KAFKA_PORT``, default the test broker's
port + 4: plaintext there, SASL_SSL at +2, SSL at +3) and its own state directory
(``NEWSFLOW_SECURE_KAFKA_HOME``, default a temporary one), and is stopped after the module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from pipelines import cli
from pipelines.kafka_tools import read_topic
from transforms.io.kafka_config import read_properties

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
EXAMPLES = ROOT / "examples" / "articles.jsonl"
WRONG_PASSWORD_LIMIT_SECONDS = 30


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory) -> SimpleNamespace:
    port = int(
        os.environ.get("NEWSFLOW_SECURE_KAFKA_PORT", int(os.environ.get("KAFKA_PORT", 9092)) + 4)
    )
    home = Path(
        os.environ.get("NEWSFLOW_SECURE_KAFKA_HOME") or tmp_path_factory.mktemp("secure-kafka")
    )
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(port + 1),
        "NEWSFLOW_KAFKA_HOME": str(home),
        "KAFKA_SECURE": "1",
        "PYTHON": os.environ.get("PYTHON", sys.executable),
    }

    def kafka_sh(command: str, check: bool = True) -> int:
        return subprocess.run(
            [str(KAFKA_SH), command], env=env, stdin=subprocess.DEVNULL, check=check, timeout=600
        ).returncode

    started = kafka_sh("status", check=False) != 0
    kafka_sh("up")
    yield SimpleNamespace(
        plain=f"127.0.0.1:{port}",
        sasl=f"127.0.0.1:{port + 2}",
        ssl=f"127.0.0.1:{port + 3}",
        sasl_file=str(home / "client-sasl.properties"),
        ssl_file=str(home / "client-ssl.properties"),
        password=read_properties(str(home / "client-sasl.properties"))["sasl.plain.password"],
    )
    if started:
        kafka_sh("down")


@pytest.fixture
def secure_topics(secure_broker) -> dict[str, str]:
    """Fresh topics, created over the plaintext listener (test setup, not the code under test)."""
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"test.secure.{name}.{suffix}" for name in ("raw", "enriched", "dup", "dlq")}
    admin = KafkaAdminClient(bootstrap_servers=secure_broker.plain)
    admin.create_topics([NewTopic(t, 3 if n == "raw" else 1, 1) for n, t in topics.items()])
    admin.close()
    return topics


def test_pipeline_produce_tail_and_commits_over_sasl_ssl(
    secure_broker, secure_topics, tmp_path, capsys, caplog
):
    sasl = [
        "--bootstrap-servers", secure_broker.sasl, "--kafka-config-file", secure_broker.sasl_file
    ]  # fmt: skip
    raw = secure_topics["raw"]
    assert cli.main(["produce", str(EXAMPLES), "--topic", raw, *sasl]) == 0
    group = f"{raw}.group"
    run_argv = [
        "run", *sasl, "--input-topic", raw, "--output-topic", secure_topics["enriched"],
        "--duplicates-topic", secure_topics["dup"], "--dead-letter-topic", secure_topics["dlq"],
        "--consumer-group", group, "--stop-at-end",
    ]  # fmt: skip
    assert cli.main(run_argv) == 0
    capsys.readouterr()
    assert cli.main(["tail", "--topic", secure_topics["enriched"], "--json", *sasl]) == 0
    tailed = capsys.readouterr()

    outputs = {
        name: list(read_topic(secure_topics[name], secure_broker.plain, {}))
        for name in ("enriched", "dup", "dlq")
    }
    assert sum(len(records) for records in outputs.values()) == 27, "every input, once"
    enriched = len(outputs["enriched"])
    assert enriched > 0 and f"{enriched} records from" in tailed.err, "tail over SASL_SSL"
    consumer = KafkaConsumer(bootstrap_servers=secure_broker.plain, group_id=group)
    partitions = [TopicPartition(raw, p) for p in range(3)]
    assert {tp: consumer.committed(tp) for tp in partitions} == consumer.end_offsets(partitions)
    consumer.close()

    password = secure_broker.password
    assert password not in tailed.err + caplog.text, "never logged"
    assert all(password.encode() not in m.value for m in outputs["dlq"]), "not in dead letters"
    shown = PipelineOptions(run_argv[1:]).get_all_options(retain_unknown_options=True)
    assert password not in str(shown), "not in the options a runner UI shows"


def test_ssl_listener_serves_tail(secure_broker, secure_topics, capsys):
    ssl = ["--bootstrap-servers", secure_broker.ssl, "--kafka-config-file", secure_broker.ssl_file]
    assert cli.main(["tail", "--topic", secure_topics["raw"], *ssl]) == 0
    assert "0 records" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["tail", "run"])
def test_a_wrong_password_fails_fast_saying_authentication_failed(
    secure_broker, secure_topics, command, capsys, monkeypatch
):
    monkeypatch.setenv("NEWSFLOW_TEST_KAFKA_PASSWORD", "not-" + secure_broker.password)
    argv = [
        command, "--bootstrap-servers", secure_broker.sasl,
        "--kafka-config-file", secure_broker.sasl_file,
        "--kafka-config", "sasl.plain.password=${env:NEWSFLOW_TEST_KAFKA_PASSWORD}",
    ]  # fmt: skip
    argv += ["--topic", secure_topics["raw"]] if command == "tail" else ["--stop-at-end"]
    started = time.monotonic()
    assert cli.main(argv) == 2
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert "authentication failed" in err
    assert "Traceback" not in err
    assert elapsed < WRONG_PASSWORD_LIMIT_SECONDS, f"{elapsed:.0f} s"
