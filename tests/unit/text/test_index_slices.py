"""The dedup index's time slices over a fixed set of state bags: live slices never share a bag,
an expired slice's bag is cleared, entries come back in stored order, and an entry that would
overwrite a live slice is refused rather than lost."""

import pytest

from transforms.text.dedup_index import IndexEntry
from transforms.text.fingerprint import fingerprint
from transforms.text.index_slices import (
    BAGS,
    EMPTY,
    IndexVersion,
    plan_slices,
    slice_width_ms,
)
from transforms.text.minhash_config import MinHashConfig

TTL_MS = 7 * 24 * 3600 * 1000
WIDTH = slice_width_ms(TTL_MS)
FP = fingerprint(
    "Ministers met on Tuesday to agree the budget for the coming year.", MinHashConfig()
)


def entry(name: str, stored_at: int) -> IndexEntry:
    return IndexEntry(f"hash-{name}", name, FP, stored_at)


def test_the_live_span_fits_the_bags_and_a_slice_is_a_share_of_the_ttl():
    assert WIDTH * (BAGS - 1) >= TTL_MS > WIDTH * (BAGS - 2)
    assert slice_width_ms(1) == 1


def test_entries_go_to_their_slices_bag_in_order():
    entries = [entry("a", 0), entry("b", WIDTH - 1), entry("c", WIDTH), entry("d", 70 * WIDTH)]
    plan = plan_slices((EMPTY,) * BAGS, WIDTH, entries, cutoff_ms=0)
    assert plan.clear == ()
    assert plan.add == {0: entries[:2], 1: entries[2:3], 70 % BAGS: entries[3:]}
    assert plan.slices[0] == 0 and plan.slices[1] == 1 and plan.slices[70 % BAGS] == 70


def test_a_whole_ttl_of_slices_stays_live_and_the_slice_before_is_cleared():
    """At ``now`` the live entries reach back one TTL: every slice in that span keeps its bag;
    the slice that ended before the cutoff is cleared, then its bag takes the current slice."""
    now = 200 * WIDTH + WIDTH // 2
    cutoff = now - TTL_MS
    live = range(cutoff // WIDTH, now // WIDTH + 1)
    assert len(live) <= BAGS
    held = [EMPTY] * BAGS
    for number in [live[0] - 1, *live[:-1]]:
        held[number % BAGS] = number
    plan = plan_slices(held, WIDTH, [entry("now", now)], cutoff)
    assert plan.clear == ((live[0] - 1) % BAGS,)
    assert sorted(s for s in plan.slices if s != EMPTY) == list(live)


def test_an_entry_that_would_overwrite_a_live_slice_is_refused():
    held = [EMPTY] * BAGS
    held[0] = 0
    with pytest.raises(ValueError, match="holds live slice 0"):
        plan_slices(held, WIDTH, [entry("late", BAGS * WIDTH)], cutoff_ms=0)


def test_bags_are_read_back_oldest_slice_first():
    slices = [EMPTY] * BAGS
    slices[3], slices[60], slices[1] = 67, 60, 65
    assert IndexVersion(1, WIDTH, tuple(slices)).filled_in_order() == [60, 1, 3]
