"""Event decoding: what becomes an article, and the reason code of everything that does not."""

import json
from datetime import UTC, datetime

import pytest

from schemas.codec import ARTICLE_EVENT, decode, encode
from schemas.errors import InvalidEventError
from transforms.text.cleaning import clean_article
from transforms.text.event import (
    MAX_FETCHED_AHEAD_MS,
    MAX_TIME_MS,
    MIN_TIME_MS,
    decode_event,
    derive_id,
)
from transforms.text.models import RawEvent, SourceRef

REF = SourceRef(topic="articles.raw", partition=1, offset=7)
NOW = 1_700_000_000_000


def decode_avro_event(payload: bytes) -> dict:
    return decode(payload, ARTICLE_EVENT)


def raw(payload, timestamp_ms=1_600_000_000_000) -> RawEvent:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return RawEvent(payload=data, ref=REF, timestamp_ms=timestamp_ms)


@pytest.mark.parametrize(
    "payload, code",
    [
        (b"this is not json {", "not_json"),
        (b"\xff\xfe{}", "not_utf8"),
        ([{"body": "x"}], "not_object"),
        ("just a string", "not_object"),
        ({"title": "no body"}, "missing_body"),
        ({"body": None}, "missing_body"),
        ({"body": "   \n "}, "empty_body"),
        ({"body": 42}, "bad_body_type"),
        ({"body": "text", "fetched_at": "yesterday-ish"}, "bad_date"),
        ({"body": "text", "fetched_at": True}, "bad_date"),
        ({"body": "text", "published_at": "not a date at all"}, "bad_date"),
        ({"body": "text", "url": 5}, "bad_field_type"),
        ({"body": "text", "content_type": "application/pdf"}, "bad_content_type"),
        ({"body": "x" * 101}, "body_too_large"),
        (b'{"body": "a \\ud800 b"}', "bad_unicode"),
        (b'{"body": "text", "title": "\\udfff"}', "bad_unicode"),
        (b'{"body": "text", "fetched_at": NaN}', "date_out_of_range"),
        (b'{"body": "text", "fetched_at": Infinity}', "date_out_of_range"),
        (b'{"body": "text", "fetched_at": -Infinity}', "date_out_of_range"),
        ({"body": "text", "fetched_at": 10**30}, "date_out_of_range"),
        ({"body": "text", "fetched_at": -(10**15)}, "date_out_of_range"),
        ({"body": "text", "fetched_at": 1e300}, "date_out_of_range"),
        (b'{"body": "text", "fetched_at": ' + b"9" * 5000 + b"}", "bad_number"),
        (b'{"body": "text", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too_deep"),
        ({"body": "text", "id": "i" * 513}, "field_too_large"),
        ({"body": "text", "url": "https://x.org/" + "p" * 9000}, "field_too_large"),
        ({"body": "text", "title": "t" * 5000}, "field_too_large"),
        ({"body": "text", "content_type": 7}, "bad_field_type"),
        ({"body": "text", "published_at": {"year": 2017}}, "bad_field_type"),
        (b"\xc3\x01 not avro", "bad_avro"),
    ],
)
def test_bad_events_raise_with_reason_code(payload, code):
    with pytest.raises(InvalidEventError) as info:
        decode_event(raw(payload), NOW, max_body_bytes=100, avro_decoder=decode_avro_event)
    assert info.value.code == code


def test_valid_event_keeps_fields_and_payload():
    event = {
        "id": "e1",
        "url": "https://example.org/e1",
        "source": "feed",
        "fetched_at": "2017-03-26T10:00:00Z",
        "content_type": "text/html; charset=utf-8",
        "body": "<p>Hello</p>",
        "title": "Hello",
        "published_at": "2017-03-26",
        "author": "Jane Smith",
        "language": "en",
    }
    article = decode_event(raw(event), NOW)
    assert article.id == "e1"
    assert article.fetched_at == 1490522400000
    assert article.published_hint == 1490486400000
    assert article.content_type == "text/html"
    assert (article.title_hint, article.author_hint) == ("Hello", "Jane Smith")
    assert article.ref == REF
    assert article.payload == raw(event).payload


@pytest.mark.parametrize(
    "event, expected",
    [
        ({"body": "b", "fetched_at": 1490522400000}, 1490522400000),
        ({"body": "b"}, 1_600_000_000_000),
    ],
)
def test_fetched_at_from_epoch_millis_or_kafka_timestamp(event, expected):
    assert decode_event(raw(event), NOW).fetched_at == expected


def test_fetched_at_falls_back_to_now_without_a_broker_timestamp():
    assert decode_event(raw({"body": "b"}, timestamp_ms=None), NOW).fetched_at == NOW


HOUR = 3_600_000


@pytest.mark.parametrize(
    ("event", "timestamp_ms", "source"),
    [
        ({"body": "b", "fetched_at": "2062-03-01T00:00:00Z"}, NOW, "from fetched_at"),
        ({"body": "b"}, NOW + 25 * HOUR, "from the Kafka timestamp (no fetched_at)"),
    ],
)
def test_a_crawl_time_a_day_ahead_of_the_clock_is_refused(event, timestamp_ms, source):
    """The stories' clock is the crawl time: one article decades ahead made every live story idle
    and forgot them all. The pipeline passes the limit; history replayed with a simulated clock
    (the benchmarks) does not."""
    with pytest.raises(InvalidEventError) as raised:
        decode_event(raw(event, timestamp_ms), NOW, max_ahead_ms=MAX_FETCHED_AHEAD_MS)

    assert raised.value.code == "fetched_in_future"
    assert source in str(raised.value)
    assert "ahead of this machine's clock (2023-11-14T22:13:20+00:00)" in str(raised.value)
    assert decode_event(raw(event, timestamp_ms), NOW).fetched_at > NOW


@pytest.mark.parametrize("ahead", [0, 14 * HOUR, MAX_FETCHED_AHEAD_MS])
def test_a_crawl_time_within_a_day_ahead_is_taken(ahead):
    """A local time labelled UTC (up to 14 h ahead), or clocks a little apart."""
    event = {"body": "b", "fetched_at": NOW + ahead}
    decoded = decode_event(raw(event), NOW, max_ahead_ms=MAX_FETCHED_AHEAD_MS)
    assert decoded.fetched_at == NOW + ahead


def test_ids_are_derived_deterministically_from_url_then_body():
    with_url = decode_event(raw({"body": "b", "url": "https://x.org/1"}), NOW)
    assert with_url.id == derive_id("https://x.org/1", "ignored")
    body_only = decode_event(raw({"body": "same body"}), NOW)
    assert body_only.id == decode_event(raw({"body": "same body"}), NOW + 5).id
    assert body_only.id != with_url.id


@pytest.mark.parametrize("millis", [MIN_TIME_MS, -1, 0, MAX_TIME_MS])
def test_fetched_at_holds_every_time_a_datetime_holds(millis):
    assert decode_event(raw({"body": "b", "fetched_at": millis}), NOW).fetched_at == millis


def test_avro_event_with_fetched_at_decodes_the_datetime_to_epoch_millis():
    event = {
        "id": "a1",
        "body": "Avro body",
        "fetched_at": datetime(2017, 3, 26, 10, 0, tzinfo=UTC),
        "published_at": "2017-03-26",
        "content_type": "text/plain",
    }
    payload = encode(event, ARTICLE_EVENT)
    article = decode_event(raw(payload), NOW, avro_decoder=decode_avro_event)
    assert (article.id, article.raw_body) == ("a1", "Avro body")
    assert article.fetched_at == 1490522400000
    assert article.published_hint == 1490486400000
    assert article.payload == payload


@pytest.mark.parametrize(
    "content_type",
    ["text/html; charset=x-klingon-8", 'TEXT/HTML;charset="unknown"', "text/html; foo=bar"],
)
def test_html_with_unknown_content_type_parameters_yields_text(content_type):
    text = "The council approved the new budget on Tuesday after a long debate about libraries."
    event = {"body": f"<div><p>{text}</p></div>", "content_type": content_type}
    article = clean_article(decode_event(raw(event), NOW))
    assert article.content_type == "text/html"
    assert article.body == text
