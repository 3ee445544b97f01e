"""A failed job ends the command with one line: the error raised on the worker, not the runner's
whole traceback."""

import pytest

from pipelines.cli import failure_line

PRISM_FAILURE = """Pipeline job-001 failed in state FAILED: bundle inst001 stage-001 failed:Traceback (most recent call last):
  File "/x/kafka/net/manager.py", line 168, in _do_bootstrap
kafka.errors.KafkaTimeoutError: KafkaTimeoutError: Unable to bootstrap from 127.0.0.1:9209

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/x/transforms/io/broker_retry.py", line 69, in failed
schemas.errors.BrokerUnavailableError: broker unreachable for 301 s (limit --broker-timeout-seconds 300) [while running 'ReadFromKafka/ListPartitions']
"""  # noqa: E501


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (
            PRISM_FAILURE,
            "BrokerUnavailableError: broker unreachable for 301 s (limit --broker-timeout-seconds "
            "300) [while running 'ReadFromKafka/ListPartitions']",
        ),
        ("Traceback ...\nValueError: bad value\n", "ValueError: bad value"),
        ("job cancelled by the runner\nmore", "RuntimeError: job cancelled by the runner"),
    ],
)
def test_failure_line_keeps_the_error_raised_on_the_worker(message, line):
    assert failure_line(RuntimeError(message)) == line
