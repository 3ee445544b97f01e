"""StripTemplates in streaming: per-source lines learned in state, stripped, forgotten."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.steps.dedup import ARTICLES
from transforms.steps.templates import StripTemplates
from transforms.text.models import Article, SourceRef
from transforms.text.templates import TEMPLATE_KIND, TemplateConfig

pytestmark = pytest.mark.stream

HOUR = 3600
FOOTER = "Got a story? Call the Courier newsdesk on 01632 960 000."
CONFIG = TemplateConfig(min_pages=3, window_hours=1.0)


def article(n: int, source: str | None, fetched_s: int) -> Article:
    body = f"Story {n} has its own first line.\n\nIt ends on its own words {n}.\n\n{FOOTER}"
    return Article(
        id=f"{source}-{n}",
        raw_body=body,
        body=body,
        source=source,
        url=f"https://{source}.example/{n}",
        fetched_at=fetched_s * 1000,
        ref=SourceRef(topic="articles.raw", partition=0, offset=n),
    )


def at(a: Article) -> TimestampedValue:
    return TimestampedValue(a, a.fetched_at / 1000)


def run_templates(stream: TestStream):
    """As in test_dedup: the watermark passes every element before the final jump to +inf."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(options=options)
    out = pipeline | stream | StripTemplates(CONFIG)
    stripped = out[ARTICLES] | "Stripped" >> beam.Map(
        lambda a: (a.id, FOOTER not in a.body, [s.kind for s in a.boilerplate])
    )
    return pipeline, stripped


def test_lines_on_enough_pages_of_a_source_are_stripped_from_then_on():
    courier = [article(n, "courier", 100 + n) for n in range(4)]
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(a) for a in courier[:2]] + [at(article(0, "gazette", 101))])
        .advance_watermark_to(150)
        .add_elements([at(a) for a in courier[2:]] + [at(article(9, None, 160))])
        .advance_watermark_to(300)
        .advance_watermark_to_infinity()
    )
    pipeline, stripped = run_templates(stream)
    template = [TEMPLATE_KIND]
    expected = [
        ("courier-0", False, []),
        ("courier-1", False, []),
        ("courier-2", True, template),
        ("courier-3", True, template),
        ("gazette-0", False, []),
        ("None-9", False, []),
    ]
    assert_that(stripped, equal_to(expected), label="stripped")
    pipeline.run()


def test_a_source_quiet_for_a_window_starts_learning_again():
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(article(n, "courier", 100 + n)) for n in range(2)])
        .advance_watermark_to(100 + 2 * HOUR)
        .add_elements([at(article(n, "courier", 100 + 2 * HOUR + n)) for n in range(2, 4)])
        .advance_watermark_to(100 + 3 * HOUR)
        .advance_watermark_to_infinity()
    )
    pipeline, stripped = run_templates(stream)
    expected = [(f"courier-{n}", False, []) for n in range(4)]
    assert_that(stripped, equal_to(expected), label="stripped")
    pipeline.run()
