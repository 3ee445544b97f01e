"""Checkpoint size and duration on the standalone Flink cluster against remembered articles.

Needs the cluster of ``deploy/flink/flink.sh up`` and a broker (``deploy/local/kafka.sh up``;
``KAFKA_PORT`` picks the port). The streaming job (``newsflow run --runner FlinkRunner
--flink_master=localhost:8081`` from ``.venv-flink``, RocksDB, incremental checkpoints every
``--checkpoint-interval-seconds``, ``--dedup-changelog off`` so dedup memory is Flink state
alone) reads fresh topics. Once it runs, two checkpoints are taken with no input (the baseline);
then articles are sent as fast as the broker takes them, up to each of ``--articles`` in turn.
Each article is a seeded pick of 10-30 real news sentences (the pool of ``dedup_ceiling.py``):
no corpus here holds 100,000 articles, and no two picks share enough sentences to be near
copies. NER is bypassed (``--spacy-model blank:en``: the tokenizer alone, no entities) because
the state is the point and NER would take hours for 100,000 articles on this machine; every
other step runs as in production.

At each milestone, once every article sent has an outcome (so no article is in flight in keyed
state; enriched records = articles kept = remembered by dedup), the next checkpoint triggered
after that is read from the REST API: its full size, its incremental
size, its duration, and the size per operator, split into the Kafka reader's (the splittable
DoFn's deferred remainders: Beam 2.62 registers a new state for each, apache/beam#27648) and
everything else. Reported per milestone: bytes per remembered article with and without the
reader's state (the target: <= 2 KB), and the reader's growth per minute of the job's age; then,
per state, the size of RocksDB's SST files (what an incremental checkpoint references, deleted
values not yet compacted included), from the RocksDB metric deploy/flink/conf/config.yaml turns
on; the most articles the producer put into one second of Kafka CreateTime (one flush slot of
the buffering steps), the most elements one flush of each buffering step read
(``flush_read_elements``) and the restores so far; the full size again from a checkpoint three
intervals later, with nothing sent in between (RocksDB compacts in the background after a
checkpoint's flush, so what the clears removed shows there); and the incremental sizes and
durations of the checkpoints completed while the milestone's articles were decided.
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
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_ceiling import SENTENCES_PER_ARTICLE, sentence_pool
from flink_failover import FLINK_SH, MASTER, end_offsets_total, running, start_job, wait_for
from kafka import KafkaProducer
from streaming_latency import OUTPUTS, create_topics, delete_topics

from pipelines.flink_rest import FlinkRest, FlinkRestError
from transforms.steps.buffering import FLUSH_READ

READER = "ReadPartitions"
# RocksDB's figure per column family (one per state name) that deploy/flink/conf/config.yaml turns
# on as an operator metric: the SST files' total size, deleted values not yet compacted included.
# (The memtables are flushed into SST files at each checkpoint; their metric counts allocated
# arena blocks, not data.)
SST = "rocksdb_total-sst-files-size"
METRICS_PER_REQUEST = 20
SEND_TIMEOUT_MS = 15 * 60 * 1000
SETTLE_INTERVALS = 3


def articles(count: int, seed: int) -> list[bytes]:
    """``count`` distinct events, each 10-30 pool sentences in paragraphs of up to five."""
    pool, rng, seen, out = sentence_pool(), random.Random(seed), set(), []
    while len(out) < count:
        pick = tuple(sorted(rng.sample(range(len(pool)), rng.randint(*SENTENCES_PER_ARTICLE))))
        if pick in seen:
            continue
        seen.add(pick)
        sentences = [pool[i] for i in pick]
        body = "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, len(pick), 5))
        event = {"id": f"recombined-{seed}-{len(out)}", "source": "recombined", "body": body}
        out.append(json.dumps(event).encode())
    return out


def checkpoint_after(rest: FlinkRest, jid: str, since_ms: float, timeout: float) -> dict:
    """Details of the first completed checkpoint triggered at or after ``since_ms``."""

    def completed() -> dict | None:
        latest = rest.checkpoints(jid)["latest"].get("completed")
        return latest if latest and latest["trigger_timestamp"] >= since_ms else None

    latest = wait_for("a checkpoint after the milestone", completed, timeout)
    return rest.call(f"/jobs/{jid}/checkpoints/details/{latest['id']}")


def split_sizes(rest: FlinkRest, jid: str, details: dict) -> tuple[int, int, dict[str, int]]:
    """(the Kafka reader's operators' state size, every other operator's, size per operator
    chain) of a checkpoint."""
    names = {v["id"]: v["name"] for v in rest.job(jid)["vertices"]}
    sizes = {names[v]: t["state_size"] for v, t in details["tasks"].items()}
    reader = sum(size for name, size in sizes.items() if READER in name)
    return reader, details["state_size"] - reader, sizes


def state_sizes(rest: FlinkRest, jid: str) -> Counter:
    """Bytes of RocksDB's SST files per state, summed over subtasks, keyed ``step/state``: the
    first step of the operator chain (the keyed one), then the state name with any ``_NN``
    suffix folded (dedup's ``index_NN`` bags into ``index``; ``pending``, ``lines``, ...).
    Empty without the cluster's RocksDB metrics."""
    sizes: Counter = Counter()
    for vertex in rest.job(jid)["vertices"]:
        step = re.sub(r"^\[\d+\]\{?", "", vertex["name"]).split(" -> ")[0].split(",")[0]
        path = f"/jobs/{jid}/vertices/{vertex['id']}/subtasks/metrics"
        ids = [m["id"] for m in rest.call(path) if m["id"].endswith(SST)]
        for start in range(0, len(ids), METRICS_PER_REQUEST):
            wanted = urllib.parse.quote(",".join(ids[start : start + METRICS_PER_REQUEST]), ",")
            for metric in rest.call(f"{path}?agg=sum&get={wanted}"):
                state = re.sub(r"_\d+$", "", metric["id"].rsplit(".", 2)[-2])
                sizes[f"{step.rstrip('}')}/{state}"] += int(metric["sum"])
    return sizes


def measure(rest: FlinkRest, jid: str, remembered: int, started: float, since: float, timeout):
    details = checkpoint_after(rest, jid, since * 1000, timeout)
    reader, rest_size, sizes = split_sizes(rest, jid, details)
    states = state_sizes(rest, jid)
    return {
        "remembered": remembered,
        "age_min": (details["trigger_timestamp"] / 1000 - started) / 60,
        "full": details["state_size"],
        "incremental": details["checkpointed_size"],
        "duration_s": details["end_to_end_duration"] / 1000,
        "reader": reader,
        "others": rest_size,
        "largest": sorted(sizes.items(), key=lambda item: -item[1])[:3],
        "states": states.most_common(6),
        "flush_reads": flush_reads(rest, jid),
        "restored": rest.checkpoints(jid)["counts"]["restored"],
    }


def note_checkpoints(rest: FlinkRest, jid: str, seen: dict[int, dict]) -> None:
    """Add the completed checkpoints in the REST API's history (its last 10) to ``seen`` by id:
    called while a milestone's articles are decided, it keeps what each checkpoint uploaded
    while the state changed (a lower compaction trigger rewrites more of it per checkpoint)."""
    for entry in rest.checkpoints(jid).get("history", []):
        if entry["status"] == "COMPLETED":
            seen[entry["id"]] = entry


def busy_summary(seen: dict[int, dict]) -> str:
    """One line on the checkpoints completed while articles were decided."""
    if not seen:
        return "none completed"
    sizes = sorted(entry["checkpointed_size"] for entry in seen.values())
    durations = sorted(entry["end_to_end_duration"] / 1000 for entry in seen.values())
    return (f"{len(sizes)} checkpoints, incremental mean {sum(sizes) / len(sizes) / 1e6:.2f} MB, "
            f"max {sizes[-1] / 1e6:.2f} MB, total {sum(sizes) / 1e6:.2f} MB; duration median "
            f"{durations[len(durations) // 2]:.1f} s, max {durations[-1]:.1f} s")  # fmt: skip


def flush_reads(rest: FlinkRest, jid: str) -> dict[str, int]:
    """The most elements one flush read per buffering step; empty (printed as not reported)
    when the cluster does not serve them, so a long run still ends with its sizes."""
    try:
        return rest.distribution_maxima(jid, FLUSH_READ)
    except (FlinkRestError, KeyError, ValueError) as exc:
        print(f"flush reads not read: {exc}", file=sys.stderr)
        return {}


def decided(bootstrap: str, topics: dict[str, str]) -> int:
    """Inputs with an outcome so far (kept, duplicate or dead letter)."""
    return sum(end_offsets_total(bootstrap, topics[name]) for name in OUTPUTS)


def send_all(bootstrap: str, topic: str, payloads: list[bytes]) -> Counter:
    """Send every payload; returns how many got each second of Kafka CreateTime, the event time
    the job slots them by (``transforms/io/kafka_source.py``): one second is one flush slot of
    the buffering steps, so its count is what one flush of a burst reads. A broker starved by the
    job on a loaded machine may stall for minutes: the send waits (``SEND_TIMEOUT_MS``) rather
    than end a run of most of an hour (the producer's default gives up after 2 minutes)."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=50, delivery_timeout_ms=SEND_TIMEOUT_MS
    )
    futures = [producer.send(topic, value=payload) for payload in payloads]
    producer.flush()
    producer.close()
    return Counter(future.get().timestamp // 1000 for future in futures)


def print_table(rows: list[dict], base: dict) -> None:
    print("| remembered articles | job age, min | checkpoint full / incremental, MB | duration, s "
          "| reader's state, MB | other state, MB | bytes per article, all state "
          "| bytes per article, reader's state left out |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in [base, *rows]:
        n = r["remembered"]
        per_all = f"{(r['full'] - base['full']) / n:,.0f}" if n else "-"
        per_rest = f"{(r['others'] - base['others']) / n:,.0f}" if n else "-"
        print(f"| {n:,} | {r['age_min']:.1f} | {r['full'] / 1e6:.2f} / "
              f"{r['incremental'] / 1e6:.2f} | {r['duration_s']:.1f} | {r['reader'] / 1e6:.2f} "
              f"| {r['others'] / 1e6:.2f} | {per_all} | {per_rest} |")  # fmt: skip
    for r in rows:
        largest = "; ".join(f"{name}: {size / 1e6:.2f} MB" for name, size in r["largest"])
        print(f"largest operator states at {r['remembered']:,}: {largest}")
        states = "; ".join(f"{name}: {size / 1e6:.2f} MB" for name, size in r["states"])
        print(f"largest states (RocksDB SST files) at {r['remembered']:,}: {states}")
        reads = ", ".join(f"{step} {n:,}" for step, n in sorted(r["flush_reads"].items()))
        print(f"at {r['remembered']:,}: most elements one flush read: {reads or 'not reported'}; "
              f"restores so far: {r['restored']}")  # fmt: skip
        later = r["settled"]
        print(f"at {r['remembered']:,}, the checkpoint {later['age_min'] - r['age_min']:.1f} min "
              f"later (nothing sent in between): full / incremental {later['full'] / 1e6:.2f} / "
              f"{later['incremental'] / 1e6:.2f} MB, "
              f"{(later['full'] - base['full']) / r['remembered']:,.0f} bytes per article; "
              f"while deciding: {r['busy']}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    default_servers = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    parser.add_argument("--bootstrap-servers", default=default_servers, help=f"({default_servers})")
    parser.add_argument("--articles", type=int, nargs="+", default=[10_000, 100_000],
                        help="milestones of remembered articles (10000 100000)")  # fmt: skip
    parser.add_argument("--checkpoint-interval-seconds", type=float, default=10.0, help="(10)")
    parser.add_argument("--timeout-seconds", type=float, default=3600.0, help="per wait (3600)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("job_args", nargs="*", help="after --: more newsflow run flags "
                        "(e.g. -- --stories off)")  # fmt: skip
    args = parser.parse_args()
    # SIGTERM ends the run through its cleanup (the job cancelled, its topics deleted).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if subprocess.run([str(FLINK_SH), "status"], capture_output=True, check=False).returncode:
        parser.error("no standalone Flink cluster: run `deploy/flink/flink.sh up` first")
    payloads = articles(max(args.articles), args.seed)
    run = uuid.uuid4().hex[:8]
    topics = create_topics(args.bootstrap_servers, run)
    name = f"newsflow-checkpoint-bench-{run}"
    log = Path(tempfile.mkdtemp(prefix="newsflow-checkpoint-bench-")) / "job.log"
    flags = ("--dedup-changelog", "off", "--spacy-model", "blank:en", *args.job_args)
    job = start_job(args, topics, name, log, *flags)
    rest, rows = FlinkRest(MASTER), []
    try:
        jid = wait_for("the job running", lambda: running(rest, name), args.timeout_seconds)["jid"]
        started = time.time()
        checkpoint_after(rest, jid, started * 1000, args.timeout_seconds)
        base = measure(rest, jid, 0, started, time.time(), args.timeout_seconds)
        sent = 0
        for milestone in sorted(args.articles):
            began = time.time()
            per_second = send_all(args.bootstrap_servers, topics["raw"], payloads[sent:milestone])
            most, seconds = max(per_second.values()), len(per_second)
            print(f"sent {milestone - sent:,} articles in {time.time() - began:.1f} s; most in "
                  f"one second of CreateTime (one flush slot): {most:,}, over {seconds} seconds",
                  flush=True)  # fmt: skip
            sent = milestone
            busy: dict[int, dict] = {}

            def all_decided(n=sent, busy=busy) -> bool:
                note_checkpoints(rest, jid, busy)
                return decided(args.bootstrap_servers, topics) >= n

            wait_for(f"all {sent} articles decided (kept or duplicate)", all_decided,
                     args.timeout_seconds)  # fmt: skip
            kept = end_offsets_total(args.bootstrap_servers, topics["enriched"])
            row = measure(rest, jid, kept, started, time.time(), args.timeout_seconds)
            # RocksDB compacts in the background after a checkpoint's flush, so the state at rest
            # shows in a later checkpoint: the one triggered SETTLE_INTERVALS intervals on.
            later = time.time() + SETTLE_INTERVALS * args.checkpoint_interval_seconds
            row["settled"] = measure(rest, jid, kept, started, later, args.timeout_seconds)
            row["busy"] = busy_summary(busy)
            rows.append(row)
            print_table(rows, base)
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(timeout=120)
        delete_topics(args.bootstrap_servers, topics)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          f"checkpoints every {args.checkpoint_interval_seconds:g} s; job flags {flags}; "
          f"job log: {log}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
