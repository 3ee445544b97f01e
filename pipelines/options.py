"""Every newsflow setting, as Beam pipeline options with hyphenated CLI flags.

Each flag also answers to its underscore spelling so Beam-style argument lists work unchanged;
where Beam already owns that spelling with the same meaning (``--bootstrap_servers``, from its
Kafka Streams runner options) the two share one destination. Units are in the names. Kafka client
settings (SASL/SSL included) pass through ``--kafka-config KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

from apache_beam.options.pipeline_options import PipelineOptions

from schemas.codec import STORY_ALIAS
from schemas.confluent import ValueEncoder
from transforms.io.broker_retry import DEFAULT_BROKER_TIMEOUT_SECONDS
from transforms.io.changelog import ChangelogConfig, changelog_topic
from transforms.io.kafka_config import client_config, kafka_settings
from transforms.steps.dedup import DEFAULT_TTL_HOURS, DedupConfig
from transforms.steps.enrich import DEFAULT_BATCH_SIZE, DEFAULT_NER_PROCESSES
from transforms.steps.stories import STEP, AliasSink, StoriesConfig
from transforms.text.event import DEFAULT_MAX_BODY_BYTES
from transforms.text.near_dup import MinHashConfig
from transforms.text.ner import DEFAULT_MODEL
from transforms.text.stories import StoryConfig

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
SINGLE_OBJECT = "single-object"
CONFLUENT = "confluent"
VALUE_FORMATS = (SINGLE_OBJECT, CONFLUENT)


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    dest = name.replace("-", "_")
    spellings = [f"--{name}"]
    if f"--{dest}" not in parser._option_string_actions:
        spellings.append(f"--{dest}")
    parser.add_argument(*spellings, dest=dest, **kwargs)


class NewsflowOptions(PipelineOptions):
    """Options of ``newsflow run`` and ``newsflow process``; see ``newsflow run --help``."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        _flag(parser, "bootstrap-servers", default=DEFAULT_BOOTSTRAP, help="Kafka HOST:PORT[,...]")
        _flag(parser, "input-topic", default="articles.raw", help="raw article events")
        _flag(parser, "output-topic", default="articles.enriched", help="enriched records")
        _flag(parser, "duplicates-topic", default="articles.duplicates", help="duplicate records")
        _flag(parser, "dead-letter-topic", default="articles.dlq", help="dead letters")
        _flag(
            parser, "consumer-group", default="newsflow", help="group whose offsets are committed"
        )
        _flag(
            parser,
            "output-dir",
            default=None,
            help="also write Avro files here (any Beam filesystem); none: Kafka only",
        )
        _flag(
            parser,
            "stop-at-end",
            action="store_true",
            default=False,
            help="read up to the end offsets seen at start, then finish",
        )
        _flag(
            parser,
            "kafka-config",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Kafka client setting, Java-style: security.protocol=SASL_SSL (repeatable); "
            "secrets only as references: sasl.plain.password=${env:KAFKA_PASSWORD}",
        )
        _flag(
            parser,
            "kafka-config-file",
            default=None,
            metavar="FILE",
            help="Java properties file of Kafka client settings, read where clients are built; "
            "its secrets never enter the pipeline options (flags override it)",
        )
        _flag(
            parser,
            "broker-timeout-seconds",
            type=float,
            default=DEFAULT_BROKER_TIMEOUT_SECONDS,
            help="how long reads, writes and commits retry while the Kafka broker is unreachable "
            "before the job ends, in seconds (default %(default)g)",
        )
        _flag(
            parser,
            "dedup-ttl-hours",
            type=float,
            default=DEFAULT_TTL_HOURS,
            help="hours (event time) dedup remembers an article; a copy arriving later is kept",
        )
        _flag(
            parser,
            "dedup-changelog",
            choices=("on", "off"),
            default="on",
            help="newsflow run: write the dedup index to the compacted topic "
            "<consumer-group>-dedup-changelog and restore it when the job starts with empty "
            "state, so dedup memory survives a restart of the local runner (whose state is in "
            "memory); off on a runner whose state is durable (Flink with checkpoints)",
        )
        _flag(
            parser,
            "stories",
            choices=("on", "off"),
            default="on",
            help="link each enriched article and duplicate to its news story (story_id, and "
            "aliases on --story-aliases-topic); off: no story step, story_id stays null",
        )
        _flag(
            parser,
            "story-idle-hours",
            type=float,
            default=StoryConfig().idle_hours,
            help="hours (by fetched_at) a story no article joined is remembered; a later report of "
            "its event starts a new story (default %(default)g)",
        )
        _flag(
            parser,
            "max-live-stories",
            type=int,
            default=StoryConfig().max_stories,
            help="stories remembered at most; beyond it the least recently joined are forgotten "
            "(default %(default)d)",
        )
        _flag(
            parser,
            "story-threshold",
            type=float,
            default=StoryConfig().threshold,
            help="score in (0, 1] (weighted title, lead and entity TF-IDF cosines times a time "
            "decay) at which an article joins a story rather than start one (default %(default)g)",
        )
        _flag(
            parser,
            "story-merge-threshold",
            type=float,
            default=StoryConfig().merge_threshold,
            help="score at which a second candidate story is the same story as the one an "
            "article joins: the two are folded and an alias is written; above 1: never "
            "(default %(default)g)",
        )
        _flag(
            parser,
            "story-aliases-topic",
            default="articles.story_aliases",
            help="newsflow run: topic of the aliases {story_id, alias_of} written when two "
            "stories turn out to be one",
        )
        _flag(
            parser,
            "story-changelog",
            choices=("on", "off"),
            default="on",
            help="newsflow run: write the story memory to the compacted topic "
            "<consumer-group>-stories-changelog and restore it when the job starts with empty "
            "state (the local runner); off on a runner whose state is durable (Flink)",
        )
        _flag(
            parser,
            "near-dup-threshold",
            type=float,
            default=MinHashConfig().threshold,
            help="estimated share, in (0, 1], of the smaller article's word shingles found in "
            "the other at which two articles are near-duplicates",
        )
        _flag(
            parser,
            "max-body-bytes",
            type=int,
            default=DEFAULT_MAX_BODY_BYTES,
            help="largest body accepted, in UTF-8 bytes; a larger one is a dead letter "
            "body_too_large",
        )
        _flag(parser, "spacy-model", default=DEFAULT_MODEL, help="installed spaCy pipeline name")
        _flag(
            parser,
            "ner-batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help="articles per spaCy NER batch",
        )
        _flag(
            parser,
            "ner-processes",
            type=int,
            default=DEFAULT_NER_PROCESSES,
            help="processes that run spaCy NER per SDK worker process, each holding the model "
            "(about 200 MB); 1 runs it inside the SDK worker, on one core; more use more cores "
            f"where there are idle ones (default {DEFAULT_NER_PROCESSES}: faster on 1,000 articles "
            "on the 2-core machine, see README Performance)",
        )
        _flag(
            parser,
            "value-format",
            choices=VALUE_FORMATS,
            default=SINGLE_OBJECT,
            help="Kafka value framing of the outputs: single-object Avro (C3 01 + schema "
            "fingerprint, no registry) or confluent (00 + 4-byte registry id; needs "
            "--schema-registry-url)",
        )
        _flag(
            parser,
            "schema-registry-url",
            default=None,
            help="Confluent-compatible schema registry API, e.g. "
            "http://127.0.0.1:8085/apis/ccompat/v7; also decodes Confluent-framed input events",
        )
        _flag(
            parser,
            "metrics-port",
            type=int,
            default=None,
            help="run: serve Prometheus metrics at http://HOST:PORT/metrics while the job runs; "
            "none: no endpoint",
        )
        _flag(
            parser,
            "metrics-host",
            default="127.0.0.1",
            help="address the metrics endpoint binds to (0.0.0.0: every interface)",
        )
        _flag(
            parser,
            "window-seconds",
            type=int,
            default=60,
            help="streaming: roll output files per window of this many seconds",
        )


