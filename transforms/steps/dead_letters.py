"""Dead letters: the one place every rejected input goes, with its reason and coordinates.

Every step turns a failure on one input into a dead letter the same way, through ``attempt``
(built on ``guarded``, the only handler in ``transforms/`` that catches ``Exception``;
tests/unit/steps/test_error_routing.py fails on any other). The split:

* a ``DataError`` is the input's fault and becomes a dead letter with its reason code;
* any other exception raised while one input is handled (a bug a hostile input reached, a
  library raising on its text) is that input's failure too: a dead letter ``<step>_failed``;
* an ``InfrastructureError`` (a broker, a schema file, a setting, a broken NER pool) is never a
  dead letter: it propagates, so the runner retries the bundle or the command ends with one line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.errors import DataError, InfrastructureError
from transforms.steps.shared import DEAD_LETTER
from transforms.text.models import Article, DeadLetter, SourceRef
from transforms.text.records import encodable

MAX_MESSAGE_CHARS = 2000

T = TypeVar("T")


class HasRef(Protocol):
    ref: SourceRef


def to_dead_letter(payload: bytes, ref: SourceRef, step: str, exc: Exception) -> DeadLetter:
    """A dead letter for ``exc``; newsflow's own errors carry their reason code, anything else is
    recorded as ``<step>_failed`` with its exception class."""
    code = exc.code if isinstance(exc, DataError) else f"{step}_failed"
    return DeadLetter(
        payload=payload,
        ref=ref,
        step=step,
        code=code,
        message=exception_message(exc),
        exception_class=type(exc).__name__,
        failed_at=int(time.time() * 1000),
    )


def exception_message(exc: Exception) -> str:
    """The exception's message, cut to a readable length, with whatever UTF-8 cannot encode (a
    lone surrogate quoted from the input) escaped, so the dead letter itself always encodes. A
    broken ``__str__`` must not lose the dead letter."""
    text, failure = guarded(str, exc)
    if failure is not None:
        text = f"<unprintable {type(exc).__name__}>"
    return encodable(text[:MAX_MESSAGE_CHARS])


def dead_letter_output(step: str, payload: bytes, ref: SourceRef, exc: Exception):
    """Count the dead letter under the step's namespace and tag it for the dead-letter output."""
    letter = to_dead_letter(payload, ref, step, exc)
    Metrics.counter(f"newsflow.{step}", f"dead_letter_{letter.code}").inc()
    return beam.pvalue.TaggedOutput(DEAD_LETTER, letter)


def attempt(
    step: str,
    element: HasRef,
    payload_of: Callable[[Any], bytes],
    fn: Callable[..., T],
    *args: Any,
) -> tuple[T | None, beam.pvalue.TaggedOutput | None]:
    """``(fn(*args), None)``, or ``(None, dead letter)`` when ``fn`` raises on this one input.

    Any exception but an infrastructure one becomes a dead letter with ``element``'s payload and
    coordinates: one bad input never stops the job. Infrastructure errors (a broker, a schema file,
    a broken NER pool) propagate, so the runner retries or the command ends."""
    result, failure = guarded(fn, *args)
    if failure is not None:
        return None, dead_letter_output(step, payload_of(element), element.ref, failure)
    return result, None


def guarded(fn: Callable[..., T], *args: Any) -> tuple[T | None, Exception | None]:
    """``(fn(*args), None)``, or ``(None, the exception)`` when ``fn`` fails on what it was given.

    The one place a step catches ``Exception``: an ``InfrastructureError`` is re-raised, never
    returned, so no caller can turn it into a dead letter."""
    try:
        return fn(*args), None
    except InfrastructureError:
        raise
    except Exception as exc:  # the contract: one input's failure is a dead letter, never a crash
        return None, exc


def raw_payload(element: Any) -> bytes:
    """The original bytes a RawEvent or an Article still holds."""
    return element.payload


def article_payload(article: Article) -> bytes:
    """The input's original bytes, or, once the clean step has released them, a JSON event
    equivalent to the input, so a dead letter raised after cleaning can still be replayed. JSON
    escapes keep it exact when a string cannot be written as UTF-8."""
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
    try:
        return json.dumps(event, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(event).encode("ascii")
