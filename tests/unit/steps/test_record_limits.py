"""No message newsflow hands its Kafka sinks is larger than ``--max-record-bytes``.

A broker refuses a message over its topic's limit on every retry, which would fail the sink's
bundle and stop the job at that input; the input topic takes events whose records exceed it
(a body's entities add ~0.7x). An article over the limit becomes a dead letter instead, and a
dead letter over it keeps the head of its payload that fits.
"""

from __future__ import annotations

from functools import partial

from schemas.codec import DEAD_LETTER, ENRICHED, decode
from transforms.steps.dead_letters import article_payload, attempt, to_dead_letter
from transforms.steps.encode import dead_letter_message, kafka_outputs
from transforms.text.models import Article, SourceRef

REF = SourceRef(topic="articles.raw", partition=3, offset=1234)
VERSION = "test"
LIMIT = 20_000


def article(body_chars: int) -> Article:
    body = ("The council met on Tuesday. " * (body_chars // 28 + 1))[:body_chars]
    return Article(
        id="a1", raw_body=body, fetched_at=1_700_000_000_000, ref=REF, body=body, payload=b"{...}"
    )


def test_a_record_within_the_limit_is_written_whole():
    key, value, ref = kafka_outputs(article(10_000), VERSION, max_bytes=LIMIT)[0]
    assert len(key) + len(value) <= LIMIT
    assert (decode(value, ENRICHED)["body"], ref) == (article(10_000).body, REF)


def test_a_record_over_the_limit_is_a_dead_letter_with_its_input():
    big = article(30_000)
    encode = partial(kafka_outputs, max_bytes=LIMIT)
    outputs, failure = attempt("encode", big, article_payload, encode, big, VERSION)
    letter = failure.value
    assert outputs is None
    assert (letter.code, letter.ref, letter.payload) == ("record_too_large", REF, b"{...}")
    assert f"> --max-record-bytes {LIMIT}" in letter.message


def test_a_dead_letter_over_the_limit_keeps_the_head_of_its_payload():
    payload = bytes(range(256)) * 200  # 51,200 bytes
    letter = to_dead_letter(payload, REF, "decode", ValueError("not an event"))
    key, value, ref = dead_letter_message(letter, VERSION, max_bytes=LIMIT)
    record = decode(value, DEAD_LETTER)
    kept = len(record["payload"])
    assert len(key) + len(value) <= LIMIT
    assert LIMIT - 1_000 < kept < LIMIT and record["payload"] == payload[:kept]
    assert f"payload cut to its first {kept} of {len(payload)} bytes" in record["message"]
    assert (record["error_code"], ref) == ("decode_failed", REF)


def test_a_dead_letter_within_the_limit_is_whole():
    letter = to_dead_letter(b"x" * 10_000, REF, "decode", ValueError("not an event"))
    record = decode(dead_letter_message(letter, VERSION, max_bytes=LIMIT)[1], DEAD_LETTER)
    assert (record["payload"], record["message"]) == (b"x" * 10_000, "not an event")
