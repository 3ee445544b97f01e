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
the slot's elements; the slot adds at most ``FLUSH_GRANULARITY`` of latency. A key's small running
value (dedup's state version, templates' learned lines) is carried in the same bag, so a flush
costs a read, a clear and an append of it, whatever it decides.

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
``<namespace>/state_requests``, so benchmarks report requests per article.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.coders import Coder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp

from transforms.state_coders import CARRIED, PendingCoder

FLUSH_GRANULARITY = Duration(seconds=1)
# Each gate's offset (milliseconds) from the whole slot, in pipeline order: a gate's flush time
# must fall in the same slot of the gate after it, and all three slots end before the whole
# second a FlinkRunner watermark steps to (see the module docstring).
TEMPLATES_PHASE, DEDUP_PHASE, STORIES_PHASE = 997, 998, 999
STATE_REQUESTS = "state_requests"


def pending_spec(element: Coder, carried: Coder) -> BagStateSpec:
    """Elements waiting for the watermark, each with its timestamp (microseconds), and the key's
    carried value, in the versioned formats of ``element`` and ``carried``."""
    return BagStateSpec("pending", PendingCoder(element, carried))


def flush_spec() -> TimerSpec:
    return TimerSpec("flush", TimeDomain.WATERMARK)


def flush_time(timestamp: Timestamp, phase: int) -> Timestamp:
    """When an element is decided: the end of its ``FLUSH_GRANULARITY`` slot, the slots of this
    gate ending ``phase`` milliseconds after the whole slot; always after the element itself (a
    timer set at the watermark may count as passed and never fire)."""
    step, offset = FLUSH_GRANULARITY.micros, phase * 1000
    return Timestamp(micros=((timestamp.micros - offset) // step + 1) * step + offset)


class StateRequests:
    """Counts state round trips per bundle as the Python SDK makes them (no cross-bundle cache:
    Prism sends no cache tokens)."""

    def __init__(self, namespace: str) -> None:
        self._counter = Metrics.counter(namespace, STATE_REQUESTS)
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

    def add(self, key: Hashable, name: str, state, value: Any) -> None:
        state.add(value)
        self._commits.setdefault((key, name), set()).add("extend")

    def clear(self, key: Hashable, name: str, state) -> None:
        state.clear()
        ops = self._commits.setdefault((key, name), set())
        ops.discard("extend")
        ops.add("clear")


def buffer(
    key, value, timestamp: Timestamp, pending, flush, requests: StateRequests, phase: int
) -> None:
    """Add ``value`` to the pending bag and arm its slot's flush timer (this gate's ``phase``)."""
    requests.add(key, "pending", pending, (timestamp.micros, value))
    at = flush_time(timestamp, phase)
    flush.set(at, dynamic_timer_tag=str(at.micros))


@dataclass(frozen=True)
class Due:
    """What a flush found: the ``values`` the watermark has passed, the key's ``carried`` value
    (None at first) and the ``later`` ``(micros, value)`` pairs still waiting."""

    values: list
    carried: Any
    later: list


def take_due(key, fired_at: Timestamp, pending, requests: StateRequests) -> Due:
    """Read the pending bag (one request): the values with timestamps before ``fired_at``, the
    carried value and the rest. Nothing changes until ``put_back``."""
    items = requests.read_all(key, "pending", pending)
    carried = next((value for mark, value in items if mark == CARRIED), None)
    timed = [item for item in items if item[0] != CARRIED]
    due = [value for micros, value in timed if micros < fired_at.micros]
    return Due(due, carried, [item for item in timed if item[0] >= fired_at.micros])


def put_back(key, due: Due, carried, pending, requests: StateRequests) -> None:
    """Leave in the bag only what is not yet due, plus ``carried`` (the key's small running value,
    e.g. dedup's state version): a clear and one append, whatever was taken."""
    requests.clear(key, "pending", pending)
    for item in due.later:
        requests.add(key, "pending", pending, item)
    if carried is not None:
        requests.add(key, "pending", pending, (CARRIED, carried))


def forget_carried(key, pending, requests: StateRequests) -> None:
    """Drop the carried value, keeping every pending element."""
    put_back(key, take_due(key, MIN_TIMESTAMP, pending, requests), None, pending, requests)


class CountsStateRequests:
    """Mixin for a buffering DoFn: flushes its ``StateRequests`` (``self._requests``) count per
    bundle."""

    _requests: StateRequests

    def start_bundle(self) -> None:
        self._requests.start_bundle()

    def finish_bundle(self) -> None:
        self._requests.finish_bundle()


def buffering_process(pending: BagStateSpec, flush: TimerSpec, phase: int):
    """A DoFn ``process`` that only buffers ``(key, value)`` elements (``buffer``), bound to the
    DoFn's own specs and its gate's ``phase``; in the class body:
    ``process = buffering_process(PENDING, FLUSH, DEDUP_PHASE)``."""

    def process(
        self,
        element: tuple[Any, Any],
        timestamp=beam.DoFn.TimestampParam,
        pending_state=beam.DoFn.StateParam(pending),
        flush_timer=beam.DoFn.TimerParam(flush),
    ):
        key, value = element
        buffer(key, value, timestamp, pending_state, flush_timer, self._requests, phase)

    return process
