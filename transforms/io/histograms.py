"""Histograms made of Beam counters, so every runner reports them.

Beam's portable runners carry counters, distributions and gauges from the workers to the job
service, but no histogram type (Prism accumulates none), and a distribution has no buckets. So a
histogram here is one counter per bucket (``<name>_le_<upper ms>``, not cumulative; ``_le_inf``
for the rest) plus a distribution for the sum and count. ``pipelines/metrics.py`` turns them into a
Prometheus histogram; on Flink the same counters reach Flink's Prometheus reporter as they are.
"""

from __future__ import annotations

import bisect

from apache_beam.metrics import Metrics

# Upper bounds in milliseconds: spaCy batches and end-to-end latency on this machine both span
# tens of milliseconds to minutes (docs/performance.md).
BUCKETS_MS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)
INF = "inf"


def bucket_counter_name(name: str, elapsed_ms: float) -> str:
    """The counter of the smallest bucket that holds ``elapsed_ms``."""
    index = bisect.bisect_left(BUCKETS_MS, elapsed_ms)
    upper = BUCKETS_MS[index] if index < len(BUCKETS_MS) else INF
    return f"{name}_le_{upper}"


def bucket_upper_ms(counter_name: str, name: str) -> float | None:
    """The bucket bound a counter of histogram ``name`` stands for (inf included), else None."""
    prefix = f"{name}_le_"
    if not counter_name.startswith(prefix):
        return None
    bound = counter_name[len(prefix) :]
    if bound == INF:
        return float("inf")
    return float(bound) if bound.isdigit() else None


class CounterHistogram:
    """Observes durations in milliseconds into bucket counters and a ``<name>_ms`` distribution.

    Create it in a DoFn's ``__init__`` (Beam metric handles are picklable) and call ``observe``
    from ``process`` or ``finish_bundle``."""

    def __init__(self, namespace: str, name: str) -> None:
        self._namespace = namespace
        self._name = name
        self._total = Metrics.distribution(namespace, f"{name}_ms")

    def observe(self, elapsed_ms: float) -> None:
        elapsed_ms = max(elapsed_ms, 0.0)
        Metrics.counter(self._namespace, bucket_counter_name(self._name, elapsed_ms)).inc()
        self._total.update(int(elapsed_ms))
