"""Ride through broker outages: retry Kafka calls with backoff, up to a deadline per outage.

Every Kafka call of the job's IO (reads, writes, commits, partition listing, end offsets, the
restart scan) goes through ``BrokerCalls.call``. While the broker is unreachable the call is
retried with exponential backoff; the first failure starts an *outage* of that broker, which is
logged once (a warning), and the first success after it ends the outage with one more line. Every
call in the process shares the outage of its broker, so a 30 s restart of the broker gives two
log lines, not one per socket, call or retry. An outage longer than the timeout
(``--broker-timeout-seconds``) raises ``BrokerUnavailableError``: the job ends with that one line.

A rejected login is not an outage, but kafka-python reports it only as a bootstrap timeout. So a
client on a secured listener (SSL, SASL) whose bootstrap fails while the broker accepts TCP
connections fails at once with ``AuthenticationError`` ("authentication failed ..."), never
retried: a broker that is down or restarting refuses connections instead. When kafka-python's
connection manager logged the rejection itself (``AuthFailures``), its reason is given.

A setting kafka-python's client refuses (``KafkaConfigurationError``, ``IllegalArgumentError``) is
not an outage either: no retry can fix it, so it fails at once with ``ConfigurationError``
("Kafka client settings cannot work ..."). ``options.validate`` refuses such settings before a job
starts (``client_settings``); this is the backstop for what only a worker sees.

``Outage`` is the pure state machine (clock injected, unit-tested with a fake clock);
``BrokerCalls`` adds sleeping, logging and the per-process registry of outages.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from kafka.errors import (
    AuthorizationError,
    IllegalArgumentError,
    InvalidConfigurationError,
    KafkaConfigurationError,
    KafkaError,
    MessageSizeTooLargeError,
    OffsetOutOfRangeError,
    SaslAuthenticationFailedError,
)

from schemas.errors import AuthenticationError, BrokerUnavailableError, ConfigurationError

_LOG = logging.getLogger(__name__)

DEFAULT_BROKER_TIMEOUT_SECONDS = 300.0
INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
# Per attempt of a metadata or offset lookup: short, so an outage is noticed (and logged) early
# and the retry loop, not one long blocking call, decides when to give up.
ATTEMPT_TIMEOUT_MS = 5000
# A broker just back is not at once ready for everything (partition leaders, coordinators): a
# failure this soon after an outage ended is the tail of that outage, retried without a new line.
SETTLE_SECONDS = 60.0

# Retrying cannot fix these: a wrong password or a missing ACL is a configuration error.
NOT_RETRIED: tuple[type[KafkaError], ...] = (SaslAuthenticationFailedError, AuthorizationError)
# Nor these: a client setting kafka-python refuses (e.g. delivery.timeout.ms too short), a
# topic setting the broker refuses, or a record over the producer's max.request.size (refused by
# the client at send: --max-record-bytes above that setting).
CONFIGURATION_ERRORS: tuple[type[KafkaError], ...] = (
    KafkaConfigurationError,
    IllegalArgumentError,
    InvalidConfigurationError,
    MessageSizeTooLargeError,
)

T = TypeVar("T")


def backoff_seconds(attempt: int) -> float:
    """Delay before retry number ``attempt`` (0-based): 0.5 s doubling up to 5 s."""
    return min(MAX_BACKOFF_SECONDS, INITIAL_BACKOFF_SECONDS * 2 ** min(attempt, 16))


@dataclass
class Outage:
    """Whether a broker is in an outage, since when, and whether it has lasted too long.

    ``failed`` returns True when the failure starts an outage (log it), and raises
    ``BrokerUnavailableError`` once the outage is older than ``timeout_seconds``; ``succeeded``
    returns the outage's length when a success ends one (log it), else None. Failures within
    ``SETTLE_SECONDS`` after an outage ended are its tail: retried, timed, never logged."""

    timeout_seconds: float
    clock: Callable[[], float] = time.monotonic
    since: float | None = None
    ended_at: float | None = None
    settling: bool = False

    def failed(self, what: str, exc: BaseException) -> bool:
        now = self.clock()
        if self.since is None:
            self.since = now
            self.settling = self.ended_at is not None and now - self.ended_at < SETTLE_SECONDS
            return not self.settling
        if now - self.since > self.timeout_seconds:
            raise BrokerUnavailableError(
                f"broker unreachable for {now - self.since:.0f} s (limit "
                f"--broker-timeout-seconds {self.timeout_seconds:g}); last failure: {what}: {exc}"
            )
        return False

    def succeeded(self) -> float | None:
        if self.since is None:
            return None
        now = self.clock()
        length, self.since = now - self.since, None
        if self.settling:
            return None
        self.ended_at = now
        return length


class AuthFailures(logging.Filter):
    """Remembers the last login or TLS rejection kafka-python's connection manager logs (it
    raises only a bootstrap timeout). A filter that never drops anything: it only looks."""

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[float, BaseException] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, SaslAuthenticationFailedError | ssl.SSLError):
                self.last = (time.monotonic(), arg)
        return True

    def since(self, started: float) -> BaseException | None:
        last = self.last
        return last[1] if last is not None and last[0] >= started else None


AUTH_FAILURES = AuthFailures()
logging.getLogger("kafka.net.manager").addFilter(AUTH_FAILURES)

_OUTAGES: dict[str, Outage] = {}
_OUTAGES_LOCK = threading.Lock()


def shared_outage(servers: str, timeout_seconds: float) -> Outage:
    """The process-wide outage state of ``servers``: one per broker, shared by every client."""
    with _OUTAGES_LOCK:
        outage = _OUTAGES.get(servers)
        if outage is None or outage.timeout_seconds != timeout_seconds:
            outage = _OUTAGES[servers] = Outage(timeout_seconds)
        return outage


def accepts_connections(servers: str, timeout_seconds: float = 3.0) -> bool:
    """Whether every bootstrap server accepts a TCP connection (it is up, whatever it thinks of
    the client's credentials)."""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout_seconds).close()
        except (OSError, ValueError):
            return False
    return True


class BrokerCalls:
    """Runs Kafka calls for one broker, retrying while it is unreachable. Picklable config only:
    the outage state is looked up in the worker's process. ``secured``: the clients use SSL or
    SASL, so a bootstrap that fails on a broker accepting connections is a rejected login."""

    def __init__(
        self,
        servers: str,
        timeout_seconds: float = DEFAULT_BROKER_TIMEOUT_SECONDS,
        secured: bool = False,
    ):
        self.servers = servers
        self.timeout_seconds = timeout_seconds
        self.secured = secured

    @classmethod
    def for_config(cls, config: dict, timeout_seconds: float) -> BrokerCalls:
        """For clients built from ``config`` (``kafka_config.client_config``)."""
        protocol = str(config.get("security_protocol", "PLAINTEXT"))
        return cls(config["bootstrap_servers"], timeout_seconds, protocol != "PLAINTEXT")

    def call(
        self,
        what: str,
        fn: Callable[..., T],
        *args,
        local: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """``fn(*args)``, retried on ``KafkaError`` (except authentication, authorization and
        configuration errors) until it succeeds or the outage exceeds the timeout.

        ``local`` marks a call that may succeed without the broker (a poll returns nothing, a send
        only buffers): its success does not end an outage."""
        outage = shared_outage(self.servers, self.timeout_seconds)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                result = fn(*args)
            except NOT_RETRIED as exc:
                raise AuthenticationError(
                    f"authentication failed on {self.servers}: {exc}"
                ) from exc
            except OffsetOutOfRangeError as exc:
                # Only with auto.offset.reset=none: the user's way to stop at offsets deleted
                # unread rather than dead-letter them (offset_gaps) and go on.
                raise ConfigurationError(
                    f"offsets were deleted before they were read ({what} on {self.servers}: "
                    f"{exc}) and auto.offset.reset=none stops here: move the group's offset past "
                    "them, or drop the setting to have them dead-lettered"
                ) from exc
            except CONFIGURATION_ERRORS as exc:
                raise ConfigurationError(
                    f"Kafka client settings cannot work ({what} on {self.servers}): {exc}"
                ) from exc
            except KafkaError as exc:
                self._raise_if_rejected(what, exc, started)
                with _OUTAGES_LOCK:
                    started = outage.failed(what, exc)
                if started:
                    _LOG.warning(
                        "Kafka broker %s unreachable (%s: %s); retrying for up to %g s",
                        self.servers, what, type(exc).__name__, self.timeout_seconds,
                    )  # fmt: skip
                sleep(backoff_seconds(attempt))
                attempt += 1
                continue
            if local:
                return result
            with _OUTAGES_LOCK:
                length = outage.succeeded()
            if length is not None:
                _LOG.warning("Kafka broker %s reachable again after %.1f s", self.servers, length)
            return result

    def _raise_if_rejected(self, what: str, exc: KafkaError, started: float) -> None:
        rejected = AUTH_FAILURES.since(started)
        if rejected is not None:
            reason = f"{type(rejected).__name__}: {rejected}"
        elif self.secured and "bootstrap" in str(exc) and accepts_connections(self.servers):
            reason = (
                "the broker accepts connections but closed them during the TLS handshake or the "
                "SASL login; check the user name, password, mechanism and CA file"
            )
        else:
            return
        raise AuthenticationError(
            f"authentication failed on {self.servers} ({what}): {reason}"
        ) from exc
