"""Single-object encoding, fingerprints, container files and schema evolution."""

import copy
import io
import struct

import fastavro
import pytest

from schemas.codec import (
    DEAD_LETTER,
    ENRICHED,
    MAGIC,
    STORY_ALIAS,
    CodecError,
    decode,
    decode_any,
    encode,
    load_schema,
    read_container,
    schema_fingerprint,
    write_container,
)

ENRICHED_RECORD = {
    "id": "a1",
    "url": "https://example.org/a1",
    "source": "feed",
    "title": "Title",
    "byline": "By Someone",
    "published_at": 1490486400000,
    "fetched_at": 1490522400000,
    "language": "en",
    "body": "Amber Rudd spoke.\n\nSecond paragraph.",
    "word_count": 5,
    "entities": [
        {"text": "Amber Rudd", "label": "PERSON", "start": 0, "end": 10, "canonical": "Amber Rudd"}
    ],
    "boilerplate": [{"kind": "lorem_ipsum", "start": 40, "end": 60, "text": "Etiam at libero"}],
    "content_hash": "ab" * 32,
    "duplicate_of": None,
    "kafka": {"topic": "articles.raw", "partition": 2, "offset": 41},
    "processed_at": 1490522401000,
    "pipeline_version": "0.1.0",
    "entity_summary": [{"text": "Amber Rudd", "label": "PERSON", "count": 1}],
}


