"""DeduplicateArticles in streaming: first copy kept, later copies routed, state expiring."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.steps.dedup import ARTICLES, DUPLICATES, DedupConfig, DeduplicateArticles
from transforms.text.fingerprint import exact_key
from transforms.text.models import Article, SourceRef

pytestmark = pytest.mark.stream

HOUR = 3600
STORY = " ".join(
    f"Paragraph {n} of the council report says the bridge on route {n} needs repair work."
    for n in range(12)
)
OTHER = " ".join(f"Match report {n}: the visitors scored {n} goals in the rain." for n in range(12))


def article(article_id: str, body: str, fetched_s: int, offset: int) -> Article:
    return Article(
        id=article_id,
        raw_body=body,
        body=body,
        fetched_at=fetched_s * 1000,
        ref=SourceRef(topic="articles.raw", partition=0, offset=offset),
        content_hash=exact_key(body),
    )


def at(a: Article) -> TimestampedValue:
    return TimestampedValue(a, a.fetched_at / 1000)


def run_dedup(stream: TestStream, ttl_hours: float = 1.0):
    """Each stream advances the watermark past its last element before +inf: the BundleBased
    DirectRunner (the one that runs TestStream) holds no watermark for pending timers, so outputs of
    timers that fire only at the final jump would reach assert_that too late."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(options=options)
    out = pipeline | stream | DeduplicateArticles(DedupConfig(ttl_hours=ttl_hours))
    kept = out[ARTICLES] | "KeptIds" >> beam.Map(lambda a: a.id)
    dups = out[DUPLICATES] | "DupPairs" >> beam.Map(lambda a: (a.id, a.duplicate_of))
    return pipeline, kept, dups


def test_copies_within_ttl_are_duplicates_of_the_first():
    edited = STORY.replace("bridge", "viaduct", 1).replace("repair", "urgent repair", 1)
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(article("first", STORY, 100, 0)), at(article("other", OTHER, 110, 1))])
        .advance_watermark_to(200)
        .add_elements([at(article("exact", STORY, 300, 2)), at(article("edited", edited, 310, 3))])
        .advance_watermark_to(400)
        .advance_watermark_to_infinity()
    )
    pipeline, kept, dups = run_dedup(stream)
    assert_that(kept, equal_to(["first", "other"]), label="kept")
    assert_that(dups, equal_to([("exact", "first"), ("edited", "first")]), label="dups")
    pipeline.run()


def test_a_copy_after_the_ttl_is_kept_again():
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(article("first", STORY, 100, 0))])
        .advance_watermark_to(100 + 2 * HOUR)
        .add_elements([at(article("late-copy", STORY, 100 + 2 * HOUR + 1, 1))])
        .advance_watermark_to(100 + 3 * HOUR)
        .advance_watermark_to_infinity()
    )
    pipeline, kept, dups = run_dedup(stream, ttl_hours=1.0)
    assert_that(kept, equal_to(["first", "late-copy"]), label="kept")
    assert_that(dups, equal_to([]), label="dups")
    pipeline.run()


def test_earliest_fetched_copy_wins_when_copies_arrive_together():
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements(
            [
                TimestampedValue(article("later-fetch", STORY, 500, 0), 505),
                TimestampedValue(article("earlier-fetch", STORY, 400, 1), 505),
            ]
        )
        .advance_watermark_to(600)
        .advance_watermark_to_infinity()
    )
    pipeline, kept, dups = run_dedup(stream)
    assert_that(kept, equal_to(["earlier-fetch"]), label="kept")
    assert_that(dups, equal_to([("later-fetch", "earlier-fetch")]), label="dups")
    pipeline.run()
