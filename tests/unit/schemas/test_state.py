"""schemas.state: how a state format evolves. A newer version reads what an older one wrote (Avro
resolution: an added field takes its default), the older one refuses the newer bytes."""

import re

import pytest
from fastavro import parse_schema

from schemas.errors import StateFormatError
from schemas.state import StateCodec, state_codec

V1 = parse_schema(
    {
        "type": "record",
        "name": "Sample",
        "namespace": "test.state",
        "fields": [{"name": "token", "type": "long"}, {"name": "note", "type": "string"}],
    }
)
# Version 2 adds a field with a default and drops ``note``.
V2 = parse_schema(
    {
        "type": "record",
        "name": "Sample",
        "namespace": "test.state",
        "fields": [
            {"name": "token", "type": "long"},
            {"name": "pages", "type": {"type": "array", "items": "string"}, "default": []},
        ],
    }
)


def test_a_newer_version_reads_what_the_older_wrote():
    old, new = StateCodec("sample", {1: V1}), StateCodec("sample", {1: V1, 2: V2})
    written = old.encode({"token": 7, "note": "from v1"})
    assert written[0] == 1
    assert new.decode(written) == {"token": 7, "pages": []}
    assert new.encode({"token": 7, "pages": ["a"]})[0] == 2


def test_the_older_version_refuses_the_newer_bytes_naming_both():
    old, new = StateCodec("sample", {1: V1}), StateCodec("sample", {1: V1, 2: V2})
    with pytest.raises(
        StateFormatError, match=r"sample state was written in format version 2.*\[1\]"
    ):
        old.decode(new.encode({"token": 7, "pages": []}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x00", "format version 0, which no newsflow wrote"),
        (b"\x01", "does not decode"),
        (b"\x01\x0e\x02ab", "bytes after its record"),
    ],
)
def test_bytes_it_did_not_write_are_refused(data, message):
    with pytest.raises(StateFormatError, match=message):
        StateCodec("sample", {1: V1}).decode(data)


def test_a_value_that_does_not_fit_is_refused_when_written():
    with pytest.raises(StateFormatError, match="does not fit"):
        StateCodec("sample", {1: V1}).encode({"token": "seven", "note": "x"})


def test_the_packaged_schemas_load_and_a_missing_version_is_a_clear_error():
    assert state_codec("article", 1).version == 1
    with pytest.raises(StateFormatError, match=re.escape("no schema state_article.v9.avsc")):
        state_codec("article", 9)
