"""How far each Flink operator's output watermark is behind the wall clock while a job runs.

The keyed steps (templates, dedup, stories) release an article only when the watermark passes it,
so an article's latency is bounded below by how far behind the clock the watermark reaching them
is. Flink's REST API updates its metrics every 10 s (``metrics.fetcher.update-interval``), too
coarse for a watermark that moves every second; the TaskManagers' own Prometheus endpoints
(``metrics.reporter.prom`` in ``deploy/flink/conf/config.yaml``, ports 9249-9259) are read live.

``WatermarkLag`` samples ``currentOutputWatermark`` of every operator of one job every
``period`` seconds in a thread; ``table`` reports per operator the lag (wall clock minus
watermark) at the median and the 99th percentile of the samples and its largest value, sorted by
median, so the operator where the lag appears is the first row whose lag exceeds the one before.
Run alone (``python benchmarks/flink_watermarks.py --seconds 60``) it samples whatever job runs.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections import defaultdict
from urllib.error import URLError
from urllib.request import urlopen

PROMETHEUS_PORTS = range(9249, 9260)
METRIC = "flink_taskmanager_job_task_operator_currentOutputWatermark"
SAMPLE = re.compile(rf"^{METRIC}\{{(?P<labels>.*)\}} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')
# Flink reports Long.MIN_VALUE before the first watermark and Long.MAX_VALUE after the last.
UNSET = (-9.2e18, 9.2e18)


def output_watermarks(job_name: str | None = None) -> dict[str, float]:
    """Per operator (name and subtask), its output watermark in seconds since the epoch, from every
    TaskManager that answers; only of jobs whose name contains ``job_name`` if given."""
    found: dict[str, float] = {}
    for port in PROMETHEUS_PORTS:
        try:
            text = urlopen(f"http://localhost:{port}/metrics", timeout=2).read().decode()
        except (URLError, OSError):
            continue
        for line in text.splitlines():
            match = SAMPLE.match(line)
            if match is None:
                continue
            labels = dict(LABEL.findall(match["labels"]))
            value = float(match["value"])
            # Prometheus labels spell the job name with "_" for "-".
            if job_name and job_name.replace("-", "_") not in labels.get("job_name", ""):
                continue
            if UNSET[0] < value < UNSET[1]:
                found[f"{labels['operator_name']}[{labels['subtask_index']}]"] = value / 1000
    return found


class WatermarkLag(threading.Thread):
    """Samples every operator's watermark lag behind the wall clock, from ``after`` seconds after
    ``start`` (a job's start-up is not its steady state) until ``stop``."""

    def __init__(self, period: float = 0.5, job_name: str | None = None, after: float = 0) -> None:
        super().__init__(daemon=True)
        self.lags: dict[str, list[float]] = defaultdict(list)
        self._period = period
        self._job_name = job_name
        self._after = after
        self._stopping = threading.Event()

    def run(self) -> None:
        self._stopping.wait(self._after)
        while not self._stopping.is_set():
            now = time.time()
            for operator, watermark in output_watermarks(self._job_name).items():
                self.lags[operator].append(now - watermark)
            self._stopping.wait(self._period)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


def table(lags: dict[str, list[float]]) -> str:
    """Markdown: per operator, its watermark lag in seconds (p50, p99, max) over the samples."""
    rows = sorted(lags.items(), key=lambda item: quantile(item[1], 0.5))
    lines = [
        "| operator [subtask] | samples | lag p50 s | lag p99 s | lag max s |",
        "|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {name[:100]} | {len(v)} | {quantile(v, 0.5):.1f} | {quantile(v, 0.99):.1f} "
        f"| {max(v):.1f} |"
        for name, v in rows
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to sample (60)")
    parser.add_argument("--period", type=float, default=0.5, help="seconds between samples (0.5)")
    parser.add_argument("--job-name", default=None, help="only jobs named with this (all)")
    args = parser.parse_args()
    sampler = WatermarkLag(args.period, args.job_name)
    sampler.start()
    time.sleep(args.seconds)
    sampler.stop()
    print(table(sampler.lags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
