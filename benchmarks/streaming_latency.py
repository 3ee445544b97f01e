"""End-to-end latency of the streaming job under a steady load of distinct real articles.

For each ``--rates`` value: fresh topics on the broker at ``--bootstrap-servers`` (raw with
``--raw-partitions``, 3), ``newsflow run`` (streaming, Prism) in its own process group,
``--warmup-seconds`` for it to start, then a producer sends distinct news articles
(``news_events``, at least 30 words, no two alike by newsflow's fingerprints) at that rate for
``--minutes``. A consumer follows the three output topics meanwhile. Once every input has an
output, or ``--drain-seconds`` after the last send, the job gets SIGTERM.

Reported per rate: inputs accounted exactly once (enriched + duplicates + dead letters, by input
partition/offset), latency = output record's Kafka timestamp - input's Kafka timestamp (p50, p99,
max), and the same for inputs of the first and of the last minute (growth) with the slowest input
of each ten seconds of the first minute and those inputs' mean size against the run's (a start-up
backlog, or a stretch of long articles: NER's cost grows with the text), the dedup step's state
requests per input read (scraped from the job's ``--metrics-port`` before it stops) and the CPU
seconds the job's processes (launcher and SDK worker, Prism, NER pool; on a Flink cluster the
launcher's, and in a column of its own the cluster's: JobManager, TaskManagers, worker pool with
its SDK workers, from ``deploy/flink/flink.sh status``, one job at a time) spent per input sent,
from the first send to the stop (start-up left out), in all and, under the table, by kind of
process (launcher, Prism, NER pool: what a CPU cut has to come from), and how many of the
machine's cores were busy while the load was sent, the job's and in all (the broker, this script:
how much room the run had). Prints a markdown table and
the highest rate whose p99 is within ``--target-p99-seconds``, next to raw spaCy's articles per
second in the same run: after the streaming runs, ``nlp.pipe(n_process=2)``
(``throughput.run_raw``, model load and process start included, as in throughput.py) over the
first ``--raw-articles`` bodies of the same articles, and the load average around it (the figures
only compare on a machine that stayed quiet).
With ``--bundle-trace DIR`` the local runner's launcher is traced (``bundle_trace/``): its CPU
per input while the load was sent, by fused stage (bundles a second, CPU of the thread that ran
them) and outside bundles (its other threads), and its state requests per input by kind.
Extra arguments after ``--`` go to ``newsflow run`` (e.g. ``-- --ner-processes 1``). Run it on your
own broker: ``deploy/local/kafka.sh up`` (``KAFKA_PORT`` picks the port).

With ``--flink-master HOST:PORT`` every rate is also measured, right before the local runner's
run, on that Flink cluster (``deploy/flink/flink.sh up``): the same job from ``.venv-flink``
with ``--runner FlinkRunner`` and newsflow's cluster defaults (EXTERNAL worker pool,
checkpoints), so both runners' figures come from the same machine in the same run; after the
warm-up, each operator's output watermark is sampled meanwhile and its lag behind the wall clock
reported (``flink_watermarks.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.request import urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from flink_watermarks import WatermarkLag, table
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from news_events import describe, distinct_news, event_lines
from prometheus_client.parser import text_string_to_metric_families
from throughput import run_raw

from pipelines.kafka_tools import read_topic, send_steadily
from schemas.codec import decode_any

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("enriched", "duplicates", "dlq")
MIN_WORDS = 30


FLINK_PYTHON = ROOT / ".venv-flink" / "bin" / "python"
TRACE_HOOK = Path(__file__).resolve().parent / "bundle_trace"


@dataclass(frozen=True)
class Result:
    runner: str
    rate: float
    sent: int
    once: int
    twice: int
    p50: float
    p99: float
    worst: float
    first: tuple[float, float]
    last: tuple[float, float]
    state_requests: float | None = None
    watermark_lags: dict[str, list[float]] = field(default_factory=dict)
    cpu_per_input: float | None = None
    cpu_per_input_by_process: dict[str, float] = field(default_factory=dict)
    start_windows: tuple[float, ...] = ()
    window_sizes: tuple[float, ...] = ()
    busy_cores: tuple[float, float] | None = None
    bundle_trace: tuple[str, ...] = ()
    cluster_cpu_per_input: float | None = None


def create_topics(bootstrap: str, run: str, raw_partitions: int = 3) -> dict[str, str]:
    topics = {name: f"bench.{run}.{name}" for name in ("raw", *OUTPUTS)}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="newsflow-bench")
    partitions = {"raw": raw_partitions}
    try:
        admin.create_topics(
            [NewTopic(t, partitions.get(n, 1), 1) for n, t in topics.items()], timeout_ms=30000
        )
    finally:
        admin.close()
    return topics


def delete_topics(bootstrap: str, topics: dict[str, str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="newsflow-bench")
    try:
        admin.delete_topics(list(topics.values()), timeout_ms=30000)
    finally:
        admin.close()


class Outputs(threading.Thread):
    """Follows the output topics; ``found`` maps input (partition, offset) to output timestamps,
    ``per_topic`` counts records by output name."""

    def __init__(self, bootstrap: str, topics: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.found: dict[tuple[int, int], list[int]] = {}
        self.per_topic: Counter = Counter()
        self._names = {topic: name for name, topic in topics.items()}
        self._stopping = threading.Event()
        self._consumer = KafkaConsumer(
            *(topics[name] for name in OUTPUTS),
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )

    def run(self) -> None:
        while not self._stopping.is_set():
            for batch in self._consumer.poll(timeout_ms=500).values():
                for message in batch:
                    coords = decode_any(message.value)[1]["kafka"]
                    key = (coords["partition"], coords["offset"])
                    self.found.setdefault(key, []).append(message.timestamp)
                    self.per_topic[self._names[message.topic]] += 1
        self._consumer.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank); NaN, printed as "-", when no input of the span got out."""
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))] if ordered else float("nan")


