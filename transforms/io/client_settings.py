"""Kafka client settings newsflow derives, and the combinations it refuses before a job starts.

A setting kafka-python's constructors reject raises ``KafkaConfigurationError`` (or ``ValueError``)
on a worker, where it would end the job late or, worse, look like an outage. So every setting a
client gets is either derived so it works whatever the options say, or checked here, at start,
by ``check_client_settings`` (called from ``options.validate``), with one line naming the
settings:

* the producer's ``delivery_timeout_ms`` (how long it retries a write itself) is the broker timeout
  but never below ``request_timeout_ms + linger_ms``, which kafka-python requires: a short
  ``--broker-timeout-seconds`` works, and the send/flush retry loop still ends at the timeout;
* the consumer's ``fetch_max_wait_ms < request_timeout_ms < connections_max_idle_ms``;
* an explicit ``delivery.timeout.ms`` at least ``request.timeout.ms + linger.ms``;
* idempotence (kafka-python's default, which stops a retried batch being written twice) with
  ``retries=0`` or more than 5 requests in flight;
* a compression codec kafka-python does not know or cannot load.

A value given as a ``${env:..}``/``${file:..}`` reference is resolved only on the worker and not
checked here; if it cannot work there, ``broker_retry`` ends the job with one line (a
configuration error is never retried as an outage).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from transforms.io.kafka_config import CLIENT_DEFAULTS, Reference, for_client

# Batch records for up to this long before sending; overridable with linger.ms.
DEFAULT_LINGER_MS = 20
# How long send() waits for metadata before the retry loop takes over (and logs the outage).
MAX_BLOCK_MS = 5000
# Kafka's timeouts are 32-bit milliseconds (Java ints): the longest broker timeout is ~24.8 days.
MAX_BROKER_TIMEOUT_SECONDS = (2**31 - 1) / 1000
# Room a record's key and value leave under max.request.size for the record's and the batch's
# own headers (kafka-python counts them in the size it checks).
RECORD_HEADROOM_BYTES = 1024


def producer_settings(
    config: Mapping[str, Any], broker_timeout_seconds: float, linger_ms: int = DEFAULT_LINGER_MS
) -> dict[str, Any]:
    """kafka-python kwargs of newsflow's producers (``acks`` aside): ``config`` over newsflow's
    defaults, with ``delivery_timeout_ms`` derived unless the user set it."""
    settings = {
        "linger_ms": linger_ms,
        "max_block_ms": MAX_BLOCK_MS,
        **for_client(config, KafkaProducer),
    }
    if "delivery_timeout_ms" not in config:
        floor = _setting(settings, "request_timeout_ms", KafkaProducer) + settings["linger_ms"]
        settings["delivery_timeout_ms"] = max(int(broker_timeout_seconds * 1000), floor)
    return settings


def _setting(settings: Mapping[str, Any], key: str, client: type) -> Any:
    return settings.get(key, client.DEFAULT_CONFIG[key])


def check_broker_timeout(seconds: float) -> None:
    """``--broker-timeout-seconds``: finite, > 0 and within Kafka's 32-bit millisecond range."""
    if not 0 < seconds <= MAX_BROKER_TIMEOUT_SECONDS:  # also refuses nan
        raise ValueError(
            f"--broker-timeout-seconds must be > 0 and at most {MAX_BROKER_TIMEOUT_SECONDS:g} "
            f"(Kafka's timeouts are 32-bit milliseconds), got {seconds}"
        )


def check_client_settings(config: Mapping[str, Any], max_record_bytes: int) -> None:
    """Raise ``ValueError`` naming the settings when a client newsflow builds from ``config``
    (``kafka_config.client_config``) would be refused by kafka-python's constructor, or would
    refuse at send a record of ``max_record_bytes`` (``--max-record-bytes``)."""
    plain = {k: v for k, v in {**CLIENT_DEFAULTS, **config}.items() if not isinstance(v, Reference)}
    _check_consumer(plain)
    _check_producer(plain)
    _check_record_limit(plain, max_record_bytes)


def _check_record_limit(config: Mapping[str, Any], max_record_bytes: int) -> None:
    """The record must leave room under ``max.request.size`` for its and its batch's headers."""
    request = _setting(config, "max_request_size", KafkaProducer)
    if max_record_bytes > request - RECORD_HEADROOM_BYTES:
        raise ValueError(
            f"--max-record-bytes {max_record_bytes} leaves no room under the Kafka setting "
            f"max.request.size ({request}): keep it at most {request - RECORD_HEADROOM_BYTES}, "
            "or raise max.request.size (and the topics' max.message.bytes) with it"
        )


def _check_consumer(config: Mapping[str, Any]) -> None:
    wait, request, idle = (
        _setting(config, key, KafkaConsumer)
        for key in ("fetch_max_wait_ms", "request_timeout_ms", "connections_max_idle_ms")
    )
    if not wait < request < idle:
        raise ValueError(
            "Kafka settings must satisfy fetch.max.wait.ms < request.timeout.ms < "
            f"connections.max.idle.ms, got {wait} < {request} < {idle}"
        )


def _check_producer(config: Mapping[str, Any]) -> None:
    request = _setting(config, "request_timeout_ms", KafkaProducer)
    linger = config.get("linger_ms", DEFAULT_LINGER_MS)
    if "delivery_timeout_ms" in config and config["delivery_timeout_ms"] < request + linger:
        raise ValueError(
            f"Kafka setting delivery.timeout.ms ({config['delivery_timeout_ms']}) must be at "
            f"least request.timeout.ms + linger.ms ({request} + {linger}); leave it unset and "
            "newsflow derives it from --broker-timeout-seconds"
        )
    if config.get("enable_idempotence", True) and (
        config.get("retries") == 0 or config.get("max_in_flight_requests_per_connection", 5) > 5
    ):
        raise ValueError(
            "Kafka settings retries=0 or max.in.flight.requests.per.connection > 5 need "
            "enable.idempotence=false (idempotence keeps a retried write from being stored twice)"
        )
    codec = config.get("compression_type")
    known = KafkaProducer._COMPRESSORS  # kafka-python's table of codecs and their library checks
    if codec not in known or not known[codec][0]():
        raise ValueError(
            f"Kafka setting compression.type={codec!r} is not available here "
            f"(kafka-python knows none, {', '.join(sorted(str(c) for c in known if c))}, "
            "each needing its library)"
        )
