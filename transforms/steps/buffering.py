"""Buffer keyed elements in Beam state until the event-time watermark passes them.

Shared by the keyed steps that decide in ``(fetched_at, input position)`` order (dedup, templates).
As in Beam's ``GroupIntoBatches``, these are helpers taking the DoFn's own state and timer objects:
Beam binds one ``on_timer`` callback per ``TimerSpec`` object, so each DoFn declares its specs
(``pending_spec``/``armed_spec``/``flush_spec`` build them) and passes them in.

The flush timer is armed at the *earliest* pending element and never moved later, so a key that
receives a continuous stream (a busy source is a hot key for templates) cannot postpone its flush:
when the timer fires, everything before its time is decided and the timer is re-armed at the
earliest element left. Flush times are rounded up to ``FLUSH_GRANULARITY`` of event time, so a
watermark that jumps over many elements fires once for them rather than once per element (each
firing costs state round trips); the rounding adds at most that much latency.

``StateRequests`` counts the state round trips the Python SDK makes for these objects (a read is
one request; a cleared or appended state is one request each at bundle commit), as the counter
``<namespace>/state_requests``, so benchmarks report requests per article.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec
from apache_beam.utils.timestamp import Duration, Timestamp

FLUSH_GRANULARITY = Duration(seconds=0.5)
STATE_REQUESTS = "state_requests"


def pending_spec() -> BagStateSpec:
    """Elements waiting for the watermark, each with its timestamp (microseconds)."""
    return BagStateSpec("pending", PickleCoder())


def armed_spec() -> ReadModifyWriteStateSpec:
    """When the flush timer is armed (microseconds), or empty when nothing is pending."""
    return ReadModifyWriteStateSpec("armed", VarIntCoder())


def flush_spec() -> TimerSpec:
    return TimerSpec("flush", TimeDomain.WATERMARK)


def flush_time(timestamp: Timestamp) -> Timestamp:
    """When an element is decided: the end of its ``FLUSH_GRANULARITY`` slot, always after the
    element itself (a timer set at the watermark may count as passed and never fire)."""
    step = FLUSH_GRANULARITY.micros
    return Timestamp(micros=(timestamp.micros // step + 1) * step)


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

    def read(self, key: Hashable, name: str, state) -> Any:
        """A value state's value; free after a clear in the same bundle (the SDK knows it)."""
        if "clear" not in self._commits.get((key, name), ()):
            self._counter.inc()
        return state.read()

    def read_all(self, key: Hashable, name: str, state) -> list:
        """A bag's elements, read once into a list."""
        return list(self.read(key, name, state))

    def add(self, key: Hashable, name: str, state, value: Any) -> None:
        state.add(value)
        self._commits.setdefault((key, name), set()).add("extend")

    def write(self, key: Hashable, name: str, state, value: Any) -> None:
        state.write(value)
        self._commits.setdefault((key, name), set()).update(("clear", "extend"))

    def clear(self, key: Hashable, name: str, state) -> None:
        state.clear()
        ops = self._commits.setdefault((key, name), set())
        ops.discard("extend")
        ops.add("clear")


def buffer(key, value, timestamp: Timestamp, pending, armed, flush, requests: StateRequests):
    """Add ``value`` to the pending bag; arm the flush if it is now the earliest pending."""
    requests.add(key, "pending", pending, (timestamp.micros, value))
    at = flush_time(timestamp)
    current = requests.read(key, "armed", armed)
    if current is None or at.micros < current:
        flush.set(at)
        requests.write(key, "armed", armed, at.micros)


def take_due(key, fired_at: Timestamp, pending, armed, flush, requests: StateRequests) -> list:
    """The pending values the watermark has passed (timestamps before ``fired_at``), removed from
    the bag; the flush is re-armed at the earliest value left."""
    items = requests.read_all(key, "pending", pending)
    due = [value for micros, value in items if micros < fired_at.micros]
    rest = [item for item in items if item[0] >= fired_at.micros]
    requests.clear(key, "pending", pending)
    for item in rest:
        requests.add(key, "pending", pending, item)
    if rest:
        at = flush_time(Timestamp(micros=min(micros for micros, _ in rest)))
        flush.set(at)
        requests.write(key, "armed", armed, at.micros)
    else:
        requests.clear(key, "armed", armed)
    return due
