"""LinkStories in streaming: stories decided in event-time order, duplicates taking their
original's story across batches, idle stories forgotten, aliases emitted, failures dead-lettered."""

from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.steps.dead_letters import DEAD_LETTER
from transforms.steps.stories import (
    ALIASES,
    ARTICLES,
    DUPLICATES,
    LinkStories,
    StoriesConfig,
)
from transforms.text.models import Article, SourceRef
from transforms.text.stories import StoryConfig, story_id_for

pytestmark = pytest.mark.stream

HOUR = 3600
DEFAULT = StoryConfig()
PLANE = (
    "Malaysia Airlines flight MH370 search widens to Indian Ocean",
    "Search for missing Malaysia Airlines MH370 moves to Indian Ocean",
)
APPLE = "Apple releases iOS 7.1 with CarPlay and Siri fixes"
CRIMEA = (
    "Crimea votes in referendum on joining Russia",
    "Putin signs treaty annexing Crimea to Russia",
    "Crimea referendum: Putin signs Russia treaty after votes",
)


def article(article_id: str, title: str, fetched_s: int, offset: int, duplicate_of=None):
    return Article(
        id=article_id,
        raw_body=title,
        body=title,
        title=title,
        fetched_at=fetched_s * 1000,
        ref=SourceRef(topic="articles.raw", partition=0, offset=offset),
        duplicate_of=duplicate_of,
    )


def at(a: Article) -> TimestampedValue:
    return TimestampedValue(a, a.fetched_at / 1000)


def run_stories(stream: TestStream, cfg: StoryConfig = DEFAULT):
    """The stream's articles split into enriched and duplicates (a TestStream has one output)."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(options=options)
    both = pipeline | stream
    kept, dups = both | "Split" >> beam.Partition(lambda a, _: int(a.duplicate_of is not None), 2)
    out = {ARTICLES: kept, DUPLICATES: dups} | LinkStories(StoriesConfig(cfg))
    stories = out[ARTICLES] | "Stories" >> beam.Map(lambda a: (a.id, a.story_id))
    dup_stories = out[DUPLICATES] | "DupStories" >> beam.Map(lambda a: (a.id, a.story_id))
    aliases = out[ALIASES] | "Aliases" >> beam.Map(lambda r: (r["story_id"], r["alias_of"]))
    dead = out[DEAD_LETTER] | "Dead" >> beam.Map(lambda d: (str(d.ref), d.code))
    return pipeline, stories, dup_stories, aliases, dead


def test_reports_join_stories_and_duplicates_take_their_originals_story():
    plane, apple = story_id_for("p1"), story_id_for("a1")
    stream = (
        TestStream()
        .advance_watermark_to(0)
        # Out of input order within a batch: decided by fetched_at all the same.
        .add_elements([at(article("p2", PLANE[1], 110, 1)), at(article("p1", PLANE[0], 100, 0))])
        .add_elements([at(article("a1", APPLE, 120, 2))])
        # A copy of p2 in the same batch as it, and one a batch later.
        .add_elements([at(article("d1", PLANE[1], 111, 3, duplicate_of="p2"))])
        .advance_watermark_to(200)
        .add_elements([at(article("d2", APPLE, 300, 4, duplicate_of="a1"))])
        .advance_watermark_to(400)
        # The plane story is idle past --story-idle-hours: a new report starts a new story.
        .add_elements([at(article("p3", PLANE[0], 100 + 73 * HOUR, 5))])
        .advance_watermark_to(100 + 74 * HOUR)
        .advance_watermark_to_infinity()
    )
    pipeline, stories, dup_stories, aliases, dead = run_stories(stream)
    assert_that(
        stories,
        equal_to([("p1", plane), ("p2", plane), ("a1", apple), ("p3", story_id_for("p3"))]),
        label="stories",
    )
    assert_that(dup_stories, equal_to([("d1", plane), ("d2", apple)]), label="duplicates")
    assert_that(aliases, equal_to([]), label="aliases")
    assert_that(dead, equal_to([]), label="dead")
    pipeline.run()


def test_two_stories_found_to_be_one_emit_an_alias_and_keep_their_ids():
    cfg = replace(StoryConfig(), threshold=0.3, merge_threshold=0.35, time_scale_hours=1e9)
    first, second = story_id_for("c1"), story_id_for("c2")
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(article("c1", CRIMEA[0], 100, 0)), at(article("c2", CRIMEA[1], 101, 1))])
        .advance_watermark_to(200)
        .add_elements([at(article("c3", CRIMEA[2], 300, 2))])
        .advance_watermark_to(400)
        .add_elements([at(article("c4", CRIMEA[1], 500, 3))])
        .advance_watermark_to(600)
        .advance_watermark_to_infinity()
    )
    pipeline, stories, _, aliases, _ = run_stories(stream, cfg)
    assert_that(
        stories,
        equal_to([("c1", first), ("c2", second), ("c3", first), ("c4", first)]),
        label="stories",
    )
    assert_that(aliases, equal_to([(second, first)]), label="aliases")
    pipeline.run()
