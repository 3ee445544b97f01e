"""Plain data passed between newsflow steps.

Every type here is a frozen dataclass of builtins so it pickles the same on every runner and can
be built by hand in a unit test. Times are epoch milliseconds (UTC) throughout; only the codecs turn
them into Avro ``timestamp-millis`` or ISO-8601 strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceRef:
    """Where an input came from: Kafka coordinates, or a file and 1-based line number.

    ``span_start`` is the first offset of the stretch this record accounts for: the reader's
    position before it, so offsets a partition skips (compaction, transaction markers) belong to
    the next record, and committing "every span written" never leaves a hole."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    file: str | None = None
    line: int | None = None
    span_start: int | None = field(default=None, compare=False)
    # Output topics' end offsets, (topic, partition, offset), sampled before this input was read:
    # every output of it lies at or after them (see transforms/io/recovery.py).
    output_floor: tuple[tuple[str, int, int], ...] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.topic is not None:
            return f"{self.topic}/{self.partition}@{self.offset}"
        if self.file is not None:
            return f"{self.file}:{self.line}"
        return "<unknown>"

    @property
    def position(self) -> tuple[int, int]:
        """Input order used to break ties between copies fetched at the same millisecond."""
        return (self.partition or 0, self.offset if self.offset is not None else self.line or 0)


@dataclass(frozen=True)
class RawEvent:
    """One undecoded input: the message value and what the transport knows about it.

    ``absent``: not a record but offsets ``[ref.span_start, ref.offset]`` that hold none
    (``transforms/io/offset_gaps.py``): ``DELETED``, deleted by the topic before the reader got
    to them (one input, ending in a dead letter), or ``SKIPPED``, a partition's trailing
    transaction markers or compacted records (nothing to process: only their span to commit).
    None for a record."""

    payload: bytes
    ref: SourceRef
    timestamp_ms: int | None = None
    key: bytes | None = None
    absent: str | None = None


DELETED = "deleted"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Span:
    """A piece of the raw body that was removed, and why (``raw[start:end] == text``)."""

    kind: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Entity:
    """A named entity; ``start``/``end`` are character offsets into the clean body.

    ``canonical`` is the full name the mention stands for within its article ("Amber Rudd" for a
    later "Rudd"), set once mentions are resolved (``transforms.text.entities``)."""

    text: str
    label: str
    start: int
    end: int
    canonical: str | None = None


@dataclass(frozen=True)
class Article:
    """An event as it moves through the pipeline; later steps fill the extracted fields."""

    id: str
    raw_body: str
    fetched_at: int
    ref: SourceRef
    url: str | None = None
    source: str | None = None
    content_type: str = "text/plain"
    title_hint: str | None = None
    published_hint: int | None = None
    author_hint: str | None = None
    language_hint: str | None = None
    title: str | None = None
    byline: str | None = None
    published_at: int | None = None
    language: str | None = None
    body: str = ""
    comments: str | None = None
    boilerplate: tuple[Span, ...] = ()
    entities: tuple[Entity, ...] = ()
    content_hash: str = ""
    duplicate_of: str | None = None
    story_id: str | None = None
    payload: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class DeadLetter:
    """An input that could not become an article, with enough context to replay or debug it."""

    payload: bytes
    ref: SourceRef
    step: str
    code: str
    message: str
    exception_class: str | None
    failed_at: int
