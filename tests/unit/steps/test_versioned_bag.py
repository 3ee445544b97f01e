"""The worker's cached copies of a keyed memory: one per process, taken out while a flush changes
them, so a flush that fails half-way leaves nothing that passes for the state's memory."""

from __future__ import annotations

import pickle

from transforms.steps.buffering import StateRequests
from transforms.steps.versioned_bag import VersionedBag


class ListBag:
    """A bag state's read/add/clear over a list, as the SDK's bag state behaves in one bundle."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []

    def read(self) -> list[bytes]:
        return list(self.rows)

    def add(self, row: bytes) -> None:
        self.rows.append(row)

    def clear(self) -> None:
        self.rows = []


def instances(count: int) -> list[VersionedBag]:
    """``count`` instances of one step's bag, as a runner unpickles them, each set up."""
    wire = pickle.dumps(VersionedBag("records", StateRequests("test")))
    bags = [pickle.loads(wire) for _ in range(count)]
    for bag in bags:
        bag.attach()
    return bags


def written(bag: VersionedBag, state: ListBag, rows: list[bytes]):
    """The version of a first flush that appended ``rows`` to an empty state."""
    memory, stored, empty = bag.load("k", None, state, list, None)
    assert (memory, stored, empty) == ([], 0, True)
    memory.extend(rows)
    return bag.persist("k", state, memory, stored, rows, len(memory), lambda: memory)


def test_a_copy_one_instance_stored_serves_another_instance_of_the_step() -> None:
    first, second = instances(2)
    state = ListBag()
    version = written(first, state, [b"a", b"b"])
    reads = []
    memory, stored, _ = second.load("k", version, state, reads.append, None)
    assert (memory, stored, reads) == ([b"a", b"b"], 2, [])


def test_a_copy_taken_out_and_never_handed_back_is_replayed_from_the_bag() -> None:
    first, second = instances(2)
    state = ListBag()
    version = written(first, state, [b"a"])
    taken, _, _ = first.load("k", version, state, list, None)
    taken.append(b"changed by a flush that then failed")
    replayed, stored, _ = second.load("k", version, state, list, None)
    assert (replayed, stored) == ([b"a"], 1)
    assert replayed is not taken


def test_a_copy_kept_unchanged_is_served_again_and_a_stale_version_is_not() -> None:
    (bag,) = instances(1)
    state = ListBag()
    version = written(bag, state, [b"a"])
    memory, _, _ = bag.load("k", version, state, list, None)
    bag.keep("k", version, memory)
    assert bag.load("k", version, state, list, None)[0] is memory
    bag.keep("k", version, memory)
    stale = (version[0] + 1, version[1])
    assert bag.load("k", stale, state, list, None)[0] is not memory
