"""DeduplicateArticles in streaming: first copy kept, later copies routed to the kept copy, state
expiring, state requests counted, a failing article dead-lettered."""

from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipelines.runners import use_local_runner
from pipelines.state_channel import counting_state_requests
from transforms.steps.buffering import STATE_REQUESTS
from transforms.steps.dedup import NAMESPACE, DedupConfig, DeduplicateArticles
from transforms.steps.shared import ARTICLES, DEAD_LETTER, DUPLICATES
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
    dead = out[DEAD_LETTER] | "DeadCodes" >> beam.Map(lambda d: (str(d.ref), d.code))
    return pipeline, kept, dups, dead


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
    pipeline, kept, dups, _ = run_dedup(stream)
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
    pipeline, kept, dups, _ = run_dedup(stream, ttl_hours=1.0)
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
    pipeline, kept, dups, _ = run_dedup(stream)
    assert_that(kept, equal_to(["earlier-fetch"]), label="kept")
    assert_that(dups, equal_to([("later-fetch", "earlier-fetch")]), label="dups")
    pipeline.run()


def test_a_copy_of_a_copy_names_the_kept_original():
    """The near copy is a duplicate, never enriched; an exact copy of it (a later batch) and a
    lightly edited copy of it name the original, not the copy they share the most text with."""
    near = STORY + " Update: the council will meet again on Friday to vote on the repair budget."
    copy_of_near = near.replace("vote on", "decide", 1)
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(article("original", STORY, 100, 0))])
        .advance_watermark_to(200)
        .add_elements([at(article("near", near, 300, 1))])
        .advance_watermark_to(400)
        .add_elements(
            [at(article("copy-of-near", near, 500, 2)), at(article("edit", copy_of_near, 510, 3))]
        )
        .advance_watermark_to(600)
        .advance_watermark_to_infinity()
    )
    pipeline, kept, dups, _ = run_dedup(stream)
    assert_that(kept, equal_to(["original"]), label="kept")
    expected = [("near", "original"), ("copy-of-near", "original"), ("edit", "original")]
    assert_that(dups, equal_to(expected), label="dups")
    pipeline.run()


def test_an_article_that_fails_is_a_dead_letter_and_the_rest_go_on():
    broken = replace(article("broken", STORY, 120, 1), body=None)
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(article("first", STORY, 100, 0)), at(broken)])
        .advance_watermark_to(200)
        .advance_watermark_to_infinity()
    )
    pipeline, kept, dups, dead = run_dedup(stream)
    assert_that(kept, equal_to(["first"]), label="kept")
    assert_that(dups, equal_to([]), label="dups")
    assert_that(dead, equal_to([("articles.raw/0@1", "dedup_failed")]), label="dead")
    pipeline.run()


def test_state_requests_per_article_stay_below_one_in_file_mode():
    """Counted on Prism (the project's local runner; the BundleBased DirectRunner drops metrics of
    timer callbacks) where the SDK sends them, at its state channel, and by the step's own
    counter, which must agree: forty articles read together, half of them copies, cost at most
    one state request each (the old per-band design cost ~200)."""
    options = PipelineOptions()
    use_local_runner(options, "DirectRunner")
    pipeline = beam.Pipeline(options=options)
    articles = [article(f"a{n}", STORY if n % 2 else f"{OTHER} {n}", 100, n) for n in range(40)]
    out = (
        pipeline
        | beam.Create(articles)
        | beam.Map(lambda a: TimestampedValue(a, 100))
        | DeduplicateArticles(DedupConfig())
    )
    assert_that(out[ARTICLES] | "KeptIds" >> beam.Map(lambda a: a.id), equal_to(["a0", "a1"]))
    with counting_state_requests() as channel:
        result = pipeline.run()
        result.wait_until_finish()
    query = MetricsFilter().with_namespace(NAMESPACE).with_name(STATE_REQUESTS)
    counted = sum(counter.committed for counter in result.metrics().query(query)["counters"])
    sent = channel.of("DeduplicateArticles")
    assert 0 < sent <= len(articles), channel.requests
    assert counted == sent, f"the step's model {counted}, the SDK's state channel {sent}"
