"""Dead letters: the one place every rejected input goes, with its reason and coordinates."""

from __future__ import annotations

import json
import time

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.errors import DataError
from transforms.text.models import Article, DeadLetter, SourceRef

DEAD_LETTER = "dead_letter"


def to_dead_letter(payload: bytes, ref: SourceRef, step: str, exc: Exception) -> DeadLetter:
    """A dead letter for ``exc``; newsflow's own errors carry their reason code, anything else is
    recorded as ``<step>_failed`` with its exception class."""
    code = exc.code if isinstance(exc, DataError) else f"{step}_failed"
    return DeadLetter(
        payload=payload,
        ref=ref,
        step=step,
        code=code,
        message=str(exc)[:2000],
        exception_class=type(exc).__name__,
        failed_at=int(time.time() * 1000),
    )


def dead_letter_output(step: str, payload: bytes, ref: SourceRef, exc: Exception):
    """Count the dead letter under the step's namespace and tag it for the dead-letter output."""
    letter = to_dead_letter(payload, ref, step, exc)
    Metrics.counter(f"newsflow.{step}", f"dead_letter_{letter.code}").inc()
    return beam.pvalue.TaggedOutput(DEAD_LETTER, letter)


def article_payload(article: Article) -> bytes:
    """The input's original bytes, or, once the clean step has released them, a JSON event
    equivalent to the input, so a dead letter raised after cleaning can still be replayed."""
    if article.payload:
        return article.payload
    event = {
        "id": article.id,
        "url": article.url,
        "source": article.source,
        "fetched_at": article.fetched_at,
        "content_type": article.content_type,
        "body": article.raw_body,
    }
    return json.dumps(event, ensure_ascii=False).encode("utf-8")
