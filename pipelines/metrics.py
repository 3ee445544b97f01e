"""Live metrics of a running job: Beam's counters as Prometheus text, plus consumer lag.

Where the numbers come from: DoFns count with Beam metrics, the workers report them to the runner
with every finished bundle, and the runner's job service answers ``GetJobMetrics`` at any time
while the job runs (Prism accumulates them per job; Flink's job server too). ``newsflow run
--metrics-port`` therefore asks the job service on each scrape and translates, instead of counting
a second time in the DoFns: the figures are the runner's own, they hold for workers in other
processes or machines, and a retried bundle is not counted twice. Consumer lag is not a Beam
metric: it is read from the broker on each scrape (committed vs end offsets, as ``newsflow
status`` does). ``newsflow process`` shows its progress from the same snapshots.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.portability.api import beam_job_api_pb2
from apache_beam.runners.portability.portable_runner import PortableMetrics
from prometheus_client import start_http_server
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from pipelines.options import kafka_connection
from pipelines.status import PartitionLag, consumer_lag
from schemas.errors import ConfigurationError, InfrastructureError
from transforms.io.histograms import bucket_upper_ms
from transforms.io.kafka_sink import END_TO_END_LATENCY, WRITE_METRICS_NAMESPACE
from transforms.steps.buffering import FLUSH_READ
from transforms.steps.enrich import NER_BATCH_TIME

LOG = logging.getLogger(__name__)
PREFIX = "newsflow."
DEAD_LETTER_COUNTER = re.compile(r"dead_letter_(?P<code>.+)")
SOURCES = ("read_kafka", "read_files")


@dataclass
class Snapshot:
    """The job's newsflow metrics, summed over the steps that report the same name: counters by
    ``(step, name)`` and distributions by ``(step, name)`` as ``(count, sum)``, with their
    largest value in ``maxima``."""

    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    distributions: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    maxima: dict[tuple[str, str], int] = field(default_factory=dict)

    def counter(self, step: str, name: str) -> int:
        return self.counters.get((step, name), 0)

    @property
    def inputs_read(self) -> int:
        return sum(self.counter(source, "out") for source in SOURCES)

    @property
    def enriched(self) -> int:
        return self.counter("enrich", "out")

    @property
    def duplicates(self) -> dict[str, int]:
        return {kind: self.counter("dedup", f"duplicates_{kind}") for kind in ("exact", "near")}

    @property
    def dead_letters(self) -> dict[tuple[str, str], int]:
        """``(step, code) -> count``."""
        out = {}
        for (step, name), value in self.counters.items():
            match = DEAD_LETTER_COUNTER.fullmatch(name)
            if match:
                out[(step, match["code"])] = value
        return out


def snapshot(query: dict) -> Snapshot:
    """A Snapshot from ``MetricResults.query()``, for namespaces ``newsflow.<step>``: committed
    values (those of finished bundles) where the runner has them, else attempted ones. Prism's
    attempted values miss increments made in timer callbacks (exact dedup's count stays 0)."""
    counters: dict[tuple[str, str], int] = defaultdict(int)
    distributions: dict[tuple[str, str], tuple[int, int]] = {}
    maxima: dict[tuple[str, str], int] = {}
    for result in query.get("counters", []):
        key = _key(result)
        if key is not None:
            counters[key] += _value(result) or 0
    for result in query.get("distributions", []):
        key, value = _key(result), _value(result)
        if key is not None and value is not None:
            count, total = distributions.get(key, (0, 0))
            distributions[key] = (count + value.count, total + value.sum)
            if value.count:
                maxima[key] = max(maxima.get(key, value.max), value.max)
    return Snapshot(dict(counters), distributions, maxima)


def _key(result) -> tuple[str, str] | None:
    namespace = result.key.metric.namespace
    if not namespace.startswith(PREFIX):
        return None
    return namespace[len(PREFIX) :], result.key.metric.name


def _value(result):
    return result.committed if result.committed is not None else result.attempted


def job_snapshot(result) -> Snapshot:
    """The running job's metrics now. Beam's ``PipelineResult.metrics()`` on a portable runner
    (Prism, Flink's job server) keeps the first answer forever, so the job service is asked
    directly; other runners' results answer ``metrics()`` live."""
    service = getattr(result, "_job_service", None)
    if service is None:
        return snapshot(result.metrics().query(MetricsFilter()))
    request = beam_job_api_pb2.GetJobMetricsRequest(job_id=result._job_id)
    return snapshot(PortableMetrics(service.GetJobMetrics(request)).query(MetricsFilter()))


def families(snap: Snapshot, lags: list[PartitionLag] | None) -> Iterator[Metric]:
    """The Prometheus metrics of a snapshot (and consumer lag, when it could be read)."""
    yield _counter("newsflow_inputs_read", "Input events read from the source.", snap.inputs_read)
    yield _counter("newsflow_enriched", "Articles enriched (NER done).", snap.enriched)
    dups = CounterMetricFamily(
        "newsflow_duplicates", "Duplicate articles, by kind (exact, near).", labels=["kind"]
    )
    for kind, value in snap.duplicates.items():
        dups.add_metric([kind], value)
    yield dups
    dead = CounterMetricFamily(
        "newsflow_dead_letters", "Dead letters, by reason code and step.", labels=["code", "step"]
    )
    for (step, code), value in sorted(snap.dead_letters.items()):
        dead.add_metric([code, step], value)
    yield dead
    steps = CounterMetricFamily(
        "newsflow_step_events", "Every Beam counter of newsflow's steps.", labels=["step", "name"]
    )
    for (step, name), value in sorted(snap.counters.items()):
        steps.add_metric([step, name], value)
    yield steps
    yield _histogram(
        snap,
        "newsflow_end_to_end_latency_seconds",
        "From an input's Kafka timestamp to its output's acknowledgement by the broker.",
        WRITE_METRICS_NAMESPACE.removeprefix(PREFIX),
        END_TO_END_LATENCY,
    )
    yield _histogram(
        snap, "newsflow_ner_batch_seconds", "spaCy NER time per batch.", "enrich", NER_BATCH_TIME
    )
    yield from _flush_reads(snap)
    if lags is not None:
        lag = GaugeMetricFamily(
            "newsflow_consumer_lag", "Input records not yet committed.", labels=["partition"]
        )
        deleted = GaugeMetricFamily(
            "newsflow_consumer_deleted_unread",
            "Input offsets past the commit that the topic deleted unread (retention).",
            labels=["partition"],
        )
        for p in lags:
            lag.add_metric([str(p.partition)], p.lag)
            deleted.add_metric([str(p.partition)], p.deleted_unread)
        yield lag
        yield deleted


def _flush_reads(snap: Snapshot) -> Iterator[Metric]:
    """Elements each flush of a buffering step read from state (``buffering.FLUSH_READ``): their
    count and sum per step, and the most one flush read, which is what the runner had to hold
    at once (a burst concentrated in few event-time seconds shows here first)."""
    reads = {step: v for (step, name), v in snap.distributions.items() if name == FLUSH_READ}
    summary = SummaryMetricFamily(
        "newsflow_flush_read_elements",
        "Elements a buffering step's flush read from state, per step.",
        labels=["step"],
    )
    largest = GaugeMetricFamily(
        "newsflow_flush_read_elements_max",
        "The most elements one flush of a buffering step read from state.",
        labels=["step"],
    )
    for step, (count, total) in sorted(reads.items()):
        summary.add_metric([step], count_value=count, sum_value=total)
        largest.add_metric([step], snap.maxima.get((step, FLUSH_READ), 0))
    yield summary
    yield largest


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _histogram(snap: Snapshot, name: str, doc: str, step: str, metric: str) -> Metric:
    """Cumulative Prometheus buckets from the per-bucket counters of a CounterHistogram."""
    bounds = []
    for (counter_step, counter_name), value in snap.counters.items():
        upper = bucket_upper_ms(counter_name, metric) if counter_step == step else None
        if upper is not None:
            bounds.append((upper, value))
    buckets, cumulative = [], 0
    for upper_ms, value in sorted(bounds):
        cumulative += value
        if upper_ms != float("inf"):
            buckets.append((_seconds_label(upper_ms), cumulative))
    buckets.append(("+Inf", cumulative))
    _, total_ms = snap.distributions.get((step, f"{metric}_ms"), (0, 0))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total_ms / 1000)


