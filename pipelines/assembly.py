"""Wire newsflow's composites into a pipeline; no decisions are made here.

Read the flow top to bottom: decode, clean, deduplicate, enrich, then write every outcome. Both
the Kafka job (``newsflow run``) and file mode (``newsflow process``) share ``enrich_events``, so
the two modes cannot drift apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import metadata

import apache_beam as beam

from pipelines.options import NewsflowOptions, dedup_config, kafka_overrides
from schemas.codec import DEAD_LETTER as DEAD_LETTER_SCHEMA
from schemas.codec import ENRICHED, encode
from transforms.io.avro_files import WriteAvroFiles, WriteAvroWindows, WriteJsonFiles
from transforms.io.broker_retry import BrokerCalls
from transforms.io.event_files import ReadEventFiles
from transforms.io.kafka_commit import CommitOffsets, JoinAcks
from transforms.io.kafka_config import client_config
from transforms.io.kafka_sink import WriteToKafka
from transforms.io.kafka_source import ReadFromKafka
from transforms.io.recovery import REFILE, WRITTEN, SkipWritten
from transforms.steps.clean import CleanArticles
from transforms.steps.dead_letters import DEAD_LETTER
from transforms.steps.decode import DecodeEvents
from transforms.steps.dedup import ARTICLES, DUPLICATES, DeduplicateArticles
from transforms.steps.enrich import ExtractMetadata
from transforms.steps.templates import StripTemplates
from transforms.text.models import Article, DeadLetter
from transforms.text.records import (
    DEAD_LETTER_TIME_FIELDS,
    ENRICHED_TIME_FIELDS,
    article_record,
    dead_letter_record,
    json_twin,
)

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
    """The three PCollections every input ends in exactly one of."""

    enriched: beam.PCollection
    duplicates: beam.PCollection
    dead_letters: beam.PCollection


def enrich_events(events: beam.PCollection, opts: NewsflowOptions) -> Outcomes:
    """RawEvents -> enriched articles, duplicates and dead letters."""
    decoded = events | "DecodeEvents" >> DecodeEvents(opts.max_body_bytes)
    cleaned = decoded[ARTICLES] | "CleanArticles" >> CleanArticles()
    templated = cleaned[ARTICLES] | "StripTemplates" >> StripTemplates()
    deduped = templated | "DeduplicateArticles" >> DeduplicateArticles(dedup_config(opts))
    enriched = deduped[ARTICLES] | "ExtractMetadata" >> ExtractMetadata(
        opts.spacy_model, opts.ner_batch_size
    )
    dead_letters = (
        decoded[DEAD_LETTER],
        cleaned[DEAD_LETTER],
        enriched[DEAD_LETTER],
    ) | "AllDeadLetters" >> beam.Flatten()
    return Outcomes(enriched[ARTICLES], deduped[DUPLICATES], dead_letters)


def article_message(article: Article, version: str) -> tuple[bytes, bytes, object]:
    """Kafka message of an article: key = id, value = single-object Avro, plus its source ref."""
    return article.id.encode("utf-8"), encode(_record(article, version), ENRICHED), article.ref


def dead_letter_message(letter: DeadLetter, version: str) -> tuple[bytes, bytes, object]:
    """Kafka message of a dead letter, keyed by its source coordinates for traceability."""
    record = dead_letter_record(letter, version)
    return str(letter.ref).encode("utf-8"), encode(record, DEAD_LETTER_SCHEMA), letter.ref


def build(p: beam.Pipeline, opts: NewsflowOptions, events: beam.PCollection | None = None):
    """The Kafka job: read, enrich, write all three topics (and Avro files), then commit offsets
    over the inputs whose outputs are all written.

    ``events`` replaces the Kafka source in tests (a TestStream of RawEvents)."""
    version = pipeline_version()
    overrides = kafka_overrides(opts)
    servers = opts.bootstrap_servers
    timeout = opts.broker_timeout_seconds
    outputs = (opts.output_topic, opts.duplicates_topic, opts.dead_letter_topic)
    already_written, refiled = [], []
    if events is None:
        read = p | "ReadFromKafka" >> ReadFromKafka(
            servers, opts.input_topic, opts.consumer_group, opts.stop_at_end, overrides, timeout,
            outputs,
        )  # fmt: skip
        config = client_config(servers, overrides)
        recovered = read | "SkipWritten" >> SkipWritten(
            config,
            opts.consumer_group,
            opts.input_topic,
            outputs,
            refile=bool(opts.output_dir),
            broker=BrokerCalls(config["bootstrap_servers"], timeout),
        )
        events, already_written, refiled = (
            recovered.events,
            [recovered[WRITTEN]],
            [recovered[REFILE]],
        )
    outcomes = enrich_events(events, opts)
    enriched_acks = [
        outcomes.enriched
        | "EncodeEnriched" >> beam.Map(article_message, version)
        | "WriteEnriched" >> WriteToKafka(servers, opts.output_topic, overrides, timeout)
        | "AckedByKafka" >> beam.Map(lambda ref: (KAFKA_SINK, ref))
    ]
    if opts.output_dir:
        records = outcomes.enriched | "EnrichedRecords" >> beam.Map(
            lambda a: (a.ref, _record(a, version))
        )
        enriched_acks.append(
            [records, *refiled]
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
            r | "AlreadyInKafka" >> beam.Map(lambda pair: (KAFKA_SINK, pair[0])) for r in refiled
        )
    written = [
        enriched_acks
        | "EnrichedAcks" >> beam.Flatten()
        | "EnrichedEverywhere"
        >> JoinAcks(frozenset({KAFKA_SINK, FILE_SINK} if opts.output_dir else {KAFKA_SINK})),
        outcomes.duplicates
        | "EncodeDuplicates" >> beam.Map(article_message, version)
        | "WriteDuplicates" >> WriteToKafka(servers, opts.duplicates_topic, overrides, timeout),
        outcomes.dead_letters
        | "EncodeDeadLetters" >> beam.Map(dead_letter_message, version)
        | "WriteDeadLetters" >> WriteToKafka(servers, opts.dead_letter_topic, overrides, timeout),
        *already_written,
    ]
    _ = (
        written
        | "AllWritten" >> beam.Flatten()
        | "CommitOffsets" >> CommitOffsets(servers, opts.consumer_group, overrides, timeout)
    )
    return outcomes


def build_file_mode(p: beam.Pipeline, opts: NewsflowOptions, input_pattern: str, output: str):
    """``newsflow process``: the same transforms on event files, JSON twins plus Avro out."""
    version = pipeline_version()
    events = p | "ReadEventFiles" >> ReadEventFiles(input_pattern)
    outcomes = enrich_events(events, opts)
    enriched = outcomes.enriched | "EnrichedRecords" >> beam.Map(_record, version)
    duplicates = outcomes.duplicates | "DuplicateRecords" >> beam.Map(_record, version)
    dead = outcomes.dead_letters | "DeadLetterRecords" >> beam.Map(dead_letter_record, version)
    _ = enriched | "WriteAvroFiles" >> WriteAvroFiles(output, "enriched", ENRICHED)
    for name, records, times in (
        ("enriched", enriched, ENRICHED_TIME_FIELDS),
        ("duplicates", duplicates, ENRICHED_TIME_FIELDS),
        ("dead_letter", dead, DEAD_LETTER_TIME_FIELDS),
    ):
        _ = (
            records
            | f"JsonTwin_{name}" >> beam.Map(json_twin, times)
            | f"WriteJson_{name}" >> WriteJsonFiles(output, name)
        )
    return outcomes


def _record(article: Article, version: str) -> dict:
    return article_record(article, int(time.time() * 1000), version)