def dedup_config(opts: NewsflowOptions, kafka: dict | None = None) -> DedupConfig:
    """The frozen config every dedup worker gets; seeds are fixed inside MinHashConfig. With the
    Kafka client settings ``kafka`` (``newsflow run``) and ``--dedup-changelog on``, the index is
    also kept in the group's changelog topic; file mode passes none and has no changelog."""
    changelog = None
    if kafka is not None and opts.dedup_changelog == "on":
        changelog = ChangelogConfig(
            client=kafka,
            topic=changelog_topic(opts.consumer_group),
            ttl_ms=int(opts.dedup_ttl_hours * 3600 * 1000),
            broker_timeout_seconds=opts.broker_timeout_seconds,
        )
    return DedupConfig(
        ttl_hours=opts.dedup_ttl_hours,
        minhash=replace(MinHashConfig(), threshold=opts.near_dup_threshold),
        changelog=changelog,
    )


def stories_config(
    opts: NewsflowOptions, kafka: dict | None = None, alias_encoder: ValueEncoder | None = None
) -> StoriesConfig:
    """The story step's config. With the Kafka client settings ``kafka`` (``newsflow run``) the
    aliases go to ``--story-aliases-topic`` (encoded by ``alias_encoder``) and, with
    ``--story-changelog on``, the memory is kept in ``<group>-stories-changelog``; file mode
    passes none."""
    story = replace(
        StoryConfig(),
        idle_hours=opts.story_idle_hours,
        max_stories=opts.max_live_stories,
        threshold=opts.story_threshold,
        merge_threshold=opts.story_merge_threshold,
    )
    if kafka is None:
        return StoriesConfig(story)

    def topic(name: str) -> ChangelogConfig:
        retention_hours = max(story.idle_hours, story.duplicate_memory_hours)
        return ChangelogConfig(
            client=kafka,
            topic=name,
            ttl_ms=int(retention_hours * 3600 * 1000),
            broker_timeout_seconds=opts.broker_timeout_seconds,
        )

    changelog = None
    if opts.story_changelog == "on":
        changelog = topic(changelog_topic(opts.consumer_group, STEP))
    aliases = AliasSink(topic(opts.story_aliases_topic), alias_encoder or ValueEncoder(STORY_ALIAS))
    return StoriesConfig(story, changelog, aliases)


