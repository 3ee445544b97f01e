"""Every value of the Kafka-facing options either builds each client newsflow builds, on the real
broker, or is refused by ``validate()`` with ``ValueError`` before a job starts (issue 16: a
setting that cannot work must never be retried as a broker outage).

Hypothesis draws ``--broker-timeout-seconds`` (any float, nan and infinities included) and
``--kafka-config`` timing, batching, idempotence and compression settings around and across the
limits kafka-python's constructors enforce. Timeouts are drawn from 1 s up: a shorter request
timeout builds but cannot answer a request, which is an outage, not a refused setting.
"""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kafka.errors import KafkaConfigurationError

from pipelines.group_lock import lease_consumer
from pipelines.options import NewsflowOptions, kafka_connection, validate
from schemas.errors import ConfigurationError
from transforms.io.broker_retry import shared_outage
from transforms.io.changelog import LINGER_MS
from transforms.io.kafka_clients import KafkaConnection

pytestmark = pytest.mark.integration

MS = st.integers(min_value=1000, max_value=700_000)
SETTINGS = {
    "request.timeout.ms": MS,
    "fetch.max.wait.ms": st.integers(min_value=0, max_value=700_000),
    "connections.max.idle.ms": MS,
    "delivery.timeout.ms": MS,
    "linger.ms": st.integers(min_value=0, max_value=100_000),
    "session.timeout.ms": MS,
    "heartbeat.interval.ms": MS,
    "retries": st.integers(min_value=0, max_value=10),
    "max.in.flight.requests.per.connection": st.integers(min_value=1, max_value=10),
    "enable.idempotence": st.sampled_from(["true", "false"]),
    "compression.type": st.sampled_from(["none", "gzip", "snappy", "lz4", "zstd", "brotli"]),
    "client.id": st.sampled_from(["newsflow-test", "x"]),
}
TIMEOUTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.001, 0.5, 1.0, 20.0, 30.0, 30.02, 300.0, 2147483.647, 2147483.648]),
)


def build_every_client(bootstrap: str, argv: list[str]) -> None:
    """Each Kafka client a ``newsflow run`` builds, from the options ``argv``, then closed."""
    kafka = kafka_connection(PipelineOptions(argv).view_as(NewsflowOptions))
    for linger_ms in (None, LINGER_MS):  # the sinks' producer, the changelog's
        args = () if linger_ms is None else (linger_ms,)
        kafka.producer(*args).close()
    kafka.consumer().close()
    lease_consumer(kafka, "newsflow-test.lock").close(autocommit=False)
    kafka.admin().close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(timeout=TIMEOUTS, chosen=st.fixed_dictionaries({}, optional=SETTINGS))
@example(timeout=20.0, chosen={})  # issue 16: delivery_timeout_ms 20000 < 30000 + 20
@example(timeout=300.0, chosen={"request.timeout.ms": 400_000})
@example(timeout=1.0, chosen={"compression.type": "none", "session.timeout.ms": 1000})
def test_every_option_value_builds_every_client_or_is_refused_at_start(
    kafka_bootstrap, timeout, chosen
):
    argv = ["--bootstrap-servers", kafka_bootstrap, f"--broker-timeout-seconds={timeout!r}"]
    for key, value in chosen.items():
        argv += ["--kafka-config", f"{key}={value}"]
    try:
        validate(PipelineOptions(argv).view_as(NewsflowOptions))
    except ValueError:
        return  # refused at start: one line, exit 2
    build_every_client(kafka_bootstrap, argv)


def test_a_setting_the_client_refuses_is_a_configuration_error_never_an_outage(
    kafka_bootstrap,
):
    """What only a worker sees (validate() was skipped here) fails at once, not after retries."""
    kafka = KafkaConnection(
        {"bootstrap_servers": kafka_bootstrap, "delivery_timeout_ms": 1000}, 3600
    )
    with pytest.raises(ConfigurationError, match="settings cannot work") as raised:
        kafka.producer()
    assert isinstance(raised.value.__cause__, KafkaConfigurationError)
    assert shared_outage(kafka_bootstrap, 3600).since is None, "no outage was started"
