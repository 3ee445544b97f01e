"""Buffer keyed elements in Beam state until the event-time watermark passes them.

Shared by the keyed steps that decide in ``(fetched_at, input position)`` order (dedup, templates).
As in Beam's ``GroupIntoBatches``, these are helpers taking the DoFn's own state and timer objects:
Beam binds one ``on_timer`` callback per ``TimerSpec`` object, so each DoFn declares its specs
(``pending_spec``/``flush_spec`` build them) and passes them in.

Event time is cut into slots of ``FLUSH_GRANULARITY``; each element arms the flush timer of its
own slot (a dynamic timer tagged with the slot's end), which fires once the watermark passes the
slot and decides everything before it. A later element never moves an earlier slot's timer, so a
key that receives a continuous stream (a busy source is a hot key for templates) cannot postpone
its flush, and no state has to be read to know what is armed: an arrival costs one state request
per bundle (the append). One flush per slot holding elements amortises its state requests over
the slot's elements; the slot adds at most ``FLUSH_GRANULARITY`` of latency.

Elements wait in ``BUCKETS`` bags, the bag of their slot's number modulo ``BUCKETS``, so a flush
reads and clears only its own slot's elements and never rewrites the ones still waiting: with one
bag, each flush cleared it and appended back every element not yet due, so an article (several
KB) waiting through n flushes went n+1 times over the state channel and into the runner's store
(deploy/README.md, "Per state: what the checkpoint holds"). Only an element ``BUCKETS`` slots or
more ahead of the watermark shares its bag with a due one and is appended back. A key's small
running value (dedup's state version, templates' learned lines) is carried in the bag
``pending``, rewritten only when it changes; a flush costs a read of ``pending`` and of its
bucket, and a clear of the bucket. Elements found in ``pending`` (state written before the
buckets) are decided as before and the rest kept there, so a savepoint of either layout restores.

The gates follow one another (templates, then dedup, then stories) and a flush stamps what it
emits with its own time, so each gate's slots end ``phase`` milliseconds after the whole slot
(``TEMPLATES_PHASE`` < ``DEDUP_PHASE`` < ``STORIES_PHASE``): what one gate emits at the end of a
slot falls into the same slot of the next gate, and one pass of the watermark over a slot's end
releases it through all three. On one shared grid each gate's output landed in the next gate's
next slot, and the three gates cost three slots (about 2 s more per article). Milliseconds, not
microseconds: the portable API carries timestamps and timer times in milliseconds (Prism,
Flink), so a finer phase would be cut away and a timer would fire at its own element's time.
The phases sit in the last milliseconds *before* the whole second, not just after it: Beam
2.62's FlinkRunner floors a splittable DoFn's watermark hold to whole seconds
(``BundleCheckpointHandlers``), so every watermark downstream of the Kafka reader moves in whole
seconds there, and slots ending 1-3 ms after a second were released only by the next second's
watermark, a second later than slots ending just before it (deploy/README.md, "Whole-second
watermarks").

``StateRequests`` counts the state round trips the Python SDK makes for these objects (a read is
one request; a cleared or appended state is one request each at bundle commit), as the counter
``<namespace>/state_requests``, so benchmarks report requests per article; and the elements each
flush read, as the distribution ``<namespace>/flush_read_elements``: its max is what a runner had
to hold at once for one read (Flink's RocksDB backend reads a bag whole into the JVM heap).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.coders import Coder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.state_coders import CARRIED, PendingCoder
from transforms.steps.state_params import with_states

FLUSH_GRANULARITY = Duration(seconds=1)
# Each gate's offset (milliseconds) from the whole slot, in pipeline order: a gate's flush time
# must fall in the same slot of the gate after it, and all three slots end before the whole
# second a FlinkRunner watermark steps to (see the module docstring).
TEMPLATES_PHASE, DEDUP_PHASE, STORIES_PHASE = 997, 998, 999
STATE_REQUESTS = "state_requests"
FLUSH_READ = "flush_read_elements"
PENDING = "pending"
# A bucket holds the slots BUCKETS apart: a flush reads one slot's elements while the key's
# elements span fewer than BUCKETS slots ahead of the watermark (deploy/README.md, "The 100,000
# run").
BUCKETS = 32
BUCKET_NAMES = tuple(f"{PENDING}_{n:02d}" for n in range(BUCKETS))


def pending_spec(element: Coder, carried: Coder) -> BagStateSpec:
    """The key's carried value (and, in state written before the buckets, elements waiting for
    the watermark), in the versioned formats of ``carried`` and ``element``."""
    return BagStateSpec(PENDING, PendingCoder(element, carried))


def bucket_specs(element: Coder, carried: Coder) -> tuple[BagStateSpec, ...]:
    """The ``BUCKETS`` bags of elements waiting for the watermark, each ``(timestamp in
    microseconds, element)`` in the same format as ``pending``'s."""
    return tuple(BagStateSpec(name, PendingCoder(element, carried)) for name in BUCKET_NAMES)


def flush_spec() -> TimerSpec:
    return TimerSpec("flush", TimeDomain.WATERMARK)


