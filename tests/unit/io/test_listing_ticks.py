"""The partition listing's tick generator: ticks when due, and between ticks a watermark that
follows the wall clock (a remainder deferred to the next tick held Flink's readers for 30 s)."""

from __future__ import annotations

import time

from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Duration, Timestamp

from transforms.io.kafka_partitions import WATERMARK_STEP_SECONDS, ListingTicks, ListingTicksFn

INTERVAL = 30.0
IDLE_LAG_SECONDS = 0.75


def run_once(start: Timestamp, watermark: ManualWatermarkEstimator, first_index: int = 0):
    """One ``process`` from tick ``first_index``: the ticks, the deferred residual and delay."""
    element = (start, MAX_TIMESTAMP, INTERVAL)
    restriction = ListingTicks().initial_restriction(element)
    restriction.start = first_index
    tracker = ThreadsafeRestrictionTracker(ListingTicks().create_tracker(restriction))
    listing = ListingTicksFn(IDLE_LAG_SECONDS)
    ticks = list(listing.process(element, RestrictionTrackerView(tracker), watermark))
    residual, delay = tracker.deferred_status()
    return ticks, residual, delay


def test_due_ticks_are_emitted_then_the_rest_resumes_a_step_later():
    start = Timestamp.now() - 65
    watermark = ManualWatermarkEstimator(None)

    ticks, residual, delay = run_once(start, watermark)

    assert ticks == [start.micros / 1e6 + i * INTERVAL for i in range(3)]
    assert residual.start == 3
    assert Duration.of(WATERMARK_STEP_SECONDS - 0.5) < delay <= Duration.of(WATERMARK_STEP_SECONDS)


def test_between_ticks_the_watermark_follows_the_wall_clock_behind_by_the_idle_lag():
    start = Timestamp.now() - 5
    watermark = ManualWatermarkEstimator(None)

    before = time.time()
    ticks, residual, delay = run_once(start, watermark, first_index=1)
    after = time.time()

    assert ticks == []
    assert residual.start == 1
    assert Duration.of(WATERMARK_STEP_SECONDS - 0.5) < delay <= Duration.of(WATERMARK_STEP_SECONDS)
    now_minus_lag = watermark.current_watermark().micros / 1e6 + IDLE_LAG_SECONDS
    assert before <= now_minus_lag <= after
