"""Every newsflow setting, as Beam pipeline options with hyphenated CLI flags.

Each flag is declared once, as a ``Flag``, and added to a parser by ``add_flags``: the pipeline
options (``NewsflowOptions``), the ``newsflow`` subcommands and the tools (status, replay,
produce, tail) share the declarations, so a flag has one name, meaning and default everywhere.
Each answers to its underscore spelling too, so Beam-style argument lists work unchanged; where
Beam already owns that spelling with the same meaning (``--bootstrap_servers``, from its Kafka
Streams runner options) the two share one destination. Units are in the names or the help, which
states the meaning; the parser shows the default. Kafka client settings (SASL/SSL included) pass
through ``--kafka-config KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from schemas.codec import STORY_ALIAS
from schemas.confluent import ValueEncoder
from transforms.io.broker_retry import DEFAULT_BROKER_TIMEOUT_SECONDS
from transforms.io.changelog import ChangelogConfig, changelog_topic
from transforms.io.client_settings import check_broker_timeout, check_client_settings
from transforms.io.kafka_clients import KafkaConnection
from transforms.io.kafka_config import kafka_settings
from transforms.steps.dedup import DEFAULT_TTL_HOURS, DedupConfig
from transforms.steps.encode import DEFAULT_MAX_RECORD_BYTES, MIN_RECORD_BYTES
from transforms.steps.enrich import DEFAULT_BATCH_SIZE, DEFAULT_NER_PROCESSES
from transforms.steps.stories import STEP, AliasSink, StoriesConfig
from transforms.text.event import DEFAULT_MAX_BODY_BYTES
from transforms.text.minhash_config import MinHashConfig
from transforms.text.ner import DEFAULT_MODEL
from transforms.text.stories import StoryConfig
from transforms.text.templates import TemplateConfig

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
# About 114 years: a TTL beyond it overflows Beam's timestamps (a timer at event time + TTL).
MAX_TTL_HOURS = 1_000_000
SINGLE_OBJECT = "single-object"
CONFLUENT = "confluent"
VALUE_FORMATS = (SINGLE_OBJECT, CONFLUENT)
# argparse actions that take no value on the command line.
_NO_VALUE_ACTIONS = frozenset({"store_true", "store_false", "count"})


@dataclass(frozen=True)
class Flag:
    """One command-line option: its hyphenated name and its ``argparse`` settings (``dest``
    defaults to the name with underscores)."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def spellings(self) -> tuple[str, ...]:
        """``--name`` and, when it differs, ``--name_with_underscores``."""
        return tuple(dict.fromkeys((f"--{self.name}", f"--{self.name.replace('-', '_')}")))

    @property
    def takes_value(self) -> bool:
        return self.settings.get("action") not in _NO_VALUE_ACTIONS


def flag(name: str, **settings: Any) -> Flag:
    """Declare a flag: ``flag("dedup-ttl-hours", type=float, default=168, help=...)``."""
    return Flag(name, settings)


def add_flags(parser: argparse.ArgumentParser, flags: Iterable[Flag]) -> None:
    """Add each flag under both spellings; one whose underscore spelling another options class
    already registered (argparse refuses a second owner) keeps the hyphenated one and shares that
    option's destination."""
    for one in flags:
        settings = {"dest": one.name.replace("-", "_"), **one.settings}
        try:
            parser.add_argument(*one.spellings, **settings)
        except argparse.ArgumentError:
            parser.add_argument(one.spellings[0], **settings)


def value_spellings(flags: Iterable[Flag]) -> frozenset[str]:
    """Every spelling of the flags that take a value (``--flag VALUE``)."""
    return frozenset(s for one in flags if one.takes_value for s in one.spellings)


