"""Validation of the Kafka-facing options: the broker timeout and the client settings."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import NewsflowOptions, validate
from transforms.io.broker_retry import DEFAULT_BROKER_TIMEOUT_SECONDS


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


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_broker_timeout_that_cannot_work_is_refused(value):
    with pytest.raises(ValueError, match="--broker-timeout-seconds must be > 0"):
        validate(_opts("--broker-timeout-seconds", value))


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("security.protocol", "KEY=VALUE"),
        ("sasl.jaas.config=x", "not supported"),
        ("group.id=other", "--consumer-group"),
    ],
)
def test_kafka_settings_are_checked_before_any_worker_starts(flag, message):
    with pytest.raises(ValueError, match=message):
        validate(_opts("--kafka-config", flag))
