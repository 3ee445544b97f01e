"""``newsflow process`` on a headline feed: every enriched record and duplicate has its story,
the aliases are in ``story_aliases*.jsonl``, and ``--stories off`` leaves ``story_id`` null."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import cli
from transforms.text.stories import story_id_for

pytestmark = pytest.mark.stream

ROOT = Path(__file__).resolve().parents[3]
HEADLINES = ROOT / "tests" / "data" / "headlines.jsonl"
THRESHOLDS = ["--story-threshold", "0.45", "--story-merge-threshold", "0.45"]


def json_lines(folder: Path, prefix: str) -> list[dict]:
    return [json.loads(line) for p in folder.glob(f"{prefix}-*.jsonl") for line in p.open()]


def test_headline_feed_records_carry_stories_and_aliases(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["process", str(HEADLINES), "--output", str(out), *THRESHOLDS]) == 0
    story = {name: story_id_for(name) for name in ("p1", "p2", "c1", "c2", "i1")}
    records = json_lines(out, "enriched") + json_lines(out, "duplicates")
    assert {r["id"]: r["story_id"] for r in records} == {
        **story,
        "p3": story["p1"],
        "c3": story["c1"],
        "i2": story["i1"],
        "p2-copy": story["p2"],
        "c2-copy": story["c2"],
    }
    aliases = {(a["story_id"], a["alias_of"]) for a in json_lines(out, "story_aliases")}
    assert aliases == {(story["p2"], story["p1"]), (story["c2"], story["c1"])}
    assert json_lines(out, "dead_letter") == []


def test_stories_off_leaves_story_id_null(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["process", str(HEADLINES), "--output", str(out), "--stories", "off"]) == 0
    records = json_lines(out, "enriched") + json_lines(out, "duplicates")
    assert len(records) == 10
    assert {r["story_id"] for r in records} == {None}
    assert json_lines(out, "story_aliases") == []


def test_every_input_leaves_once_with_its_story(tmp_path):
    """The core guarantee with the story step on: each of 60 distinct headlines (many NER batches,
    a few copies among them) is in exactly one output, once, with a story. An output stamped
    behind the watermark would be late at the file sinks' grouping and missing here."""
    events = tmp_path / "events.jsonl"
    lines = [headline_event(n) for n in range(60)]
    lines += [{**headline_event(n), "id": f"copy-{n}"} for n in (3, 30)]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    argv = ["process", str(events), "--output", str(out), "--ner-batch-size", "4"]
    assert cli.main(argv) == 0
    records = json_lines(out, "enriched") + json_lines(out, "duplicates")
    ids = [r["id"] for r in records] + [d["ref"]["line"] for d in json_lines(out, "dead_letter")]
    assert sorted(ids) == sorted(line["id"] for line in lines)
    assert all(r["story_id"] for r in records)
    duplicates = {r["id"]: r["duplicate_of"] for r in json_lines(out, "duplicates")}
    assert duplicates == {"copy-3": "h3", "copy-30": "h30"}


SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "ze", "bi", "du")


def headline_event(n: int) -> dict:
    """A headline feed's event: the title is the body, made of words no other ``n`` has."""
    words = [
        "".join(SYLLABLES[(n * 7 + k * 3 + i) % 10] for i in range(3)) + str(n) for k in range(6)
    ]
    title = " ".join(words).capitalize()
    return {"id": f"h{n}", "source": f"site{n % 5}.example", "title": title, "body": title}
