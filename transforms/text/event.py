"""Decode and validate one raw input event into an ``Article``.

Everything a producer can get wrong is checked here, and each problem raises ``InvalidEventError``
with a stable reason code, so the Beam step only has to route it to the dead letters.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from schemas.confluent import is_avro_framed
from schemas.errors import InvalidEventError
from transforms.text.extract import parse_date
from transforms.text.models import Article, RawEvent

CONTENT_TYPES = ("text/plain", "text/html")
DEFAULT_MAX_BODY_BYTES = 2_000_000
_OPTIONAL_STRINGS = ("id", "url", "source", "title", "author", "language", "published_at")


def decode_event(
    raw: RawEvent,
    now_ms: int,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    avro_decoder: Any = None,
) -> Article:
    """Build an Article from a JSON event (or an Avro one, single-object or Confluent-framed, when
    ``avro_decoder`` is given); raise InvalidEventError naming the first problem found."""
    if avro_decoder is not None and is_avro_framed(raw.payload):
        event = avro_decoder(raw.payload)
    else:
        event = _parse_json(raw.payload)
    body = _require_body(event, max_body_bytes)
    for name in _OPTIONAL_STRINGS:
        if event.get(name) is not None and not isinstance(event[name], str):
            raise InvalidEventError(f"field {name!r} must be a string", code="bad_field_type")
    content_type = (event.get("content_type") or "text/plain").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise InvalidEventError(f"unsupported content_type {content_type!r}", "bad_content_type")
    fetched = event.get("fetched_at")
    fetched_at = _timestamp(fetched, "fetched_at") if fetched is not None else None
    published = event.get("published_at")
    url = event.get("url") or None
    return Article(
        id=event.get("id") or derive_id(url, body),
        raw_body=body,
        fetched_at=fetched_at if fetched_at is not None else (raw.timestamp_ms or now_ms),
        ref=raw.ref,
        url=url,
        source=event.get("source") or None,
        content_type=content_type,
        title_hint=event.get("title") or None,
        published_hint=_timestamp(published, "published_at") if published else None,
        author_hint=event.get("author") or None,
        language_hint=event.get("language") or None,
        payload=raw.payload,
    )


def derive_id(url: str | None, body: str) -> str:
    """Deterministic id, so a replayed event gets the same id on every run and every worker."""
    basis = f"url:{url}" if url else f"body:{body}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def _parse_json(payload: bytes) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEventError(f"payload is not UTF-8: {exc}", code="not_utf8") from exc
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"payload is not JSON: {exc}", code="not_json") from exc
    if not isinstance(event, dict):
        raise InvalidEventError(f"event is a JSON {type(event).__name__}", code="not_object")
    return event


def _require_body(event: dict[str, Any], max_body_bytes: int) -> str:
    if "body" not in event or event["body"] is None:
        raise InvalidEventError("event has no body", code="missing_body")
    body = event["body"]
    if not isinstance(body, str):
        raise InvalidEventError(f"body is a {type(body).__name__}", code="bad_body_type")
    if not body.strip():
        raise InvalidEventError("body is empty", code="empty_body")
    size = len(body.encode("utf-8"))
    if size > max_body_bytes:
        raise InvalidEventError(f"body is {size} bytes > {max_body_bytes}", "body_too_large")
    return body


def _timestamp(value: Any, name: str) -> int:
    """Epoch millis from an ISO-8601 (or other parseable) string or an epoch-millis number."""
    if isinstance(value, bool):
        raise InvalidEventError(f"{name} is a boolean", code="bad_date")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        parsed = parse_date(value)
        if parsed is not None:
            return parsed
    raise InvalidEventError(f"{name} is not a date: {str(value)[:80]!r}", code="bad_date")