BOOTSTRAP_SERVERS = flag(
    "bootstrap-servers",
    default=DEFAULT_BOOTSTRAP,
    metavar="HOST:PORT",
    help="Kafka brokers to connect to, comma-separated",
)
KAFKA_CONFIG = flag(
    "kafka-config",
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="a Kafka client setting, Java-style, e.g. security.protocol=SASL_SSL (repeatable; a "
    "later key wins); a secret only as a reference: sasl.plain.password=${env:KAFKA_PASSWORD} "
    "or ${file:PATH:KEY}",
)
KAFKA_CONFIG_FILE = flag(
    "kafka-config-file",
    default=None,
    metavar="FILE",
    help="Java properties file of Kafka client settings, read where a client is built, so its "
    "secrets never travel in options or on the command line; --kafka-config overrides it; "
    "none: no file",
)
# How every command that talks to Kafka connects: declared once, here.
KAFKA_CLIENT_FLAGS = (BOOTSTRAP_SERVERS, KAFKA_CONFIG, KAFKA_CONFIG_FILE)

NEWSFLOW_FLAGS = (
    BOOTSTRAP_SERVERS,
    flag(
        "input-topic", default="articles.raw", help="Kafka topic the raw article events come from"
    ),
    flag("output-topic", default="articles.enriched", help="Kafka topic of enriched records"),
    flag(
        "duplicates-topic",
        default="articles.duplicates",
        help="Kafka topic of duplicate records (duplicate_of set)",
    ),
    flag("dead-letter-topic", default="articles.dlq", help="Kafka topic of dead letters"),
    flag(
        "max-record-bytes",
        type=int,
        default=DEFAULT_MAX_RECORD_BYTES,
        help="largest Kafka message (key and value bytes) newsflow writes; an article whose "
        "record is larger is a dead letter record_too_large, and a dead letter's payload is cut "
        "to fit; keep it under the output topics' max.message.bytes and the producer's "
        "max.request.size (both 1 MiB by default)",
    ),
    flag(
        "consumer-group",
        default="newsflow",
        help="Kafka consumer group whose input offsets the job commits (one job per group)",
    ),
    flag(
        "output-dir",
        default=None,
        metavar="DIR",
        help="directory (local path or any Beam filesystem URL) that also receives the enriched "
        "records as Avro files; none: Kafka only",
    ),
    flag(
        "stop-at-end",
        action="store_true",
        default=False,
        help="read up to the end offsets seen at start, then finish (else: run until stopped)",
    ),
    KAFKA_CONFIG,
    KAFKA_CONFIG_FILE,
    flag(
        "broker-timeout-seconds",
        type=float,
        default=DEFAULT_BROKER_TIMEOUT_SECONDS,
        help="seconds reads, writes and commits keep retrying while the Kafka broker is "
        "unreachable, before the job ends; > 0 and at most 2147483.647",
    ),
    flag(
        "dedup-ttl-hours",
        type=float,
        default=DEFAULT_TTL_HOURS,
        help="hours (event time) dedup remembers an article; a copy arriving later is kept "
        "(the story step remembers a kept article's story as long, for its copies)",
    ),
    flag(
        "template-window-hours",
        type=float,
        default=TemplateConfig().window_hours,
        help="hours (by fetched_at) a source's page line is remembered while learning its "
        "template lines (a line seen again within it counts one more page); independent of "
        "--dedup-ttl-hours",
    ),
    flag(
        "dedup-changelog",
        choices=("on", "off"),
        default="on",
        help="newsflow run: write the dedup index to the compacted topic "
        "<consumer-group>-dedup-changelog and restore it when the job starts with empty "
        "state, so dedup memory survives a restart of the local runner (whose state is in "
        "memory); off on a runner whose state is durable (Flink with checkpoints)",
    ),
    flag(
        "stories",
        choices=("on", "off"),
        default="on",
        help="link each enriched article and duplicate to its news story (story_id, and "
        "aliases on --story-aliases-topic); off: no story step, story_id stays null",
    ),
    flag(
        "story-idle-hours",
        type=float,
        default=StoryConfig().idle_hours,
        help="hours (by fetched_at) a story no article joined is remembered; a later report of "
        "its event starts a new story",
    ),
    flag(
        "story-max-age-hours",
        type=float,
        default=StoryConfig().max_age_hours,
        help="hours after its first article (by fetched_at) a story still takes new articles; "
        "a later report of its event starts a new story (inf: no limit, one story over days)",
    ),
    flag(
        "max-live-stories",
        type=int,
        default=StoryConfig().max_stories,
        help="stories remembered at most; beyond it the least recently joined are forgotten",
    ),
    flag(
        "story-threshold",
        type=float,
        default=StoryConfig().threshold,
        help="score in (0, 1] (weighted title, lead and entity TF-IDF cosines times a time "
        "decay) at which an article joins a story rather than start one",
    ),
    flag(
        "story-merge-threshold",
        type=float,
        default=StoryConfig().merge_threshold,
        help="score at which a second candidate story is the same story as the one an "
        "article joins: the two are folded and an alias is written; above 1: never",
    ),
    flag(
        "story-aliases-topic",
        default="articles.story_aliases",
        help="newsflow run: Kafka topic of the aliases {story_id, alias_of} written when two "
        "stories turn out to be one",
    ),
    flag(
        "story-changelog",
        choices=("on", "off"),
        default="on",
        help="newsflow run: write the story memory to the compacted topic "
        "<consumer-group>-stories-changelog and restore it when the job starts with empty "
        "state (the local runner); off on a runner whose state is durable (Flink)",
    ),
    flag(
        "near-dup-threshold",
        type=float,
        default=MinHashConfig().threshold,
        help="estimated share, in (0, 1], of the smaller article's word shingles found in "
        "the other at which two articles are near-duplicates",
    ),
    flag(
        "dedup-max-candidates",
        type=int,
        default=MinHashConfig().max_candidates,
        help="most remembered articles judged per near-duplicate lookup, those sharing the "
        "most LSH band keys first (0: no cap); bounds a lookup when many articles share "
        "stock text",
    ),
    flag(
        "max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest body accepted, in UTF-8 bytes; a larger one is a dead letter body_too_large",
    ),
    flag(
        "spacy-model",
        default=DEFAULT_MODEL,
        help="installed spaCy pipeline (package name); blank:LANG (e.g. blank:en): no NER, "
        "every entity list empty (for benchmarks of the rest of the job)",
    ),
    flag(
        "ner-batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help="articles per spaCy NER batch",
    ),
    flag(
        "ner-processes",
        type=int,
        default=DEFAULT_NER_PROCESSES,
        help="processes that run spaCy NER per SDK worker process, each holding the model "
        "(about 200 MB); 1 runs it inside the SDK worker, on one core; more use more cores "
        "where there are idle ones",
    ),
    flag(
        "value-format",
        choices=VALUE_FORMATS,
        default=SINGLE_OBJECT,
        help="Kafka value framing of the outputs: single-object Avro (C3 01 + schema "
        "fingerprint, no registry) or confluent (00 + 4-byte registry id; needs "
        "--schema-registry-url)",
    ),
    flag(
        "schema-registry-url",
        default=None,
        metavar="URL",
        help="Confluent-compatible schema registry API, e.g. "
        "http://127.0.0.1:8085/apis/ccompat/v7; also decodes Confluent-framed input events; "
        "none: no registry",
    ),
    flag(
        "metrics-port",
        type=int,
        default=None,
        help="newsflow run: TCP port serving Prometheus metrics at http://HOST:PORT/metrics "
        "while the job runs; none: no endpoint",
    ),
    flag(
        "metrics-host",
        default="127.0.0.1",
        help="address the metrics endpoint binds to (0.0.0.0: every interface)",
    ),
    flag(
        "idle-watermark-lag-seconds",
        type=float,
        default=2.0,
        help="streaming: a caught-up input partition, and the partition listing, move their "
        "event-time watermark to the wall clock minus this many seconds, room for records "
        "stamped by their producer but not yet appended (a record stamped behind it is "
        "lifted to it); the keyed steps wait for this watermark, so it is part of every "
        "article's latency. FlinkRunner default 0.5 (see deploy/README.md)",
    ),
    flag(
        "idle-poll-millis",
        type=int,
        default=1000,
        help="streaming and --stop-at-end: how long the Kafka reader waits for new records on a "
        "caught-up partition before handing it back to the runner, moving its watermark on; "
        "shorter moves an idle partition's watermark more often, for more polls per second. "
        "FlinkRunner default in streaming 100",
    ),
    flag(
        "idle-rest-millis",
        type=int,
        default=1000,
        help="streaming and --stop-at-end: how long a caught-up partition rests after an empty "
        "poll before the runner resumes it; its watermark moves only when it is polled, so poll "
        "plus rest is how far an idle partition holds the keyed steps back, and a shorter rest "
        "costs more polls. Beam 2.62's FlinkRunner keeps only the whole seconds of the rest left "
        "when the bundle ends (1000 resumes at once there). FlinkRunner default in streaming 1500",
    ),
    flag(
        "checkpoint-interval-seconds",
        type=float,
        default=10.0,
        help="FlinkRunner, streaming: seconds between exactly-once checkpoints (Beam's "
        "--checkpointing_interval, in ms, wins when given); 0: no checkpoints",
    ),
    flag(
        "detach",
        action="store_true",
        default=False,
        help="FlinkRunner on a cluster: return once the job is submitted and leave it "
        "running; without it, a launcher that ends (Ctrl-C, SIGTERM, an error) cancels it",
    ),
    flag(
        "window-seconds",
        type=int,
        default=60,
        help="streaming with --output-dir: length of a file window, in seconds of arrival at the "
        "sink (one set of Avro files per window)",
    ),
)


