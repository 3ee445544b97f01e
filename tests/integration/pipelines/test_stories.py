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


def outputs(bootstrap: str, topic: str) -> list[dict]:
    return [describe(m) for m in read_topic(topic, bootstrap, {})]


def test_story_ids_and_aliases_survive_a_restart(kafka_bootstrap, unique_topic, run_args, tmp_path):
    topics = {name: unique_topic(1, name) for name in ("raw", "enriched", "duplicates", "dlq")}
    aliases_topic = unique_topic(1, "aliases")
    group = f"{topics['raw']}.group"
    lines = HEADLINES.read_text().splitlines(keepends=True)
    for number, part in enumerate((lines[:FIRST_RUN], lines[FIRST_RUN:])):
        feed = tmp_path / f"part{number}.jsonl"
        feed.write_text("".join(part))
        assert produce(str(feed), topics["raw"], kafka_bootstrap, {}) == len(part)
        argv = run_args(kafka_bootstrap, topics, group, tmp_path / f"out{number}", "--stop-at-end")
        assert cli.main([*argv, "--story-aliases-topic", aliases_topic, *THRESHOLDS]) == 0
        if number == 0:
            first = {r["id"]: r["story_id"] for r in outputs(kafka_bootstrap, topics["enriched"])}
            assert read_topic(changelog_topic(group, "stories"), kafka_bootstrap, {})

    story = {name: story_id_for(name) for name in ("p1", "p2", "c1", "c2", "i1")}
    assert first == story, "each first report starts its story"
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
    aliases = outputs(kafka_bootstrap, aliases_topic)
    assert {(a["story_id"], a["alias_of"]) for a in aliases} == {
        (story["p2"], story["p1"]),
        (story["c2"], story["c1"]),
    }
    assert len(aliases) == 2, "each alias written once"
    assert outputs(kafka_bootstrap, topics["dlq"]) == []
