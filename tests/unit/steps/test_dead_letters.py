"""attempt(): which errors become dead letters (and with which code), and which propagate; dead
letters that quote what UTF-8 cannot encode still encode."""

import json

import pytest

from schemas.errors import ConfigurationError, InvalidEventError, KafkaIOError, NerPoolError
from transforms.steps.dead_letters import article_payload, attempt, guarded, raw_payload
from transforms.steps.shared import DEAD_LETTER
from transforms.text.models import Article, RawEvent, SourceRef

REF = SourceRef(topic="articles.raw", partition=2, offset=9)
RAW = RawEvent(payload=b'{"body": 1}', ref=REF)


def fails_with(exc: Exception):
    def fn(_value):
        raise exc

    return fn


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


@pytest.mark.parametrize(
    "exc, code, exception_class, message",
    [
        (InvalidEventError("body is a int", "bad_body_type"), "bad_body_type", "InvalidEventError",
         "body is a int"),
        (ValueError("boom"), "decode_failed", "ValueError", "boom"),
        (RecursionError("deep"), "decode_failed", "RecursionError", "deep"),
        (UnicodeEncodeError("utf-8", "a\ud800", 1, 2, "surrogates not allowed"), "decode_failed",
         "UnicodeEncodeError", "'utf-8' codec can't encode character '\\ud800' in position 1: "
         "surrogates not allowed"),
        (KeyError("x\udc80"), "decode_failed", "KeyError", "'x\\udc80'"),
        (Unprintable(), "decode_failed", "Unprintable", "<unprintable Unprintable>"),
    ],
)  # fmt: skip
def test_errors_on_one_input_become_dead_letters(exc, code, exception_class, message):
    result, failure = attempt("decode", RAW, raw_payload, fails_with(exc), RAW)
    assert result is None and failure.tag == DEAD_LETTER
    letter = failure.value
    assert (letter.code, letter.exception_class, letter.message) == (code, exception_class, message)
    assert (letter.payload, letter.ref, letter.step) == (RAW.payload, REF, "decode")
    letter.message.encode("utf-8")


@pytest.mark.parametrize(
    "exc",
    [KafkaIOError("broker down"), ConfigurationError("no schema"), NerPoolError("pool broke")],
)
def test_infrastructure_errors_propagate(exc):
    with pytest.raises(type(exc)):
        attempt("decode", RAW, raw_payload, fails_with(exc), RAW)
    with pytest.raises(type(exc)):
        guarded(fails_with(exc), RAW)


def test_guarded_returns_what_an_input_raised():
    exc = ValueError("boom")
    assert guarded(fails_with(exc), RAW) == (None, exc)
    assert guarded(len, b"abc") == (3, None)


def test_success_returns_the_result_and_no_dead_letter():
    assert attempt("decode", RAW, raw_payload, len, b"abc") == (3, None)


def test_article_payload_of_a_body_utf8_cannot_encode_is_exact_ascii_json():
    body = "text with a lone \ud800 surrogate"
    article = Article(id="a", raw_body=body, fetched_at=5, ref=REF)
    payload = article_payload(article)
    assert payload.isascii()
    assert json.loads(payload)["body"] == body
    plain = Article(id="b", raw_body="Grüße", fetched_at=5, ref=REF)
    assert json.loads(article_payload(plain).decode("utf-8"))["body"] == "Grüße"