class NewsflowOptions(PipelineOptions):
    """Options of ``newsflow run`` and ``newsflow process``; see ``newsflow run --help``."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        add_flags(parser, NEWSFLOW_FLAGS)


def dedup_config(opts: NewsflowOptions, kafka: KafkaConnection | None = None) -> DedupConfig:
    """The frozen config every dedup worker gets; seeds are fixed inside MinHashConfig. With the
    job's Kafka connection ``kafka`` (``newsflow run``) and ``--dedup-changelog on``, the index is
    also kept in the group's changelog topic; file mode passes none and has no changelog."""
    changelog = None
    if kafka is not None and opts.dedup_changelog == "on":
        changelog = ChangelogConfig(
            connection=kafka,
            topic=changelog_topic(opts.consumer_group),
            ttl_ms=int(opts.dedup_ttl_hours * 3600 * 1000),
        )
    return DedupConfig(
        ttl_hours=opts.dedup_ttl_hours,
        minhash=replace(
            MinHashConfig(),
            threshold=opts.near_dup_threshold,
            max_candidates=opts.dedup_max_candidates,
        ),
        changelog=changelog,
    )


def template_config(opts: NewsflowOptions) -> TemplateConfig:
    """The template step's config: ``TemplateConfig`` over ``--template-window-hours``."""
    return replace(TemplateConfig(), window_hours=opts.template_window_hours)


