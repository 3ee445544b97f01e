"""The Confluent wire format and the schema-registry calls it needs.

A Confluent-framed value is ``00``, the writer schema's registry id as 4 bytes big-endian, then
Avro binary: what Confluent's, Apicurio's and most other Kafka Avro serializers write and read.
Schemas are registered under ``<topic>-value`` (TopicNameStrategy) through the Confluent-compatible
REST API (``/apis/ccompat/v7`` on Apicurio), once, before the job starts: workers only frame bytes
with the id they were given and never call the registry on the write path.

Reading goes the other way: ``AvroValueDecoder`` decodes a single-object message by fingerprint
(``schemas.codec``) or a Confluent-framed one by asking the registry for the writer schema of its id
(cached per process), then resolves it into the reader schema.
"""

from __future__ import annotations

import io
import json
import struct
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fastavro
from fastavro.schema import parse_schema

from schemas.codec import (
    ARTICLE_EVENT,
    DEAD_LETTER,
    ENRICHED,
    SCHEMA_DIR,
    decode,
    encode,
    load_schema,
)
from schemas.codec import MAGIC as SINGLE_OBJECT_MAGIC
from schemas.errors import CodecError, ConfigurationError, InfrastructureError

CONFLUENT_MAGIC = b"\x00"
CONFLUENT_HEADER_LEN = 5
REGISTRY_TIMEOUT_SECONDS = 10.0
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(InfrastructureError):
    """The schema registry is unreachable or answered with an error."""

    code = "schema_registry"


class IncompatibleSchemaError(ConfigurationError):
    """The registry's compatibility rule refuses this schema for the subject."""

    code = "incompatible_schema"


def is_confluent(data: bytes) -> bool:
    """True for bytes that start like a Confluent-framed value (``00`` + 4-byte id + Avro)."""
    return len(data) > CONFLUENT_HEADER_LEN and data[:1] == CONFLUENT_MAGIC


def is_avro_framed(data: bytes) -> bool:
    """True when ``data`` carries Avro in one of the two framings newsflow reads (a JSON event
    starts with ``{`` or whitespace, never with ``00`` or ``C3 01``)."""
    return data[:2] == SINGLE_OBJECT_MAGIC or is_confluent(data)


def frame(schema_id: int, avro_binary: bytes) -> bytes:
    """Avro binary as a Confluent-framed value."""
    return CONFLUENT_MAGIC + struct.pack(">I", schema_id) + avro_binary


def unframe(data: bytes) -> tuple[int, bytes]:
    """``(schema id, Avro binary)`` of a Confluent-framed value; CodecError if it is not one."""
    if not is_confluent(data):
        raise CodecError("not a Confluent-framed Avro value (missing 00 + 4-byte schema id)")
    return struct.unpack(">I", data[1:CONFLUENT_HEADER_LEN])[0], data[CONFLUENT_HEADER_LEN:]


def subject_for(topic: str) -> str:
    """TopicNameStrategy: the value schema of ``topic`` lives under ``<topic>-value``."""
    return f"{topic}-value"


