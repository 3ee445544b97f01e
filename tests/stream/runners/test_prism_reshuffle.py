"""On the local runner (Prism) a ``Reshuffle`` is a stage boundary, which ``assembly`` relies on.

Prism replaces a Reshuffle with nothing but makes its consumers stage roots (a fusion break that
moves no element: ``handleReshuffle`` in Prism's ``handlerunner.go``). NER after the one-key dedup
step needs that boundary: fused into dedup's stage it would run inside dedup's bundles, one at a
time. The probe: the one-key stateful step marks the element it is yielding; the next step counts
whether it runs inside that yield (fused) or in a bundle of its own.
"""

from __future__ import annotations

import threading

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from pipelines.runners import use_local_runner

pytestmark = pytest.mark.stream

ELEMENTS = 20
_yielding = threading.local()


class OneKeyFn(beam.DoFn):
    """Stateful on one key, as dedup is; marks the element while the next step may run on it."""

    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())

    def process(self, element, count=beam.DoFn.StateParam(COUNT)):
        count.write((count.read() or 0) + 1)
        _yielding.element = element[1]
        try:
            yield element[1]
        finally:
            _yielding.element = None


class WhereFn(beam.DoFn):
    """Counts each element as ``fused`` (run inside the stateful step's yield) or ``separate``."""

    def process(self, element):
        fused = getattr(_yielding, "element", None) == element
        Metrics.counter("probe", "fused" if fused else "separate").inc()


def placement(reshuffle: bool) -> dict[str, int]:
    options = PipelineOptions([])
    use_local_runner(options, "DirectRunner")
    p = beam.Pipeline(options=options)
    keyed = (
        p
        | beam.Create([("one", i) for i in range(ELEMENTS)], reshuffle=False)
        | "OneKey" >> beam.ParDo(OneKeyFn())
    )
    if reshuffle:
        keyed = keyed | "Spread" >> beam.Reshuffle()
    _ = keyed | "Where" >> beam.ParDo(WhereFn())
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("probe"))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


def test_a_reshuffle_puts_the_next_step_in_a_stage_of_its_own():
    assert placement(reshuffle=True) == {"separate": ELEMENTS}


def test_without_it_the_next_step_runs_inside_the_stateful_steps_bundle():
    assert placement(reshuffle=False) == {"fused": ELEMENTS}
