"""Every newsflow setting, as Beam pipeline options with hyphenated CLI flags.

Each flag also answers to its underscore spelling so Beam-style argument lists work unchanged;
where Beam already owns that spelling with the same meaning (``--bootstrap_servers``, from its
Kafka Streams runner options) the two share one destination. Units are in the names. Kafka client
settings (SASL/SSL included) pass through ``--kafka-config KEY=VALUE``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.io.broker_retry import DEFAULT_BROKER_TIMEOUT_SECONDS
from transforms.io.kafka_config import client_config, kafka_settings
from transforms.steps.dedup import DEFAULT_TTL_HOURS, DedupConfig
from transforms.steps.enrich import DEFAULT_BATCH_SIZE
from transforms.text.event import DEFAULT_MAX_BODY_BYTES
from transforms.text.near_dup import MinHashConfig
from transforms.text.ner import DEFAULT_MODEL

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


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
        _flag(parser, "output-dir", default=None, help="also write Avro files here (any Beam FS)")
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
        _flag(parser, "dedup-ttl-hours", type=float, default=DEFAULT_TTL_HOURS)
        _flag(parser, "near-dup-threshold", type=float, default=MinHashConfig().threshold)
        _flag(parser, "max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
        _flag(parser, "spacy-model", default=DEFAULT_MODEL, help="installed spaCy pipeline name")
        _flag(parser, "ner-batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        _flag(
            parser,
            "window-seconds",
            type=int,
            default=60,
            help="streaming: roll output files per window of this length",
        )


def dedup_config(opts: NewsflowOptions) -> DedupConfig:
    """The frozen config every dedup worker gets; seeds are fixed inside MinHashConfig."""
    return DedupConfig(
        ttl_hours=opts.dedup_ttl_hours,
        minhash=replace(MinHashConfig(), threshold=opts.near_dup_threshold),
    )


def validate(opts: NewsflowOptions) -> None:
    """Reject settings that cannot work, before any worker starts; raises ValueError."""
    if opts.dedup_ttl_hours <= 0:
        raise ValueError(f"--dedup-ttl-hours must be > 0, got {opts.dedup_ttl_hours}")
    if not 0.0 < opts.near_dup_threshold <= 1.0:
        raise ValueError(f"--near-dup-threshold must be in (0, 1], got {opts.near_dup_threshold}")
    if opts.max_body_bytes <= 0:
        raise ValueError(f"--max-body-bytes must be > 0, got {opts.max_body_bytes}")
    if opts.ner_batch_size <= 0:
        raise ValueError(f"--ner-batch-size must be > 0, got {opts.ner_batch_size}")
    if opts.broker_timeout_seconds <= 0:
        raise ValueError(f"--broker-timeout-seconds must be > 0, got {opts.broker_timeout_seconds}")
    if opts.window_seconds <= 0:
        raise ValueError(f"--window-seconds must be > 0, got {opts.window_seconds}")
    client_config(opts.bootstrap_servers, kafka_overrides(opts))


def kafka_overrides(opts: NewsflowOptions) -> dict[str, str]:
    """``--kafka-config-file`` settings, then ``--kafka-config`` pairs in the order given (a later
    key wins); secrets stay references (see ``kafka_config``)."""
    return kafka_settings(opts.kafka_config, opts.kafka_config_file)
