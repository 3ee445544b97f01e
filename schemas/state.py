"""Versioned Avro encoding of what newsflow keeps in a runner's keyed state.

A savepoint holds state as bytes; only an encoding that does not depend on class layouts or module
paths lets it restore into code that was refactored since (pickle does not). Each kind of state
value has an Avro schema per format version, ``schemas/state_<name>.v<N>.avsc``, and is stored as
one version byte followed by Avro binary of that version's schema. Reading resolves an older
version's data into the current schema (Avro's rules: a field added with a default is filled in, a
removed one skipped), so a format change is a new ``.avsc`` file next to the old one, kept forever,
and a higher version number. Bytes of a version newer than the running code are refused with a
``StateFormatError`` naming both versions: such state needs the newer code, and guessing would
corrupt it.

Encoding is deterministic for equal records (Avro binary has no maps here; callers sort sets).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from typing import Any

import fastavro
from fastavro.schema import load_schema

from schemas.codec import SCHEMA_DIR
from schemas.errors import StateFormatError

MAX_VERSION = 255


class StateCodec:
    """One state value kind: ``schemas[version]`` is each readable format's parsed schema, the
    highest being the one written."""

    def __init__(self, name: str, schemas: Mapping[int, dict]) -> None:
        if not schemas or not all(0 < version <= MAX_VERSION for version in schemas):
            raise ValueError(f"state {name}: versions must be in 1..{MAX_VERSION}")
        self.name = name
        self.version = max(schemas)
        self._schemas = dict(schemas)
        self._current = self._schemas[self.version]

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The version byte, then the record in the current format."""
        out = io.BytesIO()
        out.write(bytes((self.version,)))
        try:
            fastavro.schemaless_writer(out, self._current, dict(record))
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise StateFormatError(f"{self.name} state does not fit its schema: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """The record in ``data``, resolved into the current format whatever version wrote it."""
        if not data:
            raise StateFormatError(f"{self.name} state is empty (no format version byte)")
        writer = self._schemas.get(data[0])
        if writer is None:
            raise StateFormatError(self._unknown(data[0]))
        stream = io.BytesIO(data)
        stream.seek(1)
        try:
            record = fastavro.schemaless_reader(stream, writer, self._current)
        except (ValueError, TypeError, KeyError, EOFError, IndexError) as exc:
            raise StateFormatError(
                f"{self.name} state of format version {data[0]} does not decode: {exc}"
            ) from exc
        if stream.tell() != len(data):
            raise StateFormatError(
                f"{self.name} state of format version {data[0]} has {len(data) - stream.tell()} "
                "bytes after its record"
            )
        return record

    def _unknown(self, version: int) -> str:
        if version > self.version:
            return (
                f"{self.name} state was written in format version {version}, by a newer newsflow; "
                f"this one reads versions {sorted(self._schemas)}: restore it with that newer "
                "version (or start without this state)"
            )
        return f"{self.name} state has format version {version}, which no newsflow wrote"


@cache
def state_codec(name: str, version: int) -> StateCodec:
    """The codec of ``schemas/state_<name>.v1.avsc`` up to ``.v<version>`` (each parsed once per
    process); versions without a file are skipped, the written one must exist."""
    schemas = {
        n: load_schema(str(path))
        for n in range(1, version + 1)
        if (path := SCHEMA_DIR / f"state_{name}.v{n}.avsc").exists()
    }
    if version not in schemas:
        raise StateFormatError(f"no schema state_{name}.v{version}.avsc in {SCHEMA_DIR}")
    return StateCodec(name, schemas)
