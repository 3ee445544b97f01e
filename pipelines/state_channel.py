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
        self.reads: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()

    def read(self, transform_id: str, state_id: str, size: int, continued: bool) -> None:
        """A bag read's page of ``size`` bytes; ``continued``: a later page of the last read."""
        with self._lock:
            sizes = self.reads.setdefault((transform_id, state_id), [])
            if continued and sizes:
                sizes[-1] += size
            else:
                sizes.append(size)

    def largest_read(self, label: str, state_prefix: str) -> int:
        """The most bytes one read returned from a state named ``state_prefix...`` of the
        transforms whose id holds ``label`` (0 if none was read)."""
        return max(
            (
                max(sizes)
                for (transform, state), sizes in self.reads.items()
                if label in transform and state.startswith(state_prefix) and sizes
            ),
            default=0,
        )

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

    get_raw = sdk_worker.GrpcStateHandler.get_raw

    def measured(handler, state_key, continuation_token=None):
        data, token = get_raw(handler, state_key, continuation_token)
        if state_key.WhichOneof("type") == "bag_user_state":
            bag = state_key.bag_user_state
            count.read(bag.transform_id, bag.user_state_id, len(data), bool(continuation_token))
        return data, token

    sdk_worker.GrpcStateHandler._request = counted
    sdk_worker.GrpcStateHandler.get_raw = measured
    try:
        yield count
    finally:
        sdk_worker.GrpcStateHandler._request = send
        sdk_worker.GrpcStateHandler.get_raw = get_raw