def crc64_avro(data: bytes) -> int:
    """The Avro specification's reference CRC-64-AVRO, written out independently of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_single_object_header_is_magic_plus_little_endian_spec_fingerprint():
    canonical = fastavro.schema.to_parsing_canonical_form(load_schema(ENRICHED))
    message = encode(ENRICHED_RECORD, ENRICHED)
    assert message[:2] == MAGIC == b"\xc3\x01"
    assert message[2:10] == struct.pack("<Q", crc64_avro(canonical.encode()))


def test_round_trip_keeps_every_field():
    decoded = decode(encode(ENRICHED_RECORD, ENRICHED), ENRICHED)
    assert decoded["entities"] == ENRICHED_RECORD["entities"]
    assert decoded["entity_summary"] == ENRICHED_RECORD["entity_summary"]
    assert decoded["kafka"] == ENRICHED_RECORD["kafka"]
    assert int(decoded["fetched_at"].timestamp() * 1000) == ENRICHED_RECORD["fetched_at"]


def test_decode_any_tells_schemas_apart():
    letter = {
        "error_code": "not_json",
        "message": "payload is not JSON",
        "step": "decode",
        "payload": b"\xff{",
        "failed_at": 1,
        "pipeline_version": "0.1.0",
    }
    assert decode_any(encode(letter, DEAD_LETTER))[0] == DEAD_LETTER
    assert decode_any(encode(ENRICHED_RECORD, ENRICHED))[0] == ENRICHED


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "missing C3 01"),
        (b'{"id": 1}', "missing C3 01"),
        (MAGIC + b"\x00" * 8 + b"\x02", "unknown writer schema"),
    ],
)
def test_bad_messages_raise_codec_error(data, reason):
    with pytest.raises(CodecError, match=reason):
        decode(data, ENRICHED)


def test_truncated_message_raises_codec_error():
    with pytest.raises(CodecError, match="corrupt"):
        decode(encode(ENRICHED_RECORD, ENRICHED)[:30], ENRICHED)


def test_record_missing_required_field_raises_codec_error():
    broken = {k: v for k, v in ENRICHED_RECORD.items() if k != "body"}
    with pytest.raises(CodecError):
        encode(broken, ENRICHED)


def evolved_enriched() -> dict:
    """Tomorrow's schema: today's plus an optional field with a default."""
    schema = copy.deepcopy(load_schema(ENRICHED))
    schema["fields"].append({"name": "summary", "type": ["null", "string"], "default": None})
    return fastavro.parse_schema(schema)


def test_old_writer_new_reader_fills_the_default():
    new = evolved_enriched()
    old_message = encode(ENRICHED_RECORD, ENRICHED)
    decoded = decode(old_message, new, writers=[load_schema(ENRICHED)])
    assert decoded["summary"] is None
    assert decoded["id"] == "a1"


def test_new_writer_old_reader_ignores_the_new_field():
    new = evolved_enriched()
    new_message = encode({**ENRICHED_RECORD, "summary": "short"}, new)
    decoded = decode(new_message, ENRICHED, writers=[new])
    assert "summary" not in decoded
    assert decoded["body"] == ENRICHED_RECORD["body"]


def test_new_reader_rejects_old_writer_it_was_not_told_about():
    with pytest.raises(CodecError, match="unknown writer schema"):
        decode(encode(ENRICHED_RECORD, ENRICHED), evolved_enriched())


def test_fingerprint_changes_when_the_schema_changes():
    assert schema_fingerprint(load_schema(ENRICHED)) != schema_fingerprint(evolved_enriched())


def test_container_file_is_readable_by_plain_fastavro():
    buffer = io.BytesIO()
    write_container(buffer, [ENRICHED_RECORD, {**ENRICHED_RECORD, "id": "a2"}], ENRICHED)
    buffer.seek(0)
    assert [r["id"] for r in fastavro.reader(buffer)] == ["a1", "a2"]
    buffer.seek(0)
    assert read_container(buffer)[1]["id"] == "a2"


def before_entity_resolution() -> dict:
    """The schema as first published: no ``Entity.canonical``, no ``entity_summary``."""
    schema = copy.deepcopy(load_schema(ENRICHED))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "entity_summary"]
    entity = next(f for f in schema["fields"] if f["name"] == "entities")["type"]["items"]
    entity["fields"] = [f for f in entity["fields"] if f["name"] != "canonical"]
    return fastavro.parse_schema(schema)


def test_records_of_the_first_schema_read_with_defaults():
    old = before_entity_resolution()
    record = {k: v for k, v in ENRICHED_RECORD.items() if k != "entity_summary"}
    record["entities"] = [
        {k: v for k, v in e.items() if k != "canonical"} for e in record["entities"]
    ]
    decoded = decode(encode(record, old), ENRICHED, writers=[old])
    assert decoded["entity_summary"] is None
    assert decoded["entities"][0]["canonical"] is None


def test_first_schema_readers_skip_the_entity_fields():
    old = before_entity_resolution()
    decoded = decode(encode(ENRICHED_RECORD, ENRICHED), old, writers=[load_schema(ENRICHED)])
    assert "entity_summary" not in decoded
    assert decoded["entities"] == [{"text": "Amber Rudd", "label": "PERSON", "start": 0, "end": 10}]


def without_field(name: str) -> dict:
    """The schema as it was before top-level field ``name`` was added."""
    schema = copy.deepcopy(load_schema(ENRICHED))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != name]
    return fastavro.parse_schema(schema)


# Top-level fields added after the first schema, and a value each can hold.
ADDED_FIELDS = [("comments", "Reader One: well said."), ("story_id", "s-0123")]


@pytest.mark.parametrize("name, value", ADDED_FIELDS)
def test_records_written_before_a_field_read_with_its_null_default(name, value):
    old = without_field(name)
    decoded = decode(encode(ENRICHED_RECORD, old), ENRICHED, writers=[old])
    assert decoded[name] is None
    assert decoded["body"] == ENRICHED_RECORD["body"]


@pytest.mark.parametrize("name, value", ADDED_FIELDS)
def test_readers_from_before_a_field_skip_it(name, value):
    record = {**ENRICHED_RECORD, name: value}
    decoded = decode(encode(record, ENRICHED), without_field(name), writers=[load_schema(ENRICHED)])
    assert name not in decoded
    assert decoded["body"] == ENRICHED_RECORD["body"]
    assert decode(encode(record, ENRICHED), ENRICHED)[name] == value


def test_story_alias_round_trip_and_is_told_apart():
    alias = {"story_id": "s-old", "alias_of": "s-new", "revealed_at": 1490522400000}
    name, decoded = decode_any(encode(alias, STORY_ALIAS))
    assert name == STORY_ALIAS
    assert (decoded["story_id"], decoded["alias_of"]) == ("s-old", "s-new")
