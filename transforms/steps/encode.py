"""Build and encode the output records of articles and dead letters.

Every record is checked against its schema here, before any sink sees it: an article whose record
does not encode (Avro, or the JSON twin of file mode) becomes a dead letter ``encode_failed`` with
its coordinates, so a sink never meets a record it cannot write and the input still ends in one
output. Dead-letter records escape what they cannot encode, so they always get out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.codec import DEAD_LETTER as DEAD_LETTER_SCHEMA
from schemas.codec import ENRICHED, encode_datum
from schemas.confluent import ValueEncoder
from schemas.errors import RecordTooLargeError
from transforms.steps.dead_letters import article_payload, attempt
from transforms.steps.shared import DEAD_LETTER
from transforms.text.models import Article, DeadLetter, SourceRef
from transforms.text.records import (
    DEAD_LETTER_TIME_FIELDS,
    ENRICHED_TIME_FIELDS,
    STORY_ALIAS_TIME_FIELDS,
    article_record,
    dead_letter_record,
    json_twin,
)

STEP = "encode"
ENCODED = "encoded"
RECORDS = "records"

Message = tuple[bytes, bytes, SourceRef]
# Kafka values by default: single-object Avro (``--value-format`` picks another encoder).
ENRICHED_VALUE = ValueEncoder(ENRICHED)
DEAD_LETTER_VALUE = ValueEncoder(DEAD_LETTER_SCHEMA)
# Under Kafka's default limits (a topic's max.message.bytes 1,048,588 per batch, a producer's
# max.request.size 1,048,576), with room for the batch's and the record's own headers.
DEFAULT_MAX_RECORD_BYTES = 1_000_000
# A dead letter's fields other than its payload: an error message of up to 2,000 characters,
# the step, the exception class, coordinates of up to three 512-byte names, the version.
MIN_RECORD_BYTES = 16_384
# The cut note's length, and the few bytes a shorter payload's length prefix may differ by.
CUT_NOTE_BYTES = 128


def kafka_outputs(
    article: Article,
    version: str,
    encode_value: Callable[[dict], bytes] = ENRICHED_VALUE,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> tuple[Message, tuple[SourceRef, dict]]:
    """The Kafka message of an article (key = id, value = Avro by ``encode_value``, plus its
    source ref) and ``(ref, record)`` for the file sink: one record, so topic and files hold the
    same. A message over ``max_bytes`` is refused here (``RecordTooLargeError``, a dead letter),
    not by the broker, whose refusal would fail the sink's bundle on every retry and stop the
    job at this input: an input within the input topic's limit can make a record over it (a
    600 KB body with its entities, ~1.7x)."""
    record = article_record(article, _now_ms(), version)
    key, value = article.id.encode("utf-8"), encode_value(record)
    if len(key) + len(value) > max_bytes:
        raise RecordTooLargeError(
            f"output record is {len(key) + len(value)} bytes > --max-record-bytes {max_bytes}"
        )
    return (key, value, article.ref), (article.ref, record)


def file_outputs(article: Article, version: str) -> tuple[str, bytes]:
    """File mode: the JSON line of an article's record and its Avro binary for the container
    files, each encoded here once, which checks that the sinks can write them."""
    record = article_record(article, _now_ms(), version)
    datum = encode_datum(record, ENRICHED)
    return json_line(json_twin(record, ENRICHED_TIME_FIELDS)), datum


def dead_letter_message(
    letter: DeadLetter,
    version: str,
    encode_value: Callable[[dict], bytes] = DEAD_LETTER_VALUE,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Message:
    """Kafka message of a dead letter, keyed by its source coordinates for traceability. A
    letter over ``max_bytes`` (an input near the input topic's limit, or a record too large)
    keeps the head of its payload that fits, and says so: the whole input stays at its
    coordinates, and a dead letter the broker refused would stop the job."""
    key = str(letter.ref).encode("utf-8", "backslashreplace")
    value = encode_value(dead_letter_record(letter, version))
    excess = len(key) + len(value) - max_bytes
    if excess > 0:
        value = encode_value(dead_letter_record(cut_payload(letter, excess), version))
    return key, value, letter.ref


def cut_payload(letter: DeadLetter, excess: int) -> DeadLetter:
    """``letter`` with its payload ``excess`` bytes (and the note's length) shorter."""
    whole = len(letter.payload)
    keep = max(0, whole - excess - CUT_NOTE_BYTES)
    note = f" [payload cut to its first {keep} of {whole} bytes to fit --max-record-bytes]"
    return replace(letter, payload=letter.payload[:keep], message=letter.message + note)


def dead_letter_twin(letter: DeadLetter, version: str) -> dict[str, Any]:
    """File mode: the JSON twin of a dead letter."""
    return json_twin(dead_letter_record(letter, version), DEAD_LETTER_TIME_FIELDS)


def dead_letter_line(letter: DeadLetter, version: str) -> str:
    """File mode: the JSON line of a dead letter."""
    return json_line(dead_letter_twin(letter, version))


def alias_line(alias: dict[str, Any]) -> str:
    """File mode: the JSON line of a story alias record."""
    return json_line(json_twin(alias, STORY_ALIAS_TIME_FIELDS))


def json_line(twin: dict[str, Any]) -> str:
    """A JSON twin as the line the JSON-lines sink writes (UTF-8, non-ASCII kept, keys sorted).
    Serialised where the record is built, and only there: a value that cannot be written fails
    on its one input, and the sink writes the text without encoding the record a second time."""
    line = json.dumps(twin, ensure_ascii=False, sort_keys=True)
    line.encode("utf-8")
    return line


def _now_ms() -> int:
    return int(time.time() * 1000)


class EncodeArticleFn(beam.DoFn):
    """Article -> ``encoder``'s first output (main) and its second (``records``); an article whose
    record cannot be built or encoded -> dead letter ``encode_failed``."""

    def __init__(self, encoder: Callable[[Article, str], tuple[Any, Any]], version: str) -> None:
        self._encoder = encoder
        self._version = version
        self._in = Metrics.counter(f"newsflow.{STEP}", "in")
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")

    def process(self, article: Article):
        self._in.inc()
        outputs, failure = attempt(
            STEP, article, article_payload, self._encoder, article, self._version
        )
        if failure is not None:
            yield failure
            return
        self._out.inc()
        yield outputs[0]
        yield beam.pvalue.TaggedOutput(RECORDS, outputs[1])


class EncodeArticles(beam.PTransform):
    """Outputs ``encoded`` (main), ``records`` and ``dead_letter``; ``encoder`` is
    ``kafka_outputs`` or ``file_outputs``."""

    def __init__(self, encoder: Callable[[Article, str], tuple[Any, Any]], version: str) -> None:
        super().__init__()
        self._encoder = encoder
        self._version = version

    def expand(self, articles):
        return articles | "Encode" >> beam.ParDo(
            EncodeArticleFn(self._encoder, self._version)
        ).with_outputs(DEAD_LETTER, RECORDS, main=ENCODED)
