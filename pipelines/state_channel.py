"""Count the state requests an SDK worker sends its runner, where it sends them.

A keyed step's own ``state_requests`` counter (``transforms/steps/buffering.StateRequests``) is
the code's model of what the Python SDK will send. This counts what it does send: every
``StateRequest`` (get, append, clear) leaving the worker's state channel,
``GrpcStateHandler._request``, by the transform whose user state it touches. It wraps the SDK
worker of this process, so it sees a job whose worker runs in the launching process, as on Prism
(the local runner), whose Python environment is LOOPBACK. Used by the dedup tests and
``benchmarks/dedup_state.py`` to check the model against the channel.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from apache_beam.runners.worker import sdk_worker


class StateChannelCount:
    """Requests seen per (transform id, request kind); ``of(label)`` sums those of transforms
    whose id holds ``label`` (Beam ids carry the step's full label)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, transform_id: str, kind: str) -> None:
        with self._lock:
            self.requests[(transform_id, kind)] += 1

    def of(self, label: str) -> int:
        return sum(n for (transform, _), n in self.requests.items() if label in transform)


@contextmanager
def counting_state_requests() -> Iterator[StateChannelCount]:
    """While open, every state request of this process's SDK workers is counted."""
    count = StateChannelCount()
    send = sdk_worker.GrpcStateHandler._request

    def counted(handler, request):
        key_type = request.state_key.WhichOneof("type")
        key = getattr(request.state_key, key_type) if key_type else None
        transform = getattr(key, "transform_id", "")
        count.add(transform, request.WhichOneof("request"))
        return send(handler, request)

    sdk_worker.GrpcStateHandler._request = counted
    try:
        yield count
    finally:
        sdk_worker.GrpcStateHandler._request = send
