"""Outage state and retries with a fake clock: one warning when an outage starts, one line when
it ends, and a clear error once it outlasts the timeout."""

import logging
import socket

import pytest
from kafka.errors import (
    IllegalArgumentError,
    InvalidConfigurationError,
    KafkaConfigurationError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    OffsetOutOfRangeError,
    SaslAuthenticationFailedError,
)

from schemas.errors import AuthenticationError, BrokerUnavailableError, ConfigurationError
from transforms.io.broker_retry import BrokerCalls, Outage, backoff_seconds, shared_outage


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("attempt", "delay"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (50, 5.0)]
)
def test_backoff_doubles_up_to_its_cap(attempt, delay):
    assert backoff_seconds(attempt) == delay


def test_outage_starts_once_and_reports_its_length_when_it_ends():
    clock = FakeClock()
    outage = Outage(timeout_seconds=60, clock=clock)
    assert outage.succeeded() is None, "no outage, nothing to report"
    assert outage.failed("poll", OSError()) is True, "the first failure starts the outage"
    clock.now += 10
    assert outage.failed("commit", OSError()) is False, "later failures are the same outage"
    clock.now += 20
    assert outage.succeeded() == 30
    assert outage.succeeded() is None, "ended once"
    clock.now += 61
    assert outage.failed("poll", OSError()) is True, "a new outage starts afresh"


def test_failures_just_after_an_outage_are_its_tail_not_a_new_one():
    clock = FakeClock()
    outage = Outage(timeout_seconds=60, clock=clock)
    outage.failed("poll", OSError())
    clock.now += 40
    assert outage.succeeded() == 40
    clock.now += 2
    assert outage.failed("end offsets", OSError()) is False, "a leader not yet elected"
    clock.now += 5
    assert outage.succeeded() is None, "no second end line"
    clock.now += 61
    assert outage.failed("poll", OSError()) is True, "later, a real new outage"
    clock.now += 61
    with pytest.raises(BrokerUnavailableError):
        outage.failed("poll", OSError())


def test_outage_longer_than_the_timeout_raises_naming_the_limit_and_the_call():
    clock = FakeClock()
    outage = Outage(timeout_seconds=300, clock=clock)
    outage.failed("poll", OSError())
    clock.now += 300
    assert outage.failed("poll", OSError()) is False, "exactly at the limit: still retrying"
    clock.now += 1
    with pytest.raises(BrokerUnavailableError, match="--broker-timeout-seconds 300") as info:
        outage.failed("committing t/0@5", KafkaTimeoutError("down"))
    assert "committing t/0@5" in str(info.value)


def _calls(servers: str, timeout: float, clock: FakeClock, monkeypatch) -> BrokerCalls:
    monkeypatch.setattr("transforms.io.broker_retry._OUTAGES", {})
    shared_outage(servers, timeout).clock = clock
    return BrokerCalls(servers, timeout)


def test_call_retries_through_an_outage_logging_its_start_and_end_once(monkeypatch, caplog):
    clock = FakeClock()
    calls = _calls("b:1", 300, clock, monkeypatch)
    results = iter([KafkaTimeoutError("down")] * 6 + ["done"])

    def flaky():
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    with caplog.at_level(logging.WARNING, logger="transforms.io.broker_retry"):
        assert calls.call("poll", flaky, sleep=clock.sleep) == "done"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "b:1 unreachable" in messages[0]
    assert clock.now == 1000 + 0.5 + 1 + 2 + 4 + 5 + 5, "six backoffs"
    assert "reachable again after 17.5 s" in messages[1]


def _waited_before_raising(calls, clock: FakeClock, error: Exception, raised, match: str) -> float:
    """Seconds the call waited before it raised ``raised`` for a broker that always fails so."""

    def failing():
        raise error

    with pytest.raises(raised, match=match):
        calls.call("listing partitions of t", failing, sleep=clock.sleep)
    return clock.now - 1000


def test_call_gives_up_past_the_timeout(monkeypatch):
    clock = FakeClock()
    calls = _calls("b:2", 20, clock, monkeypatch)
    error = KafkaTimeoutError("Unable to bootstrap")
    waited = _waited_before_raising(
        calls, clock, error, BrokerUnavailableError, "Unable to bootstrap"
    )
    assert 20 < waited <= 25


def test_call_does_not_retry_a_wrong_password(monkeypatch):
    clock = FakeClock()
    calls = _calls("b:3", 300, clock, monkeypatch)
    error = SaslAuthenticationFailedError("bad credentials")
    waited = _waited_before_raising(
        calls, clock, error, AuthenticationError, "authentication failed on b:3"
    )
    assert waited == 0, "no waiting"