def validate(opts: NewsflowOptions) -> None:
    """Reject settings that cannot work, before any worker starts; raises ValueError."""
    if not 0 < opts.dedup_ttl_hours < math.inf:  # also refuses nan, which compares false
        raise ValueError(f"--dedup-ttl-hours must be finite and > 0, got {opts.dedup_ttl_hours}")
    if not 0.0 < opts.near_dup_threshold <= 1.0:
        raise ValueError(f"--near-dup-threshold must be in (0, 1], got {opts.near_dup_threshold}")
    if not 0 < opts.story_idle_hours < math.inf:
        raise ValueError(f"--story-idle-hours must be finite and > 0, got {opts.story_idle_hours}")
    if opts.max_live_stories <= 0:
        raise ValueError(f"--max-live-stories must be > 0, got {opts.max_live_stories}")
    if not 0.0 < opts.story_threshold <= 1.0:
        raise ValueError(f"--story-threshold must be in (0, 1], got {opts.story_threshold}")
    if not opts.story_merge_threshold >= opts.story_threshold:  # also refuses nan
        merge = opts.story_merge_threshold
        raise ValueError(f"--story-merge-threshold must be >= --story-threshold, got {merge}")
    if opts.max_body_bytes <= 0:
        raise ValueError(f"--max-body-bytes must be > 0, got {opts.max_body_bytes}")
    if opts.ner_batch_size <= 0:
        raise ValueError(f"--ner-batch-size must be > 0, got {opts.ner_batch_size}")
    if opts.ner_processes <= 0:
        raise ValueError(f"--ner-processes must be > 0, got {opts.ner_processes}")
    if opts.broker_timeout_seconds <= 0:
        raise ValueError(f"--broker-timeout-seconds must be > 0, got {opts.broker_timeout_seconds}")
    if opts.window_seconds <= 0:
        raise ValueError(f"--window-seconds must be > 0, got {opts.window_seconds}")
    client_config(opts.bootstrap_servers, kafka_overrides(opts))
    if opts.metrics_port is not None and not 0 < opts.metrics_port < 65536:
        raise ValueError(f"--metrics-port must be in 1..65535, got {opts.metrics_port}")
    if opts.value_format == CONFLUENT and not opts.schema_registry_url:
        raise ValueError("--value-format confluent needs --schema-registry-url")


def kafka_overrides(opts: NewsflowOptions) -> dict[str, str]:
    """``--kafka-config-file`` settings, then ``--kafka-config`` pairs in the order given (a later
    key wins); secrets stay references (see ``kafka_config``)."""
    return kafka_settings(opts.kafka_config, opts.kafka_config_file)


def add_kafka_client_flags(parser: argparse.ArgumentParser) -> None:
    """The Kafka connection flags of the tools that are not a pipeline (produce, tail, status,
    replay): the same names, meaning and defaults as ``newsflow run``'s."""
    parser.add_argument(
        "--bootstrap-servers",
        "--bootstrap_servers",
        default=DEFAULT_BOOTSTRAP,
        help="Kafka HOST:PORT[,...]",
    )
    parser.add_argument(
        "--kafka-config",
        "--kafka_config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Kafka client setting, Java-style (repeatable); secrets only as ${env:NAME}",
    )
    parser.add_argument(
        "--kafka-config-file",
        "--kafka_config_file",
        default=None,
        metavar="FILE",
        help="Java properties file of Kafka client settings (flags override it)",
    )
