"""ExtractMetadata: entities on the real model, in the SDK worker or a process pool; an article
that makes the step raise, whatever the exception, is a dead letter and its batch is not lost."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.steps.enrich import ExtractMetadata
from transforms.steps.shared import ARTICLES, DEAD_LETTER
from transforms.text.models import Article, SourceRef

pytestmark = pytest.mark.stream

GOOD = "Amber Rudd spoke to the BBC in London on Sunday."


def article(number: int, body) -> TimestampedValue:
    ref = SourceRef(topic="articles.raw", partition=0, offset=number)
    return TimestampedValue(
        Article(id=f"a{number}", raw_body=str(body), fetched_at=0, ref=ref, body=body), 0
    )


@pytest.mark.parametrize("processes", [1, 2])
def test_a_failing_article_is_a_dead_letter_and_its_batch_is_enriched(processes: int) -> None:
    """A body that is not a string makes the NER raise a TypeError (no ValueError): the batch
    is retried one by one, the culprit becomes ``enrich_failed`` with its class and offset."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(options=options)
    stream = (
        TestStream()
        .add_elements([article(0, GOOD), article(1, None), article(2, GOOD)])
        .advance_watermark_to_infinity()
    )
    out = pipeline | stream | ExtractMetadata(batch_size=8, processes=processes)
    enriched = out[ARTICLES] | "Entities" >> beam.Map(
        lambda a: (a.id, a.language, sorted(e.text for e in a.entities))
    )
    letters = out[DEAD_LETTER] | "Letters" >> beam.Map(
        lambda d: (d.code, d.exception_class, d.ref.offset, d.step)
    )
    entities = ["Amber Rudd", "BBC", "London", "Sunday"]
    assert_that(
        enriched, equal_to([("a0", "en", entities), ("a2", "en", entities)]), label="enriched"
    )
    assert_that(letters, equal_to([("enrich_failed", "TypeError", 1, "enrich")]), label="letters")
    pipeline.run()
