"""Beam coders for every value newsflow keeps in a runner's keyed state, and for the Kafka
source's checkpointed restriction and watermark: explicit and versioned, never pickle.

A Flink savepoint stores state as the bytes these coders wrote. Pickled state names classes by
module path and layout, so it restores only into code where nothing moved; these write a format
version byte and Avro binary of ``schemas/state_<name>.v<N>.avsc`` (``schemas.state``), which
any later version reads (an older format is resolved into the current one) and an older version
refuses with a clear error. Golden bytes of each format are in ``tests/data/state/``.

Primitives in state keep Beam's standard coders (``VarIntCoder``, ``BytesCoder``): their formats
are fixed by the Beam model across SDKs and versions. Keys are strings or tuples of strings and
ints, whose coders Beam infers from the steps' type hints; all are deterministic, as keyed state
and timers require.
"""

from __future__ import annotations

import struct
from dataclasses import fields
from typing import Any, ClassVar

from apache_beam.coders import Coder
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import WatermarkEstimatorProvider
from apache_beam.utils.timestamp import Timestamp

from schemas.state import StateCodec, state_codec
from transforms.text import body_ranges
from transforms.text.fingerprint import Fingerprint
from transforms.text.index_slices import IndexVersion
from transforms.text.models import Article, Entity, SourceRef, Span
from transforms.text.story_terms import Terms
from transforms.text.template_memory import TemplateMemory, TemplateVersion

# Marks the carried value in a buffering step's pending bag, where element timestamps (ints) are.
CARRIED = "carried"


class VersionedCoder(Coder):
    """A format version byte, then Avro binary of ``schemas/state_<NAME>.v<VERSION>.avsc``;
    subclasses turn values into records and back."""

    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def encode(self, value: Any) -> bytes:
        return self.codec().encode(self.to_record(value))

    def decode(self, encoded: bytes) -> Any:
        return self.from_record(self.codec().decode(encoded))

    def codec(self) -> StateCodec:
        return state_codec(self.NAME, self.VERSION)

    def is_deterministic(self) -> bool:
        return True

    def to_record(self, value: Any) -> dict[str, Any]:
        raise NotImplementedError

    def from_record(self, record: dict[str, Any]) -> Any:
        raise NotImplementedError


def _floor_record(floor: tuple[tuple[str, int, int], ...] | None) -> list[dict] | None:
    if floor is None:
        return None
    return [{"topic": t, "partition": p, "offset": o} for t, p, o in floor]


def _floor(record: list[dict] | None) -> tuple[tuple[str, int, int], ...] | None:
    if record is None:
        return None
    return tuple((r["topic"], r["partition"], r["offset"]) for r in record)


class ArticleCoder(VersionedCoder):
    """An ``Article``, every field (a pending article goes on downstream after its flush).
    Version 2 adds ``story_id``. Version 3 stores no text twice: the clean body as offsets into
    the raw body where its paragraphs are found there verbatim (``body_ranges``), and a removed
    span's text as null where it is the raw body's own ``[start, end)``; the article decodes
    identical. A pending article then costs about its raw body instead of twice it."""

    NAME = "article"
    VERSION = 3

    def to_record(self, value: Article) -> dict[str, Any]:
        record = {f.name: getattr(value, f.name) for f in fields(Article)}
        ref = {f.name: getattr(value.ref, f.name) for f in fields(SourceRef)}
        ref["output_floor"] = _floor_record(value.ref.output_floor)
        record["ref"] = ref
        raw = value.raw_body
        record["boilerplate"] = [
            {**vars(span), "text": None if raw[span.start : span.end] == span.text else span.text}
            for span in value.boilerplate
        ]
        record["entities"] = [vars(entity) for entity in value.entities]
        ranges = body_ranges.locate(value.body, raw)
        record["body_ranges"] = None if ranges is None else list(ranges)
        if ranges is not None:
            record["body"] = None
        return record

    def from_record(self, record: dict[str, Any]) -> Article:
        ref, raw = record["ref"], record["raw_body"]
        ranges = record.pop("body_ranges", None)
        body = record["body"] if ranges is None else body_ranges.rebuild(ranges, raw)
        return Article(
            **{
                **record,
                "body": body,
                "ref": SourceRef(**{**ref, "output_floor": _floor(ref["output_floor"])}),
                "boilerplate": tuple(_span(span, raw) for span in record["boilerplate"]),
                "entities": tuple(Entity(**entity) for entity in record["entities"]),
            }
        )

    def to_type_hint(self):
        return Article


