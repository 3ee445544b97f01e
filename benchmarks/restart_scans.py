"""How often a local streaming job scans its output topics for a restart, and how much it reads.

Fresh topics on the broker at ``--bootstrap-servers`` (raw with 3 partitions); ``newsflow run -v``
(streaming, Prism) starts, and once it reads every partition a producer sends ``--inputs``
distinct generated articles at ``--rate`` per second. When at least a third of them are
committed the job gets SIGKILL (some inputs written but not committed), then it is started again
and runs until every input is committed and at least ``--restart-seconds`` have passed. Each
start's ``-v`` log is searched for the restart scan's line ("recovery read N output records").

Reported per start: the scans and the output records each read. Issue 18 asked for one scan per
job start; ``--checkout`` runs another checkout's code (e.g. the commit before) the same way.
Run it on your own broker: ``deploy/local/kafka.sh up`` (``KAFKA_PORT`` picks the port).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))

from streaming_latency import create_topics, delete_topics

from pipelines.kafka_tools import send_steadily

ROOT = Path(__file__).resolve().parents[1]
SCAN_LINE = re.compile(r"recovery read (\d+) output records")
WORDS = ("harbour", "council", "budget", "river", "school", "storm", "bridge", "rail", "power")


def articles(count: int) -> list[bytes]:
    """``count`` distinct articles (no two share a sentence)."""
    rng = random.Random(7)

    def body(i: int) -> str:
        return "\n\n".join(" ".join(rng.choices(WORDS, k=30)) + f" {i} {j}." for j in range(4))

    return [
        json.dumps({"id": f"a{i}", "source": "bench", "body": body(i)}).encode()
        for i in range(count)
    ]


def committed(bootstrap: str, topic: str, group: str) -> int:
    """Inputs the group has committed, over the 3 partitions."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(3))
    finally:
        consumer.close()


def start_job(args, topics: dict[str, str], group: str, log: Path) -> subprocess.Popen:
    argv = [
        sys.executable, "-m", "pipelines.cli", "-v", "run",
        "--bootstrap-servers", args.bootstrap_servers,
        "--input-topic", topics["raw"], "--output-topic", topics["enriched"],
        "--duplicates-topic", topics["duplicates"], "--dead-letter-topic", topics["dlq"],
        "--consumer-group", group, "--ner-processes", "1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(args.checkout)}
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=args.checkout, env=env, stdout=subprocess.DEVNULL, stderr=out,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def wait_for(condition, timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(1)


def scans(log: Path) -> list[int]:
    return [int(n) for n in SCAN_LINE.findall(log.read_text(errors="replace"))]


def measure(args, folder: Path) -> dict[str, list[int]]:
    run = uuid.uuid4().hex[:8]
    topics, group = create_topics(args.bootstrap_servers, run), f"bench-{run}"
    payloads = articles(args.inputs)

    def done() -> int:
        return committed(args.bootstrap_servers, topics["raw"], group)

    first, second = folder / "start-1.log", folder / "start-2.log"
    job = start_job(args, topics, group, first)
    wait_for(lambda: first.read_text(errors="replace").count("reading offsets") >= 3, 600,
             "the job never read every partition")  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=args.bootstrap_servers, acks="all", linger_ms=5)
    sender = threading.Thread(
        target=send_steadily, args=(producer, topics["raw"], payloads, args.rate), daemon=True
    )
    sender.start()
    wait_for(lambda: done() >= args.inputs // 3, 600, "no third of the inputs was committed")
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    killed_at = done()
    sender.join()
    producer.close()
    started = time.monotonic()
    job = start_job(args, topics, group, second)
    try:
        wait_for(
            lambda: done() >= args.inputs and time.monotonic() - started >= args.restart_seconds,
            900, "the restarted job never committed every input",
        )  # fmt: skip
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    delete_topics(args.bootstrap_servers, topics)
    print(f"killed with {killed_at} of {args.inputs} inputs committed", file=sys.stderr)
    return {"first start": scans(first), "restart after kill -9": scans(second)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--inputs", type=int, default=90, help="articles sent (default 90)")
    parser.add_argument("--rate", type=float, default=3.0, help="articles per second (default 3)")
    parser.add_argument(
        "--restart-seconds", type=float, default=90.0,
        help="least time the restarted job runs, in seconds (default 90)",
    )  # fmt: skip
    parser.add_argument(
        "--checkout", type=Path, default=ROOT,
        help="the newsflow checkout whose code runs (default: this one)",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = measure(args, Path(folder))
    print("| start | scans | output records read per scan |\n|---|---|---|")
    for start, reads in result.items():
        print(f"| {start} | {len(reads)} | {', '.join(map(str, reads)) or '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
