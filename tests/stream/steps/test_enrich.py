"""ExtractMetadata: entities on the real model, in the SDK worker or a process pool; an article
that makes the step raise, whatever the exception, is a dead letter and its batch is not lost."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

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


@pytest.mark.parametrize("runner", ["python", "prism"])
def test_outputs_keep_each_articles_timestamp_and_are_never_late(runner: str) -> None:
    """Each enriched article and dead letter leaves with its input's timestamp, and a
    ``GroupByKey`` after the step (as the file sinks have; here in an hour's window, as an
    unbounded grouping needs one) gets every one of them once, though
    the watermark goes to infinity as soon as the inputs are in. A batch stamped at the end of
    the global window (``BatchElements``) fails the first; one re-stamped to its articles' times
    after the watermark passed them is late, and the grouping drops it."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(options=options)
    inputs = [at_second(n, GOOD if n % 5 else None) for n in range(1, 21)]
    stream = TestStream().add_elements(inputs).advance_watermark_to_infinity()
    out = pipeline | stream | ExtractMetadata(batch_size=3, processes=1)
    both = (out[ARTICLES], out[DEAD_LETTER]) | beam.Flatten()
    stamped = both | "Stamps" >> beam.Map(lambda x, t=beam.DoFn.TimestampParam: (x.ref.offset, t))
    grouped = (
        stamped
        | "OneKey" >> beam.Map(lambda pair: ("all", pair[0]))
        | beam.WindowInto(FixedWindows(3600))
        | beam.GroupByKey()
        | "Offsets" >> beam.FlatMap(lambda kv: kv[1])
    )
    expected = [(n, Timestamp(n)) for n in range(1, 21)]
    assert_that(stamped, equal_to(expected), label="timestamps")
    assert_that(grouped, equal_to(list(range(1, 21))), label="grouped")
    pipeline.run()


def at_second(number: int, body) -> TimestampedValue:
    stamped = article(number, body)
    return TimestampedValue(stamped.value, number)