def stories_config(
    opts: NewsflowOptions,
    kafka: KafkaConnection | None = None,
    alias_encoder: ValueEncoder | None = None,
) -> StoriesConfig:
    """The story step's config. With the job's Kafka connection ``kafka`` (``newsflow run``) the
    aliases go to ``--story-aliases-topic`` (encoded by ``alias_encoder``) and, with
    ``--story-changelog on``, the memory is kept in ``<group>-stories-changelog``; file mode
    passes none."""
    story = replace(
        StoryConfig(),
        idle_hours=opts.story_idle_hours,
        max_age_hours=opts.story_max_age_hours,
        max_stories=opts.max_live_stories,
        threshold=opts.story_threshold,
        merge_threshold=opts.story_merge_threshold,
        # A duplicate names an original only while dedup remembers it: longer is dead memory.
        duplicate_memory_hours=opts.dedup_ttl_hours,
    )
    if kafka is None:
        return StoriesConfig(story)

    def topic(name: str) -> ChangelogConfig:
        retention_hours = max(story.idle_hours, story.duplicate_memory_hours)
        return ChangelogConfig(
            connection=kafka, topic=name, ttl_ms=int(retention_hours * 3600 * 1000)
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
    if opts.dedup_ttl_hours > MAX_TTL_HOURS:
        raise ValueError(
            f"--dedup-ttl-hours must be at most {MAX_TTL_HOURS:,} (the TTL sets Beam timers and "
            f"the changelog's retention.ms), got {opts.dedup_ttl_hours}"
        )
    if not 0 <= opts.idle_watermark_lag_seconds < math.inf:  # also refuses nan
        raise ValueError(
            "--idle-watermark-lag-seconds must be finite and >= 0, got "
            f"{opts.idle_watermark_lag_seconds}"
        )
    if opts.idle_poll_millis <= 0:
        raise ValueError(f"--idle-poll-millis must be > 0, got {opts.idle_poll_millis}")
    if opts.idle_rest_millis < 0:
        raise ValueError(f"--idle-rest-millis must be >= 0, got {opts.idle_rest_millis}")
    if not 0 < opts.template_window_hours <= MAX_TTL_HOURS:  # also refuses nan
        raise ValueError(
            f"--template-window-hours must be > 0 and at most {MAX_TTL_HOURS:,}, got "
            f"{opts.template_window_hours}"
        )
    if not 0.0 < opts.near_dup_threshold <= 1.0:
        raise ValueError(f"--near-dup-threshold must be in (0, 1], got {opts.near_dup_threshold}")
    if opts.dedup_max_candidates < 0:
        raise ValueError(
            f"--dedup-max-candidates must be >= 0 (0: no cap), got {opts.dedup_max_candidates}"
        )
    if not 0 < opts.story_idle_hours < math.inf:
        raise ValueError(f"--story-idle-hours must be finite and > 0, got {opts.story_idle_hours}")
    if not opts.story_max_age_hours > 0:  # also refuses nan; inf is no limit
        raise ValueError(f"--story-max-age-hours must be > 0, got {opts.story_max_age_hours}")
    if opts.max_live_stories <= 0:
        raise ValueError(f"--max-live-stories must be > 0, got {opts.max_live_stories}")
    if not 0.0 < opts.story_threshold <= 1.0:
        raise ValueError(f"--story-threshold must be in (0, 1], got {opts.story_threshold}")
    if not opts.story_merge_threshold >= opts.story_threshold:  # also refuses nan
        merge = opts.story_merge_threshold
        raise ValueError(f"--story-merge-threshold must be >= --story-threshold, got {merge}")
    if opts.max_body_bytes <= 0:
        raise ValueError(f"--max-body-bytes must be > 0, got {opts.max_body_bytes}")
    if opts.max_record_bytes < MIN_RECORD_BYTES:
        limit = opts.max_record_bytes
        raise ValueError(f"--max-record-bytes must be >= {MIN_RECORD_BYTES}, got {limit}")
    if opts.ner_batch_size <= 0:
        raise ValueError(f"--ner-batch-size must be > 0, got {opts.ner_batch_size}")
    if opts.ner_processes <= 0:
        raise ValueError(f"--ner-processes must be > 0, got {opts.ner_processes}")
    check_broker_timeout(opts.broker_timeout_seconds)
    if opts.window_seconds <= 0:
        raise ValueError(f"--window-seconds must be > 0, got {opts.window_seconds}")
    check_client_settings(kafka_connection(opts).config, opts.max_record_bytes)
    if opts.metrics_port is not None and not 0 < opts.metrics_port < 65536:
        raise ValueError(f"--metrics-port must be in 1..65535, got {opts.metrics_port}")
    if opts.value_format == CONFLUENT and not opts.schema_registry_url:
        raise ValueError("--value-format confluent needs --schema-registry-url")


def kafka_connection(opts: NewsflowOptions) -> KafkaConnection:
    """The job's one Kafka connection (servers, settings, broker timeout), handed to every Kafka
    transform; ``ValueError`` names a setting that cannot be used."""
    return KafkaConnection.of(
        opts.bootstrap_servers, kafka_overrides(opts), opts.broker_timeout_seconds
    )


def kafka_overrides(opts: NewsflowOptions | argparse.Namespace) -> dict[str, str]:
    """``--kafka-config-file`` settings, then ``--kafka-config`` pairs in the order given (a later
    key wins), from the pipeline options or a tool's parsed flags; secrets stay references (see
    ``kafka_config``)."""
    return kafka_settings(opts.kafka_config, opts.kafka_config_file)
