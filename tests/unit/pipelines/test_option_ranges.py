"""Options whose whole range either works or is refused at start (issue 16): values past what
the runner or the broker can represent are refused by ``validate()``, not met on a worker."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Duration, Timestamp

from pipelines.options import MAX_TTL_HOURS, NewsflowOptions, validate


def _opts(*argv: str) -> NewsflowOptions:
    return PipelineOptions(list(argv)).view_as(NewsflowOptions)


@pytest.mark.parametrize("value", ["1e300", str(MAX_TTL_HOURS + 1)])
def test_a_dedup_ttl_beyond_what_timers_can_hold_is_refused(value):
    with pytest.raises(ValueError, match="--dedup-ttl-hours must be at most 1,000,000"):
        validate(_opts("--dedup-ttl-hours", value))


def test_the_longest_dedup_ttl_still_fits_a_timer_from_today():
    validate(_opts("--dedup-ttl-hours", str(MAX_TTL_HOURS)))
    expiry = Timestamp.now() + Duration(seconds=MAX_TTL_HOURS * 3600)
    assert expiry < MAX_TIMESTAMP
