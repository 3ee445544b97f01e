"""Beam metric snapshots to Prometheus text and to the progress line, without a job."""

from types import SimpleNamespace

import pytest
from apache_beam.metrics.cells import DistributionData, DistributionResult
from apache_beam.metrics.execution import MetricKey
from apache_beam.metrics.metricbase import MetricName
from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry

from pipelines.metrics import JobMetrics, snapshot
from pipelines.progress import progress_line, show_progress
from pipelines.status import PartitionLag
from schemas.errors import ConfigurationError
from transforms.io.histograms import bucket_counter_name, bucket_upper_ms


def result(namespace: str, name: str, value, step: str = "s", attempted=None):
    return SimpleNamespace(
        key=MetricKey(step, MetricName(namespace, name)), committed=value, attempted=attempted
    )


COUNTERS = [
    result("newsflow.read_kafka", "out", 20, "ReadA"),
    result("newsflow.read_kafka", "out", 7, "ReadB"),
    result("newsflow.enrich", "out", 16),
    result("newsflow.dedup", "duplicates_exact", 2, attempted=0),  # Prism: timers not attempted
    result("newsflow.dedup", "duplicates_near", None, attempted=2),
    result("newsflow.decode", "dead_letter_not_json", 1),
    result("newsflow.clean", "dead_letter_all_filler", 1),
    result("newsflow.write_kafka", "end_to_end_latency_le_500", 3),
    result("newsflow.write_kafka", "end_to_end_latency_le_5000", 2),
    result("newsflow.write_kafka", "end_to_end_latency_le_inf", 1),
    result("beam.internal", "ignored", 99),
]
DISTRIBUTIONS = [
    result(
        "newsflow.write_kafka",
        "end_to_end_latency_ms",
        DistributionResult(DistributionData(9000, 6, 1, 400000)),
    ),
    result(
        "newsflow.dedup", "flush_read_elements", DistributionResult(DistributionData(90, 4, 3, 60))
    ),
    result(
        "newsflow.dedup",
        "flush_read_elements",
        DistributionResult(DistributionData(7, 2, 2, 5)),
        "t",
    ),
]


@pytest.mark.parametrize(
    ("elapsed_ms", "counter"),
    [
        (0, "t_le_10"),
        (10, "t_le_10"),
        (10.5, "t_le_50"),
        (299999, "t_le_300000"),
        (1e9, "t_le_inf"),
    ],
)
def test_bucket_counter_names_round_trip(elapsed_ms, counter):
    assert bucket_counter_name("t", elapsed_ms) == counter
    assert bucket_upper_ms(counter, "t") >= min(elapsed_ms, 300000)
    assert bucket_upper_ms(counter, "other") is None


def test_snapshot_sums_steps_and_keeps_only_newsflow():
    snap = snapshot({"counters": COUNTERS, "distributions": DISTRIBUTIONS})
    assert snap.inputs_read == 27
    assert snap.enriched == 16
    assert snap.duplicates == {"exact": 2, "near": 2}
    assert snap.dead_letters == {("decode", "not_json"): 1, ("clean", "all_filler"): 1}
    assert ("internal", "ignored") not in snap.counters


def test_prometheus_text_has_counters_histogram_and_lag():
    snap = snapshot({"counters": COUNTERS, "distributions": DISTRIBUTIONS})
    lags = [PartitionLag(0, 5, 9, 4, None, 2), PartitionLag(1, None, 3, 3, None)]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobMetrics(lambda: lags, lambda: snap))
    text = generate_latest(registry).decode()
    assert "newsflow_inputs_read_total 27.0" in text
    assert 'newsflow_duplicates_total{kind="near"} 2.0' in text
    assert 'newsflow_dead_letters_total{code="not_json",step="decode"} 1.0' in text
    assert 'newsflow_end_to_end_latency_seconds_bucket{le="0.5"} 3.0' in text
    assert 'newsflow_end_to_end_latency_seconds_bucket{le="5.0"} 5.0' in text
    assert 'newsflow_end_to_end_latency_seconds_bucket{le="+Inf"} 6.0' in text
    assert "newsflow_end_to_end_latency_seconds_sum 9.0" in text
    assert 'newsflow_consumer_lag{partition="1"} 3.0' in text
    assert 'newsflow_consumer_deleted_unread{partition="0"} 2.0' in text
    assert 'newsflow_flush_read_elements_count{step="dedup"} 6.0' in text
    assert 'newsflow_flush_read_elements_sum{step="dedup"} 97.0' in text
    assert 'newsflow_flush_read_elements_max{step="dedup"} 60.0' in text


def test_progress_line():
    snap = snapshot({"counters": COUNTERS, "distributions": []})
    assert progress_line(snap, 9.0) == (
        "events read 27 · enriched 16 · duplicates 4 · dead letters 2 · 2.4 articles/s"
    )


class Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_progress_only_on_a_terminal(tty):
    stream = Stream(tty)
    snap = snapshot({"counters": COUNTERS, "distributions": []})
    with show_progress(lambda: snap, stream):
        pass
    assert ("events read 27" in stream.text) is tty


def test_a_taken_metrics_port_is_one_clear_error():
    first = JobMetrics()
    first.serve(0, "127.0.0.1")  # port 0: the system picks a free one
    port = first.port
    try:
        with pytest.raises(ConfigurationError, match=f"--metrics-port {port}: cannot serve"):
            JobMetrics().serve(port, "127.0.0.1")
    finally:
        first.stop()
