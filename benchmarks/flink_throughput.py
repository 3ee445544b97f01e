"""Throughput of newsflow on the FlinkRunner at several parallelisms, as a ratio to the local
runner (Prism), on the same distinct real news articles as ``throughput.py``.

Every run is newsflow's file mode (decode, clean, templates, dedup, NER, language, JSON/Avro out)
on one JSON-lines file, in a child process timed from spawn to exit, so the figures include what a
user waits for: Prism's or the Flink job server's start-up, job submission and teardown. A file
rather than Kafka keeps the broker out of the comparison; the transforms are the same
(assembly.py).

Flink runs from ``.venv-flink`` (Beam at the job server's version) with
``--flink_master=[local]``: the job server starts an embedded Flink cluster, and with LOOPBACK
the Python SDK workers run inside the submitting process. Prints a table (seconds, articles/s,
words/s, CPU seconds, peak RSS, ratio to the local runner) and checks every run enriched the same
articles.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import print_table, run_newsflow, write_events

ROOT = Path(__file__).resolve().parents[1]
FLINK_SH = ROOT / "deploy" / "flink" / "flink.sh"
# The FlinkRunner runs from .venv-flink (`make flink-venv`): Beam at the job server's version.
FLINK_PYTHON = ROOT / ".venv-flink" / "bin" / "python"


def flink_flags(parallelism: int) -> list[str]:
    jar = subprocess.run([str(FLINK_SH), "jar"], stdout=subprocess.PIPE, text=True, check=True)
    return [
        "--flink_master=[local]",
        "--environment_type=LOOPBACK",
        f"--parallelism={parallelism}",
        f"--flink_job_server_jar={jar.stdout.strip()}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1000, help="distinct articles (1,000)")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2], help="(1 2)")
    parser.add_argument("--ner-processes", type=int, default=None, help="(newsflow's default)")
    args = parser.parse_args()
    common = [] if args.ner_processes is None else [f"--ner-processes={args.ner_processes}"]
    with tempfile.TemporaryDirectory(prefix="newsflow-flink-bench-") as tmp:
        work = Path(tmp)
        events = work / "events.jsonl"
        words, corpus = write_events(events, args.articles)
        local = run_newsflow(sys.executable, events, work / "local", "DirectRunner", common)
        runs = [("DirectRunner (Prism)", local)]
        for parallelism in args.parallelism:
            flags = [*flink_flags(parallelism), *common]
            out = work / f"flink-{parallelism}"
            run = run_newsflow(str(FLINK_PYTHON), events, out, "FlinkRunner", flags)
            runs.append((f"FlinkRunner [local], parallelism {parallelism}", run))
    print(f"corpus: {corpus}; file mode")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          f"newsflow flags: {' '.join(common) or '(defaults)'}")  # fmt: skip
    rows = [(name, run.timed, run.outcome(args.articles)) for name, run in runs]
    print_table(rows, args.articles, words)
    same = all(run.enriched_ids == local.enriched_ids for _, run in runs)
    print(f"every run enriched the same articles: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
