"""``validate``: every rule of NewsflowOptions, reached through the flags a user types."""

from __future__ import annotations

import re

import pytest

from pipelines.options import (
    NewsflowOptions,
    dedup_config,
    kafka_overrides,
    stories_config,
    template_config,
    validate,
)

KAFKA_CONFIG = "--kafka-config expects KEY=VALUE (e.g. security.protocol=SSL)"


def options(*argv: str) -> NewsflowOptions:
    return NewsflowOptions(list(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dedup-ttl-hours", "0"], "--dedup-ttl-hours must be finite and > 0, got 0.0"),
        (["--dedup-ttl-hours", "-1"], "--dedup-ttl-hours must be finite and > 0, got -1.0"),
        (["--dedup-ttl-hours", "nan"], "--dedup-ttl-hours must be finite and > 0, got nan"),
        (["--dedup-ttl-hours", "inf"], "--dedup-ttl-hours must be finite and > 0, got inf"),
        (["--near-dup-threshold", "0"], "--near-dup-threshold must be in (0, 1], got 0.0"),
        (["--near-dup-threshold", "-0.2"], "--near-dup-threshold must be in (0, 1], got -0.2"),
        (["--near-dup-threshold", "1.01"], "--near-dup-threshold must be in (0, 1], got 1.01"),
        (["--near-dup-threshold", "nan"], "--near-dup-threshold must be in (0, 1], got nan"),
        (
            ["--dedup-max-candidates", "-1"],
            "--dedup-max-candidates must be >= 0 (0: no cap), got -1",
        ),
        (["--story-idle-hours", "0"], "--story-idle-hours must be finite and > 0, got 0.0"),
        (
            ["--template-window-hours", "0"],
            "--template-window-hours must be > 0 and at most 1,000,000, got 0.0",
        ),
        (
            ["--template-window-hours", "nan"],
            "--template-window-hours must be > 0 and at most 1,000,000, got nan",
        ),
        (["--story-idle-hours", "inf"], "--story-idle-hours must be finite and > 0, got inf"),
        (["--story-max-age-hours", "0"], "--story-max-age-hours must be > 0, got 0.0"),
        (["--story-max-age-hours", "nan"], "--story-max-age-hours must be > 0, got nan"),
        (["--max-live-stories", "0"], "--max-live-stories must be > 0, got 0"),
        (["--story-threshold", "0"], "--story-threshold must be in (0, 1], got 0.0"),
        (["--story-threshold", "nan"], "--story-threshold must be in (0, 1], got nan"),
        (
            ["--story-threshold", "0.5", "--story-merge-threshold", "0.4"],
            "--story-merge-threshold must be >= --story-threshold, got 0.4",
        ),
        (["--max-body-bytes", "0"], "--max-body-bytes must be > 0, got 0"),
        (["--max-body-bytes", "-5"], "--max-body-bytes must be > 0, got -5"),
        (["--max-record-bytes", "16383"], "--max-record-bytes must be >= 16384, got 16383"),
        (
            ["--max-record-bytes", "1047553"],
            "--max-record-bytes 1047553 leaves no room under the Kafka setting max.request.size "
            "(1048576): keep it at most 1047552",
        ),
        (
            ["--max-record-bytes", "2000000", "--kafka-config", "max.request.size=2000000"],
            "keep it at most 1998976",
        ),
        (["--ner-batch-size", "0"], "--ner-batch-size must be > 0, got 0"),
        (["--ner-processes", "0"], "--ner-processes must be > 0, got 0"),
        (["--window-seconds", "0"], "--window-seconds must be > 0, got 0"),
        (["--window-seconds", "-60"], "--window-seconds must be > 0, got -60"),
        (["--idle-rest-millis", "-1"], "--idle-rest-millis must be >= 0, got -1"),
        (["--kafka-config", "security.protocol"], f"{KAFKA_CONFIG}, got 'security.protocol'"),
        (["--kafka-config", "=SSL"], f"{KAFKA_CONFIG}, got '=SSL'"),
        (["--kafka-config", "linger.ms=5", "--kafka-config", "x"], f"{KAFKA_CONFIG}, got 'x'"),
        (["--metrics-port", "0"], "--metrics-port must be in 1..65535, got 0"),
        (["--metrics-port", "65536"], "--metrics-port must be in 1..65535, got 65536"),
        (["--value-format", "confluent"], "--value-format confluent needs --schema-registry-url"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_naming_flag_and_value(argv, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(options(*argv))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--dedup-ttl-hours", "0.01"],
        ["--template-window-hours", "0.01"],
        ["--near-dup-threshold", "1"],
        ["--near-dup-threshold", "0.05"],
        ["--max-body-bytes", "1"],
        ["--max-record-bytes", "16384"],
        ["--max-record-bytes", "1047552"],
        ["--max-record-bytes", "4000000", "--kafka-config", "max.request.size=4194304"],
        ["--dedup-max-candidates", "0"],
        ["--dedup-max-candidates", "1"],
        ["--ner-batch-size", "1"],
        ["--window-seconds", "1"],
        ["--ner-processes", "1"],
        ["--metrics-port", "1"],
        ["--metrics-port", "65535"],
        ["--idle-rest-millis", "0"],
        ["--value-format", "confluent", "--schema-registry-url", "http://127.0.0.1:8085"],
        ["--kafka-config", "sasl.plain.username=a=b="],
        ["--kafka-config", "sasl.plain.password=${env:KAFKA_PASSWORD}"],
        # the underscore spellings reach the same settings
        ["--dedup_ttl_hours", "2", "--near_dup_threshold", "0.7", "--window_seconds", "5"],
    ],
)
def test_boundary_and_default_settings_are_accepted(argv):
    validate(options(*argv))


def test_underscore_spelling_sets_the_same_option_as_the_hyphenated_flag():
    hyphen = options("--dedup-ttl-hours", "2", "--ner-batch-size", "8")
    underscore = options("--dedup_ttl_hours", "2", "--ner_batch_size", "8")
    assert (hyphen.dedup_ttl_hours, hyphen.ner_batch_size) == (2.0, 8)
    assert (underscore.dedup_ttl_hours, underscore.ner_batch_size) == (2.0, 8)


def test_the_candidate_cap_reaches_the_dedup_config():
    assert dedup_config(options("--dedup-max-candidates", "50")).minhash.max_candidates == 50
    assert dedup_config(options("--dedup_max_candidates", "0")).minhash.max_candidates == 0


def test_the_template_window_reaches_the_template_config_and_defaults_to_72_hours():
    assert template_config(options()).window_hours == 72.0
    assert template_config(options("--template-window-hours", "0.05")).window_ms == 180_000
    assert template_config(options("--template_window_hours", "2")).min_pages == 4


def test_the_story_step_remembers_a_kept_article_as_long_as_dedup_does():
    # A duplicate names its original only within the dedup TTL; the story step's memory of the
    # original's story must last as long, and no longer (it was a fixed week: unbounded by a
    # short TTL, so the job's memory never levelled off).
    assert stories_config(options()).story.duplicate_memory_hours == 168.0
    assert stories_config(options("--dedup-ttl-hours", "0.05")).story.duplicate_memory_hours == 0.05


def test_kafka_overrides_keep_the_order_and_a_later_key_wins():
    opts = options(
        "--kafka-config", "security.protocol=SSL",
        "--kafka-config", "client.id=p=w",
        "--kafka-config", "security.protocol=SASL_SSL",
    )  # fmt: skip
    assert kafka_overrides(opts) == {
        "security.protocol": "SASL_SSL",
        "client.id": "p=w",
    }
