"""Confluent wire format: framing, detection, and the routing of framed input events."""

import io

import fastavro
import pytest

from schemas.codec import ARTICLE_EVENT, ENRICHED, encode, load_schema
from schemas.confluent import (
    AvroValueDecoder,
    ValueEncoder,
    frame,
    is_avro_framed,
    is_confluent,
    unframe,
)
from schemas.errors import CodecError, InvalidEventError
from transforms.text.event import decode_event
from transforms.text.models import RawEvent, SourceRef

EVENT = {"id": "e1", "body": "A plain body.", "content_type": "text/plain"}


def test_frame_is_magic_zero_big_endian_id_then_avro():
    framed = frame(258, b"avro")
    assert framed == b"\x00\x00\x00\x01\x02avro"
    assert unframe(framed) == (258, b"avro")


@pytest.mark.parametrize(
    ("payload", "confluent", "avro"),
    [
        (b"\x00\x00\x00\x00\x07\x02", True, True),
        (b"\xc3\x01" + bytes(8) + b"\x02", False, True),
        (b'{"body": "x"}', False, False),
        (b"\x00\x00\x00", False, False),
        (b"", False, False),
    ],
)
def test_framing_detection(payload, confluent, avro):
    assert is_confluent(payload) is confluent
    assert is_avro_framed(payload) is avro


def test_unframe_rejects_unframed_bytes():
    with pytest.raises(CodecError, match="Confluent-framed"):
        unframe(b'{"body": "x"}')


def test_value_encoder_without_id_is_single_object_encoding():
    record = {"id": "e1", "body": "b"}
    assert ValueEncoder(ARTICLE_EVENT)(record) == encode(record, ARTICLE_EVENT)


def test_value_encoder_with_id_frames_plain_avro_binary():
    value = ValueEncoder(ARTICLE_EVENT, 7)(EVENT)
    schema_id, body = unframe(value)
    assert schema_id == 7
    decoded = fastavro.schemaless_reader(io.BytesIO(body), load_schema(ARTICLE_EVENT))
    assert decoded["body"] == EVENT["body"]


def test_value_encoder_names_the_schema_a_record_does_not_fit():
    with pytest.raises(CodecError, match=ENRICHED):
        ValueEncoder(ENRICHED, 1)({"id": 3})


def test_framed_event_without_a_registry_is_a_data_error_naming_the_flag():
    raw = RawEvent(ValueEncoder(ARTICLE_EVENT, 1)(EVENT), SourceRef("t", 0, 5), 1000)
    with pytest.raises(InvalidEventError, match="--schema-registry-url") as caught:
        decode_event(raw, 0, avro_decoder=AvroValueDecoder(ARTICLE_EVENT))
    assert caught.value.code == "bad_avro"


def test_single_object_event_still_decodes_without_a_registry():
    raw = RawEvent(encode(EVENT, ARTICLE_EVENT), SourceRef("t", 0, 5), 1000)
    article = decode_event(raw, 0, avro_decoder=AvroValueDecoder(ARTICLE_EVENT))
    assert (article.id, article.raw_body) == ("e1", "A plain body.")
