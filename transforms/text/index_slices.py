"""How the dedup shard's index is spread over a fixed set of Beam state bags, by time slice.

Flink keeps a Beam bag state as one RocksDB list value per key and window, RocksDB cannot hold a
value over 2**31 bytes, and the dedup shard is one key: the whole index in one bag (format 1)
fails to restore past ~3.5M remembered articles (604 bytes each), 8.5 hours at 10M a day. So the
entries are spread over ``BAGS`` bags, each holding one time slice of ``slice_width_ms(ttl)``
(the TTL over ``BAGS - 1``), bag = slice number mod ``BAGS``. A bag then holds 1/63 of the TTL's
arrivals (1.1M entries, 670 MB at 10M kept articles a day for 7 days) and reaches 2**31 bytes
only past 220M remembered articles, when the shard's worker would need ~390 GB of memory: memory,
not a state value, is the limit (deploy/README.md, sizing).

The live entries (stored at most a TTL ago) span at most ``BAGS`` consecutive slices, so no two
live slices share a bag, and a bag whose slice ended before the TTL cutoff holds only expired
entries: expiry is clearing that bag (one state request), never rewriting the index. Entries
are appended in the order they were stored, so reading the bags in slice order gives the index
back in that order. Python's Beam SDK has no map state, and Flink's portable runner serves only
bag state, hence bags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transforms.text.dedup_index import IndexEntry

BAGS = 64
EMPTY = -1


@dataclass(frozen=True)
class IndexVersion:
    """The shard's state version, carried with its pending articles: ``token``, random, drawn at
    every change (a DoFn's cached index is used while it matches); ``slice_ms``, the width the
    bags are cut by (0: format 1, the whole index in one legacy bag); ``slices``, per bag the
    slice number it holds (``EMPTY``: none)."""

    token: int
    slice_ms: int
    slices: tuple[int, ...]

    def filled_in_order(self) -> list[int]:
        """The bags holding entries, oldest slice first: the order to read them back in."""
        return [bag for _, bag in sorted((s, b) for b, s in enumerate(self.slices) if s != EMPTY)]


@dataclass(frozen=True)
class SlicePlan:
    """What to do to the bags: ``clear`` these first, then append ``add[bag]`` in order; the
    bags then hold ``slices``."""

    clear: tuple[int, ...]
    add: dict[int, list[IndexEntry]]
    slices: tuple[int, ...]


def slice_width_ms(ttl_ms: int) -> int:
    """A slice's width: ``BAGS - 1`` of them cover the TTL, so the live span touches at most
    ``BAGS`` slices."""
    return max(1, -(-ttl_ms // (BAGS - 1)))


def plan_slices(
    held: Sequence[int], width_ms: int, entries: Sequence[IndexEntry], cutoff_ms: int
) -> SlicePlan:
    """Clear the bags whose slice ended before ``cutoff_ms`` and place ``entries`` (stored at or
    after the cutoff, in stored order) in their slices' bags; ``held`` is what each bag holds.
    Raises ValueError for an entry whose bag holds another live slice (entries spanning more
    than the TTL: a caller's error, which would otherwise lose entries)."""
    slices = list(held)
    clear = []
    for bag, number in enumerate(slices):
        if number != EMPTY and (number + 1) * width_ms <= cutoff_ms:
            clear.append(bag)
            slices[bag] = EMPTY
    add: dict[int, list[IndexEntry]] = {}
    for entry in entries:
        number = entry.stored_at // width_ms
        bag = number % BAGS
        if slices[bag] not in (EMPTY, number):
            raise ValueError(
                f"dedup index entry {entry.article_id} stored at {entry.stored_at} ms falls in "
                f"slice {number}, whose bag {bag} holds live slice {slices[bag]}"
            )
        slices[bag] = number
        add.setdefault(bag, []).append(entry)
    return SlicePlan(tuple(clear), add, tuple(slices))
