"""`make flink-demo`: the examples through Kafka on Beam's FlinkRunner, shown like `make demo`.

Produces examples/articles.jsonl to articles.raw and starts the streaming job (``newsflow run``,
no ``--stop-at-end``) on the FlinkRunner (parallelism 2, the Python workers in the job's process:
LOOPBACK) against the embedded Flink cluster, or against a running one with ``--flink-master
localhost:8081``. Once every produced input is in an output topic and its offset is committed, it
stops the job with SIGTERM (a clean cancel) and prints what this run added with the same tables as
``make demo``. ``--bounded`` runs ``--stop-at-end`` instead: a Flink batch job that ends by itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from kafka import KafkaConsumer, TopicPartition
from rich.console import Console

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic

ROOT = Path(__file__).resolve().parents[2]
FLINK_SH = ROOT / "deploy" / "flink" / "flink.sh"
RAW_TOPIC = "articles.raw"
GROUP = "newsflow"  # newsflow run's default group, as make demo uses: each demo reads what is new


def examples_demo() -> ModuleType:
    """examples/demo.py (not a package), for its tables: both demos show the same thing."""
    spec = importlib.util.spec_from_file_location("examples_demo", ROOT / "examples" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job_server_jar() -> str:
    done = subprocess.run([str(FLINK_SH), "jar"], stdout=subprocess.PIPE, text=True, check=True)
    return done.stdout.strip()


def accounted(servers: str, start: dict[str, dict[int, int]], raw: dict[int, int], demo) -> dict:
    """This run's records per output, once every input produced since ``raw`` has one."""
    outputs = {
        name: [describe(m) for m in read_topic(topic, servers, {}, start[topic])]
        for name, topic in demo.TOPICS.items()
    }
    seen = {(r["kafka"]["partition"], r["kafka"]["offset"]) for rs in outputs.values() for r in rs}
    ends = demo.end_offsets(servers, RAW_TOPIC)
    wanted = {(p, o) for p, end in ends.items() for o in range(raw.get(p, 0), end)}
    return outputs if wanted <= seen else {}


def committed_through(servers: str, group: str, ends: dict[int, int]) -> bool:
    """Has ``group`` committed every partition of articles.raw up to ``ends``?"""
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    try:
        return all(
            (consumer.committed(TopicPartition(RAW_TOPIC, p)) or 0) >= end
            for p, end in ends.items()
        )
    finally:
        consumer.close()


def run_streaming(argv: list[str], servers: str, start: dict, raw: dict, demo, timeout: float):
    """Start the streaming job and wait until every produced input is in an output and its offset
    is committed, then stop the job with SIGTERM (a clean cancel) and return the outputs."""
    job = subprocess.Popen([str(Path(sys.executable).with_name("newsflow")), *argv])
    ends = demo.end_offsets(servers, RAW_TOPIC)
    deadline = time.monotonic() + timeout
    outputs: dict = {}
    committed = False
    try:
        while not committed and time.monotonic() < deadline and job.poll() is None:
            time.sleep(5)
            outputs = outputs or accounted(servers, start, raw, demo)
            committed = bool(outputs) and committed_through(servers, GROUP, ends)
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)
        status = job.wait(timeout=120)
    if not committed or status != 0:
        raise SystemExit(
            f"streaming job: outputs complete {bool(outputs)}, offsets committed {committed}, "
            f"exit status {status}"
        )
    return outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--output-dir", default="out/flink-demo")
    parser.add_argument("--flink-master", default="[local]", help="[local] or HOST:PORT")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--bounded", action="store_true", help="--stop-at-end: a Flink batch job")
    parser.add_argument("--timeout", type=float, default=600, help="streaming: seconds to wait")
    args = parser.parse_args()
    demo = examples_demo()
    console = Console()
    servers = args.bootstrap_servers
    start = {topic: demo.end_offsets(servers, topic) for topic in demo.TOPICS.values()}
    raw = demo.end_offsets(servers, RAW_TOPIC)
    sent = produce(str(demo.EXAMPLES), RAW_TOPIC, servers, {})
    mode = "bounded" if args.bounded else "streaming"
    runner = f"FlinkRunner, {args.flink_master}, parallelism {args.parallelism}, {mode}"
    console.print(f"produced {sent} events to {RAW_TOPIC}; running the pipeline ({runner})...",
                  markup=False)  # fmt: skip
    argv = [
        "run",
        "--bootstrap-servers", servers,
        "--output-dir", args.output_dir,
        "--consumer-group", GROUP,
        "--runner", "FlinkRunner",
        f"--flink_master={args.flink_master}",
        "--environment_type=LOOPBACK",
        f"--parallelism={args.parallelism}",
        f"--flink_job_server_jar={job_server_jar()}",
    ]  # fmt: skip
    began = time.perf_counter()
    if args.bounded:
        status = cli.main([*argv, "--stop-at-end"])
        if status != 0:
            return status
        outputs = accounted(servers, start, raw, demo)
        if not outputs:
            raise SystemExit("the bounded job ended but not every input has an output")
    else:
        outputs = run_streaming(argv, servers, start, raw, demo, args.timeout)
    elapsed = time.perf_counter() - began
    console.print(f"FlinkRunner {mode} job: all inputs written and committed in {elapsed:.0f}s")
    demo.show(console, outputs, sent)
    console.print(f"Avro files: {args.output_dir}/enriched-*.avro")
    return 0


if __name__ == "__main__":
    sys.exit(main())
