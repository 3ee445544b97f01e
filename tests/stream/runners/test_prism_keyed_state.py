"""Keyed state on the local runner (Prism) stays consistent when bundles are slow.

Prism splits a bundle that makes no progress between two progress reports and frees the keys of
the split-off rest, though the first part may still be processing elements of those keys. Two
bundles of one key then run at once and a read-modify-write of its state is lost; in an earlier
near-dedup design (a per-band fan-out and a gather step) that left an article waiting in the
gather step forever (about one Kafka-mode run in four).
``use_local_runner`` turns those splits off (``prism_disable_sdf_split``).

The second test shows the first one can fail: the same pipeline with Prism's splits left on loses
keyed-state updates. It runs when ``NEWSFLOW_RUNNER_BUG_PROOF=1`` is set (see docs/testing.md,
"The test suites"), not in ``make test``: it proves a runner bug is still there, so a Prism
release that fixes the race makes it fail (then the flag can go), which is news for a maintainer,
not a CI failure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from pipelines.runners import PRISM_NO_SPLITS, use_local_runner

pytestmark = pytest.mark.stream

KEYS = 11  # odd too: 11 x 41 elements halve in the middle of a key
PER_KEY = 41  # odd, so halving the bundle splits a key's run of elements
ALL_KEYS = {f"k{k}" for k in range(KEYS)}
PROOF_ENV = "NEWSFLOW_RUNNER_BUG_PROOF"


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


def completed_keys(options: PipelineOptions, out: Path) -> list[str]:
    """Keys whose every element was counted, as the pipeline wrote them."""
    elements = [(f"k{k}", i) for i in range(PER_KEY) for k in range(KEYS)]
    with beam.Pipeline(options=options) as p:
        _ = (
            p
            | beam.Create(elements, reshuffle=False)
            | beam.ParDo(CountToCompletionFn())
            | beam.io.WriteToText(str(out / "keys"))
        )
    return [line for path in out.glob("keys*") for line in path.read_text().split()]


def local_runner_options(splits: bool) -> PipelineOptions:
    """newsflow's local runner setup; ``splits=True`` takes its no-splits experiment out again."""
    options = PipelineOptions([])
    use_local_runner(options, "DirectRunner")
    if splits:
        debug = options.view_as(DebugOptions)
        debug.experiments = [e for e in debug.experiments if e != PRISM_NO_SPLITS]
    return options


def test_no_keyed_state_update_is_lost_in_slow_bundles(tmp_path):
    assert sorted(completed_keys(local_runner_options(splits=False), tmp_path)) == sorted(ALL_KEYS)


@pytest.mark.skipif(
    os.environ.get(PROOF_ENV) != "1", reason=f"proves a Prism bug; set {PROOF_ENV}=1 (issue 13)"
)
def test_with_prism_splits_on_keyed_state_updates_are_lost(tmp_path):
    done = completed_keys(local_runner_options(splits=True), tmp_path)
    assert len(done) == len(set(done)), "a key is emitted at most once"
    assert set(done) < ALL_KEYS, "some key never saw all its elements counted"
