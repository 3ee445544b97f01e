"""Make a local runner's restart effectively-once on the output topics, with an exact, bounded scan.

Offsets are committed only after outputs are written, so a crash leaves a stretch of inputs whose
outputs were written but whose offsets were not committed; a restarted job reads them again. At
start-up ``SkipWritten`` reads each output partition from the *output floor* recorded with the
group's commits (``kafka_commit.commit_metadata``, ``output_floor``): every output of an
uncommitted input lies at or after it, so the scan is exact, however long a slow article held the
commit back. It keeps only the coordinates of inputs at or after the committed offsets that
already have an output (plus the enriched record when the file sink must get it again): memory is
bounded by what was in flight, not by the scan.

The scan runs once per job run, not once per DoFn instance: the SDK harness builds one instance
per bundle it runs at the same time (``BundleProcessorCache``), each with its own ``setup``, and a
streaming read runs a bundle per partition. The first instance to start scans; the others of the
same run (``SkipWritten`` mints a run token when the pipeline is built; a restart builds it again)
share the result, kept per process. A side input would be rebuilt for every bundle and could not
forget an input once it passed. On the FlinkRunner a restore keeps the SDK worker processes, so a
per-process result would miss every restore: there ``restore_guard.py`` does this job instead,
detecting a restore from its keyed state.

Those inputs pass only as acknowledgements: no second enriched, duplicate or dead-letter record
appears for one input. An enriched record found this way is handed to the file sink again (tagged
``refile``): it may be missing from the files if its window had not been written when the job
died. Files are therefore at-least-once, topics effectively-once. A committed partition without a
floor (committed by an older version) makes the scan start at the output topics' log start.

A restarted run breaks the stamp's argument: an input it reads again carries a floor of this
run, above the outputs an earlier run wrote for later inputs. Committed past skipped inputs with
that floor, a second crash would make the next scan start above those outputs and write them
again. So ``SkipWritten`` also caps each input's floor (``FloorCaps``) at the lowest output the
scan found of any later input of its partition: a committed floor is at or below every output,
of this run or an earlier one, of every input at or after the committed offset. Within one run
the stamp alone suffices: Prism fails the job rather than retry a bundle, so a restart is always
a new run with a new scan.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TypeVar

import apache_beam as beam
from apache_beam.metrics import Metrics
from kafka import KafkaConsumer, TopicPartition

from schemas.codec import ENRICHED, decode_any
from schemas.errors import CodecError
from transforms.io.broker_retry import ATTEMPT_TIMEOUT_MS
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_commit import parse_output_floor
from transforms.io.output_floor import Floor, partitions_of
from transforms.text.models import RawEvent

_LOG = logging.getLogger(__name__)

STEP = "recover"
WRITTEN = "written"
REFILE = "refile"
OutputPartition = tuple[str, int]
# (topic, partition, offset) of one output record.
OutputPosition = tuple[str, int, int]
_NOT_WRITTEN = object()


def resume_points(consumer: KafkaConsumer, topic: str) -> dict[int, tuple[int, Floor | None]]:
    """Per committed partition of ``topic``: the group's committed offset and its output floor."""
    points: dict[int, tuple[int, Floor | None]] = {}
    for partition in sorted(consumer.partitions_for_topic(topic) or ()):
        meta = consumer.committed(TopicPartition(topic, partition), True, ATTEMPT_TIMEOUT_MS)
        if meta is not None:
            points[partition] = (meta.offset, parse_output_floor(meta.metadata))
    return points


def scan_starts(
    floors: Iterable[Floor | None], bounds: dict[OutputPartition, tuple[int, int]]
) -> dict[OutputPartition, int]:
    """Where to start reading each output partition (``bounds``: its log start and end).

    The lowest floor of any committed input partition; an output partition no floor mentions was
    created after every sample, so it is read whole; a floor of None (unknown) means the whole
    log. No committed input partition at all: nothing can need skipping, read nothing."""
    floors = list(floors)
    if not floors:
        return {tp: end for tp, (_, end) in bounds.items()}
    known = [dict(((t, p), o) for t, p, o in floor) for floor in floors if floor is not None]
    unknown = len(known) < len(floors)
    starts = {}
    for tp, (log_start, end) in bounds.items():
        lowest = log_start if unknown else min(floor.get(tp, log_start) for floor in known)
        starts[tp] = min(max(lowest, log_start), end)
    return starts


