"""``newsflow replay``: send the original payloads of dead letters back to the input topic.

After a fix for a bug that dead-lettered good inputs, the inputs are reprocessed by re-producing
their original bytes (the dead letter keeps them byte for byte), optionally only for some reason
codes. It reads the dead-letter topic up to the end offsets seen at start, so letters the rerun
itself produces are not replayed in the same call. Replaying twice sends twice: the job then sees
copies, which dedup treats as any other copy.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from pipelines.kafka_tools import event_key, read_topic
from pipelines.options import KAFKA_CLIENT_FLAGS, add_flags, flag, kafka_overrides
from schemas.codec import DEAD_LETTER, decode_any
from schemas.confluent import RegistryClient, decode_confluent_any, is_confluent
from schemas.errors import CodecError, DeletedInputsError, KafkaIOError
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.producer_acks import first_unwritten


@dataclass
class ReplayCounts:
    """How many dead letters were sent (per reason code) and skipped (per reason)."""

    sent: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)


def verdict(item: tuple[str, dict] | None, codes: set[str]) -> tuple[bool, str]:
    """``(replay it?, code or why skipped)`` for one decoded message: every dead letter, or only
    those whose ``error_code`` is in ``codes``; ``None`` is a message that is not readable. A
    letter for offsets deleted before they were read has no payload to send."""
    if item is None or item[0] != DEAD_LETTER:
        return False, "not a dead letter"
    code = item[1]["error_code"]
    if code == DeletedInputsError.code:
        return False, "deleted before read: no payload"
    if codes and code not in codes:
        return False, f"code {code}"
    return True, code


def _decoded(messages, registry: RegistryClient | None):
    for message in messages:
        try:
            if registry is not None and is_confluent(message.value):
                yield decode_confluent_any(message.value, registry)
            else:
                yield decode_any(message.value)
        except CodecError:
            yield None


def replay(
    items: Iterable[tuple[str, dict] | None],
    codes: set[str],
    producer: KafkaProducer | None,
    topic: str,
) -> tuple[ReplayCounts, list[FutureRecordMetadata]]:
    """Send the chosen payloads as they are read (``producer`` None: a dry run, count only);
    the counts and the sends' futures."""
    counts, futures = ReplayCounts(), []
    for item in items:
        chosen, why = verdict(item, codes)
        if not chosen:
            counts.skipped[why] += 1
            continue
        if producer is not None:
            payload = item[1]["payload"]
            futures.append(producer.send(topic, key=event_key(payload), value=payload))
        counts.sent[why] += 1
    return counts, futures


def summary(result: ReplayCounts, to_topic: str, dry_run: bool) -> str:
    """One line: how many were (or would be) sent, per code, and how many skipped, why."""
    verb = "would send" if dry_run else "sent"
    codes = ", ".join(f"{c} {n}" for c, n in sorted(result.sent.items()))
    skipped = ", ".join(f"{why}: {n}" for why, n in sorted(result.skipped.items()))
    return (
        f"{verb} {sum(result.sent.values())} dead letters to {to_topic}"
        f"{f' ({codes})' if codes else ''}; skipped {sum(result.skipped.values())}"
        f"{f' ({skipped})' if skipped else ''}"
    )


FLAGS = (
    flag("from-topic", default="articles.dlq", help="Kafka topic of dead letters to read"),
    flag("to-topic", default="articles.raw", help="Kafka topic the original payloads go to"),
    flag(
        "code",
        action="append",
        default=[],
        metavar="CODE",
        help="replay only dead letters with this reason code (repeatable); none: every code",
    ),
    flag("dry-run", action="store_true", help="count what would be sent, send nothing"),
    flag(
        "schema-registry-url",
        default=None,
        metavar="URL",
        help="schema registry whose schemas decode Confluent-framed dead letters; none: "
        "single-object framing only",
    ),
    *KAFKA_CLIENT_FLAGS,
)


def add_parser(sub_parser: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``newsflow replay`` through the CLI's subcommand factory."""
    replay = sub_parser("replay", help="re-produce the original payloads of dead letters")
    add_flags(replay, FLAGS)
    return replay


def run(args: argparse.Namespace) -> int:
    """``newsflow replay``: send (unless ``--dry-run``) and print the summary on stderr."""
    overrides = kafka_overrides(args)
    registry = RegistryClient(args.schema_registry_url) if args.schema_registry_url else None
    items = _decoded(read_topic(args.from_topic, args.bootstrap_servers, overrides), registry)
    kafka = KafkaConnection.of(args.bootstrap_servers, overrides)
    producer = None if args.dry_run else kafka.plain_producer(linger_ms=5)
    try:
        result, futures = replay(items, set(args.code), producer, args.to_topic)
        failed = None if producer is None else first_unwritten(producer, futures, None)
    except KafkaError as exc:
        raise KafkaIOError(f"replaying to {args.to_topic} failed: {exc!r}") from exc
    finally:
        if producer is not None:
            producer.close()
    if failed is not None:
        position, exc = failed
        raise KafkaIOError(
            f"replaying to {args.to_topic}: payload {position + 1} of {len(futures)} not "
            f"written ({exc!r})"
        ) from exc
    print(summary(result, args.to_topic, args.dry_run), file=sys.stderr)
    return 0
