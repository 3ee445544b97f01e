"""Throughput of newsflow's file mode against raw spaCy on the same real articles.

(a) ``nlp.pipe`` with the model and components newsflow loads, over the bodies: the floor cost
    of NER.
(b) ``newsflow process`` on the DirectRunner over the same articles as JSON events: decode,
    clean, dedup, NER, language, Avro/JSON out.
Each runs in its own child process (one process tree), timed from spawn to exit, with its peak
RSS from ``wait4``. Prints articles/s and words/s for each and the ratio b/a. No assertion:
figures go in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import lee_articles

RAW_SPACY = """
import json, sys, time
from transforms.text.ner import load_ner_model, annotate
bodies = [json.loads(line)["body"] for line in open(sys.argv[1])]
nlp = load_ner_model()
annotate(nlp, bodies)
"""


def write_events(texts: list[str], path: Path, copies: int) -> int:
    """Events with unique ids; ``copies`` > 1 repeats the corpus with a marker so nothing dedups."""
    words = 0
    with path.open("w") as fh:
        for copy in range(copies):
            for number, text in enumerate(texts):
                body = text if copy == 0 else f"{text} (Reprint {copy}, item {number}.)"
                words += len(body.split())
                event = {"id": f"lee-{copy}-{number}", "source": "lee", "body": body}
                fh.write(json.dumps(event) + "\n")
    return words


def timed_child(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return elapsed, usage.ru_maxrss // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=1, help="repeat the 350 articles N times")
    args = parser.parse_args()
    texts = lee_articles()
    work = Path(tempfile.mkdtemp(prefix="newsflow-bench-"))
    events = work / "events.jsonl"
    words = write_events(texts, events, args.copies)
    n = len(texts) * args.copies
    env_python = sys.executable
    a_secs, a_rss = timed_child([env_python, "-c", RAW_SPACY, str(events)])
    newsflow = shutil.which("newsflow") or str(Path(env_python).with_name("newsflow"))
    b_secs, b_rss = timed_child([newsflow, "process", str(events), "--output", str(work / "out")])
    enriched = sum(1 for f in (work / "out").glob("enriched*.jsonl") for _ in f.open())
    print(f"corpus: {n} Lee articles ({words} words), machine: {os.cpu_count()} cores")
    print(f"{'run':<28}{'seconds':>9}{'articles/s':>12}{'words/s':>11}{'peak MiB':>10}")
    for name, secs, rss in (
        ("(a) raw nlp.pipe", a_secs, a_rss),
        ("(b) newsflow process", b_secs, b_rss),
    ):
        print(f"{name:<28}{secs:>9.1f}{n / secs:>12.1f}{words / secs:>11.0f}{rss:>10}")
    print(f"ratio b/a (throughput): {a_secs / b_secs:.2f}   enriched records: {enriched}/{n}")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
