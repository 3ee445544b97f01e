"""`make flink-demo`: the examples through Kafka on Beam's FlinkRunner, shown like `make demo`.

Produces examples/articles.jsonl to articles.raw, runs ``newsflow run --stop-at-end`` on the
FlinkRunner (parallelism 2, the Python workers in this process: LOOPBACK) against the embedded
Flink cluster, or against a running one with ``--flink-master localhost:8081``, then prints what
this run added to the output topics with the same tables as ``make demo``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from rich.console import Console

from pipelines import cli
from pipelines.kafka_tools import describe, produce, read_topic

ROOT = Path(__file__).resolve().parents[2]
FLINK_SH = ROOT / "deploy" / "flink" / "flink.sh"


def examples_demo() -> ModuleType:
    """examples/demo.py (not a package), for its tables: both demos show the same thing."""
    spec = importlib.util.spec_from_file_location("examples_demo", ROOT / "examples" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job_server_jar() -> str:
    done = subprocess.run([str(FLINK_SH), "jar"], stdout=subprocess.PIPE, text=True, check=True)
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--output-dir", default="out/flink-demo")
    parser.add_argument("--flink-master", default="[local]", help="[local] or HOST:PORT")
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()
    demo = examples_demo()
    console = Console()
    servers = args.bootstrap_servers
    start = {topic: demo.end_offsets(servers, topic) for topic in demo.TOPICS.values()}
    sent = produce(str(demo.EXAMPLES), "articles.raw", servers, {})
    runner = f"FlinkRunner, {args.flink_master}, parallelism {args.parallelism}"
    console.print(f"produced {sent} events to articles.raw; running the pipeline ({runner})...",
                  markup=False)  # fmt: skip
    began = time.perf_counter()
    status = cli.main(
        [
            "run",
            "--bootstrap-servers", servers,
            "--output-dir", args.output_dir,
            "--stop-at-end",
            "--runner", "FlinkRunner",
            f"--flink_master={args.flink_master}",
            "--environment_type=LOOPBACK",
            f"--parallelism={args.parallelism}",
            f"--flink_job_server_jar={job_server_jar()}",
        ]
    )  # fmt: skip
    if status != 0:
        return status
    console.print(f"FlinkRunner job finished in {time.perf_counter() - began:.0f}s")
    outputs = {
        name: [describe(m) for m in read_topic(topic, servers, {}, start[topic])]
        for name, topic in demo.TOPICS.items()
    }
    demo.show(console, outputs, sent)
    console.print(f"Avro files: {args.output_dir}/enriched-*.avro")
    return 0


if __name__ == "__main__":
    sys.exit(main())