class OutputScan:
    """Decoded records of each output partition from its start to its end offset (records that
    are not ours are skipped), one at a time; ``read`` counts the records read, ours or not."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        starts: dict[OutputPartition, int],
        ends: dict[OutputPartition, int],
    ) -> None:
        self._consumer = consumer
        self._starts = starts
        self._todo = {
            TopicPartition(*tp): ends[tp] for tp, start in starts.items() if start < ends[tp]
        }
        self.read = 0

    def __iter__(self) -> Iterator[tuple[OutputPosition, str, dict[str, Any]]]:
        todo, consumer = self._todo, self._consumer
        if not todo:
            return
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, self._starts[(tp.topic, tp.partition)])
        while any(consumer.position(tp, ATTEMPT_TIMEOUT_MS) < end for tp, end in todo.items()):
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                for message in batch:
                    if message.offset >= todo[tp]:
                        continue
                    self.read += 1
                    try:
                        schema, record = decode_any(message.value)
                    except CodecError:
                        continue
                    yield (tp.topic, tp.partition, message.offset), schema, record


Written = dict[str, dict[str, Any] | None]


class FloorCaps:
    """The floors a restarted run may pass on: per input partition and offset, no higher (per
    output partition) than the lowest scan-found output of any input after that offset.

    A re-read input is stamped with a floor of this run, above the outputs an earlier run wrote
    for later inputs; committed with it, a second crash would scan past those outputs. Capped,
    every committed floor stays at or below every output of every input at or after the
    committed offset. Once the run has read past its last found input, nothing is capped."""

    def __init__(self, found: Iterable[tuple[int, int, OutputPosition]]) -> None:
        """``found``: (input partition, input offset, output position) of each found output."""
        lowest: dict[int, dict[int, dict[OutputPartition, int]]] = {}
        for partition, offset, (topic, out_partition, out_offset) in found:
            outs = lowest.setdefault(partition, {}).setdefault(offset, {})
            outs[(topic, out_partition)] = min(
                outs.get((topic, out_partition), out_offset), out_offset
            )
        self._offsets: dict[int, list[int]] = {}
        self._after: dict[int, list[dict[OutputPartition, int]]] = {}
        for partition, by_offset in lowest.items():
            offsets = sorted(by_offset)
            suffix: list[dict[OutputPartition, int]] = []
            acc: dict[OutputPartition, int] = {}
            for offset in reversed(offsets):
                acc = {**acc, **{tp: min(o, acc.get(tp, o)) for tp, o in by_offset[offset].items()}}
                suffix.append(acc)
            self._offsets[partition] = offsets
            self._after[partition] = suffix[::-1]

    def cap(self, partition: int, offset: int, floor: Floor | None) -> Floor | None:
        """``floor`` lowered to the found outputs of inputs of ``partition`` after ``offset``."""
        offsets = self._offsets.get(partition, [])
        first_after = bisect.bisect_right(offsets, offset)
        if floor is None or first_after == len(offsets):
            return floor
        lowest = self._after[partition][first_after]
        return tuple((t, p, min(o, lowest.get((t, p), o))) for t, p, o in floor)


class Found(NamedTuple):
    """What the scan found for the inputs at or after the committed offsets: those with outputs
    (``written``) and the caps on the floors the run may commit (``caps``)."""

    written: Written
    caps: FloorCaps


class Recovery(NamedTuple):
    """What the restart scan found (``written_after``) and how many output records it read."""

    found: Found
    records_read: int


def find_written(
    consumer: KafkaConsumer, input_topic: str, outputs: tuple[str, ...], keep_records: bool
) -> Recovery:
    """Inputs of ``input_topic`` at or after the committed offsets that already have an output,
    found by reading the output topics from the floors of the group's commits to their ends."""
    points = resume_points(consumer, input_topic)
    partitions = partitions_of(consumer, outputs)
    log_starts = consumer.beginning_offsets(partitions, ATTEMPT_TIMEOUT_MS)
    ends = consumer.end_offsets(partitions, ATTEMPT_TIMEOUT_MS)
    bounds = {(tp.topic, tp.partition): (log_starts[tp], ends[tp]) for tp in partitions}
    starts = scan_starts((floor for _, floor in points.values()), bounds)
    committed = {partition: offset for partition, (offset, _) in points.items()}
    scan = OutputScan(consumer, starts, {tp: end for tp, (_, end) in bounds.items()})
    found = written_after(scan, input_topic, committed, keep_records)
    _LOG.info(
        "recovery read %d output records: %d inputs after the committed offsets have outputs",
        scan.read, len(found.written),
    )  # fmt: skip
    return Recovery(found, scan.read)


_RUNS: dict[str, Any] = {}
_RUNS_LOCK = threading.Lock()
T = TypeVar("T")


