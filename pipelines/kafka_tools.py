"""``newsflow produce`` and ``newsflow tail``: getting events in and records out by hand."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from pipelines.options import KAFKA_CLIENT_FLAGS, add_flags, flag, kafka_overrides
from schemas.codec import DEAD_LETTER, STORY_ALIAS, decode_any
from schemas.confluent import RegistryClient, decode_confluent_any, is_confluent, unframe
from schemas.errors import CodecError, KafkaIOError
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.producer_acks import first_unwritten
from transforms.text.records import (
    DEAD_LETTER_TIME_FIELDS,
    ENRICHED_TIME_FIELDS,
    STORY_ALIAS_TIME_FIELDS,
    json_twin,
)

# produce and tail are run by hand: a broker that is not there after this long is an error.
TOOL_BROKER_TIMEOUT_SECONDS = 30.0


def _connection(servers: str, overrides: dict[str, str]) -> KafkaConnection:
    """The tools' connection: a client is retried while the broker is unreachable (up to
    ``TOOL_BROKER_TIMEOUT_SECONDS``); a rejected login fails at once with "authentication
    failed"."""
    return KafkaConnection.of(servers, overrides, TOOL_BROKER_TIMEOUT_SECONDS)


def event_key(payload: bytes) -> bytes | None:
    """The event's ``id`` as message key when the line is a JSON object with one, else no key."""
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        return event["id"].encode("utf-8")
    return None


def produce(path: str, topic: str, servers: str, overrides: dict[str, str]) -> int:
    """Send every non-blank line of ``path`` as one message, byte for byte (malformed lines too:
    they are what the dead-letter path is for). Returns the number written: every line, or a
    ``KafkaIOError`` naming the first the broker did not acknowledge."""
    kafka = _connection(servers, overrides)
    producer = kafka.broker.call("connecting", kafka.plain_producer, 5)
    futures, lines = [], []
    try:
        with open(path, "rb") as fh:
            for number, line in enumerate(fh, 1):
                payload = line.rstrip(b"\r\n")
                if payload.strip():
                    where = f"{path}:{number}"
                    futures.append(_send_line(producer, topic, payload, where, len(futures)))
                    lines.append(where)
        failed = first_unwritten(producer, futures, None)
    finally:
        producer.close()
    if failed is not None:
        position, exc = failed
        raise KafkaIOError(f"{lines[position]}: not written to {topic} ({exc!r})") from exc
    return len(futures)


def _send_line(
    producer: KafkaProducer, topic: str, payload: bytes, where: str, sent: int
) -> FutureRecordMetadata:
    """One line as one message; a line the client refuses (too large for ``max.request.size``,
    say) stops the command naming it and how many lines before it were sent."""
    try:
        return producer.send(topic, key=event_key(payload), value=payload)
    except KafkaError as exc:
        raise KafkaIOError(f"{where}: not sent ({exc}); {sent} earlier lines were") from exc


def send_steadily(
    producer: KafkaProducer,
    topic: str,
    payloads: Sequence[bytes],
    per_second: float,
    partition_of: Callable[[int], int | None] = lambda _n: None,
) -> None:
    """Send the n-th payload at n / ``per_second`` seconds (``partition_of(n)`` pins it to a
    partition), then flush: the steady load of the streaming tests and latency benchmark."""
    start = time.monotonic()
    for n, payload in enumerate(payloads):
        delay = start + n / per_second - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.send(topic, value=payload, partition=partition_of(n))
    producer.flush()


def read_topic(
    topic: str,
    servers: str,
    overrides: dict[str, str],
    start: dict[int, int] | None = None,
    follow: bool = False,
    idle_timeout_ms: int = 5000,
    max_messages: int | None = None,
) -> Iterator:
    """Messages of every partition from ``start`` (partition -> offset; default the beginning).

    Without ``follow`` it stops at the end offsets seen when it starts, so a reader sees exactly
    what was written before it was called; with ``follow`` it waits for more until
    ``idle_timeout_ms`` passes with none. No consumer group: reading never moves the pipeline's
    offsets."""
    consumer = _connection(servers, overrides).connected_consumer()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise KafkaError(f"topic {topic!r} does not exist on {servers}")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        for tp in assigned:
            consumer.seek(tp, (start or {}).get(tp.partition, 0))
        ends = consumer.end_offsets(assigned)
        yield from _drain(consumer, ends, follow, idle_timeout_ms, max_messages)
    finally:
        consumer.close()


def _drain(consumer, ends, follow: bool, idle_timeout_ms: int, max_messages: int | None):
    count, idle_since = 0, time.monotonic()
    while follow or any(consumer.position(tp) < end for tp, end in ends.items()):
        batches = consumer.poll(timeout_ms=500)
        if not batches and follow and time.monotonic() - idle_since > idle_timeout_ms / 1000:
            return
        for batch in batches.values():
            idle_since = time.monotonic()
            for message in batch:
                if (
                    not follow
                    and message.offset >= ends[TopicPartition(message.topic, message.partition)]
                ):
                    continue
                yield message
                count += 1
                if max_messages is not None and count >= max_messages:
                    return


