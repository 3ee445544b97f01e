"""Validation of the Kafka-facing options: the broker timeout and the client settings."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import NewsflowOptions, kafka_overrides, validate
from transforms.io.broker_retry import DEFAULT_BROKER_TIMEOUT_SECONDS
from transforms.io.client_settings import producer_settings
from transforms.io.kafka_config import client_config


def _opts(*argv: str) -> NewsflowOptions:
    return PipelineOptions(list(argv)).view_as(NewsflowOptions)


@pytest.mark.parametrize(
    ("argv", "timeout"),
    [
        ((), DEFAULT_BROKER_TIMEOUT_SECONDS),
        (("--broker-timeout-seconds", "30"), 30.0),
        (("--broker_timeout_seconds=0.5",), 0.5),
    ],
)
def test_broker_timeout_is_read_in_seconds(argv, timeout):
    opts = _opts(*argv)
    validate(opts)
    assert opts.broker_timeout_seconds == timeout


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1e12"])
def test_a_broker_timeout_that_cannot_work_is_refused(value):
    with pytest.raises(ValueError, match="--broker-timeout-seconds must be > 0"):
        validate(_opts("--broker-timeout-seconds", value))


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("security.protocol", "KEY=VALUE"),
        ("sasl.jaas.config=x", "not supported"),
        ("group.id=other", "--consumer-group"),
        ("transactional.id=t", "not transactional"),
        ("delivery.timeout.ms=1000", "delivery.timeout.ms \\(1000\\) must be at least"),
        ("request.timeout.ms=600000", "fetch.max.wait.ms < request.timeout.ms < connections"),
        ("retries=0", "enable.idempotence=false"),
        ("compression.type=brotli", "compression.type='brotli' is not available"),
    ],
)
def test_kafka_settings_are_checked_before_any_worker_starts(flag, message):
    with pytest.raises(ValueError, match=message):
        validate(_opts("--kafka-config", flag))


@pytest.mark.parametrize(
    ("timeout", "flags", "delivery_ms"),
    [
        (300.0, [], 300_000),
        (20.0, [], 30_020),  # issue 16: never below request.timeout.ms + linger.ms
        (0.5, ["request.timeout.ms=5000", "linger.ms=100"], 5_100),
        (20.0, ["delivery.timeout.ms=45000"], 45_000),  # the user's own value is kept
    ],
)
def test_the_producer_retries_writes_for_the_broker_timeout_but_never_below_kafkas_floor(
    timeout, flags, delivery_ms
):
    argv = [f"--broker-timeout-seconds={timeout}"]
    for flag in flags:
        argv += ["--kafka-config", flag]
    opts = _opts(*argv)
    validate(opts)
    config = client_config(opts.bootstrap_servers, kafka_overrides(opts))
    assert producer_settings(config, timeout)["delivery_timeout_ms"] == delivery_ms


def test_settings_that_only_drop_idempotence_explicitly_are_accepted():
    validate(_opts("--kafka-config", "retries=0", "--kafka-config", "enable.idempotence=false"))


def test_javas_compression_type_none_means_no_compression():
    opts = _opts("--kafka-config", "compression.type=none")
    validate(opts)
    config = client_config(opts.bootstrap_servers, kafka_overrides(opts))
    assert producer_settings(config, 300)["compression_type"] is None
