"""`newsflow run --metrics-port`: Prometheus text served while a streaming job runs, moving."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from pipelines.kafka_tools import produce

pytestmark = pytest.mark.integration

# Inside the port range of the broker the tests run against (KAFKA_PORT + 1..9 are its owner's).
METRICS_PORT_OFFSET = 5
SCRAPE_TIMEOUT_SECONDS = 300


def scrape(url: str) -> dict[str, float]:
    """``{sample name with labels: value}`` of one scrape, or {} while nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return {}
    samples = {}
    for line in text.splitlines():
        match = re.fullmatch(r"(newsflow_\S+) (\S+)", line)
        if match:
            samples[match[1]] = float(match[2])
    return samples


def test_metrics_move_while_the_job_runs(
    kafka_bootstrap, stream_topics, job_factory, kit, tmp_path
):
    port = int(kafka_bootstrap.rsplit(":", 1)[1]) + METRICS_PORT_OFFSET
    url = f"http://127.0.0.1:{port}/metrics"
    # A group per run: the group names the dedup changelog, which outlives a run on one broker.
    group = f"{stream_topics['raw']}.metrics"
    argv = kit.run_argv(kafka_bootstrap, stream_topics, group, tmp_path / "files")
    job = job_factory([*argv, "--metrics-port", str(port)])

    deadline = time.monotonic() + SCRAPE_TIMEOUT_SECONDS
    first = {}
    while not first and time.monotonic() < deadline:
        first = scrape(url)
        time.sleep(1)
    assert first.get("newsflow_inputs_read_total") == 0, "served before any input arrives"
    sent = produce(str(kit.EXAMPLES), stream_topics["raw"], kafka_bootstrap, {})

    latest = first
    while time.monotonic() < deadline:
        latest = scrape(url) or latest
        # Counters converge bundle by bundle: wait for the last one asserted below too.
        latency_count = latest.get("newsflow_end_to_end_latency_seconds_count")
        if (
            latest.get("newsflow_enriched_total") == 16
            and _lag(latest) == 0
            and latency_count == sent
        ):
            break
        time.sleep(3)
    assert job.proc.poll() is None, "the job is still running while it is scraped"
    assert job.stop() == 0

    assert latest["newsflow_inputs_read_total"] == sent == 27
    assert latest["newsflow_enriched_total"] == 16
    dups = latest['newsflow_duplicates_total{kind="exact"}']
    assert dups + latest['newsflow_duplicates_total{kind="near"}'] == 4
    assert latest['newsflow_dead_letters_total{code="not_json",step="decode"}'] == 1
    assert latest['newsflow_dead_letters_total{code="all_filler",step="clean"}'] == 1
    assert latest["newsflow_end_to_end_latency_seconds_count"] == sent
    assert latest["newsflow_end_to_end_latency_seconds_sum"] > 0
    assert latest["newsflow_ner_batch_seconds_count"] >= 1
    assert _lag(latest) == 0


def _lag(samples: dict[str, float]) -> float | None:
    lags = [v for k, v in samples.items() if k.startswith("newsflow_consumer_lag{")]
    return sum(lags) if lags else None
