"""Strip boilerplate and parse structure; articles with no text left become dead letters."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.steps.dead_letters import attempt, raw_payload
from transforms.steps.shared import ARTICLES, DEAD_LETTER
from transforms.text.cleaning import clean_article
from transforms.text.models import Article

STEP = "clean"


class StripBoilerplateFn(beam.DoFn):
    """Article -> cleaned Article (title, byline, date, body, removed spans, content hash).

    An article with no text left is a dead letter with its reason; any unexpected error on one
    article is a dead letter ``clean_failed``. The original payload is dropped once the article is
    clean: later steps never need it, and it would double what dedup state and shuffles carry.
    """

    def __init__(self) -> None:
        self._in = Metrics.counter(f"newsflow.{STEP}", "in")
        self._out = Metrics.counter(f"newsflow.{STEP}", "out")
        self._removed = Metrics.distribution(f"newsflow.{STEP}", "removed_chars")
        self._body = Metrics.distribution(f"newsflow.{STEP}", "body_chars")

    def process(self, article: Article):
        self._in.inc()
        cleaned, failure = attempt(STEP, article, raw_payload, clean_article, article)
        if failure is not None:
            yield failure
            return
        self._out.inc()
        self._removed.update(sum(span.end - span.start for span in cleaned.boilerplate))
        self._body.update(len(cleaned.body))
        yield replace(cleaned, payload=b"")


class CleanArticles(beam.PTransform):
    """Outputs ``articles`` (main) and ``dead_letter``."""

    def expand(self, articles):
        return articles | "StripBoilerplate" >> beam.ParDo(StripBoilerplateFn()).with_outputs(
            DEAD_LETTER, main=ARTICLES
        )
