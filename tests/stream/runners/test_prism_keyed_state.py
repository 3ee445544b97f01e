"""Keyed state on the local runner (Prism) stays consistent when bundles are slow.

Prism splits a bundle that makes no progress between two progress reports and frees the keys of
the split-off rest, though the first part may still be processing elements of those keys. Two
bundles of one key then run at once and a read-modify-write of its state is lost; in newsflow that
left an article waiting in ``GatherVerdictsFn`` forever (about one Kafka-mode run in four).
``use_local_runner`` turns those splits off; this test fails without that.
"""

from __future__ import annotations

import time

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from pipelines.runners import use_local_runner

pytestmark = pytest.mark.stream

KEYS = 11  # odd too: 11 x 41 elements halve in the middle of a key
PER_KEY = 41  # odd, so halving the bundle splits a key's run of elements


class CountToCompletionFn(beam.DoFn):
    """Emit a key once all its elements were counted; slow enough for Prism to want splits."""

    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())

    def process(self, element, count=beam.DoFn.StateParam(COUNT)):
        if element[1] % 10 == 0:
            time.sleep(0.25)  # no progress for more than two of Prism's 100 ms progress ticks
        seen = (count.read() or 0) + 1
        count.write(seen)
        if seen == PER_KEY:
            yield element[0]


def test_no_keyed_state_update_is_lost_in_slow_bundles():
    options = PipelineOptions([])
    use_local_runner(options, "DirectRunner")
    elements = [(f"k{k}", i) for i in range(PER_KEY) for k in range(KEYS)]
    with beam.Pipeline(options=options) as p:
        done = p | beam.Create(elements, reshuffle=False) | beam.ParDo(CountToCompletionFn())
        assert_that(done, equal_to([f"k{k}" for k in range(KEYS)]))
