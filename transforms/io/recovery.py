"""Make a restart effectively-once on the output topics.

Offsets are committed only after outputs are written, so a crash leaves a stretch of inputs whose
outputs were written but whose offsets were not committed; a restarted job reads them again. At
start-up ``SkipWritten`` reads the output topics from shortly before the group's last commit
(``committed_at`` in the commit metadata; the last 24 hours if the job died before its first
commit), collects the source coordinates of every record written for an input at or after the
committed offsets, and lets those inputs through only as acknowledgements: no second enriched,
duplicate or dead-letter record appears for one input.

An enriched record found this way is handed to the file sink again (tagged ``refile``): it may be
missing from the files if its window had not been written when the job died. Files are therefore
at-least-once, topics effectively-once. Dedup state is in memory on the local runner and starts
empty after a restart (Flink keeps it in checkpoints).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from schemas.codec import ENRICHED, decode_any
from schemas.errors import CodecError, KafkaIOError
from transforms.io.kafka_config import for_client
from transforms.text.models import RawEvent

_LOG = logging.getLogger(__name__)

STEP = "recover"
WRITTEN = "written"
REFILE = "refile"
# Outputs of inputs read just before a commit may be written a little before it is recorded.
SCAN_MARGIN_MS = 5 * 60 * 1000
# With no commit time to start from (the job died before its first commit), how far back to look.
DEFAULT_LOOKBACK_HOURS = 24.0
TIMEOUT_MS = 30000


def resume_points(consumer: KafkaConsumer, topic: str) -> tuple[dict[int, int], int | None]:
    """The group's committed offset per partition and the earliest commit time, if every
    committed partition recorded one."""
    partitions = consumer.partitions_for_topic(topic) or set()
    offsets: dict[int, int] = {}
    times: list[int] = []
    for partition in partitions:
        meta = consumer.committed(TopicPartition(topic, partition), metadata=True)
        if meta is None:
            continue
        offsets[partition] = meta.offset
        try:
            times.append(int(json.loads(meta.metadata or "{}").get("committed_at")))
        except (ValueError, TypeError):
            continue
    return offsets, (min(times) if times and len(times) == len(offsets) else None)


def scan_outputs(
    consumer: KafkaConsumer, topics: Iterable[str], since_ms: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Decoded records of ``topics`` written since ``since_ms``."""
    for topic in topics:
        assigned = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(assigned)
        ends = consumer.end_offsets(assigned)
        starts = consumer.offsets_for_times({tp: since_ms for tp in assigned})
        for tp in assigned:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        while any(consumer.position(tp) < ends[tp] for tp in assigned):
            for batch in consumer.poll(timeout_ms=1000).values():
                for message in batch:
                    try:
                        yield decode_any(message.value)
                    except CodecError:
                        continue


class SkipWrittenFn(beam.DoFn):
    """RawEvent -> itself, or, when its outputs already exist, an acknowledgement instead (or, for
    an enriched record that must also be in the files, that record for the file sink, whose write
    then acknowledges it)."""

    def __init__(
        self, config: dict[str, Any], group: str, input_topic: str, outputs: tuple[str, ...],
        refile: bool, lookback_hours: float = DEFAULT_LOOKBACK_HOURS,
    ) -> None:  # fmt: skip
        self._config = config
        self._lookback_hours = lookback_hours
        self._group = group
        self._input_topic = input_topic
        self._outputs = outputs
        self._refile = refile
        self._written: dict[str, dict[str, Any] | None] = {}
        self._skipped = Metrics.counter(f"newsflow.{STEP}", "skipped_already_written")

    def setup(self) -> None:
        consumer = KafkaConsumer(
            **for_client(self._config, KafkaConsumer), group_id=self._group,
            enable_auto_commit=False,
        )  # fmt: skip
        try:
            committed, since = resume_points(consumer, self._input_topic)
            lookback = int(time.time() * 1000 - self._lookback_hours * 3600 * 1000)
            since = since - SCAN_MARGIN_MS if since is not None else lookback
            records = scan_outputs(consumer, self._outputs, since)
            self._written = written_after(records, self._input_topic, committed)
        except KafkaError as exc:
            raise KafkaIOError(f"cannot scan {self._outputs} for written inputs: {exc!r}") from exc
        finally:
            consumer.close(autocommit=False)
        _LOG.info("%d inputs after the committed offsets already have outputs", len(self._written))

    def process(self, raw: RawEvent):
        key = str(raw.ref)
        if key not in self._written:
            yield raw
            return
        self._skipped.inc()
        record = self._written[key]
        if self._refile and record is not None:
            yield beam.pvalue.TaggedOutput(REFILE, (raw.ref, record))
        else:
            yield beam.pvalue.TaggedOutput(WRITTEN, raw.ref)


def written_after(
    records: Iterable[tuple[str, dict[str, Any]]], input_topic: str, committed: dict[int, int]
) -> dict[str, dict[str, Any] | None]:
    """``topic/partition@offset`` of inputs at or after the committed offsets that have an output,
    with the enriched record when that output is one (for the file sink)."""
    written: dict[str, dict[str, Any] | None] = {}
    for schema, record in records:
        coords = record.get("kafka")
        if not coords or coords["topic"] != input_topic:
            continue
        if coords["offset"] < committed.get(coords["partition"], 0):
            continue
        key = f"{coords['topic']}/{coords['partition']}@{coords['offset']}"
        enriched = schema == ENRICHED and record.get("duplicate_of") is None
        written[key] = record if enriched else None
    return written


class SkipWritten(beam.PTransform):
    """Outputs: main (events to process), ``written`` (refs already done), ``refile``
    (``(ref, enriched record)`` for the file sink)."""

    def __init__(
        self, config: dict[str, Any], group: str, input_topic: str, outputs: tuple[str, ...],
        refile: bool,
    ) -> None:  # fmt: skip
        super().__init__()
        self._fn = SkipWrittenFn(config, group, input_topic, outputs, refile)

    def expand(self, events):
        return events | "SkipWritten" >> beam.ParDo(self._fn).with_outputs(
            WRITTEN, REFILE, main="events"
        )