def _seconds_label(upper_ms: float) -> str:
    return repr(upper_ms / 1000)


class JobMetrics:
    """The ``/metrics`` endpoint of one ``newsflow run``: bound before the job starts (a port in
    use fails the command at once), then fed by the job once ``attach``-ed; every scrape asks the
    job service and the broker afresh."""

    def __init__(
        self,
        lag: Callable[[], list[PartitionLag]] | None = None,
        read: Callable[[], Snapshot] = Snapshot,
    ) -> None:
        self._read = read
        self._lag = lag
        self._stop: Callable[[], None] = lambda: None
        self.port: int | None = None

    def attach(self, result) -> None:
        """From now on, scrapes read this running job's metrics."""
        self._read = partial(job_snapshot, result)

    def serve(self, port: int, host: str) -> None:
        """Serve ``/metrics`` on ``host:port`` in a daemon thread until ``stop``."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:  # a second instance on the same port, a host not on this machine
            raise ConfigurationError(
                f"--metrics-port {port}: cannot serve on {host}:{port}: {exc.strerror or exc}"
            ) from exc
        self.port = server.server_port
        LOG.info("metrics on http://%s:%d/metrics", host, self.port)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        self._stop = stop

    def stop(self) -> None:
        self._stop()

    def collect(self) -> Iterator[Metric]:
        lags = None
        if self._lag is not None:
            try:
                lags = self._lag()
            except InfrastructureError as exc:
                LOG.warning("consumer lag not available for this scrape: %s", exc)
        yield from families(self._read(), lags)


def job_metrics(opts) -> JobMetrics:
    """``--metrics-port``: the endpoint of this job, serving already (consumer lag included);
    without the flag, one that serves nothing."""
    if opts.metrics_port is None:
        return JobMetrics()
    kafka = kafka_connection(opts)

    def lag() -> list[PartitionLag]:
        return consumer_lag(kafka, opts.consumer_group, opts.input_topic)[0]

    metrics = JobMetrics(lag)
    metrics.serve(opts.metrics_port, opts.metrics_host)
    return metrics
