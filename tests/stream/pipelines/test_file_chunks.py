"""ReadEventFiles on Prism: a file is read chunk by chunk, each chunk a step of event time, every
line once with its line number; a file whose lines may carry ``fetched_at``, a compressed file
and a file read unchunked (the FlinkRunner's) are one step. And ``newsflow process`` decides
across chunks as in one: a copy many chunks after its original names it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipelines import cli
from pipelines.runners import use_local_runner
from transforms.io.event_files import MIN_CHUNK_LINES, ReadEventFiles

pytestmark = pytest.mark.stream

ROOT = Path(__file__).resolve().parents[3]
SEED = json.loads((ROOT / "examples" / "articles.jsonl").read_text().splitlines()[0])
LINES = 3 * MIN_CHUNK_LINES + 10


def lines(count: int) -> list[bytes]:
    return [b'{"id": "e%d", "body": "event %d"}\n' % (i, i) for i in range(count)]


def read_with_chunk_of_each_line(
    path: Path, chunked: bool = True
) -> tuple[beam.Pipeline, beam.PCollection]:
    """A pipeline that reads ``path`` to ``(line number, chunk)`` pairs, the chunk counted from
    the first event time seen."""
    options = PipelineOptions()
    use_local_runner(options, "DirectRunner")
    pipeline = beam.Pipeline(options=options)
    stamped = (
        pipeline
        | ReadEventFiles(str(path), chunked)
        | beam.Map(lambda e, at=beam.DoFn.TimestampParam: (e.ref.line, at.micros))
    )
    first = beam.pvalue.AsSingleton(
        stamped | beam.Map(lambda pair: pair[1]) | beam.CombineGlobally(min)
    )
    chunked = stamped | "Chunk" >> beam.Map(
        lambda pair, start: (pair[0], (pair[1] - start) // 1_000_000), first
    )
    return pipeline, chunked


def test_a_file_is_read_in_chunks_of_event_time_every_line_once(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines(LINES)))
    pipeline, chunked = read_with_chunk_of_each_line(path)
    expected = [(n, (n - 1) // MIN_CHUNK_LINES) for n in range(1, LINES + 1)]
    assert_that(chunked, equal_to(expected))
    pipeline.run().wait_until_finish()


@pytest.mark.parametrize("case", ["fetched_at", "compressed", "not chunked (FlinkRunner)"])
def test_a_file_with_fetched_at_or_compressed_or_not_chunked_is_one_step(tmp_path, case):
    body = lines(LINES)
    if case == "fetched_at":
        body[-1] = json.dumps({"body": "late", "fetched_at": 0}).encode() + b"\n"
    path = tmp_path / ("events.jsonl.gz" if case == "compressed" else "events.jsonl")
    path.write_bytes(gzip.compress(b"".join(body)) if case == "compressed" else b"".join(body))
    pipeline, chunked = read_with_chunk_of_each_line(path, case != "not chunked (FlinkRunner)")
    assert_that(chunked, equal_to([(n, 0) for n in range(1, LINES + 1)]))
    pipeline.run().wait_until_finish()


def test_a_copy_chunks_after_its_original_names_it(tmp_path):
    """The copy is decided in a later step of event time than its original, as every article
    of a later chunk is: the original's entry is in the index by then."""
    events = [{**SEED, "id": "original"}]
    events += [{"id": f"filler-{i}", "body": f"Filler article number {i}."} for i in range(150)]
    events += [{**SEED, "id": "copy"}]
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = tmp_path / "out"
    assert cli.main(["process", str(source), "--output", str(out)]) == 0
    duplicates = [json.loads(x) for p in out.glob("duplicates-*.jsonl") for x in p.open()]
    enriched = {json.loads(x)["id"] for p in out.glob("enriched-*.jsonl") for x in p.open()}
    assert [(r["id"], r["duplicate_of"]) for r in duplicates] == [("copy", "original")]
    assert "original" in enriched
