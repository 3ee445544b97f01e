"""The job's connection to Kafka, and the one place newsflow builds its Kafka clients.

A ``KafkaConnection`` is built once from the options (``options.kafka_connection``) and handed to
every Kafka transform, which keep it and build their clients from it on the worker: the servers,
the ``--kafka-config`` settings (SASL and SSL ones passed through unchanged, secrets as references
resolved only when a client is built, ``kafka_config.for_client``) and the broker timeout, with the
``BrokerCalls`` that retries every call through an outage of up to that timeout. It pickles as
plain data: no client, no secret value.

Every consumer it builds is manual (it never joins a group or commits by itself: offsets are
committed by hand, after the outputs are written); every producer waits for all in-sync replicas
(``acks=all``) and retries a write for as long as the broker may be away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from transforms.io.broker_retry import DEFAULT_BROKER_TIMEOUT_SECONDS, BrokerCalls
from transforms.io.client_settings import DEFAULT_LINGER_MS, producer_settings
from transforms.io.kafka_config import client_config, for_client


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are, how to talk to them (kafka-python kwargs from
    ``kafka_config.client_config``, references unresolved) and how long an outage may last."""

    config: dict[str, Any]
    broker_timeout_seconds: float = DEFAULT_BROKER_TIMEOUT_SECONDS
    broker: BrokerCalls = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "broker", BrokerCalls.for_config(self.config, self.broker_timeout_seconds)
        )

    @classmethod
    def of(
        cls,
        bootstrap_servers: str,
        overrides: Mapping[str, str] | None = None,
        broker_timeout_seconds: float = DEFAULT_BROKER_TIMEOUT_SECONDS,
    ) -> KafkaConnection:
        """From the brokers and Java-style settings; ``ValueError`` names a setting that cannot
        be used (``kafka_config.client_config``)."""
        return cls(client_config(bootstrap_servers, overrides or {}), broker_timeout_seconds)

    @property
    def servers(self) -> str:
        return self.config["bootstrap_servers"]

    def consumer(self, group_id: str | None = None, **defaults: Any) -> KafkaConsumer:
        """A consumer that never joins the group or commits by itself: offsets are managed by
        hand. ``defaults`` are kafka-python kwargs the user's settings override.

        A seek below the log start (retention deleted the records) resumes at the earliest record
        left, not at the end, unless ``auto.offset.reset`` says otherwise."""
        return KafkaConsumer(
            **{
                "auto_offset_reset": "earliest",
                **defaults,
                **for_client(self.config, KafkaConsumer),
            },
            group_id=group_id,
            enable_auto_commit=False,
        )

    def connected_consumer(self, group_id: str | None = None) -> KafkaConsumer:
        """``consumer``, retried while the broker is unreachable."""
        return self.broker.call("connecting", self.consumer, group_id)

    def producer(self, linger_ms: int = DEFAULT_LINGER_MS) -> KafkaProducer:
        """A producer whose writes are acknowledged by all in-sync replicas and retried by the
        client for as long as the broker may be away (``--broker-timeout-seconds``): every writer
        of the job (the three sinks, the dedup changelog) rides through an outage the same way.
        Retried while the broker is unreachable."""
        settings = producer_settings(self.config, self.broker_timeout_seconds, linger_ms)
        return self.broker.call("connecting", lambda: KafkaProducer(**settings, acks="all"))

    def plain_producer(self, linger_ms: int) -> KafkaProducer:
        """A producer with ``acks=all`` and kafka-python's own timeouts (the tools run by hand,
        ``newsflow produce`` and ``replay``, where a person sees a slow broker)."""
        return KafkaProducer(
            **{**for_client(self.config, KafkaProducer), "acks": "all", "linger_ms": linger_ms}
        )

    def group_member(self, group_id: str, **settings: Any) -> KafkaConsumer:
        """A consumer that joins ``group_id`` when it subscribes (the job lease's guard only:
        ``group_lock``); ``settings`` win over the user's."""
        return KafkaConsumer(
            **{**for_client(self.config, KafkaConsumer), **settings, "group_id": group_id}
        )

    def admin(self) -> KafkaAdminClient:
        """An admin client (topic creation, group descriptions) with the job's settings."""
        return KafkaAdminClient(**for_client(self.config, KafkaAdminClient))