@pytest.mark.parametrize(
    "error",
    [
        KafkaConfigurationError("Must set delivery_timeout_ms higher than linger_ms + ..."),
        IllegalArgumentError("bad argument"),
        InvalidConfigurationError("retention.ms out of range"),
        MessageSizeTooLargeError("The message is 1146872 bytes ... max_request_size"),
    ],
)
def test_a_setting_the_client_refuses_is_never_retried_as_an_outage(monkeypatch, error):
    """Issue 16: a producer whose delivery timeout was below kafka-python's floor was reported as
    "broker unreachable" and retried for the whole broker timeout."""
    clock = FakeClock()
    calls = _calls("b:9", 300, clock, monkeypatch)
    waited = _waited_before_raising(
        calls, clock, error, ConfigurationError, "Kafka client settings cannot work"
    )
    assert waited == 0, "no waiting"
    assert shared_outage("b:9", 300).since is None, "no outage started"


def test_offsets_deleted_unread_with_no_reset_policy_stop_at_once(monkeypatch):
    """With ``auto.offset.reset=none`` the consumer raises where the reader would dead-letter the
    deleted offsets; it was retried as an unreachable broker for the whole broker timeout."""
    clock = FakeClock()
    calls = _calls("b:9", 300, clock, monkeypatch)
    error = OffsetOutOfRangeError({"raw-0": 3})
    waited = _waited_before_raising(
        calls, clock, error, ConfigurationError, "offsets were deleted before they were read"
    )
    assert waited == 0 and shared_outage("b:9", 300).since is None


def test_a_login_rejection_kafka_python_only_logs_is_translated(monkeypatch):
    """kafka-python raises a bootstrap timeout; the rejection is in its connection manager's log."""
    clock = FakeClock()
    calls = _calls("b:6", 300, clock, monkeypatch)

    def bootstrap():
        logging.getLogger("kafka.net.manager").error(
            "Bootstrap connection to %s failed: %s", "bootstrap-0",
            SaslAuthenticationFailedError("Authentication failed during authentication"),
        )  # fmt: skip
        raise KafkaTimeoutError("Unable to bootstrap from b:6")

    with pytest.raises(AuthenticationError, match=r"authentication failed on b:6 \(connecting\)"):
        calls.call("connecting", bootstrap, sleep=clock.sleep)
    assert clock.now == 1000, "not retried"


def test_clients_of_one_broker_share_its_outage(monkeypatch, caplog):
    clock = FakeClock()
    writer = _calls("b:4", 300, clock, monkeypatch)
    attempts = []

    def fails_twice():
        attempts.append(clock.now)
        if len(attempts) <= 2:
            raise KafkaTimeoutError("down")
        return "sent"

    with caplog.at_level(logging.WARNING, logger="transforms.io.broker_retry"):
        assert shared_outage("b:4", 300).failed("poll", OSError()), "the reader noticed first"
        assert writer.call("send", fails_twice, sleep=clock.sleep) == "sent"
    assert [r.getMessage() for r in caplog.records] == [
        "Kafka broker b:4 reachable again after 1.5 s"
    ], "the writer's failures belong to the reader's outage: no second start line"


def test_another_broker_has_its_own_outage(monkeypatch):
    monkeypatch.setattr("transforms.io.broker_retry._OUTAGES", {})
    assert shared_outage("a:1", 300).failed("poll", OSError())
    assert shared_outage("c:1", 300).since is None


def test_a_local_success_does_not_end_an_outage(monkeypatch, caplog):
    clock = FakeClock()
    calls = _calls("b:5", 300, clock, monkeypatch)
    outage = shared_outage("b:5", 300)
    outage.failed("end offsets", OSError())
    with caplog.at_level(logging.WARNING, logger="transforms.io.broker_retry"):
        assert calls.call("poll", dict, local=True, sleep=clock.sleep) == {}
    assert outage.since == 1000, "an empty poll proves nothing about the broker"
    assert not caplog.records


def test_a_secured_client_rejected_by_a_broker_that_is_up_fails_as_authentication(monkeypatch):
    """A wrong password shows as a bootstrap timeout against a broker that accepts TCP: not an
    outage, so it is not retried for minutes; a plaintext client is retried as before."""
    listener = socket.create_server(("127.0.0.1", 0))
    servers = f"127.0.0.1:{listener.getsockname()[1]}"
    clock = FakeClock()
    monkeypatch.setattr("transforms.io.broker_retry._OUTAGES", {})
    shared_outage(servers, 30).clock = clock

    def bootstrap():
        raise KafkaTimeoutError(f"Unable to bootstrap from {servers}")

    try:
        with pytest.raises(AuthenticationError, match="accepts connections but closed them"):
            BrokerCalls(servers, 30, secured=True).call("connecting", bootstrap, sleep=clock.sleep)
        assert clock.now == 1000
        with pytest.raises(BrokerUnavailableError):
            BrokerCalls(servers, 30).call("connecting", bootstrap, sleep=clock.sleep)
    finally:
        listener.close()
