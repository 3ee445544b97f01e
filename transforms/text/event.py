"""Decode and validate one raw input event into an ``Article``.

Everything a producer can get wrong is checked here, and each problem raises ``InvalidEventError``
with a stable reason code, so the Beam step only has to route it to the dead letters. What later
steps rely on is checked once, here: every string they touch encodes as UTF-8 (a JSON ``"\\ud800"``
escape decodes to a lone surrogate that does not), times fit Avro ``timestamp-millis`` and Python
datetimes, and no field is larger than a real article's would be.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from schemas.confluent import is_avro_framed
from schemas.errors import CodecError, DeletedInputsError, InvalidEventError
from transforms.text.extract import parse_date
from transforms.text.models import DELETED, Article, RawEvent

CONTENT_TYPES = ("text/plain", "text/html")
DEFAULT_MAX_BODY_BYTES = 2_000_000
# Largest UTF-8 size of each optional string field: ids and urls become Kafka keys and dedup
# state, titles and bylines go into every record; none of them is legitimately larger.
MAX_FIELD_BYTES = {
    "id": 512,
    "url": 8192,
    "source": 512,
    "title": 4096,
    "author": 1024,
    "language": 64,
    "published_at": 256,
    "content_type": 256,
}
# How far a crawl time may be ahead of the decoding machine's clock: a local time labelled UTC
# is at most 14 h ahead, and clocks drift by seconds. Beyond it the producer's clock is wrong.
MAX_FETCHED_AHEAD_MS = 24 * 3_600_000
# Epoch millis a Python datetime holds (years 1 to 9999); Avro timestamp-millis holds more.
MIN_TIME_MS = int(datetime(1, 1, 1, tzinfo=UTC).timestamp() * 1000)
MAX_TIME_MS = int(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)


def deleted_message(raw: RawEvent) -> str:
    """What a dead letter says of offsets the topic deleted before they were read."""
    ref = raw.ref
    first = ref.span_start if ref.span_start is not None else ref.offset
    count = ref.offset - first + 1
    return (
        f"offsets {first}-{ref.offset} of {ref.topic}/{ref.partition} were deleted from the topic "
        f"(retention or a records deletion) before newsflow read them: up to {count} "
        f"input{'s' if count != 1 else ''} lost"
    )


def decode_event(
    raw: RawEvent,
    now_ms: int,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    avro_decoder: Any = None,
    max_ahead_ms: int | None = None,
) -> Article:
    """Build an Article from a JSON event (or an Avro one, single-object or Confluent-framed, when
    ``avro_decoder`` is given); raise InvalidEventError naming the first problem found.

    ``now_ms`` is the clock: the crawl time of an event without one, and, with ``max_ahead_ms``
    (the pipeline passes ``MAX_FETCHED_AHEAD_MS``; a replay of history with a simulated clock
    passes none), the latest crawl time taken."""
    if raw.absent == DELETED:
        raise DeletedInputsError(deleted_message(raw))
    if avro_decoder is not None and is_avro_framed(raw.payload):
        event = _parse_avro(raw.payload, avro_decoder)
    else:
        event = _parse_json(raw.payload)
    body = _require_body(event, max_body_bytes)
    for name, limit in MAX_FIELD_BYTES.items():
        _check_string(event.get(name), name, limit)
    content_type = (event.get("content_type") or "text/plain").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise InvalidEventError(f"unsupported content_type {content_type!r}", "bad_content_type")
    published = event.get("published_at")
    url = event.get("url") or None
    return Article(
        id=event.get("id") or derive_id(url, body),
        raw_body=body,
        fetched_at=_crawl_time(event.get("fetched_at"), raw, now_ms, max_ahead_ms),
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


def _crawl_time(fetched: Any, raw: RawEvent, now_ms: int, max_ahead_ms: int | None) -> int:
    """``fetched_at`` (else the Kafka timestamp, else now), never more than ``max_ahead_ms``
    ahead of ``now_ms`` when given. It is the stories' clock: one article a few years ahead
    made every live story idle and forgot them all (and dedup's order puts it last for good)."""
    if fetched is not None:
        millis, source = _timestamp(fetched, "fetched_at"), "fetched_at"
    elif raw.timestamp_ms is not None:
        millis, source = raw.timestamp_ms, "the Kafka timestamp (no fetched_at)"
    else:
        return now_ms
    if max_ahead_ms is not None and millis - now_ms > max_ahead_ms:
        ahead_hours = (millis - now_ms) / 3_600_000
        raise InvalidEventError(
            f"crawl time {_iso(millis)} from {source} is {ahead_hours:,.0f} h ahead of this "
            f"machine's clock ({_iso(now_ms)}): check the producer's clock",
            "fetched_in_future",
        )
    return millis


def _iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


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
    except RecursionError as exc:
        raise InvalidEventError("payload nests JSON too deeply to parse", "too_deep") from exc
    except ValueError as exc:  # an integer literal longer than Python's 4,300-digit limit
        raise InvalidEventError(f"payload holds an unparsable number: {exc}", "bad_number") from exc
    if not isinstance(event, dict):
        raise InvalidEventError(f"event is a JSON {type(event).__name__}", code="not_object")
    return event


def _parse_avro(payload: bytes, avro_decoder: Any) -> dict[str, Any]:
    try:
        return avro_decoder(payload)
    except CodecError as exc:
        raise InvalidEventError(f"payload is not an ArticleEvent: {exc}", "bad_avro") from exc


def _require_body(event: dict[str, Any], max_body_bytes: int) -> str:
    if "body" not in event or event["body"] is None:
        raise InvalidEventError("event has no body", code="missing_body")
    body = event["body"]
    if not isinstance(body, str):
        raise InvalidEventError(f"body is a {type(body).__name__}", code="bad_body_type")
    if not body.strip():
        raise InvalidEventError("body is empty", code="empty_body")
    size = _utf8_size(body, "body")
    if size > max_body_bytes:
        raise InvalidEventError(f"body is {size} bytes > {max_body_bytes}", "body_too_large")
    return body


def _check_string(value: Any, name: str, limit: int) -> None:
    """An optional field is absent, null or a UTF-8 encodable string of at most ``limit`` bytes."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidEventError(f"field {name!r} must be a string", code="bad_field_type")
    size = _utf8_size(value, name)
    if size > limit:
        raise InvalidEventError(f"field {name!r} is {size} bytes > {limit}", "field_too_large")


def _utf8_size(value: str, name: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidEventError(
            f"field {name!r} is not encodable as UTF-8 (lone surrogate at {exc.start})",
            code="bad_unicode",
        ) from exc


def _timestamp(value: Any, name: str) -> int:
    """Epoch millis from an ISO-8601 (or other parseable) string, an epoch-millis number or a
    datetime (what Avro ``timestamp-millis`` decodes to), within years 1 to 9999."""
    if isinstance(value, bool):
        raise InvalidEventError(f"{name} is a boolean", code="bad_date")
    millis = None
    if isinstance(value, datetime):
        millis = _datetime_millis(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidEventError(f"{name} is {value}", code="date_out_of_range")
    elif isinstance(value, int | float):
        millis = int(value)
    elif isinstance(value, str):
        millis = parse_date(value)
    if millis is None:
        raise InvalidEventError(f"{name} is not a date: {str(value)[:80]!r}", code="bad_date")
    if not MIN_TIME_MS <= millis <= MAX_TIME_MS:
        raise InvalidEventError(f"{name} {millis} ms is outside years 1-9999", "date_out_of_range")
    return millis


def _datetime_millis(value: datetime) -> int:
    """A naive datetime is UTC, as everywhere in newsflow."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)
