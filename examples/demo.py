"""`make demo`: produce the bundled examples to Kafka, run newsflow on them, show what came out.

Reads only what this run added to the output topics (end offsets are noted before it starts), so the
demo can be run again on the same broker. The job runs as its own consumer group (so it never moves
a real job's offsets), whose first run starts at the input topic's end, without the dedup and story
changelogs: each run starts with empty memory and reads only the events it sent, and a second run
shows its articles enriched again instead of as duplicates of the first run's copies.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_commit import commit_start_if_new

EXAMPLES = Path(__file__).with_name("articles.jsonl")
TOPICS = {
    "enriched": "articles.enriched",
    "duplicates": "articles.duplicates",
    "dead letters": "articles.dlq",
}


def end_offsets(servers: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: end for tp, end in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def start_group_at_end(servers: str, group: str, topic: str) -> None:
    """A group's first run starts where ``topic`` ends now, so the demo reads only what it sends
    (not what earlier runs or other producers left there); later runs resume from its commits."""
    connection = KafkaConnection.of(servers)
    for partition in end_offsets(servers, topic):
        tp = TopicPartition(topic, partition)
        commit_start_if_new(connection, group, tp, tuple(TOPICS.values()), at_end=True)


def show(console: Console, outputs: dict[str, list[dict]], sent: int) -> None:
    counts = Table(title=f"newsflow demo: {sent} events in")
    counts.add_column("output")
    counts.add_column("records", justify="right")
    for name, items in outputs.items():
        counts.add_row(f"{name} ({TOPICS[name]})", str(len(items)))
    console.print(counts)

    dups = Table(title="duplicates")
    for column in ("id", "duplicate_of", "title"):
        dups.add_column(column)
    for item in outputs["duplicates"]:
        dups.add_row(item["id"], item["duplicate_of"], item.get("title") or "")
    console.print(dups)

    dead = Table(title="dead letters")
    for column in ("from", "reason", "message"):
        dead.add_column(column)
    for item in outputs["dead letters"]:
        where = item["kafka"] and f"{item['kafka']['partition']}@{item['kafka']['offset']}"
        dead.add_row(where, item["error_code"], item["message"][:70])
    console.print(dead)

    seed = next((i for i in outputs["enriched"] if i["id"] == "seed-rudd-2017"), None)
    if seed is None:
        console.print("[red]the seed article is not among the enriched records[/red]")
        return
    console.rule("the seed article")
    console.print(f"title:        {seed['title']}")
    console.print(f"published_at: {seed['published_at']}   byline: {seed['byline']}")
    console.print(f"language:     {seed['language']}   words: {seed['word_count']}")
    entities = ", ".join(f"{e['text']} ({e['label']})" for e in seed["entities"][:12])
    console.print(f"entities:     {entities}")
    for span in seed["boilerplate"]:
        where = f"[{span['kind']}] {span['start']}-{span['end']}"
        console.print(escape(f"stripped:     {where} {span['text'][:60]!r}"))
    console.print(f"body ends:    ...{seed['body'][-60:]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--output-dir", default="out/demo")
    parser.add_argument("--input-topic", default="articles.raw")
    parser.add_argument("--consumer-group", default="newsflow-demo")
    args = parser.parse_args(argv)
    console = Console()
    start = {topic: end_offsets(args.bootstrap_servers, topic) for topic in TOPICS.values()}
    start_group_at_end(args.bootstrap_servers, args.consumer_group, args.input_topic)
    sent = produce(str(EXAMPLES), args.input_topic, args.bootstrap_servers, {})
    console.print(
        f"produced {sent} events to {args.input_topic}; running the pipeline (DirectRunner)..."
    )
    status = cli.main(
        [
            "run",
            *("--bootstrap-servers", args.bootstrap_servers),
            *("--input-topic", args.input_topic),
            *("--consumer-group", args.consumer_group),
            *("--dedup-changelog", "off", "--story-changelog", "off"),
            *("--output-dir", args.output_dir),
            "--stop-at-end",
        ]
    )
    if status != 0:
        return status
    outputs = {
        name: [describe(m) for m in read_topic(topic, args.bootstrap_servers, {}, start[topic])]
        for name, topic in TOPICS.items()
    }
    show(console, outputs, sent)
    console.print(f"Avro files: {args.output_dir}/enriched-*.avro")
    return 0


if __name__ == "__main__":
    sys.exit(main())
