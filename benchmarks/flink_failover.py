"""Time from a TaskManager kill to the first new output, on the standalone Flink cluster.

Needs the cluster of ``deploy/flink/flink.sh up`` (its TaskManagers, the worker pool) and a broker
(``deploy/local/kafka.sh up``; ``KAFKA_PORT`` picks the port). Fresh topics (raw with 3
partitions); ``newsflow run --runner FlinkRunner --flink_master=localhost:8081`` from
``.venv-flink`` (checkpoints every ``--checkpoint-interval-seconds``); a producer sends distinct
real news articles (``news_events``) at ``--rate`` for the whole run. Then ``--repetitions``
times, once the job runs with every task, a checkpoint has completed since the last fault and
outputs are flowing: SIGKILL to a TaskManager running the job's tasks (``taskmanager-1`` if it
does; flink.sh's third TaskManager is an idle standby), ``flink.sh up`` (it returns once the
replacement has registered with the JobManager), and the first output record the restored job
writes is awaited.

Reported per repetition, in seconds after the kill (``failover_timeline``): the JobManager saw
the failure, dropped the dead TaskManager, the replacement registered, every task ran again, the
SDK workers connected, the restore guard's scan finished, the first new output (the target:
<= 60 s); then the restores the job made from the checkpoint (one per restart attempt that got
its slots), the checkpoint restored and the job's failures by exception (one per restart
attempt). At the end: inputs accounted exactly once across the output topics.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from itertools import takewhile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from failover_timeline import Watch, header, row, timeline
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from news_events import describe, distinct_news, event_lines
from streaming_latency import (
    MIN_WORDS,
    OUTPUTS,
    Outputs,
    create_topics,
    delete_topics,
    summarize,
)

from pipelines.flink_rest import TERMINAL_STATES, FlinkRest, local_name
from pipelines.kafka_tools import read_topic, send_steadily
from schemas.codec import decode_any

ROOT = Path(__file__).resolve().parents[1]
FLINK_SH = ROOT / "deploy" / "flink" / "flink.sh"
FLINK_PYTHON = ROOT / ".venv-flink" / "bin" / "python"
MASTER = "localhost:8081"
POLL_SECONDS = 0.5


def flink_sh(command: str) -> str:
    """``flink.sh COMMAND``'s output; a failed ``up`` or ``down`` raises."""
    return subprocess.run([str(FLINK_SH), command], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=600, check=command != "status").stdout  # fmt: skip


