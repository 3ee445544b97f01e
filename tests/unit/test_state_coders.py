"""Keyed state coders: every format round-trips, decodes the golden bytes an earlier version
wrote (tests/data/state/, committed, never regenerated), refuses a newer format with a clear
error, and every stateful step of the job declares them (no pickle, deterministic keys).

A new format is a new ``.avsc`` version and new golden files next to the old ones; the old files
stay, so this test proves a savepoint written by every earlier version still restores. Missing
golden files are written by ``.venv/bin/python tests/unit/test_state_coders.py``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.coders import BytesCoder, VarIntCoder, registry
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.common import DoFnSignature
from apache_beam.transforms import userstate
from apache_beam.utils.timestamp import Timestamp

from pipelines.assembly import build
from pipelines.options import NewsflowOptions
from schemas.errors import StateFormatError
from schemas.state import state_codec
from transforms.state_coders import (
    CARRIED,
    ArticleCoder,
    BagVersionCoder,
    CommitWaitingCoder,
    FingerprintedCoder,
    IndexVersionCoder,
    OffsetRangeCoder,
    PendingCoder,
    SinksCoder,
    StoryTermsCoder,
    TemplateStateCoder,
    VersionedCoder,
    WatermarkStateCoder,
)
from transforms.text.dedup_index import IndexEntry, decode_entry, encode_entry
from transforms.text.fingerprint import exact_key, fingerprint
from transforms.text.index_slices import BAGS, EMPTY, IndexVersion
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article, Entity, SourceRef, Span
from transforms.text.stories import StoryConfig, StoryIndex, decode_record, encode_record
from transforms.text.story_terms import Terms, article_terms
from transforms.text.template_memory import (
    TemplateMemory,
    TemplateVersion,
    decode_line,
    encode_line,
    pack,
    page_id,
)

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "state"
CFG = MinHashConfig()
BODY = (
    "Storm Hester brought down power lines across the valley on Tuesday night.\n\n"
    "Engineers said supply would be back by Thursday; schools in Løkken stay shut."
)
FULL = Article(
    id="wire-hester-2023",
    raw_body="LONDON (Reuters) - " + BODY + "\n\nShare this article",
    fetched_at=1_700_000_000_123,
    ref=SourceRef(
        topic="articles.raw",
        partition=3,
        offset=41_977,
        span_start=41_970,
        output_floor=(("articles.enriched", 0, 1_200), ("articles.dlq", 1, 7)),
    ),
    url="https://example.org/hester",
    source="Example Wire",
    content_type="text/html",
    title_hint="Storm Hester",
    published_hint=1_699_990_000_000,
    author_hint="A. Reporter",
    language_hint="en",
    title="Storm Hester cuts power",
    byline="By A. Reporter",
    published_at=1_699_990_000_000,
    language="en",
    body=BODY,
    comments="First!",
    boilerplate=(Span("credit", 0, 19, "LONDON (Reuters) - "),),
    entities=(Entity("Hester", "EVENT", 6, 12, "Storm Hester"), Entity("Løkken", "GPE", 140, 146)),
    content_hash=exact_key(BODY),
    duplicate_of=None,
    payload=b'{"body": "\xff\x00 not utf-8"}',
)
MINIMAL = Article(
    id="file-7", raw_body="Short.", fetched_at=0, ref=SourceRef(file="in.jsonl", line=7)
)
FP = fingerprint(BODY, CFG)
SOURCE = "articles.raw/2@41"
# Format 1 of the template state: a source's whole memory, written by the v1 schema as main's
# coder wrote it, lines sorted by key ("b2f1" and "0a" are not line keys: they convert to nothing).
V1_MEMORY = {
    "lines": [
        {"key": "0a", "pages": [], "last_seen_ms": 5},
        {"key": "b2f1", "pages": ["https://a/1", "https://a/2"], "last_seen_ms": 1_700_000_000_000},
    ]
}
V1_LINE_KEYS = {
    "lines": [
        {"key": "0123456789abcdef", "pages": ["https://a/2"], "last_seen_ms": 1_700_000_000_000},
        {"key": "3f9a0c1d5e7b2468", "pages": ["https://a/1", "https://a/2"], "last_seen_ms": 7},
        {"key": "not hex at all!!", "pages": ["https://a/3"], "last_seen_ms": 9},
    ]
}
MIGRATED = TemplateMemory(
    {
        bytes.fromhex("3f9a0c1d5e7b2468"): pack(
            7, (page_id("https://a/1"), page_id("https://a/2"))
        ),
        bytes.fromhex("0123456789abcdef"): pack(1_700_000_000_000, (page_id("https://a/2"),)),
    }
)
TEMPLATE_VERSION = TemplateVersion((2**62 + 17, 1_204), 1_699_740_000_000)
LINE = (bytes.fromhex("3f9a0c1d5e7b2468"), pack(1_700_000_000_123, (page_id("https://a/1"),)))
DEDUP_PENDING = PendingCoder(FingerprintedCoder(), IndexVersionCoder())
TEMPLATE_PENDING = PendingCoder(ArticleCoder(), TemplateStateCoder())
STORY_PENDING = PendingCoder(StoryTermsCoder(), BagVersionCoder())
TERMS = article_terms(FULL, 1000)
EMPTY_TERMS = Terms(title={}, body={}, entities={}, at=0)

LAYOUT = IndexVersion(2**62 + 17, 9_600_000, (EMPTY,) * (BAGS - 2) + (177_013, 177_014))

LINKED = replace(FULL, story_id="s-0123456789abcdef01234567")
UNLOCATED = replace(FULL, body=BODY.upper(), boilerplate=(Span("template", 0, 5, "Storm"),))
# Golden file stem -> (coder, value) in the current formats (those in FORMER: decoded only). Add
# rows; never remove one: when a format changes, move its row to OLDER (with what it now decodes
# to) and add the new version.
SAMPLES = {
    "article.v1": (ArticleCoder(), FULL),
    "article-minimal.v1": (ArticleCoder(), MINIMAL),
    "fingerprinted.v1": (FingerprintedCoder(), (FULL, FP)),
    "pending-dedup-element.v1": (DEDUP_PENDING, (1_700_000_000_123_000, (MINIMAL, FP))),
    "pending-dedup-carried-layout.v1": (DEDUP_PENDING, (CARRIED, LAYOUT)),
    "pending-templates-element.v1": (TEMPLATE_PENDING, (-5, FULL)),
    "index-version.v2": (IndexVersionCoder(), LAYOUT),
    "bag-version.v1": (BagVersionCoder(), (9_007_199_254_740_993, 3)),
    "story-terms.v1": (StoryTermsCoder(), (FULL, TERMS)),
    "pending-stories-element.v1": (STORY_PENDING, (1_700_000_000_123_000, (MINIMAL, EMPTY_TERMS))),
    "pending-stories-carried.v1": (STORY_PENDING, (CARRIED, (2**62 + 17, 120_000))),
    "commit-waiting.v1": (
        CommitWaitingCoder(),
        {12: (15, None), 20: (21, (("articles.enriched", 0, 99), ("articles.dlq", 2, 0)))},
    ),
    "sinks.v1": (SinksCoder(), frozenset({"kafka", "files"})),
    "offset-range.v1": (OffsetRangeCoder(), OffsetRange(41_970, sys.maxsize)),
    "watermark.v1": (WatermarkStateCoder(), Timestamp(micros=1_700_000_000_123_456)),
    "watermark-none.v1": (WatermarkStateCoder(), None),
    # Article format 2 (story_id): the article and every format that embeds one.
    "article.v2": (ArticleCoder(), LINKED),
    "article-minimal.v2": (ArticleCoder(), MINIMAL),
    "fingerprinted.v1-article.v2": (FingerprintedCoder(), (FULL, FP)),
    "pending-dedup-element.v1-article.v2": (
        DEDUP_PENDING,
        (1_700_000_000_123_000, (MINIMAL, FP)),
    ),
    "pending-templates-element.v1-article.v2": (TEMPLATE_PENDING, (-5, LINKED)),
    # Template state format 2: a version; the lines are records in their own bag.
    "template-memory.v2": (TemplateStateCoder(), TEMPLATE_VERSION),
    "template-memory-never-forgot.v2": (TemplateStateCoder(), TemplateVersion((0, 0), None)),
    "pending-templates-carried.v2": (TEMPLATE_PENDING, (CARRIED, TEMPLATE_VERSION)),
    # Article format 3 (body and span texts as offsets into the raw body where found there), and
    # every format that embeds one; UNLOCATED's body and span are not in its raw body.
    "article.v3": (ArticleCoder(), LINKED),
    "article-minimal.v3": (ArticleCoder(), MINIMAL),
    "article-unlocated.v3": (ArticleCoder(), UNLOCATED),
    "fingerprinted.v1-article.v3": (FingerprintedCoder(), (FULL, FP)),
    "pending-dedup-element.v1-article.v3": (
        DEDUP_PENDING,
        (1_700_000_000_123_000, (FULL, FP)),
    ),
    "pending-templates-element.v1-article.v3": (TEMPLATE_PENDING, (-5, LINKED)),
    "story-terms.v1-article.v3": (StoryTermsCoder(), (FULL, TERMS)),
    "pending-stories-element.v1-article.v3": (
        STORY_PENDING,
        (1_700_000_000_123_000, (FULL, EMPTY_TERMS)),
    ),
}
# Golden files of superseded formats -> (coder, what today's code decodes them to): a savepoint
# written by that version restores. Index version 1 was (token, entries in the one index bag):
# it reads as slice width 0, no slices, which makes the dedup step move the legacy bag's entries.
OLDER = {
    "pending-dedup-carried.v1": (DEDUP_PENDING, (CARRIED, IndexVersion(2**62 + 17, 0, ()))),
    "index-version.v1": (IndexVersionCoder(), IndexVersion(9_007_199_254_740_993, 0, ())),
    # Template state format 1 was the whole memory: it decodes to that memory, converted (keys
    # to bytes, pages to their ids), which the step then writes to the records bag.
    "template-memory.v1": (TemplateStateCoder(), TemplateMemory()),
    "pending-templates-carried.v1": (TEMPLATE_PENDING, (CARRIED, TemplateMemory())),
    "template-memory-line-keys.v1": (TemplateStateCoder(), MIGRATED),
}
# Written by an earlier version of a format they embed: decoded, no longer what is written.
FORMER = frozenset(
    {
        "article.v1",
        "article-minimal.v1",
        "fingerprinted.v1",
        "pending-dedup-element.v1",
        "pending-templates-element.v1",
        "article.v2",
        "article-minimal.v2",
        "fingerprinted.v1-article.v2",
        "pending-dedup-element.v1-article.v2",
        "pending-templates-element.v1-article.v2",
        "story-terms.v1",
        "pending-stories-element.v1",
    }
)


def same(decoded, expected) -> bool:
    """Equality including the fields dataclass equality leaves out (``SourceRef.span_start`` and
    ``output_floor`` are compare=False, yet the commit step needs them back)."""
    if isinstance(expected, OffsetRange):
        return (decoded.start, decoded.stop) == (expected.start, expected.stop)
    if isinstance(expected, tuple):
        return len(decoded) == len(expected) and all(map(same, decoded, expected))
    if isinstance(expected, Article):
        return decoded == expected and same(decoded.ref, expected.ref)
    if isinstance(expected, SourceRef):
        return vars(decoded) == vars(expected)
    return decoded == expected


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name):
    coder, value = SAMPLES[name]
    assert same(coder.decode(coder.encode(value)), value)


@pytest.mark.parametrize("name", sorted(SAMPLES | OLDER))
def test_decodes_the_golden_bytes_of_its_format(name):
    coder, value = (SAMPLES | OLDER)[name]
    golden = (GOLDEN / f"{name}.bin").read_bytes()
    assert same(coder.decode(golden), value)


@pytest.mark.parametrize("name", sorted(set(SAMPLES) - FORMER))
def test_encoding_is_deterministic_and_unchanged(name):
    """Equal values, equal bytes (so state may be compared and keyed); and today's bytes are the
    golden ones: a format change must be a new version, not an edit of this one."""
    coder, value = SAMPLES[name]
    assert coder.is_deterministic()
    assert coder.encode(value) == (GOLDEN / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_newer_format_is_refused_with_a_clear_error(name):
    coder, value = SAMPLES[name]
    newer = bytes((coder.VERSION + 1,)) + coder.encode(value)[1:]
    with pytest.raises(StateFormatError, match=rf"format version {coder.VERSION + 1}, by a newer"):
        coder.decode(newer)


@pytest.mark.parametrize("data", [b"", b"\x00abc", b"\x01"])
def test_bytes_it_did_not_write_are_refused(data):
    with pytest.raises(StateFormatError, match="article"):
        ArticleCoder().decode(data)


def test_every_article_field_is_in_the_state_schema():
    """A field added to Article but not to the schema would be dropped from state silently."""
    record = ArticleCoder().to_record(FULL)
    written = ArticleCoder().codec().decode(ArticleCoder().encode(FULL))
    assert set(written) == set(record)
    assert set(written["ref"]) == set(record["ref"])


def test_dedup_index_entries_decode_from_golden_bytes_and_refuse_a_newer_format():
    """The index bag holds ``dedup_index``'s own versioned entry bytes (shared with the changelog
    topic) under Beam's standard BytesCoder. Format 2 had no input source: it decodes with an
    empty one (never taken for a replay)."""
    entry = IndexEntry(FULL.content_hash, FULL.id, FP, 1_700_000_000_123, SOURCE)
    golden = (GOLDEN / "index-entry.v3.bin").read_bytes()
    assert decode_entry(golden, CFG) == entry
    assert encode_entry(entry) == golden
    old = decode_entry((GOLDEN / "index-entry.v2.bin").read_bytes(), CFG)
    assert old == replace(entry, source="")
    with pytest.raises(ValueError, match="format 4, written by a newer newsflow"):
        decode_entry(b"\x04" + golden[1:], CFG)


# The story index's records (the stories bag and changelog share them), one per kind; golden
# files of each format: ``story-record-<kind>.v<N>.bin``.
STORY_RECORDS = {
    "story": {
        "k": "s",
        "id": "s-0123456789abcdef01234567",
        "f": 1_700_000_000_000,
        "l": 1_700_000_360_000,
        "n": 3,
        "v": [{"hester": 1.5, "storm": 0.25}, {"power": 0.5}, {"e:storm hester": 2.0}],
    },
    "folded": {"k": "x", "id": "s-89abcdef0123456789abcdef"},
    "article": {
        "k": "a",
        "id": "wire-hester-2023",
        "s": "s-0123456789abcdef01234567",
        "at": 1_700_000_000_123,
    },
}


@pytest.mark.parametrize("kind", sorted(STORY_RECORDS))
def test_story_records_decode_from_golden_bytes_of_each_format_and_refuse_a_newer_one(kind):
    """The stories bag holds the story index's own versioned records (``state_story_record``,
    shared with its changelog topic) under Beam's standard BytesCoder: format 3 is written
    (terms zlib-compressed, float32 weights, exact for these), formats 2 (terms as strings) and
    1 (weights as doubles) still decode."""
    current = (GOLDEN / f"story-record-{kind}.v3.bin").read_bytes()
    assert encode_record(STORY_RECORDS[kind]) == current
    for version in (1, 2, 3):
        golden = (GOLDEN / f"story-record-{kind}.v{version}.bin").read_bytes()
        assert golden[0] == version
        assert decode_record(golden) == STORY_RECORDS[kind]
    with pytest.raises(ValueError, match="format version 4, by a newer newsflow"):
        decode_record(b"\x04" + current[1:])


def test_format_1_story_records_replay_into_the_index_as_they_were_kept():
    """A story of format 1 replays with its weights rounded to float32 (what format 2 keeps)."""
    v1 = [(GOLDEN / f"story-record-{kind}.v1.bin").read_bytes() for kind in STORY_RECORDS]
    index = StoryIndex(StoryConfig(), v1)
    assert len(index) == 1 and index.remembered_articles == 1
    assert sorted(map(decode_record, index.records()), key=lambda r: r["k"]) == [
        STORY_RECORDS["article"],
        STORY_RECORDS["story"],
    ]


def keyed_steps() -> list[tuple[str, object, beam.PCollection]]:
    """Every DoFn of newsflow's Kafka job with keyed state, timers or a restriction: its label,
    the DoFn and its main input."""
    opts = PipelineOptions(["--bootstrap-servers", "127.0.0.1:9", "--output-dir", "out/unused"])
    opts.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=opts)
    build(pipeline, opts.view_as(NewsflowOptions))
    found = []

    class Visitor(PipelineVisitor):
        def visit_transform(self, node):
            fn = getattr(node.transform, "fn", None)
            if not isinstance(node.transform, beam.ParDo) or type(fn).__module__.startswith(
                "apache_beam"
            ):
                return
            state, timers = userstate.get_dofn_specs(fn)
            if state or timers or DoFnSignature(fn).get_restriction_provider():
                found.append((node.full_label, fn, node.main_inputs[next(iter(node.main_inputs))]))

    pipeline.visit(Visitor())
    return found


def test_the_job_keys_state_deterministically_and_never_pickles_it():
    steps = keyed_steps()
    labels = {label.rsplit("/", 1)[-1] for label, _, _ in steps}
    assert {"ListEveryInterval", "OnlyNew", "ReadPartitions", "Commit", "JoinSinks"} <= labels
    assert {"ParDo(LearnTemplatesFn)", "ParDo(DecideDuplicatesFn)"} <= labels
    assert "ParDo(DecideStoriesFn)" in labels
    for label, fn, main_input in steps:
        state, timers = userstate.get_dofn_specs(fn)
        if state or timers:
            key_coder = registry.get_coder(main_input.element_type).key_coder()
            assert key_coder.is_deterministic(), f"{label}: key coder {key_coder}"
        for spec in state:
            assert isinstance(spec.coder, VersionedCoder | VarIntCoder | BytesCoder), (
                f"{label}: state {spec.name} uses {spec.coder}"
            )
        signature = DoFnSignature(fn)
        if signature.get_restriction_provider():
            assert isinstance(
                signature.get_restriction_provider().restriction_coder(), VersionedCoder
            )
            watermarks = signature.get_watermark_estimator_provider()
            assert isinstance(watermarks.estimator_state_coder(), VersionedCoder)


def write_missing_golden_files() -> None:
    """Write the golden file of each sample that has none (never overwrite one)."""
    GOLDEN.mkdir(parents=True, exist_ok=True)
    files = {name: coder.encode(value) for name, (coder, value) in SAMPLES.items()}
    files["index-entry.v3"] = encode_entry(
        IndexEntry(FULL.content_hash, FULL.id, FP, 1_700_000_000_123, SOURCE)
    )
    files.update(
        {f"story-record-{kind}.v3": encode_record(record) for kind, record in STORY_RECORDS.items()}
    )
    files["template-memory-line-keys.v1"] = state_codec("template_memory", 1).encode(V1_LINE_KEYS)
    files["template-line.v1"] = encode_line(*LINE)
    for name, data in files.items():
        path = GOLDEN / f"{name}.bin"
        if not path.exists():
            path.write_bytes(data)
            print(f"wrote {path}")


if __name__ == "__main__":
    write_missing_golden_files()


def test_format_1_template_memories_are_the_bytes_main_wrote():
    """The v1 golden files hold what format 1's coder wrote for these records."""
    codec = state_codec("template_memory", 1)
    assert codec.encode(V1_MEMORY) == (GOLDEN / "template-memory.v1.bin").read_bytes()
    assert codec.encode(V1_LINE_KEYS) == (GOLDEN / "template-memory-line-keys.v1.bin").read_bytes()


def test_a_migrated_memory_writes_every_line_and_counts_a_known_page_once():
    migrated = TemplateStateCoder().decode(
        (GOLDEN / "template-memory-line-keys.v1.bin").read_bytes()
    )
    assert migrated.changed == set(MIGRATED.lines)
    migrated.observe("https://a/2", set(MIGRATED.lines), 10, min_pages=4, window_ms=100)
    assert migrated.pages(bytes.fromhex("3f9a0c1d5e7b2468")) == 2
    assert migrated.pages(bytes.fromhex("0123456789abcdef")) == 1


def test_template_line_records_decode_from_golden_bytes_and_refuse_a_newer_format():
    """The templates ``lines`` bag holds ``template_memory``'s own versioned line records under
    Beam's standard BytesCoder: 25 bytes for a line seen on one page."""
    golden = (GOLDEN / "template-line.v1.bin").read_bytes()
    assert len(golden) == 25
    assert decode_line(golden) == LINE
    assert encode_line(*LINE) == golden
    with pytest.raises(ValueError, match="format 2, written by a newer newsflow"):
        decode_line(b"\x02" + golden[1:])
    with pytest.raises(ValueError, match="not a template line record"):
        decode_line(golden[:-1])
