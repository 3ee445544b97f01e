"""Decode raw events into articles; bad events become dead letters."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.codec import ARTICLE_EVENT
from schemas.confluent import AvroValueDecoder
from transforms.steps.dead_letters import attempt, raw_payload
from transforms.steps.shared import ARTICLES, DEAD_LETTER
from transforms.text.event import DEFAULT_MAX_BODY_BYTES, MAX_FETCHED_AHEAD_MS, decode_event
from transforms.text.models import RawEvent

STEP = "decode"


class DecodeEventFn(beam.DoFn):
    """RawEvent -> Article; anything that is not a valid event -> dead letter with its reason, and
    any unexpected error on one event -> dead letter ``decode_failed``."""

    def __init__(
        self, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, registry_url: str | None = None
    ) -> None:
        self._max_body_bytes = max_body_bytes
        # Avro events: single-object, or Confluent-framed with the writer schema from the registry.
        self._decode_avro = AvroValueDecoder(ARTICLE_EVENT, registry_url)
        self._in = Metrics.counter(f"newsflow.{STEP}", "in")
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")

    def process(self, raw: RawEvent):
        self._in.inc()
        now_ms = int(time.time() * 1000)
        article, failure = attempt(
            STEP,
            raw,
            raw_payload,
            decode_event,
            raw,
            now_ms,
            self._max_body_bytes,
            self._decode_avro,
            MAX_FETCHED_AHEAD_MS,
        )
        if failure is not None:
            yield failure
            return
        self._out.inc()
        yield article


class DecodeEvents(beam.PTransform):
    """Outputs ``articles`` (main) and ``dead_letter``."""

    def __init__(
        self, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, registry_url: str | None = None
    ) -> None:
        super().__init__()
        self._max_body_bytes = max_body_bytes
        self._registry_url = registry_url

    def expand(self, events):
        decode = DecodeEventFn(self._max_body_bytes, self._registry_url)
        return events | "Decode" >> beam.ParDo(decode).with_outputs(DEAD_LETTER, main=ARTICLES)
