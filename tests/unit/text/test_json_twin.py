"""json_twin(): file mode's JSON records carry the Avro record's names with JSON-friendly values."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from transforms.text.records import (
    DEAD_LETTER_TIME_FIELDS,
    ENRICHED_TIME_FIELDS,
    iso8601,
    json_twin,
)

CEST = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1490486400123, "2017-03-26T00:00:00.123Z"),
        (-1000, "1969-12-31T23:59:59.000Z"),
        (datetime(2017, 3, 26, 9, 30, tzinfo=UTC), "2017-03-26T09:30:00.000Z"),
        # an aware datetime in another zone is the same instant in UTC
        (datetime(2017, 3, 26, 11, 30, tzinfo=CEST), "2017-03-26T09:30:00.000Z"),
        (datetime(2017, 3, 26, 9, 30, 0, 999999, tzinfo=UTC), "2017-03-26T09:30:00.999Z"),
    ],
)  # fmt: skip
def test_iso8601_is_utc_with_milliseconds_and_z(value, text):
    assert iso8601(value) == text


def test_enriched_times_become_iso_strings_and_null_times_stay_null():
    record = {"id": "a", "published_at": None, "fetched_at": 1000, "processed_at": 2000}
    assert json_twin(record, ENRICHED_TIME_FIELDS) == {
        "id": "a",
        "published_at": None,
        "fetched_at": "1970-01-01T00:00:01.000Z",
        "processed_at": "1970-01-01T00:00:02.000Z",
    }


@pytest.mark.parametrize(
    ("payload", "text", "encoding"),
    [
        (b'{"body": "caf\xc3\xa9"}', '{"body": "café"}', "utf-8"),
        (b"", "", "utf-8"),
        (b'{"body": "caf\xe9"}', base64.b64encode(b'{"body": "caf\xe9"}').decode(), "base64"),
        (b"\xff\xfe\x00", "//4A", "base64"),
    ],
)
def test_dead_letter_payload_is_text_when_it_is_utf8_else_base64(payload, text, encoding):
    record = {"error_code": "not_json", "payload": payload, "failed_at": 0}
    twin = json_twin(record, DEAD_LETTER_TIME_FIELDS)
    assert (twin["payload"], twin["payload_encoding"]) == (text, encoding)
    assert twin["failed_at"] == "1970-01-01T00:00:00.000Z"
    decoded = base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")
    assert decoded == payload, "the original bytes can be recovered"
    json.dumps(twin)  # JSON-serialisable as is


def test_the_record_itself_is_left_unchanged():
    record = {"payload": b"\xff", "failed_at": 5}
    json_twin(record, DEAD_LETTER_TIME_FIELDS)
    assert record == {"payload": b"\xff", "failed_at": 5}


def test_a_record_without_payload_gets_no_payload_encoding():
    assert "payload_encoding" not in json_twin({"id": "a", "fetched_at": 0}, ENRICHED_TIME_FIELDS)