def once_per_run(run: str, scan: Callable[[], T]) -> T:
    """What ``scan`` found for job run ``run``, scanning only the first time this process asks;
    later callers wait for that scan and share its result."""
    with _RUNS_LOCK:
        if run not in _RUNS:
            _RUNS[run] = scan()
        return _RUNS[run]


class SkipWrittenFn(beam.DoFn):
    """RawEvent -> itself, or, when its outputs already exist, an acknowledgement instead (or, for
    an enriched record that must also be in the files, that record for the file sink, whose write
    then acknowledges it)."""

    def __init__(
        self, connection: KafkaConnection, group: str, input_topic: str,
        outputs: tuple[str, ...], refile: bool, run: str,
    ) -> None:  # fmt: skip
        self._connection = connection
        self._group = group
        self._input_topic = input_topic
        self._outputs = outputs
        self._refile = refile
        self._run = run
        self._found = Found({}, FloorCaps(()))
        self._records_scanned: int | None = None
        self._skipped = Metrics.counter(f"newsflow.{STEP}", "skipped_already_written")
        self._scans = Metrics.counter(f"newsflow.{STEP}", "restart_scans")
        self._scanned = Metrics.counter(f"newsflow.{STEP}", "output_records_scanned")

    def setup(self) -> None:
        self._found = once_per_run(self._run, self._scan)

    def start_bundle(self) -> None:
        """Count the scan this instance ran in the first bundle's metrics (setup has none)."""
        if self._records_scanned is not None:
            self._scans.inc()
            self._scanned.inc(self._records_scanned)
            self._records_scanned = None

    def _scan(self) -> Found:
        recovery = self._connection.broker.call(
            f"scanning {', '.join(self._outputs)} for written inputs", self._find_written
        )
        self._records_scanned = recovery.records_read
        return recovery.found

    def _find_written(self) -> Recovery:
        consumer = self._connection.consumer(self._group)
        try:
            return find_written(consumer, self._input_topic, self._outputs, self._refile)
        finally:
            consumer.close(autocommit=False)

    def process(self, raw: RawEvent):
        ref = raw.ref
        floor = self._found.caps.cap(ref.partition, ref.offset, ref.output_floor)
        if floor != ref.output_floor:
            raw = dataclasses.replace(raw, ref=dataclasses.replace(ref, output_floor=floor))
        # Each input is read once more at most: free it (shared by the run's instances).
        record = self._found.written.pop(str(raw.ref), _NOT_WRITTEN)
        if record is _NOT_WRITTEN:
            yield raw
            return
        self._skipped.inc()
        if self._refile and record is not None:
            yield beam.pvalue.TaggedOutput(REFILE, (raw.ref, record))
        else:
            yield beam.pvalue.TaggedOutput(WRITTEN, raw.ref)


def written_after(
    records: Iterable[tuple[OutputPosition, str, dict[str, Any]]],
    input_topic: str,
    committed: dict[int, int],
    keep_records: bool = True,
) -> Found:
    """``topic/partition@offset`` of inputs at or after the committed offsets that have an output,
    with the enriched record when that output is one and ``keep_records`` (for the file sink),
    and the floor caps their outputs' positions set. Inputs of partitions without a committed
    offset are left out: nothing of them was read."""
    written: Written = {}
    positions: list[tuple[int, int, OutputPosition]] = []
    for position, schema, record in records:
        coords = record.get("kafka")
        if not coords or coords["topic"] != input_topic:
            continue
        start = committed.get(coords["partition"])
        if start is None or coords["offset"] < start:
            continue
        key = f"{coords['topic']}/{coords['partition']}@{coords['offset']}"
        enriched = keep_records and schema == ENRICHED and record.get("duplicate_of") is None
        written[key] = record if enriched else None
        positions.append((coords["partition"], coords["offset"], position))
    return Found(written, FloorCaps(positions))


class SkipWritten(beam.PTransform):
    """Outputs: main (events to process), ``written`` (refs already done), ``refile``
    (``(ref, enriched record)`` for the file sink). Each construction is a new job run, whose
    first instance scans the outputs (see the module docstring)."""

    def __init__(
        self, connection: KafkaConnection, group: str, input_topic: str,
        outputs: tuple[str, ...], refile: bool,
    ) -> None:  # fmt: skip
        super().__init__()
        run = uuid.uuid4().hex
        self._fn = SkipWrittenFn(connection, group, input_topic, outputs, refile, run)

    def expand(self, events):
        return events | "SkipWritten" >> beam.ParDo(self._fn).with_outputs(
            WRITTEN, REFILE, main="events"
        )
