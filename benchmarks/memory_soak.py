"""Memory per remembered article where it is paid: the RSS of every process of the streaming job.

``newsflow run`` (streaming, Prism) on fresh topics of the broker at ``--bootstrap-servers``, fed
distinct articles at a steady ``--rate`` for ``--minutes``; every ``--sample-seconds`` the RSS of
each process of the job's tree is read (``/proc`` through psutil) and written with the outputs
so far to ``--csv``. Processes by role: ``launcher`` (the ``newsflow run`` process; Prism runs
its SDK worker in it, LOOPBACK, so the dedup index a DoFn caches lives here), ``prism`` (the
runner, which holds Beam state: the dedup bag of encoded entries), ``ner-pool`` (the spawned
NER processes and multiprocessing's helpers).

Articles remembered = enriched outputs (each kept article is one index entry). Growth per
remembered article is the least-squares slope of RSS over that count, on the samples after
``--warmup-minutes`` (model loads, first bundles, caches filling are paid before), per role and
in total. With a short ``-- --dedup-ttl-hours`` the index forgets entries older than the TTL,
so once the run is past warm-up + TTL the slope over time should be flat (printed as MiB per
minute after ``--flat-after-minutes``).

The corpus needs more distinct articles than NewsArticles holds (3,824; 30 minutes at 6/s
is 10,800), so articles are recombined from its real sentences: all sentences (split after
``.``, ``!``, ``?`` before a capital; 30-400 characters; each once) are shuffled with a fixed
seed and dealt ``--sentences`` at a time (24, about a real article's length), in paragraphs of
``--paragraph-sentences``, reshuffled when exhausted; a recombined article's source and URL are
those of its first sentence's article. Two articles of one
deal share no sentence, so no two are alike by newsflow's fingerprints; the duplicates topic's
count is printed to show it. No assertion: figures for docs/performance.md.

``--snapshots DIR``: the launcher also dumps a tracemalloc snapshot every minute into DIR
(``soak_trace/sitecustomize.py``), and the samples get a ``unix`` time column, so that
``soak_snapshots.py`` can say which lines of code hold the growth per remembered article.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import news_articles
from streaming_latency import (
    OUTPUTS,
    Outputs,
    create_topics,
    delete_topics,
    feed,
    free_port,
    job_parser,
    start_job,
    stop_job,
)

ROLES = ("launcher", "prism", "ner-pool")
TRACE_HOOK = Path(__file__).resolve().parent / "soak_trace"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
MIB = 1024 * 1024


def real_sentences() -> list[tuple[str, str]]:
    """Every distinct sentence of NewsArticles with the URL of its article, in file order."""
    seen: set[str] = set()
    sentences = []
    for article in news_articles():
        for sentence in SENTENCE_END.split(article.text):
            sentence = sentence.strip()
            if 30 <= len(sentence) <= 400 and sentence not in seen:
                seen.add(sentence)
                sentences.append((sentence, article.url))
    return sentences


def recombined_events(
    count: int, per_article: int, per_paragraph: int, seed: int = 19
) -> Iterator[bytes]:
    """``count`` newsflow events, each ``per_article`` real sentences dealt from a shuffle, in
    paragraphs of ``per_paragraph`` (the template step remembers a page's edge paragraphs, so
    one-paragraph articles would understate it); URL and source from the first sentence's
    article (the URL with a query, so it is as long as a real one and unique)."""
    sentences, rng, deck = real_sentences(), random.Random(seed), []
    for n in range(count):
        if len(deck) < per_article:
            deck = sentences[:]
            rng.shuffle(deck)
        dealt, deck = deck[:per_article], deck[per_article:]
        texts = [text for text, _ in dealt]
        paragraphs = [texts[i : i + per_paragraph] for i in range(0, len(texts), per_paragraph)]
        url = dealt[0][1]
        yield json.dumps({
            "id": f"soak-{n}", "url": f"{url}?soak={n}", "source": urlsplit(url).hostname,
            "body": "\n\n".join(" ".join(p) for p in paragraphs),
        }).encode()  # fmt: skip


def role(proc: psutil.Process, job_pid: int) -> str:
    if proc.pid == job_pid:
        return "launcher"
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    return "prism" if "prism" in cmdline and "python" not in cmdline else "ner-pool"


def rss_by_role(job_pid: int) -> dict[str, int]:
    """Bytes resident per role, summed over the job's process tree now."""
    totals = dict.fromkeys(ROLES, 0)
    try:
        root = psutil.Process(job_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return totals
    for proc in procs:
        try:
            name = role(proc, job_pid)
            totals[name] = totals.get(name, 0) + proc.memory_info().rss
        except psutil.Error:
            continue
    return totals


class Sampler(threading.Thread):
    """Writes a row every ``interval`` s: time, outputs per topic, RSS per role and total."""

    def __init__(self, job_pid: int, outputs: Outputs, interval: float, path: Path) -> None:
        super().__init__(daemon=True)
        self.rows: list[dict[str, float]] = []
        self._job, self._outputs, self._interval, self._path = job_pid, outputs, interval, path
        self._stopping = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        with self._path.open("w", newline="") as out:
            fields = ["minutes", "unix", "enriched", "duplicates", "dlq", *ROLES, "total"]
            writer = csv.DictWriter(out, fields, extrasaction="ignore")
            writer.writeheader()
            while not self._stopping.wait(self._interval):
                rss = rss_by_role(self._job)
                counts = {name: self._outputs.per_topic[name] for name in OUTPUTS}
                row = {"minutes": (time.monotonic() - start) / 60, "unix": round(time.time(), 1),
                       **counts, **rss, "total": sum(rss.values())}  # fmt: skip
                self.rows.append(row)
                writer.writerow(row)
                out.flush()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs; NaN with fewer than two distinct xs."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / max(n, 1), sum(ys) / max(n, 1)
    var = sum((x - mean_x) ** 2 for x in xs)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return cov / var if var else float("nan")


def report(rows: list[dict[str, float]], args) -> None:
    """Growth per remembered article after warm-up, and MiB per minute after the flat point."""
    after = [r for r in rows if r["minutes"] >= args.warmup_minutes]
    if len(after) < 2:
        print("too few samples after warm-up")
        return
    first, last = after[0], after[-1]
    print(f"samples after {args.warmup_minutes:g} min: {len(after)}, "
          f"enriched {first['enriched']:.0f} -> {last['enriched']:.0f}")  # fmt: skip
    print("| role | RSS MiB at warm-up end | RSS MiB at the end | growth bytes per remembered "
          "article (slope) | (end - start) / articles |")  # fmt: skip
    print("|---|---|---|---|---|")
    added = last["enriched"] - first["enriched"]
    for name in (*ROLES, "total"):
        per = slope([r["enriched"] for r in after], [r[name] for r in after])
        delta = (last[name] - first[name]) / added if added else float("nan")
        print(f"| {name} | {first[name] / MIB:.1f} | {last[name] / MIB:.1f} | {per:.0f} "
              f"| {delta:.0f} |")  # fmt: skip
    flat = [r for r in rows if r["minutes"] >= args.flat_after_minutes]
    if len(flat) >= 2:
        per_minute = slope([r["minutes"] for r in flat], [r["total"] / MIB for r in flat])
        print(f"total RSS slope after {args.flat_after_minutes:g} min: {per_minute:.2f} MiB/min")


def run_job(args, payloads: list[bytes], log: Path) -> tuple[list[dict[str, float]], Outputs]:
    run = uuid.uuid4().hex[:8]
    topics = create_topics(args.bootstrap_servers, run)
    outputs = Outputs(args.bootstrap_servers, topics)
    outputs.start()
    env = None
    if args.snapshots:
        env = {"PYTHONPATH": f"{TRACE_HOOK}{os.pathsep}{TRACE_HOOK.parent.parent}",
               "NEWSFLOW_SOAK_SNAPSHOTS": str(args.snapshots)}  # fmt: skip
    job = start_job(args, topics, f"soak-{run}", free_port(), log, env=env)
    sampler = Sampler(job.pid, outputs, args.sample_seconds, args.csv)
    sampler.start()
    try:
        feed(args, topics, payloads, args.rate, outputs)
    finally:
        sampler.stop()
        stop_job(job)
        outputs.stop()
    delete_topics(args.bootstrap_servers, topics)
    return sampler.rows, outputs


def main() -> int:
    parser = job_parser(__doc__)
    parser.add_argument("--rate", type=float, default=6.0, help="events/s (6)")
    parser.add_argument("--minutes", type=float, default=30.0, help="of steady load (30)")
    parser.add_argument("--sentences", type=int, default=24, help="per article (24)")
    parser.add_argument("--paragraph-sentences", type=int, default=2, help="per paragraph (2)")
    parser.add_argument("--sample-seconds", type=float, default=15.0, help="RSS sampling (15)")
    parser.add_argument("--warmup-minutes", type=float, default=5.0,
                        help="from job start; earlier samples left out of growth (5)")  # fmt: skip
    parser.add_argument("--flat-after-minutes", type=float, default=float("inf"),
                        help="print RSS MiB/min after this (for a short TTL)")  # fmt: skip
    parser.add_argument("--csv", type=Path, help="samples (default: a temp file)")
    parser.add_argument("--snapshots", type=Path, help="for the launcher's tracemalloc (none)")
    args = parser.parse_args()
    count = int(args.rate * args.minutes * 60)
    payloads = list(recombined_events(count, args.sentences, args.paragraph_sentences))
    workdir = Path(tempfile.mkdtemp(prefix="newsflow-soak-"))
    args.csv = args.csv or workdir / "rss.csv"
    rows, outputs = run_job(args, payloads, workdir / "job.log")
    seen = Counter(len(found) for found in outputs.found.values())
    print(f"corpus: {count} articles of {args.sentences} recombined NewsArticles sentences "
          f"in paragraphs of {args.paragraph_sentences}; "
          f"rate {args.rate:g}/s for {args.minutes:g} min; samples: {args.csv}")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          f"job flags: {' '.join(args.job_args) or '(defaults)'}")  # fmt: skip
    twice, final = sum(n for c, n in seen.items() if c > 1), outputs.per_topic
    print(f"inputs {count}: accounted once {seen[1]}, twice+ {twice}; "
          f"enriched {final['enriched']}, duplicates {final['duplicates']}, "
          f"dead letters {final['dlq']}")  # fmt: skip
    report(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
