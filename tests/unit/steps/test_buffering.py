"""The buffering helpers with list-backed bags standing in for the runner's state store, called as
a buffering DoFn calls them: an element waits in its slot's bucket, a flush takes and clears only
its own bucket, an element not yet due is never written again (unless it is ``BUCKETS`` slots
ahead and shares the flushed bucket), the carried value is rewritten only when it changes, and
state written before the buckets (everything in ``pending``) is decided as before."""

from apache_beam.utils.timestamp import Timestamp

from transforms.state_coders import CARRIED
from transforms.steps.buffering import (
    BUCKET_NAMES,
    BUCKETS,
    DEDUP_PHASE,
    FLUSH_GRANULARITY,
    StateRequests,
    bucket_of,
    buffer,
    flush_time,
    forget_carried,
    put_back,
    take_due,
)

SLOT = FLUSH_GRANULARITY.micros
PHASE = DEDUP_PHASE


class ListBag:
    """A bag state as the SDK hands it to a DoFn, counting the elements ever appended."""

    def __init__(self, items=()) -> None:
        self.items = list(items)
        self.appended = 0
        self.cleared = 0

    def read(self):
        return list(self.items)

    def add(self, value) -> None:
        self.items.append(value)
        self.appended += 1

    def clear(self) -> None:
        self.items = []
        self.cleared += 1


class Timer:
    def __init__(self) -> None:
        self.armed: set[int] = set()

    def set(self, at: Timestamp, dynamic_timer_tag: str = "") -> None:
        assert dynamic_timer_tag == str(at.micros)
        self.armed.add(at.micros)


def at(slot: int, offset: int = 0) -> Timestamp:
    return Timestamp(micros=slot * SLOT + offset)


def states():
    return ListBag(), {name: ListBag() for name in BUCKET_NAMES}, Timer(), StateRequests("test")


def flush(slot: int, carried, pending, buckets, requests) -> list:
    """What the flush of ``slot`` decides, its state put back with ``carried``."""
    due = take_due("k", flush_time(at(slot), PHASE), pending, buckets, requests)
    if due.values:
        put_back("k", due, carried, pending, buckets, requests)
    return sorted(due.values)


def test_a_flush_takes_only_its_slot_and_never_rewrites_what_still_waits():
    pending, buckets, timer, requests = states()
    for slot, value in [(3, "a"), (3, "b"), (4, "c"), (9, "d")]:
        buffer("k", value, at(slot, 5), buckets, timer, requests, PHASE)
    assert timer.armed == {flush_time(at(s), PHASE).micros for s in (3, 4, 9)}
    assert flush(3, "v1", pending, buckets, requests) == ["a", "b"]
    assert flush(4, "v2", pending, buckets, requests) == ["c"]
    waiting = buckets[bucket_of(flush_time(at(9), PHASE))]
    assert [v for _, v in waiting.items] == ["d"] and waiting.appended == 1 and not waiting.cleared
    assert pending.items == [(CARRIED, "v2")]
    assert flush(9, "v2", pending, buckets, requests) == ["d"]
    assert not any(bag.items for bag in buckets.values())


def test_an_element_buckets_slots_ahead_shares_the_bucket_and_is_kept():
    pending, buckets, timer, requests = states()
    buffer("k", "now", at(2), buckets, timer, requests, PHASE)
    buffer("k", "ahead", at(2 + BUCKETS), buckets, timer, requests, PHASE)
    assert bucket_of(flush_time(at(2), PHASE)) == bucket_of(flush_time(at(2 + BUCKETS), PHASE))
    assert flush(2, "v", pending, buckets, requests) == ["now"]
    assert flush(2 + BUCKETS, "v", pending, buckets, requests) == ["ahead"]


def test_a_late_element_is_decided_when_its_slot_fires_again():
    pending, buckets, timer, requests = states()
    buffer("k", "first", at(5), buckets, timer, requests, PHASE)
    assert flush(5, "v", pending, buckets, requests) == ["first"]
    buffer("k", "late", at(5, 7), buckets, timer, requests, PHASE)
    assert flush(5, "v", pending, buckets, requests) == ["late"]


def test_the_carried_value_is_rewritten_only_when_it_changes():
    pending, buckets, timer, requests = states()
    for slot in (1, 2, 3):
        buffer("k", f"x{slot}", at(slot), buckets, timer, requests, PHASE)
    flush(1, "v1", pending, buckets, requests)
    flush(2, "v1", pending, buckets, requests)
    assert (pending.appended, pending.cleared) == (1, 1)
    flush(3, "v2", pending, buckets, requests)
    assert pending.items == [(CARRIED, "v2")] and pending.appended == 2


def test_state_written_before_the_buckets_is_decided_and_what_waits_kept():
    pending = ListBag([(CARRIED, "old"), (at(1, 3).micros, "due"), (at(8).micros, "later")])
    buckets, requests = {name: ListBag() for name in BUCKET_NAMES}, StateRequests("test")
    due = take_due("k", flush_time(at(1), PHASE), pending, buckets, requests)
    assert (due.values, due.carried) == (["due"], "old")
    put_back("k", due, "old", pending, buckets, requests)
    assert pending.items == [(at(8).micros, "later"), (CARRIED, "old")]
    assert not any(bag.cleared for bag in buckets.values()), "no bucket element was taken"
    assert flush(8, "new", pending, buckets, requests) == ["later"]
    assert pending.items == [(CARRIED, "new")]


def test_forgetting_the_carried_value_keeps_waiting_elements():
    pending = ListBag([(CARRIED, "memory"), (at(4).micros, "waiting")])
    forget_carried("k", pending, StateRequests("test"))
    assert pending.items == [(at(4).micros, "waiting")]
