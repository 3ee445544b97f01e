"""Kafka changelogs: compacted topics that let a keyed step's memory survive a restart.

Prism keeps Beam state in memory, so a restarted local job would forget every article it kept and
let a later copy through as a first copy. As Kafka Streams does for its state stores
(``<application>-<store>-changelog``), the dedup step writes each index entry it adds to
``<consumer group>-dedup-changelog`` and, when it finds its Beam state empty (a new job, or a
restarted local runner), restores the index from it. The story step does the same with its
records in ``<consumer group>-stories-changelog`` (``restore_values``, ``ChangelogWriter.send``).

* Dedup: key = the kept article's content hash, value = ``dedup_index.encode_entry`` bytes.
* The topic is created if missing (one partition, the broker's default replication), with
  ``cleanup.policy=compact,delete`` and ``retention.ms`` = the TTL: Kafka itself forgets entries
  the TTL has expired, and restore skips the older ones it has not deleted yet.
* A write is acknowledged by all in-sync replicas (``acks=all``) and flushed before the dedup step
  emits the decisions that depend on it, so no decision is committed downstream (and no input
  offset) whose index entry could be lost.

Every call rides through a broker outage like the sinks' (``broker_retry``, up to
``--broker-timeout-seconds``); a failure past that is a ``KafkaIOError`` (an infrastructure
failure). A changelog record this module cannot decode is skipped with a warning naming its
coordinates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from schemas.errors import KafkaIOError
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_sink import flush_timeout_seconds
from transforms.io.producer_acks import first_unwritten
from transforms.text.dedup_index import IndexEntry, decode_entry, encode_entry
from transforms.text.minhash_config import MinHashConfig

_LOG = logging.getLogger(__name__)
T = TypeVar("T")

DEDUP_STORE = "dedup"
LINGER_MS = 5
# Restore reads the whole changelog: larger fetches than kafka-python's 1 MB default.
RESTORE_FETCH_BYTES = 16 * 1024 * 1024
TIMEOUT_MS = 30000
# One partition: a dedup shard restores everything it remembers, in the order it was stored.
PARTITIONS = 1
# Replication factor -1: the broker's default.replication.factor (Kafka 2.4+), as for any topic.
BROKER_DEFAULT = -1


def changelog_topic(consumer_group: str, store: str = DEDUP_STORE) -> str:
    """``<group>-<store>-changelog``: one changelog per job (consumer group) and store, as in
    Kafka Streams."""
    return f"{consumer_group}-{store}-changelog"


@dataclass(frozen=True)
class ChangelogConfig:
    """Where the changelog lives and how long entries matter (picklable, built from options)."""

    connection: KafkaConnection
    topic: str
    ttl_ms: int


def ensure_topic(config: ChangelogConfig, compacted: bool = True) -> None:
    """Create the compacted, TTL-bounded changelog topic unless it exists (``compacted`` False:
    a plain topic with the broker's defaults, for records that are facts, not state)."""
    config.connection.broker.call(f"creating {config.topic}", _create_topic, config, compacted)


def _create_topic(config: ChangelogConfig, compacted: bool) -> None:
    settings = {"cleanup.policy": "compact,delete", "retention.ms": str(config.ttl_ms)}
    topic = NewTopic(
        config.topic, PARTITIONS, BROKER_DEFAULT, topic_configs=settings if compacted else {}
    )
    admin = config.connection.admin()
    try:
        admin.create_topics([topic])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


class ChangelogWriter:
    """Appends records to a topic and returns only once all are acknowledged."""

    def __init__(self, config: ChangelogConfig) -> None:
        self._topic = config.topic
        self._broker = config.connection.broker
        self._producer = config.connection.producer(LINGER_MS)

    def write(self, entries: Iterable[IndexEntry]) -> int:
        """Dedup index entries, keyed by content hash."""
        messages = [(entry.content_hash.encode(), encode_entry(entry)) for entry in entries]
        return self.send(messages, "dedup index entries")

    def send(self, messages: list[tuple[bytes, bytes]], what: str) -> int:
        """``(key, value)`` messages; ``what`` names them in the error of a failed write."""
        futures = [
            self._broker.call(
                f"writing to {self._topic}",
                lambda key=key, value=value: self._producer.send(self._topic, key=key, value=value),
                local=True,
            )
            for key, value in messages
        ]
        failed = first_unwritten(self._producer, futures, flush_timeout_seconds(self._broker))
        if failed is not None:
            raise KafkaIOError(
                f"writing {len(futures)} {what} to {self._topic} failed: {failed[1]!r}"
            ) from failed[1]
        return len(futures)

    def close(self) -> None:
        self._producer.close()


def restore(config: ChangelogConfig, since_ms: int, cfg: MinHashConfig) -> list[IndexEntry]:
    """Every dedup entry stored at or after ``since_ms``, oldest first."""
    entries = restore_values(config, lambda value: decode_entry(value, cfg))
    return [entry for entry in entries if entry.stored_at >= since_ms]


def restore_values(config: ChangelogConfig, decode: Callable[[bytes], T]) -> list[T]:
    """Every record's decoded value, oldest first, read to the end offsets seen at start (the
    job's own writes come after the restore); read again from the start if the broker goes away
    meanwhile. A value ``decode`` refuses (ValueError) is skipped with a warning."""
    return config.connection.broker.call(
        f"restoring from {config.topic}", lambda: list(_restore_once(config, decode))
    )


def _restore_once(config: ChangelogConfig, decode: Callable[[bytes], T]) -> Iterator[T]:
    """One read of the changelog; a ``KafkaError`` (the broker went away) goes to the caller's
    retry, which starts the read again."""
    consumer = config.connection.consumer(max_partition_fetch_bytes=RESTORE_FETCH_BYTES)
    try:
        yield from _read_to_end(consumer, config.topic, decode)
    finally:
        consumer.close()


def _read_to_end(consumer: KafkaConsumer, topic: str, decode: Callable[[bytes], T]) -> Iterator[T]:
    partitions = [TopicPartition(topic, p) for p in sorted(_partitions(consumer, topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    remaining = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while remaining:
        if time.monotonic() > deadline:
            raise KafkaTimeoutError(
                f"the changelog {topic} returned nothing for {TIMEOUT_MS} ms before its end offsets"
            )
        for tp, records in consumer.poll(timeout_ms=1000).items():
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            for record in records:
                if record.offset < ends[tp]:
                    yield from _decoded(record, decode)
            if consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


def _decoded(record, decode: Callable[[bytes], T]) -> Iterator[T]:
    if record.value is None:
        return
    try:
        yield decode(record.value)
    except (ValueError, UnicodeDecodeError) as exc:
        _LOG.warning(
            "skipping undecodable changelog record %s/%s@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            exc,
        )


def _partitions(consumer: KafkaConsumer, topic: str) -> set[int]:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return partitions
        consumer.topics()
        time.sleep(0.2)
    raise KafkaTimeoutError(f"the changelog topic {topic} has no partitions")
