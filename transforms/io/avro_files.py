"""File sinks: Avro container files and JSON-lines twins under an output directory.

Both go through ``fileio.WriteToFiles`` so the same transform writes once per run in batch and
rolls a file per window and pane in streaming, on any Beam filesystem (local path, gs://, ...).
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import apache_beam as beam
from apache_beam.io import fileio
from fastavro.write import Writer

from schemas.codec import load_schema


class AvroRecordSink(fileio.FileSink):
    """Writes records of one ``schemas/*.avsc`` schema into a deflate-compressed container file."""

    def __init__(self, schema_name: str) -> None:
        self._schema_name = schema_name
        self._writer: Writer | None = None

    def open(self, fh: BinaryIO) -> None:
        self._writer = Writer(fh, load_schema(self._schema_name), codec="deflate")

    def write(self, record: dict[str, Any]) -> None:
        self._writer.write(record)

    def flush(self) -> None:
        self._writer.flush()


class JsonLinesSink(fileio.TextSink):
    """One JSON object per line, UTF-8, non-ASCII kept readable."""

    def write(self, record: dict[str, Any]) -> None:
        super().write(json.dumps(record, ensure_ascii=False, sort_keys=True))


class WriteAvroFiles(beam.PTransform):
    """Records -> ``<output_dir>/<prefix>-*.avro``."""

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
    """JSON-friendly records -> ``<output_dir>/<prefix>-*.jsonl``."""

    def __init__(self, output_dir: str, prefix: str) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._prefix = prefix

    def expand(self, records):
        return records | "WriteJsonLines" >> fileio.WriteToFiles(
            path=self._output_dir,
            file_naming=fileio.default_file_naming(self._prefix, ".jsonl"),
            sink=lambda _dest: JsonLinesSink(),
        )
