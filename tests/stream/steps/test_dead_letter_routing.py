"""Each step's dead-letter routing, table-driven: what goes to the main output, and for what goes
to ``dead_letter`` its reason code, step, exception class, original payload and coordinates.

The steps run as composites in a streaming TestPipeline (Beam's BundleBased DirectRunner, fed by
TestStream). An unexpected error inside a step's pure function is injected (monkeypatch, or an
encoder that raises): real inputs that cause one are rejected earlier by decode, by design.
"""

from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from transforms.steps import clean, decode
from transforms.steps.clean import CleanArticles
from transforms.steps.decode import DecodeEvents
from transforms.steps.encode import ENCODED, EncodeArticles, file_outputs, kafka_outputs
from transforms.steps.shared import DEAD_LETTER
from transforms.text.models import Article, RawEvent, SourceRef

pytestmark = pytest.mark.stream

PROSE = (
    "The council approved the new budget for the bridge repairs on Tuesday evening.\n\n"
    "Work on the northern span will start in the spring and last about six months."
)
FILLER = "Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit. " * 3


def ref(n: int) -> SourceRef:
    return SourceRef(topic="articles.raw", partition=0, offset=n)


def raw(n: int, payload: bytes) -> RawEvent:
    return RawEvent(payload=payload, ref=ref(n), timestamp_ms=1_700_000_000_000)


def article(n: int, body: str) -> Article:
    payload = json.dumps({"id": f"a{n}", "body": body}).encode()
    return Article(id=f"a{n}", raw_body=body, body=body, fetched_at=1, ref=ref(n), payload=payload)


def run_step(transform: beam.PTransform, main_tag: str, inputs: list) -> tuple[list, list]:
    """Run one composite over ``inputs``; returns the refs on the main output and
    ``(offset, code, step, exception class, payload is the input's)`` of each dead letter."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(options=options)
    payloads = {item.ref.offset: item.payload for item in inputs}
    stream = TestStream().add_elements(inputs).advance_watermark_to_infinity()
    out = pipeline | stream | transform
    main = out[main_tag] | "MainOffsets" >> beam.Map(_offset)
    dead = out[DEAD_LETTER] | "Letters" >> beam.Map(
        lambda d: (
            d.ref.offset,
            d.code,
            d.step,
            d.exception_class,
            d.payload == payloads[d.ref.offset],
        )
    )
    return pipeline, main, dead


def _offset(value) -> int:
    """The input offset of a main output: an Article, a Kafka message or a JSON line."""
    if isinstance(value, Article):
        return value.ref.offset
    if isinstance(value, str):
        return int(json.loads(value)["id"][1:])
    return value[2].offset


def _raise_key_error(_article: Article, _version: str):
    raise KeyError("no such field")


def _explode_on_marker(real):
    def fn(value, *args):
        if b"EXPLODE" in value.payload:
            raise RuntimeError("injected failure")
        return real(value, *args)

    return fn


CASES = {
    "decode": (
        lambda: DecodeEvents(max_body_bytes=10_000),
        decode.ARTICLES,
        [
            raw(0, json.dumps({"id": "ok", "body": PROSE}).encode()),
            raw(1, b"not json {"),
            raw(2, b'{"body": "a lone \\ud800 surrogate"}'),
            raw(3, b'{"body": "text", "fetched_at": NaN}'),
            raw(4, b'{"body": "text", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
            raw(5, json.dumps({"body": "text", "id": "i" * 600}).encode()),
            raw(6, b'{"body": "EXPLODE"}'),
        ],
        [0],
        [
            (1, "not_json", "decode", "InvalidEventError", True),
            (2, "bad_unicode", "decode", "InvalidEventError", True),
            (3, "date_out_of_range", "decode", "InvalidEventError", True),
            (4, "too_deep", "decode", "InvalidEventError", True),
            (5, "field_too_large", "decode", "InvalidEventError", True),
            (6, "decode_failed", "decode", "RuntimeError", True),
        ],
    ),
    "clean": (
        CleanArticles,
        clean.ARTICLES,
        [article(0, PROSE), article(1, FILLER), article(2, "EXPLODE " + PROSE)],
        [0],
        [
            (1, "all_filler", "clean", "RejectedArticleError", True),
            (2, "clean_failed", "clean", "RuntimeError", True),
        ],
    ),
    "encode for Kafka": (
        lambda: EncodeArticles(kafka_outputs, "test"),
        ENCODED,
        [article(0, PROSE), article(1, "a lone \ud800 surrogate")],
        [0],
        [(1, "codec_error", "encode", "CodecError", True)],
    ),
    "encode for files": (
        lambda: EncodeArticles(file_outputs, "test"),
        ENCODED,
        [article(0, PROSE), article(1, "a lone \udfff surrogate")],
        [0],
        [(1, "codec_error", "encode", "CodecError", True)],
    ),
    "encoder raising": (
        lambda: EncodeArticles(_raise_key_error, "test"),
        ENCODED,
        [article(0, PROSE)],
        [],
        [(0, "encode_failed", "encode", "KeyError", True)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_input_leaves_a_step_once_on_main_or_as_a_dead_letter(name, monkeypatch):
    monkeypatch.setattr(decode, "decode_event", _explode_on_marker(decode.decode_event))
    monkeypatch.setattr(clean, "clean_article", _explode_on_marker(clean.clean_article))
    make, main_tag, inputs, kept, letters = CASES[name]
    pipeline, main, dead = run_step(make(), main_tag, inputs)
    assert_that(main, equal_to(kept), label="Main")
    assert_that(dead, equal_to(letters), label="DeadLetters")
    pipeline.run()
