"""File sinks: Avro container files and JSON-lines twins under an output directory.

File mode (``newsflow process``) writes through ``fileio.WriteToFiles``. The Kafka job writes with
``WriteAvroWindows``, which rolls a file per window in streaming and reports the inputs whose
records are in a finished file, so offsets are committed only after the files exist. Both work on
any Beam filesystem (local path, gs://, s3://, ...).
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import (
    BoundedWindow,
    FixedWindows,
    GlobalWindow,
    GlobalWindows,
    TimestampedValue,
)
from apache_beam.utils.timestamp import Duration
from fastavro.write import Writer

from schemas.codec import load_schema, write_container
from transforms.text.models import SourceRef

STEP = "write_files"
# Uncompressed bytes of records per container block: fastavro's default sync interval.
BLOCK_BYTES = 16_000


class _Block(NamedTuple):
    """What fastavro's ``Writer.write_block`` reads of a block: its records' count and bytes."""

    num_records: int
    bytes_: io.BytesIO


class AvroRecordSink(fileio.FileSink):
    """Writes records of one ``schemas/*.avsc`` schema into a deflate-compressed container file.

    The records come encoded (``codec.encode_datum``: the step before checked each by encoding
    it), so they are not encoded a second time here: their bytes are gathered into blocks of
    fastavro's default size, each compressed and written as fastavro writes its own."""

    def __init__(self, schema_name: str) -> None:
        self._schema_name = schema_name
        self._writer: Writer | None = None
        self._block, self._count = io.BytesIO(), 0

    def open(self, fh: BinaryIO) -> None:
        self._writer = Writer(fh, load_schema(self._schema_name), codec="deflate")
        self._block, self._count = io.BytesIO(), 0

    def write(self, datum: bytes) -> None:
        self._block.write(datum)
        self._count += 1
        if self._block.tell() >= BLOCK_BYTES:
            self._write_block()

    def flush(self) -> None:
        if self._count:
            self._write_block()
        self._writer.flush()

    def _write_block(self) -> None:
        self._writer.write_block(_Block(self._count, self._block))
        self._block, self._count = io.BytesIO(), 0


class WriteAvroFiles(beam.PTransform):
    """Records in Avro binary (``codec.encode_datum``) -> ``<output_dir>/<prefix>-*.avro``."""

    def __init__(self, output_dir: str, prefix: str, schema_name: str) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._prefix = prefix
        self._schema_name = schema_name

    def expand(self, records):
        schema_name = self._schema_name
        return records | "WriteAvro" >> fileio.WriteToFiles(
            path=self._output_dir,
            file_naming=fileio.default_file_naming(self._prefix, ".avro"),
            sink=lambda _dest: AvroRecordSink(schema_name),
        )


class WriteJsonFiles(beam.PTransform):
    """JSON lines (``encode.json_line``: one object each, UTF-8, non-ASCII kept readable) ->
    ``<output_dir>/<prefix>-*.jsonl``."""

    def __init__(self, output_dir: str, prefix: str) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._prefix = prefix

    def expand(self, records):
        return records | "WriteJsonLines" >> fileio.WriteToFiles(
            path=self._output_dir,
            file_naming=fileio.default_file_naming(self._prefix, ".jsonl"),
            sink=lambda _dest: fileio.TextSink(),
        )


class WriteWindowFileFn(beam.DoFn):
    """All records of one window pane -> one Avro container file, written under a temporary name
    and renamed, so a reader never sees a partial file; then the refs of its records, which is
    what lets offsets be committed only after the file exists."""

    def __init__(self, output_dir: str, prefix: str, schema_name: str) -> None:
        self._output_dir = output_dir
        self._prefix = prefix
        self._schema_name = schema_name
        self._files = Metrics.counter(f"newsflow.{STEP}", "files")

    def process(
        self,
        element: tuple[int, Iterable[tuple[SourceRef, dict[str, Any]]]],
        window=beam.DoFn.WindowParam,
        pane=beam.DoFn.PaneInfoParam,
    ) -> Iterator[SourceRef]:
        items = list(element[1])
        name = f"{self._prefix}-{window_label(window)}-{pane.index}-{uuid.uuid4().hex[:8]}.avro"
        final = FileSystems.join(self._output_dir, name)
        temporary = FileSystems.join(self._output_dir, f".{name}.tmp")
        with FileSystems.create(temporary) as fh:
            write_container(fh, (record for _, record in items), self._schema_name)
        FileSystems.rename([temporary], [final])
        self._files.inc()
        for ref, _ in items:
            yield ref


def window_label(window: BoundedWindow) -> str:
    """``all`` for the global window, else the window's UTC start and end."""
    if isinstance(window, GlobalWindow):
        return "all"
    start = window.start.to_utc_datetime().strftime("%Y%m%dT%H%M%S")
    end = window.end.to_utc_datetime().strftime("%Y%m%dT%H%M%S")
    return f"{start}-{end}"


class WriteAvroWindows(beam.PTransform):
    """``(ref, record)`` pairs -> ``<output_dir>/<prefix>-<window>-<pane>-<id>.avro``, one file per
    window of ``window_seconds`` (arrival time at the sink), or one per run when ``None``; outputs
    the refs of the records written.

    Records are windowed by when they reach the sink, not by event time: a record is never late
    for its file, whatever holds the stateful steps before it keep, and a file covers a minute of
    output as an operator expects.
    """

    def __init__(
        self, output_dir: str, prefix: str, schema_name: str, window_seconds: int | None
    ) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._prefix = prefix
        self._schema_name = schema_name
        self._window_seconds = window_seconds

    def expand(self, pairs):
        if self._window_seconds is not None:
            pairs = (
                pairs
                | "StampArrival" >> beam.Map(lambda pair: TimestampedValue(pair, time.time()))
                | "FixedWindows"
                >> beam.WindowInto(
                    FixedWindows(self._window_seconds),
                    allowed_lateness=Duration(seconds=10 * self._window_seconds),
                )
            )
        return (
            pairs
            | "OneShard" >> beam.Map(lambda pair: (0, pair)).with_output_types(tuple[int, Any])
            | "GroupWindow" >> beam.GroupByKey()
            | "WriteFile"
            >> beam.ParDo(
                WriteWindowFileFn(self._output_dir, self._prefix, self._schema_name)
            ).with_output_types(SourceRef)
            # Acknowledgements join those of other sinks, which are in the global window.
            | "RefsInGlobalWindow" >> beam.WindowInto(GlobalWindows())
        )
