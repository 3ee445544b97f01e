"""Stories through the real broker: ``newsflow run --stop-at-end`` twice on one consumer group,
a headline feed split in two. Every enriched record and duplicate carries ``story_id``; the
second run, a new job with empty Beam state, restores the story memory from the group's
changelog, so its articles join the first run's stories, its duplicates take their originals'
stories, and the two stories it shows to be one each become an alias on the aliases topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic
from transforms.io.changelog import changelog_topic
from transforms.text.stories import story_id_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
HEADLINES = ROOT / "tests" / "data" / "headlines.jsonl"
# Fixed, so the fixture's expectations do not move when the defaults are retuned.
THRESHOLDS = ("--story-threshold", "0.45", "--story-merge-threshold", "0.45")
FIRST_RUN = 5


def outputs(bootstrap: str, topic: str, skip_key: bytes | None = None) -> list[dict]:
    return [describe(m) for m in read_topic(topic, bootstrap, {}) if m.key != skip_key]


def run_part(lines, number: int, topics, group, aliases_topic, kafka_bootstrap, run_args, tmp_path):
    """Produce feed lines (unless already on the topic: ``lines`` empty) and run the job on them
    to the end; the job's exit code."""
    if lines:
        feed = tmp_path / f"part{number}.jsonl"
        feed.write_text("".join(lines))
        assert produce(str(feed), topics["raw"], kafka_bootstrap, {}) == len(lines)
    argv = run_args(kafka_bootstrap, topics, group, tmp_path / f"out{number}", "--stop-at-end")
    return cli.main([*argv, "--story-aliases-topic", aliases_topic, *THRESHOLDS])


def expected_outputs(kafka_bootstrap, topics, aliases_topic, probe_key=None) -> None:
    """The whole feed's stories, duplicates and aliases, each written once (messages keyed
    ``probe_key`` left out)."""
    story = {name: story_id_for(name) for name in ("p1", "p2", "c1", "c2", "i1")}
    enriched = {r["id"]: r["story_id"] for r in outputs(kafka_bootstrap, topics["enriched"])}
    assert enriched == {
        **story,
        "p3": story["p1"],  # joins (and joins up) the first run's stories
        "c3": story["c1"],
        "i2": story["i1"],
    }
    duplicates = outputs(kafka_bootstrap, topics["duplicates"])
    assert {r["id"]: (r["duplicate_of"], r["story_id"]) for r in duplicates} == {
        "p2-copy": ("p2", story["p2"]),  # the story its original was given, never rewritten
        "c2-copy": ("c2", story["c2"]),
    }
    aliases = outputs(kafka_bootstrap, aliases_topic, probe_key)
    assert {(a["story_id"], a["alias_of"]) for a in aliases} == {
        (story["p2"], story["p1"]),
        (story["c2"], story["c1"]),
    }
    assert len(aliases) == 2, "each alias written once"
    assert outputs(kafka_bootstrap, topics["dlq"]) == []


def test_story_ids_and_aliases_survive_a_restart(kafka_bootstrap, unique_topic, run_args, tmp_path):
    topics = {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}
    aliases_topic = unique_topic(1, "aliases")
    group = f"{topics['raw']}.group"
    lines = HEADLINES.read_text().splitlines(keepends=True)
    for number, part in enumerate((lines[:FIRST_RUN], lines[FIRST_RUN:])):
        run = (part, number, topics, group, aliases_topic, kafka_bootstrap, run_args, tmp_path)
        assert run_part(*run) == 0
        if number == 0:
            first = {r["id"]: r["story_id"] for r in outputs(kafka_bootstrap, topics["enriched"])}
            assert read_topic(changelog_topic(group, "stories"), kafka_bootstrap, {})
            assert first == {name: story_id_for(name) for name in ("p1", "p2", "c1", "c2", "i1")}
    expected_outputs(kafka_bootstrap, topics, aliases_topic)


def test_aliases_a_failed_run_could_not_write_are_written_by_the_next(
    kafka_bootstrap, unique_topic, run_args, tmp_path, message_limits
):
    """The aliases topic refuses every write of the second run (its largest message set to one
    byte): that run fails, and the next run on the group, the topic mended, writes both aliases
    once. While the changelog was written first, the failed run's folds were in it already and
    the next run, restoring them, had nothing left to alias: both aliases were lost."""
    topics = {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}
    aliases_topic = unique_topic(1, "aliases")
    group = f"{topics['raw']}.group"
    lines = HEADLINES.read_text().splitlines(keepends=True)
    run = (topics, group, aliases_topic, kafka_bootstrap, run_args, tmp_path)
    assert run_part(lines[:FIRST_RUN], 0, *run) == 0
    message_limits.set(aliases_topic, 1)
    assert run_part(lines[FIRST_RUN:], 1, *run) != 0
    probe = message_limits.PROBE_KEY
    assert outputs(kafka_bootstrap, aliases_topic, probe) == []
    message_limits.lift(aliases_topic)
    assert run_part([], 2, *run) == 0
    expected_outputs(kafka_bootstrap, topics, aliases_topic, probe)
