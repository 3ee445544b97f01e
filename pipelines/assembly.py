"""Wire newsflow's composites into a pipeline; no decisions are made here.

Read the flow top to bottom: read, enrich (decode, clean, strip templates, deduplicate, extract
metadata, link stories), write every outcome, commit. Both the Kafka job (``newsflow run``) and
file mode (``newsflow process``) share ``enrich_events``, so the two modes cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import metadata

import apache_beam as beam
from apache_beam.options.pipeline_options import FlinkRunnerOptions, StandardOptions

from pipelines.options import (
    NewsflowOptions,
    dedup_config,
    kafka_connection,
    stories_config,
    template_config,
)
from pipelines.runners import FLINK_RUNNERS
from pipelines.value_format import alias_encoder, topic_encoders
from schemas.codec import ENRICHED
from transforms.io.avro_files import WriteAvroFiles, WriteAvroWindows, WriteJsonFiles
from transforms.io.event_files import ReadEventFiles
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_commit import CommitOffsets, CommitStarts, JoinAcks
from transforms.io.kafka_sink import WriteToKafka
from transforms.io.kafka_source import IdleReads, ReadFromKafka
from transforms.io.offset_gaps import SKIPPED_REFS, SkippedOffsets
from transforms.io.output_floor import StampOutputFloor
from transforms.io.reader_placement import FlinkPlacement
from transforms.io.recovery import REFILE, WRITTEN, SkipWritten
from transforms.io.restore_guard import ALREADY_ENRICHED, GuardConfig, GuardRestores
from transforms.steps.clean import CleanArticles
from transforms.steps.decode import DecodeEvents
from transforms.steps.dedup import DedupConfig, DeduplicateArticles
from transforms.steps.encode import (
    ENCODED,
    RECORDS,
    EncodeArticles,
    alias_line,
    dead_letter_line,
    dead_letter_message,
    file_outputs,
    kafka_outputs,
)
from transforms.steps.enrich import ExtractMetadata
from transforms.steps.shared import ARTICLES, DEAD_LETTER, DUPLICATES
from transforms.steps.stories import ALIASES, LinkStories, StoriesConfig
from transforms.steps.templates import StripTemplates

# Names of the sinks an enriched article must be written to before its offset may be committed.
KAFKA_SINK = "kafka"
FILE_SINK = "files"


def pipeline_version() -> str:
    try:
        return metadata.version("newsflow")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


@dataclass(frozen=True)
class Outcomes:
    """The three PCollections every input ends in exactly one of, and the story aliases found
    on the way (None: ``--stories off``, or written by the story step itself)."""

    enriched: beam.PCollection
    duplicates: beam.PCollection
    dead_letters: beam.PCollection
    aliases: beam.PCollection | None = None


def enrich_events(
    events: beam.PCollection,
    opts: NewsflowOptions,
    config: DedupConfig,
    stories: StoriesConfig | None = None,
) -> Outcomes:
    """RawEvents -> enriched articles, duplicates and dead letters (dedup configured by
    ``config``: Kafka mode adds the changelog), each article and duplicate linked to its story
    unless ``--stories off`` (``stories``: Kafka mode adds the changelog and the alias sink)."""
    decoded = events | "DecodeEvents" >> DecodeEvents(opts.max_body_bytes, opts.schema_registry_url)
    cleaned = decoded[ARTICLES] | "CleanArticles" >> CleanArticles()
    templated = cleaned[ARTICLES] | "StripTemplates" >> StripTemplates(template_config(opts))
    deduped = templated[ARTICLES] | "DeduplicateArticles" >> DeduplicateArticles(config)
    # Dedup has one key, so a step fused after it runs inside dedup's bundles, one at a time. On
    # Prism a Reshuffle moves no element but makes NER a stage of its own (measured: 30 articles
    # on one key, 0.5 s each after it: fused, 3 bundles, 1 at a time, 17.5 s; with it, 30 bundles,
    # up to 6 at once, 5.0 s; tests/stream/runners/test_prism_reshuffle.py).
    spread = deduped[ARTICLES] | "SpreadForNER" >> beam.Reshuffle()
    enriched = spread | "ExtractMetadata" >> ExtractMetadata(
        opts.spacy_model, opts.ner_batch_size, opts.ner_processes
    )
    failed = [
        decoded[DEAD_LETTER],
        cleaned[DEAD_LETTER],
        templated[DEAD_LETTER],
        deduped[DEAD_LETTER],
        enriched[DEAD_LETTER],
    ]
    if opts.stories == "off":
        dead_letters = failed | "AllDeadLetters" >> beam.Flatten()
        return Outcomes(enriched[ARTICLES], deduped[DUPLICATES], dead_letters)
    # After NER (it needs the entities); dedup's duplicates join here to take their original's
    # story.
    linked = {
        ARTICLES: enriched[ARTICLES],
        DUPLICATES: deduped[DUPLICATES],
    } | "LinkStories" >> LinkStories(stories or stories_config(opts))
    dead_letters = [*failed, linked[DEAD_LETTER]] | "AllDeadLetters" >> beam.Flatten()
    return Outcomes(linked[ARTICLES], linked[DUPLICATES], dead_letters, linked[ALIASES])


def on_flink(opts: NewsflowOptions) -> bool:
    """A FlinkRunner job: restores from checkpoints are guarded at the sinks (``GuardRestores``)
    instead of a restart scan at the source (``SkipWritten``)."""
    return opts.view_as(StandardOptions).runner in FLINK_RUNNERS


def reader_placement(opts: NewsflowOptions) -> FlinkPlacement | None:
    """On a streaming FlinkRunner job of known parallelism, where to put each partition's reader
    (a bounded read runs in Flink's batch mode, which does not place readers by key)."""
    flink = opts.view_as(FlinkRunnerOptions)
    if not on_flink(opts) or opts.stop_at_end or flink.parallelism <= 0:
        return None
    return FlinkPlacement(flink.parallelism, flink.max_parallelism)


def output_topics(opts: NewsflowOptions) -> tuple[str, str, str]:
    return (opts.output_topic, opts.duplicates_topic, opts.dead_letter_topic)


class ReadEvents(beam.PTransform):
    """The input topic -> RawEvents (``events``), each carrying its output floor; a partition
    never committed gets its first commit before it is read. Offsets skipped at a partition's
    end (``offset_gaps``) leave as acknowledgements (``written``), and so do inputs whose outputs
    a previous run already wrote, or as records for the files (``refile``). On Flink no
    ``refile`` and only the skipped offsets acknowledged: ``GuardRestores`` does the rest after
    a restore."""

    def __init__(self, opts: NewsflowOptions, kafka: KafkaConnection) -> None:
        super().__init__()
        self._opts = opts
        self._kafka = kafka

    def expand(self, pbegin):
        opts, kafka, outputs = self._opts, self._kafka, output_topics(self._opts)
        read = (
            pbegin
            | "ReadFromKafka"
            >> ReadFromKafka(
                kafka, opts.input_topic, opts.consumer_group, opts.stop_at_end,
                watermark_from_now=on_flink(opts),
                before_read=CommitStarts(kafka, opts.consumer_group, outputs),
                idle=IdleReads(
                    opts.idle_watermark_lag_seconds, opts.idle_poll_millis, opts.idle_rest_millis
                ),
                placement=reader_placement(opts),
            )
            | "StampOutputFloor" >> StampOutputFloor(kafka, outputs)
            | "SkippedOffsets" >> SkippedOffsets()
        )  # fmt: skip
        if on_flink(opts):
            return {"events": read.events, WRITTEN: read[SKIPPED_REFS]}
        unwritten = read.events | "SkipWritten" >> SkipWritten(
            kafka, opts.consumer_group, opts.input_topic, outputs, refile=bool(opts.output_dir)
        )
        written = (read[SKIPPED_REFS], unwritten[WRITTEN]) | "Written" >> beam.Flatten()
        return {"events": unwritten.events, WRITTEN: written, REFILE: unwritten[REFILE]}


def kafka_encoder(opts: NewsflowOptions, encode_value: Callable[[dict], bytes]):
    """``kafka_outputs`` with a topic's value encoder and the job's ``--max-record-bytes``."""
    return partial(kafka_outputs, encode_value=encode_value, max_bytes=opts.max_record_bytes)


class WriteOutcomes(beam.PTransform):
    """Outcomes (and records to refile) -> the three topics and the Avro files; outputs the refs of
    the inputs whose outputs are all written (an enriched article once topic and files have it).

    Input: a dict with ``enriched``, ``duplicates``, ``dead_letters`` and, optionally,
    ``refiled``. An article whose record cannot be encoded is written as a dead letter instead."""

    def __init__(self, opts: NewsflowOptions, version: str, kafka: KafkaConnection) -> None:
        super().__init__()
        self._opts = opts
        self._version = version
        self._kafka = kafka

    def expand(self, outcomes):
        opts, version, kafka = self._opts, self._version, self._kafka
        encoders = topic_encoders(opts)
        enriched = outcomes["enriched"] | "EncodeEnriched" >> EncodeArticles(
            kafka_encoder(opts, encoders.enriched), version
        )
        duplicates = outcomes["duplicates"] | "EncodeDuplicates" >> EncodeArticles(
            kafka_encoder(opts, encoders.duplicates), version
        )
        enriched_acks = [
            enriched[ENCODED]
            | "WriteEnriched" >> WriteToKafka(kafka, opts.output_topic)
            | "AckedByKafka" >> beam.Map(lambda ref: (KAFKA_SINK, ref))
        ]
        if opts.output_dir:
            refiled = [outcomes["refiled"]] if "refiled" in outcomes else []
            enriched_acks.append(
                [enriched[RECORDS], *refiled]
                | "WithRefiled" >> beam.Flatten()
                | "WriteAvroFiles"
                >> WriteAvroWindows(
                    opts.output_dir,
                    "enriched",
                    ENRICHED,
                    None if opts.stop_at_end else opts.window_seconds,
                )
                | "AckedByFiles" >> beam.Map(lambda ref: (FILE_SINK, ref))
            )
            enriched_acks.extend(
                r | "AlreadyInKafka" >> beam.Map(lambda pair: (KAFKA_SINK, pair[0]))
                for r in refiled
            )
        dead_letters = (
            outcomes["dead_letters"],
            enriched[DEAD_LETTER],
            duplicates[DEAD_LETTER],
        ) | "WithEncodeFailures" >> beam.Flatten()
        return (
            enriched_acks
            | "EnrichedAcks" >> beam.Flatten()
            | "EnrichedEverywhere"
            >> JoinAcks(frozenset({KAFKA_SINK, FILE_SINK} if opts.output_dir else {KAFKA_SINK})),
            duplicates[ENCODED] | "WriteDuplicates" >> WriteToKafka(kafka, opts.duplicates_topic),
            dead_letters
            | "EncodeDeadLetters"
            >> beam.Map(dead_letter_message, version, encoders.dead_letters, opts.max_record_bytes)
            | "WriteDeadLetters" >> WriteToKafka(kafka, opts.dead_letter_topic),
        ) | "AllSinks" >> beam.Flatten()


def build(p: beam.Pipeline, opts: NewsflowOptions, events: beam.PCollection | None = None):
    """The Kafka job: read, enrich, write all three topics (and Avro files), then commit offsets
    over the inputs whose outputs are all written.

    ``events`` replaces the Kafka source in tests (a TestStream of RawEvents)."""
    version = pipeline_version()
    kafka = kafka_connection(opts)
    already_written, to_write = [], {}
    guarded = events is None and on_flink(opts)
    if events is None:
        read = p | "ReadEvents" >> ReadEvents(opts, kafka)
        events, already_written = read["events"], [read[WRITTEN]]
        to_write = {"refiled": read[REFILE]} if REFILE in read else {}
    stories = stories_config(opts, kafka, alias_encoder(opts))
    outcomes = enrich_events(events, opts, dedup_config(opts, kafka), stories)
    decided = {
        "enriched": outcomes.enriched,
        "duplicates": outcomes.duplicates,
        "dead_letters": outcomes.dead_letters,
    }
    if guarded:
        decided, restored, to_write = guard_restores(decided, opts, kafka, version)
        already_written.extend(restored)
    written = {**decided, **to_write} | "WriteOutcomes" >> WriteOutcomes(opts, version, kafka)
    _ = (
        [written, *already_written]
        | "AllWritten" >> beam.Flatten()
        | "CommitOffsets" >> CommitOffsets(kafka, opts.consumer_group)
    )
    return outcomes


def guard_restores(decided: dict, opts: NewsflowOptions, kafka: KafkaConnection, version: str):
    """FlinkRunner: the outcomes minus inputs a run before the last restore already wrote, the
    refs of those (acknowledged as written) and, with files, their records for the file sink."""
    watched = GuardConfig(
        kafka, opts.consumer_group, opts.input_topic, output_topics(opts), bool(opts.output_dir)
    )
    guarded = decided | "GuardRestores" >> GuardRestores(watched)
    to_write = {}
    if opts.output_dir:
        encoders = topic_encoders(opts)
        to_write["refiled"] = (
            guarded[ALREADY_ENRICHED]
            | "EncodeAlreadyEnriched"
            >> EncodeArticles(kafka_encoder(opts, encoders.enriched), version)
        )[RECORDS]
    remaining = {tag: guarded[tag] for tag in ("enriched", "duplicates", "dead_letters")}
    return remaining, [guarded[WRITTEN]], to_write


class WriteFileOutcomes(beam.PTransform):
    """File mode: outcomes -> JSON twins of all three (``enriched``, ``duplicates``,
    ``dead_letter``), of the story aliases if any (``story_aliases``) and Avro files of the
    enriched records, under ``output``."""

    def __init__(self, output: str, version: str) -> None:
        super().__init__()
        self._output = output
        self._version = version

    def expand(self, outcomes):
        output, version = self._output, self._version
        enriched = outcomes["enriched"] | "EnrichedRecords" >> EncodeArticles(file_outputs, version)
        duplicates = outcomes["duplicates"] | "DuplicateRecords" >> EncodeArticles(
            file_outputs, version
        )
        dead = (
            outcomes["dead_letters"],
            enriched[DEAD_LETTER],
            duplicates[DEAD_LETTER],
        ) | "WithEncodeFailures" >> beam.Flatten()
        _ = enriched[RECORDS] | "WriteAvroFiles" >> WriteAvroFiles(output, "enriched", ENRICHED)
        outputs = [
            ("enriched", enriched[ENCODED]),
            ("duplicates", duplicates[ENCODED]),
            ("dead_letter", dead | "DeadLetterRecords" >> beam.Map(dead_letter_line, version)),
        ]
        if "aliases" in outcomes:
            outputs.append(
                (
                    "story_aliases",
                    outcomes["aliases"] | "AliasRecords" >> beam.Map(alias_line),
                )
            )
        for name, twins in outputs:
            _ = twins | f"WriteJson_{name}" >> WriteJsonFiles(output, name)


def build_file_mode(p: beam.Pipeline, opts: NewsflowOptions, input_pattern: str, output: str):
    """``newsflow process``: the same transforms on event files, JSON twins plus Avro out."""
    events = p | "ReadEventFiles" >> ReadEventFiles(input_pattern)
    outcomes = enrich_events(events, opts, dedup_config(opts))
    aliases = {} if outcomes.aliases is None else {"aliases": outcomes.aliases}
    _ = {
        "enriched": outcomes.enriched,
        "duplicates": outcomes.duplicates,
        "dead_letters": outcomes.dead_letters,
        **aliases,
    } | "WriteFiles" >> WriteFileOutcomes(output, pipeline_version())
    return outcomes
