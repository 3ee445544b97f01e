"""Read JSON-lines event files for ``newsflow process``: one RawEvent per non-blank line, with its
file and 1-based line number as coordinates (so dead letters point at the line to fix).

A file is read in chunks of lines, one after the other, each a step of event time: chunk ``i``'s
events are stamped with the read time plus ``i`` seconds, and the reader's watermark passes the
chunk before the next one is read. So the keyed steps, which decide what the watermark has passed
(templates, dedup, stories), decide chunk by chunk, and NER starts on the first chunk's articles
while later ones are still being cleaned, instead of every step waiting for the whole file (the
reader alone made ``newsflow process`` serial: cleaning of every article, then NER, then the
stories and the sinks of every article; docs/performance.md).

The decisions are the ones a single step of event time gives: the keyed steps decide in
``(fetched_at, input position)`` order, and an event without ``fetched_at`` is fetched when it is
decoded, so chunks in file order keep that order. A file with a line that may carry its own
``fetched_at`` (the bytes ``fetched_at`` anywhere in it, or an Avro-framed line) is one chunk, so
an early ``fetched_at`` late in the file is still decided first; so is a compressed file (it
cannot be entered in the middle). The FlinkRunner reads a file in one chunk too: there the job
is not one SDK worker waiting on one stage at a time, and its batch mode is left as it was
measured (``flink_throughput.py``). A file has at most ``MAX_CHUNKS`` chunks of at least
``MIN_CHUNK_LINES`` lines: event time advances at most ``MAX_CHUNKS`` seconds over a file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.coders import Coder
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from schemas.confluent import is_avro_framed
from transforms.state_coders import ManualWatermarks, OffsetRangeCoder
from transforms.text.models import RawEvent, SourceRef

STEP = "read_files"
MAX_CHUNKS = 256
MIN_CHUNK_LINES = 64
CHUNK_SECONDS = 1  # event time between chunks: one slot of the keyed steps (FLUSH_GRANULARITY)
# DoFn parameter markers: the DoFn is its own restriction provider; the watermark is set by hand.
_RESTRICTION = beam.DoFn.RestrictionParam()
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(ManualWatermarks())


def numbered_events(path: str, lines, first: int = 1):
    """RawEvents of the non-blank lines, the first numbered ``first``; a blank line is layout,
    not an input."""
    for number, line in enumerate(lines, start=first):
        payload = line.rstrip(b"\r\n")
        if payload.strip():
            yield RawEvent(payload=payload, ref=SourceRef(file=path, line=number))


def chunk_starts(lines: Iterable[bytes]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Byte offsets and 1-based line numbers where the chunks of a file with ``lines`` start:
    ``((0,), (1,))`` (one chunk) when a line may carry its own ``fetched_at`` (see the module
    doc)."""
    every: list[int] = []  # the offset of every MIN_CHUNK_LINES-th line
    position = count = 0
    for line in lines:
        if b"fetched_at" in line or is_avro_framed(line):
            return (0,), (1,)
        if count % MIN_CHUNK_LINES == 0:
            every.append(position)
        position, count = position + len(line), count + 1
    step = max(1, math.ceil(len(every) / MAX_CHUNKS))
    picked = range(0, len(every), step)
    return (
        tuple(every[i] for i in picked) or (0,),
        tuple(i * MIN_CHUNK_LINES + 1 for i in picked) or (1,),
    )


@dataclass(frozen=True)
class FileChunks:
    """A matched file, where its chunks start (byte offsets, line numbers) and the event time of
    the first (the read time, in microseconds)."""

    file: fileio.ReadableFile
    starts: tuple[int, ...]
    lines: tuple[int, ...]
    at_micros: int

    def timestamp(self, chunk: int) -> Timestamp:
        return Timestamp(micros=self.at_micros) + CHUNK_SECONDS * chunk


class PlanChunksFn(beam.DoFn):
    """A matched file -> its ``FileChunks`` (one pass over an uncompressed file's lines; one
    chunk, unread, when ``chunked`` is off)."""

    def __init__(self, chunked: bool) -> None:
        self._chunked = chunked

    def process(self, readable: fileio.ReadableFile) -> Iterator[FileChunks]:
        at = int(time.time() * 1_000_000)
        path = readable.metadata.path
        compressed = CompressionTypes.detect_compression_type(path) != CompressionTypes.UNCOMPRESSED
        if compressed or not self._chunked:
            yield FileChunks(readable, (0,), (1,), at)
            return
        with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            starts, lines = chunk_starts(iter(fh.readline, b""))
        yield FileChunks(readable, starts, lines, at)


class ReadChunksFn(beam.DoFn, RestrictionProvider):
    """``FileChunks`` -> their events, one chunk per bundle (the rest deferred), each chunk at
    its own event time with the watermark past it once it is read. Its restriction is the range
    of chunks left to read."""

    def __init__(self) -> None:
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")

    def initial_restriction(self, element: FileChunks) -> OffsetRange:
        return OffsetRange(0, len(element.starts))

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_coder(self) -> Coder:
        return OffsetRangeCoder()

    def restriction_size(self, element: FileChunks, restriction: OffsetRange) -> int:
        return restriction.size()

    def process(
        self,
        chunks: FileChunks,
        tracker=_RESTRICTION,
        watermark: ManualWatermarkEstimator = _WATERMARK,
    ):
        chunk = tracker.current_restriction().start
        if not tracker.try_claim(chunk):
            return
        at = chunks.timestamp(chunk)
        for event in self._events(chunks, chunk):
            self._out.inc()
            yield TimestampedValue(event, at)
        watermark.set_watermark(chunks.timestamp(chunk + 1))
        if chunk + 1 < tracker.current_restriction().stop:
            tracker.defer_remainder()

    @staticmethod
    def _events(chunks: FileChunks, chunk: int) -> Iterator[RawEvent]:
        """Chunk ``chunk``'s events: its lines, or the whole file when it is the only one."""
        readable, path = chunks.file, chunks.file.metadata.path
        if len(chunks.starts) == 1:
            with readable.open(compression_type=CompressionTypes.AUTO) as fh:
                # by readline: the decompressing reader of a .gz/.bz2 file is not iterable
                yield from numbered_events(path, iter(fh.readline, b""))
            return
        end = chunks.starts[chunk + 1] if chunk + 1 < len(chunks.starts) else None
        with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            fh.seek(chunks.starts[chunk])
            yield from numbered_events(path, _lines_until(fh, end), chunks.lines[chunk])


def _lines_until(fh, end: int | None) -> Iterator[bytes]:
    """Lines of ``fh`` from where it is until byte offset ``end`` (None: the end of the file)."""
    position = fh.tell()
    for line in iter(fh.readline, b""):
        if end is not None and position >= end:
            return
        yield line
        position += len(line)


class ReadEventFiles(beam.PTransform):
    """A file pattern (local or any Beam filesystem) -> RawEvents, each file in chunks of event
    time unless ``chunked`` is off (one step, as a compressed file)."""

    def __init__(self, pattern: str, chunked: bool = True) -> None:
        super().__init__()
        self._pattern = pattern
        self._chunked = chunked

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchFiles" >> fileio.MatchFiles(self._pattern)
            | "ReadMatches" >> fileio.ReadMatches()
            | "PlanChunks" >> beam.ParDo(PlanChunksFn(self._chunked))
            | "ReadLines" >> beam.ParDo(ReadChunksFn())
        )
