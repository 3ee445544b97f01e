"""Avro codecs for newsflow's topics and files.

Kafka values use Avro single-object encoding (``C3 01``, the writer schema's 8-byte little-endian
CRC-64-AVRO fingerprint, then Avro binary) so a consumer holding the ``.avsc`` files can check which
schema wrote a message and decode it without a registry. ``decode`` resolves the writer schema found
by fingerprint against the caller's reader schema, which is what lets old and new schema versions
read each other's data.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
from fastavro.schema import load_schema as _load_avsc

from schemas.errors import CodecError, ConfigurationError

SCHEMA_DIR = Path(__file__).resolve().parent
MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8

ENRICHED = "enriched_article"
DEAD_LETTER = "dead_letter"
ARTICLE_EVENT = "article_event"
STORY_ALIAS = "story_alias"


@cache
def load_schema(name: str) -> dict:
    """Parse ``schemas/<name>.avsc`` once per process (parsing is slow and schemas never change)."""
    path = SCHEMA_DIR / f"{name}.avsc"
    if not path.exists():
        raise ConfigurationError(f"no schema {name!r} in {SCHEMA_DIR}", code="schema_missing")
    return _load_avsc(str(path))


def schema_fingerprint(schema: Mapping) -> bytes:
    """CRC-64-AVRO of the parsing canonical form, in the byte order single-object encoding uses."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


@cache
def named_fingerprint(name: str) -> bytes:
    """The fingerprint of ``schemas/<name>.avsc``, computed once per process: fastavro's CRC-64 is
    pure Python and took more time than the Avro encoding of a record itself."""
    return schema_fingerprint(load_schema(name))


def _fingerprint(schema: Mapping | str) -> bytes:
    return named_fingerprint(schema) if isinstance(schema, str) else schema_fingerprint(schema)


def encode(record: Mapping[str, Any], schema: Mapping | str) -> bytes:
    """One record as a single-object Avro message."""
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(_fingerprint(schema))
    _write_datum(out, record, schema)
    return out.getvalue()


def encode_datum(record: Mapping[str, Any], schema: Mapping | str) -> bytes:
    """One record in Avro binary, no header: what a container file's block holds."""
    out = io.BytesIO()
    _write_datum(out, record, schema)
    return out.getvalue()


def _write_datum(out: BinaryIO, record: Mapping[str, Any], schema: Mapping | str) -> None:
    parsed = load_schema(schema) if isinstance(schema, str) else schema
    try:
        fastavro.schemaless_writer(out, parsed, dict(record), strict_allow_default=True)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise CodecError(f"record does not fit {parsed.get('name')}: {exc}") from exc


def decode(data: bytes, reader: Mapping | str, writers: Iterable[Mapping] = ()) -> dict[str, Any]:
    """Decode a single-object message written with ``reader`` or any of ``writers`` (older or newer
    versions of it), resolving the writer's data into the reader schema."""
    parsed_reader = load_schema(reader) if isinstance(reader, str) else reader
    if len(data) < HEADER_LEN or data[:2] != MAGIC:
        raise CodecError("not an Avro single-object message (missing C3 01 header)")
    known = {schema_fingerprint(s): s for s in writers}
    known[_fingerprint(reader)] = parsed_reader
    writer = known.get(data[2:HEADER_LEN])
    if writer is None:
        raise CodecError(f"unknown writer schema fingerprint {data[2:HEADER_LEN].hex()}")
    try:
        return fastavro.schemaless_reader(io.BytesIO(data[HEADER_LEN:]), writer, parsed_reader)
    except (EOFError, ValueError, TypeError, IndexError, OverflowError) as exc:
        raise CodecError(f"corrupt {writer.get('name')} message: {exc}") from exc


def write_container(fo: BinaryIO, records: Iterable[Mapping[str, Any]], schema: str) -> None:
    """Avro object container file (schema in the header), readable by any Avro reader."""
    fastavro.writer(fo, load_schema(schema), records, codec="deflate")


def read_container(fo: BinaryIO) -> list[dict[str, Any]]:
    """All records of a container file, with the writer schema taken from the file header."""
    return list(fastavro.reader(fo))


def decode_any(data: bytes) -> tuple[str, dict[str, Any]]:
    """Decode a message of any newsflow schema, telling which one by its fingerprint."""
    for name in (ENRICHED, DEAD_LETTER, ARTICLE_EVENT, STORY_ALIAS):
        if data[2:HEADER_LEN] == named_fingerprint(name):
            return name, decode(data, name)
    raise CodecError(f"no newsflow schema has fingerprint {data[2:HEADER_LEN].hex()}")
