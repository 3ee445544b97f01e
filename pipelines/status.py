"""``newsflow status``: how far a consumer group is behind, and what the outputs hold.

Lag is what the job has not yet accounted for: per partition the end offset minus the committed
offset (or minus the log start when the group never committed, where the job would start). The
last commit time comes from the commit metadata the job writes (``{"committed_at": <epoch ms>}``,
DESIGN.md); other fields in it, or metadata that is not JSON, are tolerated. Reading never joins
or moves the group.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from pipelines.options import KAFKA_CLIENT_FLAGS, add_flags, flag, kafka_overrides
from schemas.errors import KafkaIOError
from transforms.io.kafka_clients import KafkaConnection

REQUEST_TIMEOUT_MS = 10000


@dataclass(frozen=True)
class PartitionLag:
    """One input partition: committed offset (None: never), end offset, lag, commit time, and
    the offsets past the commit the topic deleted unread (retention; the job makes them a dead
    letter ``deleted_before_read`` when it reads there)."""

    partition: int
    committed: int | None
    end: int
    lag: int
    committed_at: int | None
    deleted_unread: int = 0


def partition_lag(
    partition: int, committed: int | None, metadata: str | None, beginning: int, end: int
) -> PartitionLag:
    """The lag of one partition; offsets below the log start (retention) count from the start,
    and apart, as deleted unread."""
    start = beginning if committed is None else max(committed, beginning)
    deleted = 0 if committed is None else max(beginning - committed, 0)
    lag = max(end - start, 0)
    return PartitionLag(partition, committed, end, lag, commit_time(metadata), deleted)


def commit_time(metadata: str | None) -> int | None:
    """``committed_at`` (epoch ms) from commit metadata, or None when absent or unreadable."""
    try:
        value = json.loads(metadata or "{}").get("committed_at")
    except (json.JSONDecodeError, AttributeError):
        return None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def report(group: str, topic: str, lags: list[PartitionLag], output_counts: dict[str, int]) -> dict:
    """The JSON document of ``newsflow status --json``."""
    times = [p.committed_at for p in lags if p.committed_at is not None]
    last = max(times) if times else None
    return {
        "consumer_group": group,
        "input_topic": topic,
        "partitions": [asdict(p) for p in lags],
        "total_lag": sum(p.lag for p in lags),
        "total_deleted_unread": sum(p.deleted_unread for p in lags),
        "last_commit_at": _iso(last) if last is not None else None,
        "output_records": output_counts,
    }


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds")


def collect(args: argparse.Namespace) -> dict:
    """Ask the broker for the group's offsets, the input's and the outputs' offsets."""
    kafka = KafkaConnection.of(args.bootstrap_servers, kafka_overrides(args))
    lags, counts = consumer_lag(kafka, args.consumer_group, args.input_topic, args.count_topics)
    return report(args.consumer_group, args.input_topic, lags, counts)


def consumer_lag(
    kafka: KafkaConnection, group: str, topic: str, count_topics: tuple[str, ...] | list[str] = ()
) -> tuple[list[PartitionLag], dict[str, int]]:
    """Per-partition lag of ``group`` on ``topic``, and the record counts of ``count_topics``."""
    consumer = None
    try:
        # A group id only to ask for its commits: without subscribe() it never joins the group.
        consumer = kafka.consumer(group)
        inputs = _partitions(consumer, topic)
        beginning = consumer.beginning_offsets(inputs)
        ends = consumer.end_offsets(inputs)
        lags = []
        for tp in inputs:
            meta = consumer.committed(tp, metadata=True)
            offset = meta.offset if meta is not None and meta.offset >= 0 else None
            metadata = meta.metadata if meta is not None else None
            lags.append(partition_lag(tp.partition, offset, metadata, beginning[tp], ends[tp]))
        counts = {t: _record_count(consumer, t) for t in count_topics}
    except KafkaError as exc:
        raise KafkaIOError(
            f"cannot read the offsets of {topic} from {kafka.servers}: {exc!r}"
        ) from exc
    finally:
        if consumer is not None:
            consumer.close()
    return lags, counts


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise KafkaIOError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(partitions)]


def _record_count(consumer: KafkaConsumer, topic: str) -> int:
    """Records a topic holds now: end minus start offsets (retention and compaction lower it)."""
    partitions = _partitions(consumer, topic)
    ends = consumer.end_offsets(partitions)
    beginning = consumer.beginning_offsets(partitions)
    return sum(ends[tp] - beginning[tp] for tp in partitions)


def print_table(doc: dict, console: Console) -> None:
    """The report for a terminal: one row per partition, then the totals and the outputs."""
    table = Table(title=f"consumer group {doc['consumer_group']} on {doc['input_topic']}")
    columns = ("partition", "committed", "end", "lag", "deleted unread", "last commit (UTC)")
    for column in columns:
        table.add_column(column, justify="right")
    for p in doc["partitions"]:
        when = _iso(p["committed_at"]) if p["committed_at"] is not None else "-"
        committed = "never" if p["committed"] is None else str(p["committed"])
        counts = (p["end"], p["lag"], p["deleted_unread"])
        table.add_row(str(p["partition"]), committed, *map(str, counts), when)
    console.print(table)
    last = doc["last_commit_at"] or "never"
    console.print(f"total lag: {doc['total_lag']}   last commit: {last}")
    if doc["total_deleted_unread"]:
        console.print(
            f"deleted before read: {doc['total_deleted_unread']} offsets past the commit are "
            "gone (retention); the job dead-letters them as deleted_before_read"
        )
    for topic, count in doc["output_records"].items():
        console.print(f"{topic}: {count} records")


FLAGS = (
    flag("consumer-group", default="newsflow", help="the job's Kafka consumer group"),
    flag("input-topic", default="articles.raw", help="the Kafka topic the job reads"),
    flag(
        "output-topics",
        dest="count_topics",
        metavar="TOPIC",
        nargs="*",
        default=["articles.enriched", "articles.duplicates", "articles.dlq"],
        help="Kafka topics whose record counts (end minus start offsets) are shown",
    ),
    *KAFKA_CLIENT_FLAGS,
    flag("json", action="store_true", help="print one JSON object instead of a table"),
)


def add_parser(sub_parser: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``newsflow status`` through the CLI's subcommand factory."""
    status = sub_parser(
        "status",
        help="consumer lag per partition, last commit, output record counts",
    )
    add_flags(status, FLAGS)
    return status


def run(args: argparse.Namespace) -> int:
    """``newsflow status``: print the report (JSON or a table); 0 on success."""
    doc = collect(args)
    if args.json:
        print(json.dumps(doc))
    else:
        print_table(doc, Console(file=sys.stdout, soft_wrap=True))
    return 0