def per_input(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def seconds(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"


def measure(
    args, rate: float, payloads: list[bytes], log: Path, runner: tuple[str, str, list[str]]
) -> Result:
    """One rate on one runner: (label, python, extra ``newsflow run`` flags)."""
    label, python, runner_args = runner
    run, port = uuid.uuid4().hex[:8], free_port()
    topics = create_topics(args.bootstrap_servers, run, args.raw_partitions)
    outputs = Outputs(args.bootstrap_servers, topics)
    outputs.start()
    on_cluster = "FlinkRunner" in runner_args
    trace = args.bundle_trace / f"{run}.jsonl" if args.bundle_trace and not on_cluster else None
    env = None if trace is None else {
        "PYTHONPATH": f"{TRACE_HOOK}{os.pathsep}{ROOT}", "NEWSFLOW_BUNDLE_TRACE": str(trace)
    }  # fmt: skip
    job = start_job(args, topics, f"bench-{run}", port, log, python, runner_args, env)
    watermarks = WatermarkLag(job_name=f"bench-{run}", after=args.warmup_seconds)
    if on_cluster:
        watermarks.start()
    cpu_at_start: list[tuple[dict[str, float], float]] = []
    sending = BusyCores(job.pid)

    def mark_start() -> None:
        cpu_at_start.append((job_cpu_by_process(job.pid), cluster_cpu(on_cluster)))
        sending.start()

    try:
        feed(args, topics, payloads, rate, outputs, mark_start, sending.stop)
        time.sleep(5)  # a late second output of an input would show now
        requests = state_requests_per_input(port)
        by_process = {
            kind: (seconds - cpu_at_start[0][0].get(kind, 0.0)) / len(payloads)
            for kind, seconds in job_cpu_by_process(job.pid).items()
        }
        cluster = (cluster_cpu(on_cluster) - cpu_at_start[0][1]) / len(payloads)
    finally:
        if watermarks.is_alive():
            watermarks.stop()
        stop_job(job)
        outputs.stop()
    inputs = list(read_topic(topics["raw"], args.bootstrap_servers, {}))
    sent = {(m.partition, m.offset): m.timestamp for m in inputs}
    sizes = {(m.partition, m.offset): len(m.value) for m in inputs}
    delete_topics(args.bootstrap_servers, topics)
    result = summarize(rate, sent, outputs.found, sizes)
    return replace(
        result, runner=label, state_requests=requests, cpu_per_input=sum(by_process.values()),
        busy_cores=sending.cores,
        bundle_trace=() if trace is None else trace_summary(trace, sending.window, rate),
        cpu_per_input_by_process=by_process,
        cluster_cpu_per_input=cluster if on_cluster else None,
        watermark_lags=watermarks.lags,
    )  # fmt: skip


class BusyCores:
    """Cores busy between ``start`` and ``stop``: the job's process tree and the whole machine
    (``cores``: (job, machine), None until stopped). A run near the machine's total has no room
    for a stretch of long articles, another process, or a profiler."""

    def __init__(self, job_pid: int) -> None:
        self._job_pid = job_pid
        self._marks: list[tuple[float, float, float]] = []
        self.cores: tuple[float, float] | None = None
        self.window: tuple[float, float] = (0.0, 0.0)  # unix time of start and stop

    def start(self) -> None:
        self._marks = [self._mark()]
        self.window = (time.time(), 0.0)

    def stop(self) -> None:
        (job0, busy0, t0), (job1, busy1, t1) = self._marks[0], self._mark()
        self.cores = ((job1 - job0) / (t1 - t0), (busy1 - busy0) / (t1 - t0))
        self.window = (self.window[0], time.time())

    def _mark(self) -> tuple[float, float, float]:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        return job_cpu(self._job_pid), sum(times) - idle, time.monotonic()


def trace_summary(trace: Path, window: tuple[float, float], rate: float) -> tuple[str, ...]:
    """``bundle_trace``'s totals differenced over the sending ``window``: lines to print."""
    lines = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    inside = [line for line in lines if window[0] <= line["unix"] <= window[1]]
    if len(inside) < 2:
        return ("(no bundle trace inside the sending window)",)
    first, last = inside[0], inside[-1]
    span = last["unix"] - first["unix"]
    inputs = rate * span

    def delta(key: str) -> list[float]:
        before = first["totals"].get(key, [0, 0.0, 0])
        return [b - a for a, b in zip(before, last["totals"][key], strict=True)]

    stages = {key: delta(key) for key in last["totals"] if key.startswith("stage ")}
    stages = {key: totals for key, totals in stages.items() if totals[0]}  # ran in the window
    in_bundles = sum(cpu for _, cpu, _ in stages.values())
    launcher = (last["cpu"] - first["cpu"]) / inputs * 1e3
    out = [
        f"{span:.0f} s, ~{inputs:.0f} inputs: launcher {launcher:.1f} ms an input, "
        f"{in_bundles / inputs * 1e3:.1f} of it in bundles"
    ]
    for key, (count, cpu, _) in sorted(stages.items(), key=lambda kv: -kv[1][1]):
        out.append(
            f"  {cpu / inputs * 1e3:.2f} ms an input, {count / span:.1f} bundles/s: "
            f"{key.removeprefix('stage ')}"
        )
    for key in sorted(k for k in last["totals"] if k.startswith("state ")):
        count, _, size = delta(key)
        each = f", {size / count / 1024:.1f} KB each" if size and count else ""
        out.append(f"  {key}: {count / inputs:.2f} per input{each}")
    return tuple(out)


def job_cpu(job_pid: int) -> float:
    """CPU seconds (user + system) of the job's process tree so far, its ended children's
    included."""
    return sum(job_cpu_by_process(job_pid).values())


def job_cpu_by_process(job_pid: int) -> dict[str, float]:
    """``job_cpu`` by kind of process (``process_kind``): which one a cut must come from."""
    root = psutil.Process(job_pid)
    totals: dict[str, float] = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            times, kind = proc.cpu_times(), process_kind(proc.cmdline())
        except psutil.Error:
            continue
        cpu = times.user + times.system + times.children_user + times.children_system
        totals[kind] = totals.get(kind, 0.0) + cpu
    return totals


def process_kind(cmdline: list[str]) -> str:
    """``prism`` (Beam's local runner), ``NER pool`` (the fork server and its workers, as
    multiprocessing starts them) or ``launcher`` (the job's own process, its SDK worker under
    LOOPBACK, and anything else it started)."""
    if cmdline and Path(cmdline[0]).name == "prism":
        return "prism"
    if any(arg.startswith("from multiprocessing") for arg in cmdline[1:4]):
        return "NER pool"
    return "launcher"


def cluster_cpu(on_cluster: bool) -> float:
    """CPU seconds so far of the processes ``flink.sh status`` lists (and their children): the
    cluster's share of a job's cost; 0 when the job runs elsewhere."""
    if not on_cluster:
        return 0.0
    status = subprocess.run([str(ROOT / "deploy" / "flink" / "flink.sh"), "status"],
                            capture_output=True, text=True, check=False)  # fmt: skip
    pids = [int(line.split()[1]) for line in status.stdout.splitlines() if len(line.split()) == 2]
    return sum(job_cpu(pid) for pid in pids)


def start_job(
    args,
    topics: dict[str, str],
    group: str,
    port: int,
    log: Path,
    python: str = sys.executable,
    runner_args: tuple[str, ...] | list[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """``newsflow run`` on ``topics`` (plus ``args.job_args`` and ``runner_args``) with ``python``,
    in its own process group; ``env`` adds to (or replaces) the job's environment."""
    argv = [
        python, "-m", "pipelines.cli", "run",
        "--bootstrap-servers", args.bootstrap_servers,
        "--input-topic", topics["raw"], "--output-topic", topics["enriched"],
        "--duplicates-topic", topics["duplicates"], "--dead-letter-topic", topics["dlq"],
        "--consumer-group", group, "--metrics-port", str(port), *args.job_args, *runner_args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def feed(
    args,
    topics: dict[str, str],
    payloads: list[bytes],
    rate: float,
    outputs,
    sending=None,
    sent=None,
) -> None:
    """After ``--warmup-seconds``, call ``sending`` (if given) and send ``payloads`` at ``rate``,
    then call ``sent`` (if given); then wait until each has an output or ``--drain-seconds``
    passed."""
    time.sleep(args.warmup_seconds)
    if sending is not None:
        sending()
    producer = KafkaProducer(bootstrap_servers=args.bootstrap_servers, acks="all", linger_ms=5)
    send_steadily(producer, topics["raw"], payloads, rate)
    producer.close()
    if sent is not None:
        sent()
    deadline = time.monotonic() + args.drain_seconds
    while len(outputs.found) < len(payloads) and time.monotonic() < deadline:
        time.sleep(2)


def stop_job(job: subprocess.Popen) -> None:
    """SIGTERM to the job's process group, SIGKILL if it has not ended within 120 s."""
    os.killpg(job.pid, signal.SIGTERM)
    try:
        job.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def state_requests_per_input(port: int) -> float | None:
    """The dedup step's state requests over inputs read, from the job's own metrics endpoint
    (``newsflow.dedup/state_requests``); None when the endpoint does not answer."""
    try:
        text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    except OSError:
        return None
    requests = inputs = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "newsflow_inputs_read_total":
                inputs = sample.value
            elif sample.labels == {"step": "dedup", "name": "state_requests"}:
                requests = sample.value
    return requests / inputs if inputs else None


def summarize(rate: float, sent: dict, found: dict, sizes: dict | None = None) -> Result:
    """Latency in seconds of each input's first output; first/last minute by input time. With
    ``sizes`` (input -> bytes), the mean size of each ten seconds' inputs of the first minute
    over the run's mean."""
    counts = Counter(len(found.get(key, [])) for key in sent)
    latency = {key: (min(found[key]) - ts) / 1000 for key, ts in sent.items() if key in found}
    start, end = min(sent.values()), max(sent.values())
    first = [v for k, v in latency.items() if sent[k] < start + 60_000]
    last = [v for k, v in latency.items() if sent[k] > end - 60_000]
    values = list(latency.values())
    windows: list[list[float]] = [[] for _ in range(6)]  # the first minute in tens of seconds
    window_sizes: list[list[int]] = [[] for _ in windows]
    for key, ts in sent.items():
        if (window := (ts - start) // 10_000) < len(windows):
            if key in latency:
                windows[window].append(latency[key])
            if sizes:
                window_sizes[window].append(sizes[key])
    mean_size = sum(sizes.values()) / len(sizes) if sizes else 0.0
    return Result(
        "", rate, len(sent), counts[1], sum(n for c, n in counts.items() if c > 1),
        percentile(values, 0.5), percentile(values, 0.99), max(values, default=float("nan")),
        (percentile(first, 0.5), percentile(first, 0.99)),
        (percentile(last, 0.5), percentile(last, 0.99)),
        start_windows=tuple(max(w, default=float("nan")) for w in windows),
        window_sizes=tuple(sum(w) / len(w) / mean_size if w else float("nan")
                           for w in window_sizes) if mean_size else (),
    )  # fmt: skip


def raw_spacy_rate(lines: list[str], count: int, folder: Path) -> tuple[float, float]:
    """Raw ``nlp.pipe(n_process=2)`` over the bodies of the first ``count`` events: articles per
    second (child process wall time) and its CPU seconds."""
    texts = folder / "raw-texts.jsonl"
    events = [json.loads(line) for line in lines[:count]]
    texts.write_text("".join(json.dumps({"id": e["id"], "body": e["body"]}) + "\n" for e in events))
    timed, _ = run_raw(texts, folder / "raw-entities.jsonl", 2)
    return len(events) / timed.seconds, timed.cpu_seconds


def job_parser(doc: str) -> argparse.ArgumentParser:
    """The flags every benchmark that feeds ``newsflow run`` takes (``start_job``, ``feed``)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    default_servers = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    parser.add_argument("--bootstrap-servers", default=default_servers, help=f"({default_servers})")
    parser.add_argument("--warmup-seconds", type=float, default=30.0, help="job start (30)")
    parser.add_argument("--drain-seconds", type=float, default=300.0, help="after the last send")
    parser.add_argument("job_args", nargs="*", help="after --: more newsflow run flags")
    return parser


def main() -> int:
    parser = job_parser(__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[12.0], help="events/s (12)")
    parser.add_argument("--minutes", type=float, default=5.0, help="of steady load per rate (5)")
    parser.add_argument("--target-p99-seconds", type=float, default=5.0, help="(5)")
    parser.add_argument(
        "--flink-master", default=None, metavar="HOST:PORT",
        help="also measure each rate on this Flink cluster (none: the local runner only)",
    )  # fmt: skip
    parser.add_argument(
        "--flink-variant", action="append", default=[], metavar="LABEL=FLAGS",
        help="also measure the cluster with these extra newsflow run flags (space-separated),\n"
        "labelled LABEL, right after the cluster's default run (repeatable)",
    )  # fmt: skip
    parser.add_argument("--raw-partitions", type=int, default=3,
                        help="of the input topic (3)")  # fmt: skip
    parser.add_argument("--no-local", action="store_true",
                        help="measure the cluster only (comparing variants)")  # fmt: skip
    parser.add_argument("--bundle-trace", type=Path, metavar="DIR",
                        help="trace the local runner's launcher by stage (none)")  # fmt: skip
    parser.add_argument("--raw-articles", type=int, default=1000,
                        help="bodies raw nlp.pipe(n_process=2) times (1000; 0: none)")  # fmt: skip
    args = parser.parse_args()
    if args.bundle_trace:
        args.bundle_trace.mkdir(parents=True, exist_ok=True)
    count = int(max(args.rates) * args.minutes * 60)
    selection = distinct_news(count, MIN_WORDS)
    lines = list(event_lines(selection.articles))
    log = Path(tempfile.mkdtemp(prefix="newsflow-stream-bench-")) / "job.log"
    runners = [] if args.no_local else [("local (Prism)", sys.executable, [])]
    if args.flink_master:
        # The cluster first: it is the shared resource, free again once its runs are done.
        flink = ["--runner", "FlinkRunner", f"--flink_master={args.flink_master}"]
        variants = [variant.partition("=") for variant in args.flink_variant]
        runners[:0] = [("Flink cluster", str(FLINK_PYTHON), flink)] + [
            (f"Flink cluster, {label}", str(FLINK_PYTHON), [*flink, *flags.split()])
            for label, _, flags in variants
        ]
    results, load = [], [os.getloadavg()[0]]
    for rate in args.rates:
        payloads = [line.encode() for line in lines[: int(rate * args.minutes * 60)]]
        results.extend(measure(args, rate, payloads, log, runner) for runner in runners)
    load.append(os.getloadavg()[0])
    if args.raw_articles:
        raw, raw_cpu = raw_spacy_rate(lines, args.raw_articles, log.parent)
        load.append(os.getloadavg()[0])
    print(f"corpus: {describe(selection)}")
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at the start, "
          f"{load[1]:.1f} after the streaming runs; job flags: "
          f"{' '.join(args.job_args) or '(defaults)'}; job log: {log}")  # fmt: skip
    if args.raw_articles:
        print(f"raw spaCy nlp.pipe(n_process=2), first {min(args.raw_articles, len(lines))} of "
              f"these articles: {raw:.1f} articles/s (CPU {raw_cpu:.1f} s; load average "
              f"{load[2]:.1f} after it)")  # fmt: skip
    print(
        "| runner | rate/s | minutes | inputs | accounted once | twice+ | p50 s | p99 s | max s "
        "| first minute p50/p99 s | last minute p50/p99 s | dedup state requests per input "
        "| job CPU s per input | cluster CPU s per input |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        figures = [r.p50, r.p99, r.worst]
        print(f"| {r.runner} | {r.rate:g} | {args.minutes:g} | {r.sent} | {r.once} | {r.twice} | "
              + " | ".join(map(seconds, figures))
              + f" | {seconds(r.first[0])} / {seconds(r.first[1])} "
              f"| {seconds(r.last[0])} / {seconds(r.last[1])} "
              f"| {per_input(r.state_requests)} | {per_input(r.cpu_per_input, 3)} "
              f"| {per_input(r.cluster_cpu_per_input, 3)} |")  # fmt: skip
    print("\njob CPU s per input by process (benchmark's process_kind); cores busy while sending:")
    for r in results:
        kinds = ", ".join(f"{k} {v:.4f}" for k, v in sorted(r.cpu_per_input_by_process.items()))
        busy = (f"; busy {r.busy_cores[0]:.2f} cores (job), {r.busy_cores[1]:.2f} of "
                f"{os.cpu_count()} (machine)" if r.busy_cores else "")  # fmt: skip
        print(f"- {r.runner} at {r.rate:g}/s: {kinds}{busy}")
    print("\nslowest input per 10 s of the first minute, by send time, (its inputs' mean size over "
          "the run's): a start-up backlog or a stretch of long articles shows")  # fmt: skip
    for r in results:
        sizes = r.window_sizes or (float("nan"),) * len(r.start_windows)
        windows = ", ".join(f"{seconds(w)} ({size:.2f}x)"
                            for w, size in zip(r.start_windows, sizes, strict=True))  # fmt: skip
        print(f"- {r.runner} at {r.rate:g}/s: {windows} s")
    for r in results:
        if r.bundle_trace:
            print(f"\nlauncher by fused stage while sending (--bundle-trace), {r.runner} at "
                  f"{r.rate:g}/s:\n" + "\n".join(r.bundle_trace))  # fmt: skip
    for r in results:
        if r.watermark_lags:
            print(f"\n{r.runner} at {r.rate:g}/s: output watermark lag behind the wall clock "
                  f"per operator (flink_watermarks.py)\n{table(r.watermark_lags)}\n")  # fmt: skip
    for label, _python, _flags in runners:
        within = [r.rate for r in results if r.runner == label
                  and r.once == r.sent and r.p99 <= args.target_p99_seconds]  # fmt: skip
        best = f"{max(within):g} events/s" if within else "none of the rates tried"
        print(f"{label}: highest rate with every input once and p99 <= "
              f"{args.target_p99_seconds:g} s: {best}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