def flush_time(timestamp: Timestamp, phase: int) -> Timestamp:
    """When an element is decided: the end of its ``FLUSH_GRANULARITY`` slot, the slots of this
    gate ending ``phase`` milliseconds after the whole slot; always after the element itself (a
    timer set at the watermark may count as passed and never fire)."""
    step, offset = FLUSH_GRANULARITY.micros, phase * 1000
    return Timestamp(micros=((timestamp.micros - offset) // step + 1) * step + offset)


def bucket_of(flush_at: Timestamp) -> str:
    """The bag of the elements whose flush timer fires at ``flush_at`` (a ``flush_time``)."""
    return BUCKET_NAMES[flush_at.micros // FLUSH_GRANULARITY.micros % BUCKETS]


class StateRequests:
    """Counts state round trips per bundle as the Python SDK makes them (no cross-bundle cache:
    Prism sends no cache tokens)."""

    def __init__(self, namespace: str) -> None:
        self._counter = Metrics.counter(namespace, STATE_REQUESTS)
        self._flush_read = Metrics.distribution(namespace, FLUSH_READ)
        self._commits: dict[tuple[Hashable, str], set[str]] = {}

    def start_bundle(self) -> None:
        self._commits = {}

    def finish_bundle(self) -> None:
        self._counter.inc(sum(len(ops) for ops in self._commits.values()))

    def read_all(self, key: Hashable, name: str, state) -> list:
        """A bag's elements, read once into a list; free after a clear in the same bundle (the
        SDK knows the bag is empty)."""
        if "clear" not in self._commits.get((key, name), ()):
            self._counter.inc()
        return list(state.read())

    def flush_read(self, elements: int) -> None:
        """Record how many waiting elements one flush read from state (its carried value not
        counted): what the runner must hold in memory at once for it."""
        self._flush_read.update(elements)

    def add(self, key: Hashable, name: str, state, value: Any) -> None:
        state.add(value)
        self._commits.setdefault((key, name), set()).add("extend")

    def clear(self, key: Hashable, name: str, state) -> None:
        state.clear()
        ops = self._commits.setdefault((key, name), set())
        ops.discard("extend")
        ops.add("clear")


def buffer(
    key, value, timestamp: Timestamp, buckets: Mapping, flush, requests: StateRequests, phase: int
) -> None:
    """Add ``value`` to its slot's bucket and arm the slot's flush timer (this gate's ``phase``)."""
    at = flush_time(timestamp, phase)
    name = bucket_of(at)
    requests.add(key, name, buckets[name], (timestamp.micros, value))
    flush.set(at, dynamic_timer_tag=str(at.micros))


@dataclass(frozen=True)
class Due:
    """What a flush found: the ``values`` the watermark has passed, the key's ``carried`` value
    (None at first), the ``bucket`` read and its ``later`` ``(micros, value)`` pairs still
    waiting, and ``pending``'s own waiting pairs (state written before the buckets): those
    ``taken`` from it and those ``kept`` there."""

    values: list
    carried: Any
    bucket: str
    later: list = field(default_factory=list)
    taken: int = 0
    kept: list = field(default_factory=list)


def _split(items: list, fired_at: Timestamp) -> tuple[list, list]:
    """``(values due before fired_at, (micros, value) pairs not yet due)`` of timed items."""
    due = [value for micros, value in items if micros < fired_at.micros]
    return due, [item for item in items if item[0] >= fired_at.micros]


def take_due(key, fired_at: Timestamp, pending, buckets: Mapping, requests) -> Due:
    """Read ``pending`` and the bucket of ``fired_at`` (two requests): the values with
    timestamps before ``fired_at``, the carried value and what still waits. Nothing changes
    until ``put_back``."""
    items = requests.read_all(key, PENDING, pending)
    carried = next((value for mark, value in items if mark == CARRIED), None)
    legacy_due, kept = _split([item for item in items if item[0] != CARRIED], fired_at)
    name = bucket_of(fired_at)
    bucket = requests.read_all(key, name, buckets[name])
    requests.flush_read(len(items) - (carried is not None) + len(bucket))
    due, later = _split(bucket, fired_at)
    return Due(legacy_due + due, carried, name, later, len(legacy_due), kept)


def put_back(key, due: Due, carried, pending, buckets: Mapping, requests) -> None:
    """Clear the flushed bucket, appending back only its elements not yet due (those ``BUCKETS``
    slots or more ahead), and rewrite ``pending`` only if ``carried`` (the key's small running
    value, e.g. dedup's state version) changed or elements were taken from it."""
    if len(due.values) > due.taken:
        requests.clear(key, due.bucket, buckets[due.bucket])
        for item in due.later:
            requests.add(key, due.bucket, buckets[due.bucket], item)
    if carried == due.carried and not due.taken:
        return
    requests.clear(key, PENDING, pending)
    for item in due.kept:
        requests.add(key, PENDING, pending, item)
    if carried is not None:
        requests.add(key, PENDING, pending, (CARRIED, carried))


def forget_carried(key, pending, requests: StateRequests) -> None:
    """Drop the carried value, keeping every waiting element."""
    items = requests.read_all(key, PENDING, pending)
    requests.clear(key, PENDING, pending)
    for item in items:
        if item[0] != CARRIED:
            requests.add(key, PENDING, pending, item)


class CountsStateRequests:
    """Mixin for a buffering DoFn: flushes its ``StateRequests`` (``self._requests``) count per
    bundle."""

    _requests: StateRequests

    def start_bundle(self) -> None:
        self._requests.start_bundle()

    def finish_bundle(self) -> None:
        self._requests.finish_bundle()


def buffering_process(buckets: tuple[BagStateSpec, ...], flush: TimerSpec, phase: int):
    """A DoFn ``process`` that only buffers ``(key, value)`` elements (``buffer``), bound to the
    DoFn's own specs and its gate's ``phase``; in the class body:
    ``process = buffering_process(BUCKETS, FLUSH, DEDUP_PHASE)``."""

    names = [spec.name for spec in buckets]

    @with_states(buckets)
    def process(
        self,
        element: tuple[Any, Any],
        timestamp=beam.DoFn.TimestampParam,
        flush_timer=beam.DoFn.TimerParam(flush),
        *bucket_states,
    ):
        key, value = element
        states = dict(zip(names, bucket_states, strict=True))
        buffer(key, value, timestamp, states, flush_timer, self._requests, phase)

    return process