def wait_for(what: str, condition, timeout: float):
    """Poll ``condition`` until it returns something truthy (returned); raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)
    return value


def running(rest: FlinkRest, name: str) -> dict | None:
    """The job once it runs with every task; None before (not yet submitted, restarting)."""
    job = rest.find_job(name, running_only=False)
    if job is None:
        return None
    if job["state"] in TERMINAL_STATES:
        raise RuntimeError(f"job {name} ended: {job['state']}")
    done = job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]
    return job if done else None


def completed_checkpoints(rest: FlinkRest, jid: str) -> int:
    return rest.checkpoints(jid)["counts"]["completed"]


def outputs_since(outputs: Outputs, since_ms: float) -> int | None:
    """The earliest output timestamp (ms) at or after ``since_ms``, if any."""
    stamps = [t for times in list(outputs.found.values()) for t in times if t >= since_ms]
    return min(stamps, default=None)


def busy_taskmanager(rest: FlinkRest, jid: str) -> tuple[str, str]:
    """(flink.sh name, resource id) of a TaskManager running the job's tasks, ``taskmanager-1``
    if it does: flink.sh runs an idle standby too, whose kill would test nothing."""
    ids = sorted(rest.job_taskmanagers(jid), key=lambda i: (local_name(i) != "taskmanager-1", i))
    return local_name(ids[0]), ids[0]


def restored_output(rest: FlinkRest, jid: str, watch: Watch, outputs: Outputs) -> float | None:
    """The first output (ms) written after the job last switched to RUNNING after the kill, once
    every task runs again (not an output the dying job wrote while its tasks were cancelled)."""
    if watch.running is None:
        return None
    restarted = rest.job(jid)["timestamps"]["RUNNING"]
    return outputs_since(outputs, restarted) if restarted > watch.killed * 1000 else None


def one_fault(rest: FlinkRest, name: str, outputs: Outputs, timeout: float) -> dict:
    """Kill a busy TaskManager once the job is healthy; return the timeline of its recovery
    (``failover_timeline``) and the restores it took."""
    jid = wait_for("the job running with every task", lambda: running(rest, name), timeout)["jid"]
    before = completed_checkpoints(rest, jid)
    wait_for("a new checkpoint", lambda: completed_checkpoints(rest, jid) > before, timeout)
    healthy_at = time.time() * 1000
    wait_for("outputs flowing", lambda: outputs_since(outputs, healthy_at), timeout)
    restored_before = restores(rest, jid)
    victim, resource_id = busy_taskmanager(rest, jid)
    pid = int(dict(line.split() for line in flink_sh("status").splitlines())[victim])
    killed, load = time.time(), os.getloadavg()[0]
    os.kill(pid, signal.SIGKILL)
    watch = Watch(rest, jid, resource_id, killed)
    watch.start()
    flink_sh("up")
    registered = time.time()
    restored_first = lambda: restored_output(rest, jid, watch, outputs)  # noqa: E731
    first = wait_for("an output of the restored job", restored_first, timeout)
    watch.stop()
    restored = rest.checkpoints(jid)["latest"].get("restored") or {}
    return {
        "killed": victim,
        "load": load,
        "timeline": timeline(watch, registered, first / 1000),
        "restored_checkpoint": restored.get("id"),
        "attempts": restores(rest, jid) - restored_before,
    }


def written_records(bootstrap: str, topics: dict[str, str]) -> dict[tuple[int, int], list[int]]:
    """Input (partition, offset) -> timestamps of its output records, read back from the output
    topics from their beginning (the live follower's count is checked against it)."""
    written: dict[tuple[int, int], list[int]] = {}
    for name in OUTPUTS:
        for message in read_topic(topics[name], bootstrap, {}):
            coords = decode_any(message.value)[1]["kafka"]
            key = (coords["partition"], coords["offset"])
            written.setdefault(key, []).append(message.timestamp)
    return written


def end_offsets_total(bootstrap: str, topic: str) -> int:
    """Messages in ``topic`` (it was created empty): the inputs sent."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def restores(rest: FlinkRest, jid: str) -> int:
    """Restores from a checkpoint so far: one per restart attempt that deployed the tasks (read
    from the checkpoint statistics, which are current; the ``numRestarts`` metric the REST API
    serves may be several seconds old)."""
    return rest.checkpoints(jid)["counts"]["restored"]


def start_job(args, topics: dict[str, str], name: str, log: Path, *extra: str) -> subprocess.Popen:
    """``newsflow run`` on the cluster from .venv-flink, in its own process group; ``extra``:
    more flags."""
    argv = [
        str(FLINK_PYTHON), "-m", "pipelines.cli", "run",
        "--bootstrap-servers", args.bootstrap_servers,
        "--input-topic", topics["raw"], "--output-topic", topics["enriched"],
        "--duplicates-topic", topics["duplicates"], "--dead-letter-topic", topics["dlq"],
        "--consumer-group", f"bench-{name}", "--runner", "FlinkRunner",
        f"--flink_master={MASTER}", f"--job_name={name}",
        "--checkpoint-interval-seconds", str(args.checkpoint_interval_seconds), *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def produce(
    bootstrap: str, topic: str, payloads: list[bytes], rate: float, stop: threading.Event
) -> threading.Thread:
    """Send ``payloads`` at ``rate`` from a thread until they run out or ``stop`` is set."""

    def run() -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        send_steadily(producer, topic, takewhile(lambda _: not stop.is_set(), payloads), rate)
        producer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    default_servers = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    parser.add_argument("--bootstrap-servers", default=default_servers, help=f"({default_servers})")
    parser.add_argument("--repetitions", type=int, default=3, help="TaskManager kills (3)")
    parser.add_argument("--rate", type=float, default=1.0, help="articles/s sent meanwhile (1)")
    parser.add_argument("--checkpoint-interval-seconds", type=float, default=10.0, help="(10)")
    parser.add_argument("--timeout-seconds", type=float, default=600.0, help="per wait (600)")
    args = parser.parse_args()
    # SIGTERM ends the run through its cleanup (the job cancelled, its topics deleted).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if subprocess.run([str(FLINK_SH), "status"], capture_output=True, check=False).returncode:
        parser.error("no standalone Flink cluster: run `deploy/flink/flink.sh up` first")
    run = uuid.uuid4().hex[:8]
    # Enough articles for ten minutes per kill; the producer stops after the last recovery.
    selection = distinct_news(int(args.rate * 600 * (args.repetitions + 1)), MIN_WORDS)
    payloads = [line.encode() for line in event_lines(selection.articles)]
    topics = create_topics(args.bootstrap_servers, run)
    outputs = Outputs(args.bootstrap_servers, topics)
    outputs.start()
    name = f"newsflow-failover-bench-{run}"
    log = Path(tempfile.mkdtemp(prefix="newsflow-failover-bench-")) / "job.log"
    job = start_job(args, topics, name, log)
    rest = FlinkRest(MASTER)
    results, stop = [], threading.Event()
    try:
        producer = produce(args.bootstrap_servers, topics["raw"], payloads, args.rate, stop)
        for _ in range(args.repetitions):
            results.append(one_fault(rest, name, outputs, args.timeout_seconds))
        stop.set()
        producer.join()
        count = end_offsets_total(args.bootstrap_servers, topics["raw"])
        wait_for(
            "every input accounted for", lambda: len(outputs.found) >= count, args.timeout_seconds
        )
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(timeout=120)
        outputs.stop()
    sent = {(m.partition, m.offset): m.timestamp
            for m in read_topic(topics["raw"], args.bootstrap_servers, {})}  # fmt: skip
    summary = summarize(args.rate, sent, outputs.found)
    written = written_records(args.bootstrap_servers, topics)
    twice = sorted(key for key, times in written.items() if len(times) > 1)
    if twice:
        print(f"topics kept for inspection: {topics}; written twice: {twice[:20]}")
    else:
        delete_topics(args.bootstrap_servers, topics)
    print(f"corpus: {describe(selection)}; rate {args.rate:g}/s; checkpoints every "
          f"{args.checkpoint_interval_seconds:g} s; job log: {log}")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print("seconds after each kill, by phase (-: not seen):")
    print(header())
    for i, r in enumerate(results, 1):
        print(row(i, r["killed"], r["load"], r["timeline"]["after_kill"]))
    print("| kill | restores | checkpoint restored | job failures (restart attempts) |")
    print("|---|---|---|---|")
    for i, r in enumerate(results, 1):
        failed = ", ".join(f"{n} x{c}" for n, c in r["timeline"]["failures"].items())
        print(f"| {i} | {r['attempts']} | {r['restored_checkpoint']} | {failed} |")
    once = sum(len(written.get(key, ())) == 1 for key in sent)
    print(f"inputs: {len(sent)} sent, {once} with exactly one output record, {len(twice)} with "
          f"more (read back from the topics; as followed live: {summary.twice})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