@dataclass
class RegistryClient:
    """The few calls of the Confluent-compatible registry API newsflow needs (stdlib HTTP only)."""

    url: str
    timeout_seconds: float = REGISTRY_TIMEOUT_SECONDS
    _by_id: dict[int, dict] = field(default_factory=dict, repr=False)

    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` (Avro schema JSON text) under ``subject``; return its id.

        The registry's compatibility rule is asked first, so an incompatible change fails here
        (IncompatibleSchemaError) and nothing is registered; the same schema again returns the
        existing id, a compatible evolution becomes a new version."""
        body = {"schema": schema}
        quoted = urllib.parse.quote(subject, safe="")
        check = self._call(
            "POST", f"/compatibility/subjects/{quoted}/versions/latest?verbose=true", body, {404}
        )
        if check is not None and not check.get("is_compatible", False):
            reasons = "; ".join(check.get("messages") or []) or (
                "a compatible change only adds optional fields with defaults"
            )
            raise IncompatibleSchemaError(
                f"schema {json.loads(schema).get('name')} is not compatible with the latest "
                f"version of subject {subject!r} at {self.url}: {reasons}"
            )
        return int(self._call("POST", f"/subjects/{quoted}/versions", body)["id"])

    def schema(self, schema_id: int) -> dict:
        """The parsed writer schema with this id (asked once per process)."""
        if schema_id not in self._by_id:
            answer = self._call("GET", f"/schemas/ids/{schema_id}", None, {404})
            if answer is None:
                raise CodecError(f"schema id {schema_id} is unknown to the registry at {self.url}")
            self._by_id[schema_id] = parse_schema(json.loads(answer["schema"]))
        return self._by_id[schema_id]

    def _call(self, method: str, path: str, body: Any, absent: frozenset | set = frozenset()):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.url.rstrip("/") + path,
            data=data,
            method=method,
            headers={"Content-Type": _CONTENT_TYPE, "Accept": _CONTENT_TYPE},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code in absent:
                return None
            detail = exc.read().decode("utf-8", errors="replace")[:300]
            if exc.code == 409:
                raise IncompatibleSchemaError(
                    f"the registry at {self.url} refused {method} {path}: {detail}"
                ) from exc
            raise RegistryError(
                f"schema registry {self.url}: {method} {path} -> HTTP {exc.code}: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryError(f"schema registry {self.url} unreachable: {exc}") from exc


@dataclass(frozen=True)
class ValueEncoder:
    """Encodes the records of one topic: Confluent-framed with ``schema_id`` when the schema was
    registered, else single-object Avro. Picklable, so Beam ships it to workers as it is."""

    schema: str
    schema_id: int | None = None

    def __call__(self, record: Mapping[str, Any]) -> bytes:
        if self.schema_id is None:
            return encode(record, self.schema)
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(
                out, load_schema(self.schema), dict(record), strict_allow_default=True
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise CodecError(f"record does not fit {self.schema}: {exc}") from exc
        return frame(self.schema_id, out.getvalue())


def registered_encoder(registry_url: str, topic: str, schema: str) -> ValueEncoder:
    """Register ``schemas/<schema>.avsc`` for ``topic``'s values and return its encoder."""
    text = (SCHEMA_DIR / f"{schema}.avsc").read_text(encoding="utf-8")
    schema_id = RegistryClient(registry_url).register(subject_for(topic), text)
    return ValueEncoder(schema, schema_id)


@dataclass
class AvroValueDecoder:
    """Decodes Avro values of either framing into the ``reader`` schema (a newsflow schema name).

    A Confluent-framed value needs ``registry_url``; without one it is a CodecError naming the
    flag, so the input is dead-lettered with that hint rather than guessed at."""

    reader: str
    registry_url: str | None = None
    _client: RegistryClient | None = field(default=None, init=False, repr=False)

    def __call__(self, data: bytes) -> dict[str, Any]:
        if not is_confluent(data):
            return decode(data, self.reader)
        return read_confluent(data, self._registry(), load_schema(self.reader))[1]

    def _registry(self) -> RegistryClient:
        if self.registry_url is None:
            raise CodecError(
                "Confluent-framed Avro value but no schema registry: pass --schema-registry-url"
            )
        if self._client is None:
            self._client = RegistryClient(self.registry_url)
        return self._client


def read_confluent(
    data: bytes, client: RegistryClient, reader: Mapping | None = None
) -> tuple[dict, dict[str, Any]]:
    """``(writer schema, record)`` of a Confluent-framed value, resolved into ``reader`` if any."""
    schema_id, body = unframe(data)
    writer = client.schema(schema_id)
    try:
        return writer, fastavro.schemaless_reader(io.BytesIO(body), writer, reader)
    except (EOFError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise CodecError(f"corrupt Confluent-framed value (schema id {schema_id}): {exc}") from exc


def decode_confluent_any(data: bytes, client: RegistryClient) -> tuple[str, dict[str, Any]]:
    """A Confluent-framed newsflow record, telling its schema by the writer schema's full name."""
    writer, record = read_confluent(data, client)
    names = {load_schema(n)["name"]: n for n in (ENRICHED, DEAD_LETTER, ARTICLE_EVENT)}
    return names.get(writer.get("name"), str(writer.get("name"))), record
