"""A burst waiting in a buffering step: each flush reads its own slot's elements, not the backlog.

In the 100,000-article run on Flink (deploy/README.md, "The 100,000 run") the reader ran far
ahead of the gated steps, one key (dedup's one shard) held the whole backlog, and every flush read
the key's whole pending bag: Flink's RocksDB backend reads a bag whole into the JVM heap, which ran
out, at every restore again. Here, on Prism (the SDK's state channel is real and observable), a
burst of articles spread over many one-second slots waits while the watermark holds; then the
watermark passes the slots one by one. Every flush must read at most its slot's elements: checked
where the SDK receives them (the bytes of each read of a pending bag) and by the step's own
``flush_read_elements`` distribution. The watermark steps are explicit: nothing races the
machine."""

import random
import string

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipelines.runners import use_local_runner
from pipelines.state_channel import counting_state_requests
from transforms.state_coders import FingerprintedCoder
from transforms.steps.buffering import FLUSH_READ, PENDING
from transforms.steps.dedup import NAMESPACE, DedupConfig, DeduplicateArticles
from transforms.steps.shared import ARTICLES
from transforms.text.fingerprint import exact_key, fingerprint
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article, SourceRef

pytestmark = pytest.mark.stream

SLOTS = 24  # fewer than buffering.BUCKETS: no two slots share a bucket
PER_SLOT = 4
FIRST_SLOT = 10
VOCABULARY = ["".join(random.Random(i).choices(string.ascii_lowercase, k=7)) for i in range(5000)]


def article(n: int) -> Article:
    """A distinct article (random words: no two are near copies) of event second ``n // PER_SLOT``
    after ``FIRST_SLOT``."""
    body = " ".join(random.Random(n).choices(VOCABULARY, k=120))
    return Article(
        id=f"a{n}",
        raw_body=body,
        body=body,
        fetched_at=(FIRST_SLOT + n // PER_SLOT) * 1000 + 100 * (n % PER_SLOT),
        ref=SourceRef(topic="articles.raw", partition=0, offset=n),
        content_hash=exact_key(body),
    )


def test_each_flush_reads_only_its_slot_while_a_burst_waits():
    articles = [article(n) for n in range(SLOTS * PER_SLOT)]
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(a, a.fetched_at / 1000) for a in articles])
    )
    for slot in range(FIRST_SLOT + 1, FIRST_SLOT + SLOTS + 2):
        stream = stream.advance_watermark_to(slot + 0.5)
    stream = stream.advance_watermark_to_infinity()
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    use_local_runner(options, "DirectRunner")
    pipeline = beam.Pipeline(options=options)
    out = pipeline | stream | DeduplicateArticles(DedupConfig(ttl_hours=1.0))
    kept = out[ARTICLES] | "KeptIds" >> beam.Map(lambda a: a.id)
    assert_that(kept, equal_to([a.id for a in articles]))
    with counting_state_requests() as channel:
        result = pipeline.run()
        result.wait_until_finish()

    # What one slot's elements weigh in the pending bag, as its coder writes them (plus the bag's
    # few bytes of framing per element and the carried state version).
    coder = FingerprintedCoder()
    cfg = MinHashConfig()
    element = max(len(coder.encode((a, fingerprint(a.body, cfg)))) for a in articles)
    largest = channel.largest_read("DeduplicateArticles", PENDING)
    assert 0 < largest <= (PER_SLOT + 1) * (element + 64), (
        f"a flush read {largest} bytes of pending state; one slot is {PER_SLOT} elements of "
        f"<= {element} bytes, the whole burst {len(articles) * element}"
    )
    query = MetricsFilter().with_namespace(NAMESPACE).with_name(FLUSH_READ)
    reads = [d.committed for d in result.metrics().query(query)["distributions"]]
    assert reads and max(r.max for r in reads) == PER_SLOT, reads
    assert sum(r.sum for r in reads) == len(articles), reads