def describe(message, registry: RegistryClient | None = None) -> dict:
    """A message as a JSON-friendly dict: decoded Avro if it is one of ours (single-object, or
    Confluent-framed when a registry is given), else the raw text."""
    where = f"{message.topic}/{message.partition}@{message.offset}"
    if registry is None and is_confluent(message.value):
        schema_id = unframe(message.value)[0]
        hint = f"Confluent-framed Avro (schema id {schema_id}): pass --schema-registry-url"
        return {"at": where, "raw": hint}
    try:
        if registry is not None and is_confluent(message.value):
            schema, record = decode_confluent_any(message.value, registry)
        else:
            schema, record = decode_any(message.value)
    except CodecError:
        return {"at": where, "raw": message.value.decode("utf-8", errors="replace")}
    times = {
        DEAD_LETTER: DEAD_LETTER_TIME_FIELDS,
        STORY_ALIAS: STORY_ALIAS_TIME_FIELDS,
    }.get(schema, ENRICHED_TIME_FIELDS)
    return {"at": where, "schema": schema, **json_twin(record, times)}


def summary_line(item: dict) -> str:
    """One human line per record: what it is, where it came from, the gist."""
    if "raw" in item:
        return f"{item['at']}  raw  {item['raw'][:100]}"
    if item["schema"] == DEAD_LETTER:
        return f"{item['at']}  DEAD  {item['error_code']}: {item['message'][:100]}"
    if item["schema"] == STORY_ALIAS:
        return f"{item['at']}  ALIAS  {item['story_id']} -> {item['alias_of']}"
    entities = ", ".join(f"{e['text']}/{e['label']}" for e in item["entities"][:5])
    dup = f"  duplicate_of={item['duplicate_of']}" if item.get("duplicate_of") else ""
    return (
        f"{item['at']}  {item['id']}  {item.get('title') or '(no title)'!s:.70}"
        f"  words={item['word_count']}  stripped={len(item['boilerplate'])}{dup}"
        f"  [{entities}]"
    )


def tail(
    topic: str,
    servers: str,
    overrides: dict[str, str],
    as_json: bool,
    follow: bool,
    idle_timeout_ms: int,
    max_messages: int | None,
    out: TextIO = sys.stdout,
    registry_url: str | None = None,
) -> int:
    """Print the topic's records for humans (or as JSON lines); returns how many were printed."""
    count = 0
    registry = RegistryClient(registry_url) if registry_url else None
    messages = read_topic(topic, servers, overrides, None, follow, idle_timeout_ms, max_messages)
    for message in messages:
        item = describe(message, registry)
        print(json.dumps(item, ensure_ascii=False) if as_json else summary_line(item), file=out)
        count += 1
    return count


TOPIC = flag("topic", required=True, default=argparse.SUPPRESS, help="Kafka topic (required)")
TAIL_FLAGS = (
    TOPIC,
    *KAFKA_CLIENT_FLAGS,
    flag("json", action="store_true", help="print JSON lines instead of one-line summaries"),
    flag("follow", action="store_true", help="keep waiting for new records"),
    flag(
        "max-messages",
        type=int,
        default=None,
        help="stop after this many records; none: no limit",
    ),
    flag(
        "idle-timeout-seconds",
        type=float,
        default=5.0,
        help="with --follow: stop after this many seconds without a record",
    ),
    flag(
        "schema-registry-url",
        default=None,
        metavar="URL",
        help="schema registry whose schemas decode Confluent-framed values; none: "
        "single-object framing only",
    ),
)


def add_produce_parser(
    sub_parser: Callable[..., argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``newsflow produce`` through the CLI's subcommand factory."""
    parser = sub_parser("produce", help="send a JSONL file's lines")
    add_flags(parser, (TOPIC, *KAFKA_CLIENT_FLAGS))
    parser.add_argument("file", help="JSON-lines events, one message per non-blank line")
    return parser


def add_tail_parser(sub_parser: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``newsflow tail`` through the CLI's subcommand factory."""
    parser = sub_parser("tail", help="print a topic")
    add_flags(parser, TAIL_FLAGS)
    return parser


def run_produce(args: argparse.Namespace) -> int:
    """``newsflow produce``: send the file, report the count on stderr; 0 on success."""
    sent = produce(args.file, args.topic, args.bootstrap_servers, kafka_overrides(args))
    print(f"produced {sent} events to {args.topic}", file=sys.stderr)
    return 0


def run_tail(args: argparse.Namespace) -> int:
    """``newsflow tail``: print the records, report the count on stderr; 0 on success."""
    shown = tail(
        args.topic,
        args.bootstrap_servers,
        kafka_overrides(args),
        args.json,
        args.follow,
        int(args.idle_timeout_seconds * 1000),
        args.max_messages,
        registry_url=args.schema_registry_url,
    )
    print(f"{shown} records from {args.topic}", file=sys.stderr)
    return 0
