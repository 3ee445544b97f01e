"""The three watermark-gated steps in a row (templates, dedup, stories, as the job wires them,
NER left out): a slot of event time passes all three on one pass of the watermark over its end.

Each gate stamps what it emits with its flush time; a gate's slots end ``phase`` milliseconds
after the whole second (``buffering.TEMPLATES_PHASE`` < ``DEDUP_PHASE`` < ``STORIES_PHASE``), so
that stamp falls into the same slot of the next gate. On one shared grid it fell into the next
gate's next slot: an article of second [10, 11) left stories stamped 13.0, waiting for the
watermark to pass 11, 12 and 13 in turn. The slots end just before a whole second, so a
watermark that moves in whole seconds (Beam 2.62's FlinkRunner) releases a slot at the first
second after it."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.steps.buffering import STORIES_PHASE
from transforms.steps.dedup import DedupConfig, DeduplicateArticles
from transforms.steps.shared import ARTICLES, DUPLICATES
from transforms.steps.stories import LinkStories, StoriesConfig
from transforms.steps.templates import StripTemplates
from transforms.text.fingerprint import exact_key
from transforms.text.models import Article, SourceRef
from transforms.text.stories import story_id_for

pytestmark = pytest.mark.stream

REPORT = " ".join(
    f"Paragraph {n} of the council report says the bridge on route {n} needs repair work."
    for n in range(12)
)
MATCH = " ".join(f"Match report {n}: the visitors scored {n} goals in the rain." for n in range(12))
BUDGET = " ".join(
    f"Budget line {n}: the mayor moves {n} million to the new school." for n in range(12)
)


def article(article_id: str, body: str, title: str, at_ms: int, offset: int, source=None):
    return Article(
        id=article_id,
        raw_body=body,
        body=body,
        title=title,
        source=source,
        fetched_at=at_ms,
        ref=SourceRef(topic="articles.raw", partition=0, offset=offset),
        content_hash=exact_key(body),
    )


def at(a: Article) -> TimestampedValue:
    return TimestampedValue(a, a.fetched_at / 1000)


def test_one_pass_of_the_watermark_releases_a_slot_through_all_three_gates():
    first = article("first", REPORT, "Council says bridge needs repair", 10_200, 0, "courier")
    copy = article("copy", REPORT, "Bridge needs repair", 10_500, 1, "wire")
    match = article("match", MATCH, "Visitors win in the rain", 10_990, 2)  # no source
    late = article("later", BUDGET, "Mayor funds new school", 12_400, 3, "courier")
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(first), at(copy), at(match)])
        .advance_watermark_to(11)
        .add_elements([at(late)])
        .advance_watermark_to(20)
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(options=options)
    templated = pipeline | stream | StripTemplates()
    deduped = templated[ARTICLES] | DeduplicateArticles(DedupConfig(ttl_hours=1.0))
    linked = {ARTICLES: deduped[ARTICLES], DUPLICATES: deduped[DUPLICATES]} | LinkStories(
        StoriesConfig()
    )
    stamped = (
        (linked[ARTICLES], linked[DUPLICATES])
        | beam.Flatten()
        | beam.Map(
            lambda a, ts=beam.DoFn.TimestampParam: (
                a.id,
                a.duplicate_of,
                a.story_id,
                ts.micros // 1000,
            )
        )
    )
    slot_end = 10_000 + STORIES_PHASE
    assert_that(
        stamped,
        equal_to([
            ("first", None, story_id_for("first"), slot_end),
            ("copy", "first", story_id_for("first"), slot_end),
            ("match", None, story_id_for("match"), slot_end),
            ("later", None, story_id_for("later"), 12_000 + STORIES_PHASE),
        ]),
    )  # fmt: skip
    pipeline.run()
