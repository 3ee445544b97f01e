"""Throughput of newsflow on the FlinkRunner (embedded cluster, parallelism 2) vs the DirectRunner.

Both run ``newsflow process`` (file mode: decode, clean, dedup, NER, language, JSON/Avro out) on the
same JSON-lines file of the 350 Lee corpus articles (``corpora.lee_articles()``, repeated with
``--copies``), each in a child process timed from spawn to exit, so the figures include what a user
waits for: Prism's or the Flink job server's start-up, job submission and teardown. A file rather
than Kafka keeps the broker out of the comparison; the transforms are the same (assembly.py).

Flink runs from ``.venv-flink`` (Beam at the job server's version) with
``--flink_master=[local]``: the job server starts an embedded Flink 1.19 cluster, and with LOOPBACK
the Python SDK workers run inside the submitting process. Prints seconds, articles/s, words/s and
peak RSS of the child, and checks both runs enriched the same articles.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import lee_articles
from throughput import timed_child, write_events

ROOT = Path(__file__).resolve().parents[1]
FLINK_SH = ROOT / "deploy" / "flink" / "flink.sh"
# The FlinkRunner runs from .venv-flink (`make flink-venv`): Beam at the job server's version.
FLINK_NEWSFLOW = ROOT / ".venv-flink" / "bin" / "newsflow"


def flink_flags(parallelism: int) -> list[str]:
    jar = subprocess.run([str(FLINK_SH), "jar"], stdout=subprocess.PIPE, text=True, check=True)
    return [
        "--runner", "FlinkRunner",
        "--flink_master=[local]",
        "--environment_type=LOOPBACK",
        f"--parallelism={parallelism}",
        f"--flink_job_server_jar={jar.stdout.strip()}",
    ]  # fmt: skip


def enriched_ids(out: Path) -> set[str]:
    return {json.loads(line)["id"] for f in out.glob("enriched*.jsonl") for line in f.open()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=1, help="repeat the 350 articles N times")
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()
    texts = lee_articles()
    work = Path(tempfile.mkdtemp(prefix="newsflow-flink-bench-"))
    events = work / "events.jsonl"
    words = write_events(texts, events, args.copies)
    n = len(texts) * args.copies
    newsflow = shutil.which("newsflow") or str(Path(sys.executable).with_name("newsflow"))
    runs = {
        "DirectRunner (Prism)": (newsflow, []),
        f"FlinkRunner [local] p={args.parallelism}": (
            str(FLINK_NEWSFLOW),
            flink_flags(args.parallelism),
        ),
    }
    results = []
    for number, (name, (command, flags)) in enumerate(runs.items()):
        out = work / f"out{number}"
        secs, rss = timed_child([command, "process", str(events), "--output", str(out), *flags])
        results.append((name, secs, rss, enriched_ids(out)))
    print(f"corpus: {n} Lee articles ({words} words), file mode, machine: {os.cpu_count()} cores")
    print(f"{'run':<30}{'seconds':>9}{'articles/s':>12}{'words/s':>11}{'peak MiB':>10}")
    for name, secs, rss, _ids in results:
        print(f"{name:<30}{secs:>9.1f}{n / secs:>12.1f}{words / secs:>11.0f}{rss:>10}")
    (_, direct_secs, _, direct_ids), (_, flink_secs, _, flink_ids) = results
    same = direct_ids == flink_ids
    print(f"ratio Flink/Direct (throughput): {direct_secs / flink_secs:.2f}   "
          f"enriched: {len(direct_ids)} / {len(flink_ids)}, same ids: {same}")  # fmt: skip
    shutil.rmtree(work)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
