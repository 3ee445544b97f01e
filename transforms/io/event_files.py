"""Read JSON-lines event files for ``newsflow process``: one RawEvent per non-blank line, with its
file and 1-based line number as coordinates (so dead letters point at the line to fix)."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue

from transforms.text.models import RawEvent, SourceRef

STEP = "read_files"


def numbered_events(path: str, lines):
    """RawEvents of the non-blank lines; a blank line is layout, not an input."""
    for number, line in enumerate(lines, start=1):
        payload = line.rstrip(b"\r\n")
        if payload.strip():
            yield RawEvent(payload=payload, ref=SourceRef(file=path, line=number))


class ReadFileLinesFn(beam.DoFn):
    """A matched file -> its events; event time is the read time (file mode has no broker clock)."""

    def __init__(self) -> None:
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")

    def process(self, readable: fileio.ReadableFile):
        now_ms = int(time.time() * 1000)
        with readable.open(compression_type=CompressionTypes.AUTO) as fh:
            # by readline: the decompressing reader of a .gz/.bz2 file is not iterable
            for event in numbered_events(readable.metadata.path, iter(fh.readline, b"")):
                self._out.inc()
                yield TimestampedValue(event, now_ms / 1000)


class ReadEventFiles(beam.PTransform):
    """A file pattern (local or any Beam filesystem) -> RawEvents."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self._pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchFiles" >> fileio.MatchFiles(self._pattern)
            | "ReadMatches" >> fileio.ReadMatches()
            | "ReadLines" >> beam.ParDo(ReadFileLinesFn())
        )