def _span(record: dict[str, Any], raw: str) -> Span:
    text = record["text"]
    start, end = record["start"], record["end"]
    return Span(record["kind"], start, end, raw[start:end] if text is None else text)


class FingerprintedCoder(VersionedCoder):
    """``(article, fingerprint)``: what waits in the dedup shard's pending bag."""

    NAME = "fingerprinted"

    def to_record(self, value: tuple[Article, Fingerprint]) -> dict[str, Any]:
        article, fp = value
        return {
            "article": ArticleCoder().encode(article),
            "signature": fp.signature,
            "bands": struct.pack(f"<{len(fp.bands)}Q", *fp.bands),
            "shingle_count": fp.shingle_count,
        }

    def from_record(self, record: dict[str, Any]) -> tuple[Article, Fingerprint]:
        bands = record["bands"]
        fp = Fingerprint(
            record["signature"],
            struct.unpack(f"<{len(bands) // 8}Q", bands),
            record["shingle_count"],
        )
        return ArticleCoder().decode(record["article"]), fp

    def to_type_hint(self):
        return tuple[Article, Fingerprint]


class StoryTermsCoder(VersionedCoder):
    """``(article, terms)``: what waits in the stories shard's pending bag."""

    NAME = "story_terms"

    def to_record(self, value: tuple[Article, Terms]) -> dict[str, Any]:
        article, terms = value
        features = (terms.title, terms.body, terms.entities)
        return {
            "article": ArticleCoder().encode(article),
            "features": [[{"term": t, "count": n} for t, n in sorted(f.items())] for f in features],
            "at_ms": terms.at,
        }

    def from_record(self, record: dict[str, Any]) -> tuple[Article, Terms]:
        title, body, entities = ({t["term"]: t["count"] for t in f} for f in record["features"])
        terms = Terms(title=title, body=body, entities=entities, at=record["at_ms"])
        return ArticleCoder().decode(record["article"]), terms

    def to_type_hint(self):
        return tuple[Article, Terms]


class PendingCoder(VersionedCoder):
    """A buffering step's pending bag item: ``(micros, element)`` waiting for the watermark, or
    ``(CARRIED, value)``, the key's running value; each part in its own coder's format."""

    NAME = "pending"

    def __init__(self, element: Coder, carried: Coder) -> None:
        self._element = element
        self._carried = carried

    def to_record(self, value: tuple[int | str, Any]) -> dict[str, Any]:
        mark, item = value
        if mark == CARRIED:
            return {"at_micros": None, "value": self._carried.encode(item)}
        return {"at_micros": mark, "value": self._element.encode(item)}

    def from_record(self, record: dict[str, Any]) -> tuple[int | str, Any]:
        if record["at_micros"] is None:
            return CARRIED, self._carried.decode(record["value"])
        return record["at_micros"], self._element.decode(record["value"])

    def is_deterministic(self) -> bool:
        return self._element.is_deterministic() and self._carried.is_deterministic()


class IndexVersionCoder(VersionedCoder):
    """The dedup shard's ``IndexVersion``. Format 1, ``(token, entries in the one index bag)``,
    reads as slice width 0 and no slices: the step then reads the legacy bag and moves its
    entries into the time-sliced bags."""

    NAME = "index_version"
    VERSION = 2

    def to_record(self, value: IndexVersion) -> dict[str, Any]:
        return {"token": value.token, "slice_ms": value.slice_ms, "slices": list(value.slices)}

    def from_record(self, record: dict[str, Any]) -> IndexVersion:
        return IndexVersion(record["token"], record["slice_ms"], tuple(record["slices"]))

    def to_type_hint(self):
        return IndexVersion


