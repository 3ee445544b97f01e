"""Turn pipeline values into records of the published schemas, and records into their JSON twins.

The Avro records hold times as epoch millis (``timestamp-millis``); the JSON twins used by file mode
carry the same field names with ISO-8601 strings, as DESIGN.md fixes.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from transforms.text.cleaning import word_count
from transforms.text.entities import entity_summary
from transforms.text.models import Article, DeadLetter, SourceRef

ENRICHED_TIME_FIELDS = ("published_at", "fetched_at", "processed_at")
DEAD_LETTER_TIME_FIELDS = ("failed_at",)
STORY_ALIAS_TIME_FIELDS = ("revealed_at",)


def kafka_coordinates(ref: SourceRef) -> dict[str, Any] | None:
    if ref.topic is None:
        return None
    return {"topic": ref.topic, "partition": ref.partition, "offset": ref.offset}


def article_record(article: Article, processed_at: int, version: str) -> dict[str, Any]:
    """The ``EnrichedArticle`` record of an article (kept or duplicate)."""
    return {
        "id": article.id,
        "url": article.url,
        "source": article.source,
        "title": article.title,
        "byline": article.byline,
        "published_at": article.published_at,
        "fetched_at": article.fetched_at,
        "language": article.language,
        "body": article.body,
        "word_count": word_count(article.body),
        "entities": [
            {
                "text": e.text,
                "label": e.label,
                "start": e.start,
                "end": e.end,
                "canonical": e.canonical,
            }
            for e in article.entities
        ],
        "boilerplate": [
            {"kind": s.kind, "start": s.start, "end": s.end, "text": s.text}
            for s in article.boilerplate
        ],
        "content_hash": article.content_hash,
        "duplicate_of": article.duplicate_of,
        "story_id": article.story_id,
        "kafka": kafka_coordinates(article.ref),
        "processed_at": processed_at,
        "pipeline_version": version,
        "comments": article.comments,
        "entity_summary": [
            {"text": e.text, "label": e.label, "count": e.count}
            for e in entity_summary(article.entities)
        ],
    }


def story_alias_record(story_id: str, alias_of: str, revealed_at: int) -> dict[str, Any]:
    """The ``StoryAlias`` record: story ``story_id`` is the same as ``alias_of`` (from event time
    ``revealed_at`` on)."""
    return {"story_id": story_id, "alias_of": alias_of, "revealed_at": revealed_at}


def dead_letter_record(letter: DeadLetter, version: str) -> dict[str, Any]:
    """The ``DeadLetter`` record: original bytes, reason and where the input came from.

    Its text is escaped where UTF-8 cannot encode it (a lone surrogate quoted in a message, a file
    name read with surrogate escapes), so a dead letter always encodes: it is the last resort."""
    kafka = kafka_coordinates(letter.ref)
    if kafka is not None:
        kafka["topic"] = encodable(kafka["topic"])
    return {
        "error_code": encodable(letter.code),
        "message": encodable(letter.message),
        "step": encodable(letter.step),
        "exception_class": encodable(letter.exception_class),
        "payload": letter.payload,
        "kafka": kafka,
        "file": encodable(letter.ref.file),
        "line": letter.ref.line,
        "failed_at": letter.failed_at,
        "pipeline_version": version,
    }


def encodable(text: str | None) -> str | None:
    """``text`` with what UTF-8 cannot encode written as backslash escapes (``\\ud800``)."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_twin(record: dict[str, Any], time_fields: tuple[str, ...]) -> dict[str, Any]:
    """Same names, JSON-friendly values: times as ISO-8601 UTC, bytes as UTF-8 text when they are
    text (else base64, flagged in ``payload_encoding``)."""
    out = dict(record)
    for name in time_fields:
        if out.get(name) is not None:
            out[name] = iso8601(out[name])
    if isinstance(out.get("payload"), bytes):
        try:
            out["payload"] = out["payload"].decode("utf-8")
            out["payload_encoding"] = "utf-8"
        except UnicodeDecodeError:
            out["payload"] = base64.b64encode(out["payload"]).decode("ascii")
            out["payload_encoding"] = "base64"
    return out


def iso8601(value: int | datetime) -> str:
    """Millisecond-precision UTC timestamp with a Z suffix."""
    when = value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
