"""Which live stories hold each term: the story index's inverted index, in sorted numpy arrays.

A term is its 64-bit hash and a story its slot (a small int the index hands out and reuses), so a
posting is 12 bytes in two arrays, and no Python object exists per term or per posting. A dict
from term to stories cost ~100 bytes per distinct term (the key, the dict's slot, a list once
several stories hold it) on top of the interned string; most stories add ~17 new terms each.

Arrays sorted by hash answer "how many live stories hold each of these terms" with two
``searchsorted`` calls per array for a whole article, but cannot take an insertion in place.
So changes are appended as sorted runs, newest last, and a run is merged into the one before it
while that one is at most ``MERGE_FACTOR`` times its size (log-structured: a posting is copied
a few times over its life, and an article's terms are looked up in a handful of runs). A removal
is a posting too, in runs of its own: a count subtracts the removed from the added. Once the
removed are a quarter of the added, the owner rebuilds the added from its live stories
(``rebuild``) and the removed are dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

MERGE_FACTOR = 4
# The added are rebuilt once the removed are this share of them (and at least ``_MIN_STALE``).
STALE_SHARE = 4
_MIN_STALE = 4096


class _Runs:
    """A multiset of ``(key, slot)`` pairs as sorted runs (see the module doc)."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.size = 0

    def add(self, keys: np.ndarray, slots: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], slots[order]))
        self.size += len(keys)
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= MERGE_FACTOR * len(self.runs[-1][0]):
            (old_keys, old_slots), (new_keys, new_slots) = self.runs[-2:]
            keys = np.concatenate((old_keys, new_keys))
            order = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
            self.runs[-2:] = [(keys[order], np.concatenate((old_slots, new_slots))[order])]

    def count(self, keys: np.ndarray) -> np.ndarray:
        """How many pairs hold each of ``keys``."""
        total = np.zeros(len(keys), np.int64)
        for run, _ in self.runs:
            total += run.searchsorted(keys, "right") - run.searchsorted(keys, "left")
        return total

    def slots(self, keys: list[int]) -> list[list[int]]:
        """The slots paired with each of ``keys``."""
        out: list[list[int]] = [[] for _ in keys]
        for run, slots in self.runs:
            starts = run.searchsorted(keys, "left").tolist()
            ends = run.searchsorted(keys, "right").tolist()
            for held, start, end in zip(out, starts, ends, strict=True):
                if end > start:
                    held.extend(slots[start:end].tolist())
        return out


class Postings:
    """Term hash -> slots of the live stories holding it."""

    def __init__(self) -> None:
        self._added = _Runs()
        self._removed = _Runs()

    def held(self, keys: np.ndarray) -> np.ndarray:
        """How many live stories hold each of ``keys`` (int64 term hashes)."""
        if not self._removed.size:
            return self._added.count(keys)
        return self._added.count(keys) - self._removed.count(keys)

    def holders(self, keys: list[int]) -> list[list[int]]:
        """For each of ``keys``, the slots of the live stories holding it (in no set order)."""
        added = self._added.slots(keys)
        if not self._removed.size:
            return added
        out = []
        for slots, removed in zip(added, self._removed.slots(keys), strict=True):
            held = Counter(slots)
            held.subtract(removed)
            out.append([slot for slot, count in held.items() if count > 0])
        return out

    def add(self, slot: int, keys: Iterable[int]) -> None:
        self._change(self._added, slot, keys)

    def remove(self, slot: int, keys: Iterable[int]) -> None:
        """Story ``slot`` no longer holds ``keys`` (which it held)."""
        self._change(self._removed, slot, keys)

    @property
    def stale(self) -> bool:
        """Whether the removed are enough that the owner should ``rebuild``."""
        return self._removed.size > max(_MIN_STALE, self._added.size // STALE_SHARE)

    def rebuild(self, held: Iterable[tuple[int, np.ndarray]]) -> None:
        """Start again from ``(slot, keys)`` of every live story (a story's keys may repeat: a
        term in two of its features is held once)."""
        pairs = [(slot, np.unique(keys)) for slot, keys in held]
        keys = np.concatenate([keys for _, keys in pairs]) if pairs else np.empty(0, np.int64)
        lengths = [len(keys) for _, keys in pairs]
        slots = np.repeat(np.array([slot for slot, _ in pairs], np.int32), lengths)
        self._added, self._removed = _Runs(), _Runs()
        if len(keys):
            self._added.add(keys, slots)

    @staticmethod
    def _change(runs: _Runs, slot: int, keys: Iterable[int]) -> None:
        batch = np.fromiter(keys, np.int64)
        if len(batch):
            runs.add(batch, np.full(len(batch), slot, np.int32))
