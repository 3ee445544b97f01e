"""Property-based: whatever bytes an input holds, it becomes an article or a dead letter.

Hostile inputs (arbitrary JSON values in every field, random and corrupted bytes, lone surrogates,
extreme and non-finite numbers, deep nesting, huge fields and ids, HTML oddities, Avro events with
extreme times and corrupt Avro) go through the pure core of every step, in pipeline order:
decode -> clean -> templates (``learn_and_strip``) -> dedup keys (content hash, MinHash, LSH bands)
-> NER input (``annotate``'s lines, chunks and tokens) -> record -> Avro message and JSON twin.
The only exception a step may raise is a ``DataError`` (it becomes a dead letter with its reason
code); the dead letter itself must then encode. Anything else escaping is a bug: the Beam steps
would route it to a ``<step>_failed`` dead letter, but decode is meant to reject it first, with a
code.

``make test`` runs a quick, derandomized profile; ``make fuzz`` sets ``NEWSFLOW_FUZZ_EXAMPLES``
(100,000) and prints hypothesis' statistics: which hostile classes ran and how each input ended.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import spacy
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.codec import (
    ARTICLE_EVENT,
    DEAD_LETTER,
    ENRICHED,
    HEADER_LEN,
    MAGIC,
    decode,
    encode,
    named_fingerprint,
)
from schemas.confluent import AvroValueDecoder
from schemas.errors import DataError
from transforms.steps.dead_letters import to_dead_letter
from transforms.steps.encode import (
    dead_letter_message,
    dead_letter_twin,
    file_outputs,
    kafka_outputs,
)
from transforms.text.cleaning import clean_article
from transforms.text.entities import resolve_entities
from transforms.text.event import MAX_FIELD_BYTES, decode_event
from transforms.text.extract import detect_language
from transforms.text.fingerprint import exact_key, fingerprint
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import RawEvent, SourceRef
from transforms.text.ner import annotate
from transforms.text.templates import TemplateConfig, TemplateMemory, learn_and_strip

EXAMPLES = int(os.environ.get("NEWSFLOW_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="NEWSFLOW_FUZZ_EXAMPLES" not in os.environ,  # `make test` is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ROOT = Path(__file__).resolve().parents[3]
MAX_BODY_BYTES = 4_000
NER_MAX_LENGTH = 500
AVRO_DECODER = AvroValueDecoder(ARTICLE_EVENT)  # as the decode step has it, without a registry
NOW_MS = 1_700_000_000_000
REF = SourceRef(topic="articles.raw", partition=0, offset=42)
VERSION = "fuzz"
MINHASH = MinHashConfig()
TEMPLATES = TemplateConfig()


def _vocabulary() -> list[str]:
    words = []
    for line in (ROOT / "examples" / "articles.jsonl").read_text().splitlines():
        body = json.loads(line).get("body") if line.startswith("{") else None
        if isinstance(body, str) and "<" not in body:
            words.extend(body.split())
    return sorted(set(words))


# --- strategies ------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(), max_size=60)  # includes lone surrogates
SURROGATE_TEXT = st.builds(
    lambda a, s, b: a + s + b,
    st.text(max_size=20),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(max_size=20),
)
HUGE_INT = st.integers(min_value=-(2**80), max_value=2**80)
NUMBER = st.one_of(st.integers(), HUGE_INT, st.floats(allow_nan=True, allow_infinity=True))
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | NUMBER | ANY_TEXT | SURROGATE_TEXT,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(ANY_TEXT, kids, max_size=3),
    max_leaves=6,
)
PROSE = st.lists(
    st.lists(st.sampled_from(_vocabulary()), min_size=3, max_size=40).map(" ".join),
    min_size=1,
    max_size=6,
).map("\n\n".join)
HTML_BITS = st.sampled_from([
    "<html>", "</html>", "<head><title>T</title></head>", "<body>", "<p>", "</p>", "<div>",
    "<script>var x = '</p>';</script>", "<style>p{}</style>", "<!--", "-->", "<![CDATA[x]]>",
    "&#xD800;", "&#0;", "&#x110000;", "&amp;", "&nbsp;", "<br/>", "<table><tr><td>", "\x00",
    "\r\n", "\u202e", "\ufeff", "<meta charset='utf-16'>", "<a href='javascript:x'>", "<p/>",
    "<svg><foreignObject>", "<article>", "<nav>Home | News</nav>", "<!DOCTYPE html>", "<",
])  # fmt: skip
HTML = st.lists(st.one_of(HTML_BITS, PROSE), max_size=30).map("".join)
DEEP_HTML = st.integers(1, 1000).map(lambda n: "<div>" * n + "Deep text here." + "</div>" * n)
BODY = st.one_of(
    PROSE,
    HTML,
    DEEP_HTML,
    st.builds(lambda p, s, q: p + s + q, PROSE, SURROGATE_TEXT, PROSE),
    ANY_TEXT,
    st.integers(MAX_BODY_BYTES - 10, MAX_BODY_BYTES + 10).map(lambda n: "word " * (n // 5)),
    JSON_VALUE,
)
DATE_STRINGS = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from([
        "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0000-01-01", "-1", "1e400",
        "NaN", "Infinity", "99999999999999", "1490522400000", "Sunday 26 March 2017", "",
        "March 32, 2017", "31/02/2017", "2017-03-26T25:61:00Z", "\ud800",
    ]),
)  # fmt: skip
TIME = st.one_of(NUMBER, DATE_STRINGS, JSON_VALUE)


def _sized_text(limit: int) -> st.SearchStrategy[str]:
    return st.integers(0, 2 * limit).map(lambda n: "é" * (n // 2))


FIELDS = {
    name: st.one_of(st.none(), ANY_TEXT, SURROGATE_TEXT, JSON_VALUE, _sized_text(limit))
    for name, limit in MAX_FIELD_BYTES.items()
}
FIELDS["content_type"] = st.one_of(FIELDS["content_type"], st.sampled_from(["text/html"] * 3))
FIELDS["published_at"] = st.one_of(FIELDS["published_at"], DATE_STRINGS)
FIELDS["fetched_at"] = TIME
EVENTS = st.fixed_dictionaries({"body": BODY}, optional=FIELDS)


def _json_payload(event: dict, ascii_only: bool) -> bytes:
    text = json.dumps(event, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")  # raw surrogates: not UTF-8 at all


def _nested(depth: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = b'{"a":' if opener == b"{" else b"["
    return b'{"body": "Some text.", "x": ' + inner * depth + b"1" + closer * depth + b"}"


def _mutated(payload: bytes, position: int, data: bytes) -> bytes:
    cut = position % (len(payload) + 1)
    return payload[:cut] + data + payload[cut + len(data) :]


AVRO_STRING = st.one_of(st.none(), st.text(max_size=40))
AVRO_EVENTS = st.fixed_dictionaries(
    {
        "body": st.one_of(PROSE, HTML, st.text(max_size=40)),
        "content_type": st.sampled_from(["text/plain", "text/html", "application/pdf", ""]),
        "fetched_at": st.one_of(
            st.none(),
            st.datetimes(timezones=st.just(UTC)),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
        ),
    },
    optional={name: AVRO_STRING for name in ("id", "url", "source", "title", "author")}
    | {"published_at": st.one_of(st.none(), DATE_STRINGS.filter(lambda s: "\ud800" not in s))},
)

HOSTILE = st.one_of(
    st.tuples(st.just("json event"), st.builds(_json_payload, EVENTS, st.just(True))),
    st.tuples(
        st.just("json event, raw surrogates"), st.builds(_json_payload, EVENTS, st.just(False))
    ),
    st.tuples(st.just("any json value"), st.builds(_json_payload, JSON_VALUE, st.just(True))),
    st.tuples(st.just("random bytes"), st.binary(max_size=200)),
    st.tuples(st.just("confluent-framed bytes"), st.binary(max_size=60).map(lambda b: b"\x00" + b)),
    st.tuples(
        st.just("corrupted json event"),
        st.builds(_mutated, st.builds(_json_payload, EVENTS, st.just(True)), st.integers(0, 400),
                  st.binary(min_size=1, max_size=8)),
    ),
    st.tuples(
        st.just("deep nesting"),
        st.builds(_nested, st.integers(1, 200_000), st.sampled_from([b"[", b"{"])),
    ),
    st.tuples(st.just("avro event"), AVRO_EVENTS.map(lambda e: encode(e, ARTICLE_EVENT))),
    st.tuples(
        st.just("corrupted avro"),
        st.builds(
            lambda e, tail: encode(e, ARTICLE_EVENT)[:HEADER_LEN] + tail,
            AVRO_EVENTS, st.binary(max_size=60),
        ),
    ),
)  # fmt: skip


# --- the pipeline's pure core, step by step -----------------------------------------------------


@functools.cache
def _nlp():
    """A tokenizer-only English pipeline with a small ``max_length``: ``annotate`` still splits
    lines, cuts chunks, tokenizes and maps offsets for every hostile body (the NER input), while
    the model's cost, which would cap the examples, stays out (the enrich step dead-letters an
    article the model itself fails on; tests/unit/text/test_ner.py runs the real model)."""
    nlp = spacy.blank("en")
    nlp.max_length = NER_MAX_LENGTH
    return nlp


def through_the_pipeline(payload: bytes) -> str:
    """``article`` or the dead-letter code the input ends with; any non-DataError escapes."""
    raw = RawEvent(payload=payload, ref=REF, timestamp_ms=NOW_MS)
    step = "decode"
    try:
        article = decode_event(raw, NOW_MS, MAX_BODY_BYTES, AVRO_DECODER)
        step = "clean"
        article = clean_article(article)
        step = "templates"
        memory = TemplateMemory()
        for page in range(TEMPLATES.min_pages):  # the last copy meets its lines as templates
            copy = replace(article, url=f"https://fuzz.example/{page}", fetched_at=NOW_MS + page)
            stripped = learn_and_strip(copy, memory, TEMPLATES)
    except DataError as exc:
        return _dead_letter(payload, step, exc)
    exact_key(stripped.body)
    fingerprint(stripped.body, MINHASH)
    (entities,) = annotate(_nlp(), [stripped.body], 1)
    enriched = replace(
        stripped, entities=resolve_entities(entities), language=detect_language(stripped.body)
    )
    key, value, ref = kafka_outputs(enriched, VERSION)[0]
    line, datum = file_outputs(enriched, VERSION)
    in_file = decode(MAGIC + named_fingerprint(ENRICHED) + datum, ENRICHED)
    assert decode(value, ENRICHED)["id"] == enriched.id == key.decode("utf-8")
    assert json.loads(line)["id"] == enriched.id == in_file["id"]
    assert (ref, in_file["body"]) == (REF, enriched.body)
    return "article"


def _dead_letter(payload: bytes, step: str, exc: DataError) -> str:
    letter = to_dead_letter(payload, REF, step, exc)
    record = decode(dead_letter_message(letter, VERSION)[1], DEAD_LETTER)
    assert (record["payload"], record["error_code"]) == (payload, exc.code)
    assert dead_letter_twin(letter, VERSION)["error_code"] == exc.code
    return exc.code


@FUZZ
@given(HOSTILE)
def test_every_hostile_input_becomes_an_article_or_a_dead_letter(case):
    name, payload = case
    event(f"class: {name}")
    event(f"outcome: {through_the_pipeline(payload)}")


@settings(FUZZ, max_examples=min(EXAMPLES, 20_000))
@given(
    payload=st.binary(max_size=100),
    message=st.text(st.characters(), max_size=100),
    file_name=st.text(st.characters(), max_size=40),
    line=st.integers(min_value=1, max_value=2**62),
)
def test_a_dead_letter_always_encodes(payload, message, file_name, line):
    letter = to_dead_letter(payload, SourceRef(file=file_name, line=line), "x", ValueError(message))
    record = decode(dead_letter_message(letter, VERSION)[1], DEAD_LETTER)
    assert (record["payload"], record["line"], record["error_code"]) == (payload, line, "x_failed")
    json.dumps(dead_letter_twin(letter, VERSION), ensure_ascii=False).encode("utf-8")


def test_the_strategies_reach_the_hostile_classes():
    """The edges the fuzzing is about are really generated (not filtered away)."""
    assert through_the_pipeline(_nested(100_000, b"[")) == "too_deep"
    assert through_the_pipeline(_json_payload({"body": "a\udc00b"}, True)) == "bad_unicode"
    extreme = encode({"body": "x", "fetched_at": 2**62}, ARTICLE_EVENT)
    assert through_the_pipeline(extreme) in {"date_out_of_range", "bad_avro"}
    old = datetime(1, 1, 1, tzinfo=UTC) + timedelta(days=1)
    assert (
        through_the_pipeline(encode({"body": "x", "fetched_at": old}, ARTICLE_EVENT)) != "bad_date"
    )