class BagVersionCoder(VersionedCoder):
    """The story shard's state version ``(token, records in its one bag)`` (``VersionedBag``)."""

    NAME = "bag_version"

    def to_record(self, value: tuple[int, int]) -> dict[str, Any]:
        return {"token": value[0], "records": value[1]}

    def from_record(self, record: dict[str, Any]) -> tuple[int, int]:
        return record["token"], record["records"]

    def to_type_hint(self):
        return tuple[int, int]


class TemplateStateCoder(VersionedCoder):
    """What a templates key carries in its pending bag. Format 2: its ``TemplateVersion`` (the
    lines are records in their own bag, ``transforms.text.template_memory``). Format 1 was the
    source's whole ``TemplateMemory`` (hex keys, page URLs), rewritten at every flush: it decodes
    to that memory, converted (``TemplateMemory.from_legacy``), which the step then writes to the
    records bag. The name stays ``template_memory``: the version byte is what tells them apart."""

    NAME = "template_memory"
    VERSION = 2

    def decode(self, encoded: bytes) -> TemplateVersion | TemplateMemory:
        if encoded[:1] != b"\x01":
            return super().decode(encoded)
        record = state_codec(self.NAME, 1).decode(encoded)
        return TemplateMemory.from_legacy(
            (line["key"], line["pages"], line["last_seen_ms"]) for line in record["lines"]
        )

    def to_record(self, value: TemplateVersion) -> dict[str, Any]:
        token, records = value.bag
        return {"token": token, "records": records, "forgot_before_ms": value.forgot_before_ms}

    def from_record(self, record: dict[str, Any]) -> TemplateVersion:
        return TemplateVersion((record["token"], record["records"]), record["forgot_before_ms"])

    def to_type_hint(self):
        return TemplateVersion


class CommitWaitingCoder(VersionedCoder):
    """A partition's written spans waiting behind a hole: ``{start: (end, output floor)}``."""

    NAME = "commit_waiting"

    def to_record(self, value: dict) -> dict[str, Any]:
        return {
            "spans": [
                {"start": start, "end": end, "floor": _floor_record(floor)}
                for start, (end, floor) in sorted(value.items())
            ]
        }

    def from_record(self, record: dict[str, Any]) -> dict:
        return {span["start"]: (span["end"], _floor(span["floor"])) for span in record["spans"]}

    def to_type_hint(self):
        return dict


class SinksCoder(VersionedCoder):
    """The sinks that acknowledged one input, a ``frozenset`` of names."""

    NAME = "sinks"

    def to_record(self, value: frozenset[str]) -> dict[str, Any]:
        return {"sinks": sorted(value)}

    def from_record(self, record: dict[str, Any]) -> frozenset[str]:
        return frozenset(record["sinks"])

    def to_type_hint(self):
        return frozenset


class OffsetRangeCoder(VersionedCoder):
    """The Kafka source's restriction, checkpointed with a split or a deferred remainder."""

    NAME = "offset_range"

    def to_record(self, value: OffsetRange) -> dict[str, Any]:
        return {"start": value.start, "stop": value.stop}

    def from_record(self, record: dict[str, Any]) -> OffsetRange:
        return OffsetRange(record["start"], record["stop"])

    def to_type_hint(self):
        return OffsetRange


class WatermarkStateCoder(VersionedCoder):
    """The Kafka source's manual watermark estimator state: a ``Timestamp`` or None."""

    NAME = "watermark"

    def to_record(self, value: Timestamp | None) -> dict[str, Any]:
        return {"micros": None if value is None else value.micros}

    def from_record(self, record: dict[str, Any]) -> Timestamp | None:
        return None if record["micros"] is None else Timestamp(micros=record["micros"])


class ManualWatermarks(WatermarkEstimatorProvider):
    """Beam's ``ManualWatermarkEstimator``, its state checkpointed by ``WatermarkStateCoder``
    (Beam's default provider pickles it)."""

    def initial_estimator_state(self, element: Any, restriction: Any) -> None:
        return None

    def create_watermark_estimator(self, estimator_state: Timestamp | None):
        return ManualWatermarkEstimator(estimator_state)

    def estimator_state_coder(self) -> Coder:
        return WatermarkStateCoder()
