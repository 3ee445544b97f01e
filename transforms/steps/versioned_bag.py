"""A keyed step's memory as an append-only Beam bag of records, with an in-memory copy per key.

Dedup's index and the story index keep their state this way: every flush appends the records it
changed, and the bag is rewritten from the live records once it holds more than twice as many.
Reading a whole bag on every flush would cost a state request per record, so the worker keeps the
decoded memory between flushes, valid while the version carried in the pending bag
(``(random token, records in the bag)``) is the one this copy was stored under: a copy another
worker changed since, or one from before a restore, is known stale and replayed from the bag.

The copies are one per worker process (Beam's ``Shared``), not one per DoFn instance: a runner
runs several bundles of a step at once, each on its own instance, and per-instance copies kept
a key's memory once per instance that had seen it (two copies of each source's template memory
in a soak). A flush takes its key's copy out while it changes it and hands it back with the
version it wrote (``persist``) or kept (``keep``): a flush that fails in between leaves no copy
to be mistaken for the state's, so the retry (or the task restored onto this worker) replays
the bag.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from apache_beam.utils.shared import Shared

from transforms.steps.buffering import StateRequests

Version = tuple[int, int]


class VersionedBag:
    """The records bag named ``name`` of a DoFn whose state requests ``requests`` counts."""

    def __init__(self, name: str, requests: StateRequests) -> None:
        self._name = name
        self._requests = requests
        self._shared = Shared()
        self._cache: _Copies = _Copies()

    def attach(self) -> None:
        """Use this worker's copies (``setup``: every instance of the step shares them)."""
        self._cache = self._shared.acquire(_Copies)

    def forget(self, key: Hashable) -> None:
        """Drop ``key``'s cached copy (its state was cleared)."""
        self._cache.pop(key, None)

    def keep(self, key: Hashable, version: Version, memory: Any) -> None:
        """Hand back ``key``'s ``memory``, unchanged in state (still ``version``)."""
        self._cache[key] = (version, memory)

    def cached(self, key: Hashable, version: Version | None) -> Any | None:
        """Take out the memory cached for ``key`` if it is the state's current ``version``."""
        hit = self._cache.pop(key, None)
        if version is None or hit is None or hit[0] != version:
            return None
        return hit[1]

    def load(
        self,
        key: Hashable,
        version: Version | None,
        state,
        build: Callable[[list[bytes]], Any],
        restore: Callable[[], Iterable[bytes]] | None,
    ) -> tuple[Any, int, bool]:
        """``(memory, records in the bag, whether the state was empty)``: the cached memory (taken
        out until ``persist`` or ``keep`` hands it back) when its version is the state's, else
        ``build`` of the bag's records, else (empty state) ``build`` of what ``restore`` gives
        (None: nothing to restore from), seeded into the bag."""
        cached = self.cached(key, version)
        if cached is not None:
            return cached, version[1], False
        if version is not None:
            rows = self._requests.read_all(key, self._name, state)
            return build(rows), len(rows), False
        rows = [] if restore is None else list(restore())
        self.seed(key, state, rows)
        return build(rows), len(rows), True

    def seed(self, key: Hashable, state, rows: Iterable[bytes]) -> None:
        """Append ``rows`` (a memory restored from elsewhere, e.g. a changelog)."""
        for row in rows:
            self._requests.add(key, self._name, state, row)

    def persist(
        self,
        key: Hashable,
        state,
        memory: Any,
        stored: int,
        added: list[bytes],
        live_count: int,
        live: Callable[[], Iterable[bytes]],
    ) -> Version:
        """Append ``added`` to the ``stored`` records, or, once the bag would hold more than twice
        the ``live_count`` live records, rewrite it with ``live()``; cache ``memory`` under the
        new version and return it."""
        if stored + len(added) > 2 * live_count:
            self._requests.clear(key, self._name, state)
            self.seed(key, state, live())
            stored = live_count
        else:
            self.seed(key, state, added)
            stored += len(added)
        version = (random.getrandbits(63), stored)
        self._cache[key] = (version, memory)
        return version


class _Copies(dict):
    """A worker's cached memories by key (a ``dict`` subclass: ``Shared`` holds it weakly)."""
