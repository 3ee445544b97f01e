"""A per-interval timeline of the CPU each process of one ``newsflow process`` run uses.

Issue 19's wall gap: newsflow's file mode took ~10 s longer than raw ``nlp.pipe(n_process=2)``
on the same articles while costing only ~7 CPU s more, so on 2 cores some seconds the cores were
idle or the work was not overlapped. This runs the ``newsflow`` console script (as
``profile_pipeline.py`` writes it for ``--root``) and reads ``/proc/<pid>/stat`` of every
process in its tree every ``--sample-seconds`` (0.1): user + system CPU per process, and per
thread of the launcher (the SDK worker under LOOPBACK), with the thread's OS name.

Each process gets a role from its command line and parent: ``launcher``, ``prism``,
``fork-server`` (multiprocessing's, which preloads spaCy and the model), ``ner-N`` (the pool's
workers, forked from it), ``tracker`` (multiprocessing's resource tracker), ``other``.

Phases, read off the timeline: ``start-up`` until the pool's workers have used 0.2 CPU s (the
first batch reached them), ``steady`` until they have used all but their last 0.2 CPU s,
``tail`` after it (the last batches' resolution, encoding, the sinks, finalize, exit).
``--raw`` runs raw ``nlp.pipe(n_process=2)`` on the clean bodies of ``--texts`` the same way
for comparison (its roles: ``raw``, ``forked-N``).

Prints per-bucket (``--bucket-seconds``, 1) cores used per role, the phases with their wall
seconds and CPU seconds per role, and the launcher's busiest threads; ``--json`` keeps the raw
samples. No assertion: figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_pipeline import RAW_SPACY, console_script

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
EDGE_CPU_SECONDS = 0.2  # the pool's workers together: well under a batch, over their start/exit


def stat(path: str) -> tuple[int, str, float] | None:
    """(ppid, comm, CPU seconds) from a ``/proc/.../stat`` file; None once it is gone."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / TICKS


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Timeline:
    """Samples of one process tree: per role, per thread of the root, and when each was seen."""

    root: int
    started: float
    roles: dict[int, str] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, float], dict[str, float]]] = field(default_factory=list)
    workers: int = 0

    def role(self, pid: int, ppid: int) -> str:
        if pid not in self.roles:
            line = cmdline(pid)
            parent = self.roles.get(ppid, "")
            if pid == self.root:
                name = "launcher" if "bin/newsflow" in line else "raw"
            elif "prism" in line:
                name = "prism"
            elif "resource_tracker" in line:
                name = "tracker"
            elif parent == "fork-server":
                name, self.workers = f"ner-{self.workers}", self.workers + 1
            elif "forkserver" in line:
                name = "fork-server"
            elif parent == "raw":
                name, self.workers = f"forked-{self.workers}", self.workers + 1
            else:
                name = "other"
            self.roles[pid] = name
        return self.roles[pid]

    def sample(self) -> None:
        """CPU seconds so far of every process under the root, and of the root's threads."""
        parents, cpu = {}, {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (found := stat(f"/proc/{entry}/stat")) is not None:
                parents[int(entry)], cpu[int(entry)] = found[0], found[2]
        tree, frontier = {self.root}, [self.root]
        while frontier:
            pid = frontier.pop()
            children = [c for c, p in parents.items() if p == pid and c not in tree]
            tree.update(children)
            frontier.extend(children)
        for pid in sorted(tree):  # parents have lower pids here: roles follow the fork chain
            if pid in parents:
                self.role(pid, parents[pid])
        by_role = {self.roles[p]: cpu[p] for p in tree if p in cpu}
        threads = {}
        tasks = f"/proc/{self.root}/task"
        for tid in os.listdir(tasks) if os.path.isdir(tasks) else ():
            if (found := stat(f"/proc/{self.root}/task/{tid}/stat")) is not None:
                threads[f"{tid}:{found[1]}"] = found[2]
        self.samples.append((time.perf_counter() - self.started, by_role, threads))


def record(argv: list[str], interval: float, root: Path) -> tuple[Timeline, float, float]:
    """Run ``argv``, sampling its tree; the timeline, wall seconds and wait4's CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL)
    timeline = Timeline(proc.pid, started)
    while True:
        timeline.sample()
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(interval)
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{argv[:3]} exited {os.waitstatus_to_exitcode(status)}")
    return timeline, wall, cpu


def usage_per_bucket(timeline: Timeline, bucket: float) -> list[tuple[float, dict[str, float]]]:
    """Cores used per role in each ``bucket`` seconds (CPU seconds gained over the bucket)."""
    last: dict[str, float] = {}
    buckets: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for at, roles, _ in timeline.samples:
        for name, seconds in roles.items():
            buckets[int(at // bucket)][name] += seconds - last.get(name, 0.0)
            last[name] = seconds
    return [(i * bucket, {k: v / bucket for k, v in buckets[i].items()}) for i in sorted(buckets)]


def phases(timeline: Timeline) -> list[tuple[str, float, float]]:
    """(phase, start, end) by when the pool's (or raw's forked) workers worked: from the sample
    where they had used ``EDGE_CPU_SECONDS`` together (a batch reached them; forking and the
    initializer cost a few ms) to the one where they had used all but that much of their total
    (their exit costs a little too). By CPU seconds, not by cores used, so the phases hold on a
    loaded machine."""

    def workers(roles: dict[str, float]) -> float:
        return sum(v for k, v in roles.items() if k.startswith(("ner-", "forked-")))

    total = max(workers(roles) for _, roles, _ in timeline.samples)
    end = timeline.samples[-1][0]
    if total < 2 * EDGE_CPU_SECONDS:
        return [("whole run", 0.0, end)]
    started = next(at for at, r, _ in timeline.samples if workers(r) >= EDGE_CPU_SECONDS)
    ended = next(at for at, r, _ in timeline.samples if workers(r) >= total - EDGE_CPU_SECONDS)
    return [("start-up", 0.0, started), ("steady", started, ended), ("tail", ended, end)]


def cpu_between(timeline: Timeline, start: float, end: float) -> dict[str, float]:
    """CPU seconds per role gained between the samples nearest ``start`` and ``end``."""

    def at(t: float) -> dict[str, float]:
        return min(timeline.samples, key=lambda s: abs(s[0] - t))[1]

    before, after = at(start), at(end)
    return {name: after[name] - before.get(name, 0.0) for name in after}


def threads_between(timeline: Timeline, start: float, end: float, top: int) -> list[str]:
    def at(t: float) -> dict[str, float]:
        return min(timeline.samples, key=lambda s: abs(s[0] - t))[2]

    before, after = at(start), at(end)
    gained = {name: after[name] - before.get(name, 0.0) for name in after}
    best = sorted(gained.items(), key=lambda kv: -kv[1])[:top]
    return [f"{name} {seconds:.2f}" for name, seconds in best if seconds >= 0.05]


def report(timeline: Timeline, wall: float, cpu: float, bucket: float) -> None:
    names = sorted({n for _, roles, _ in timeline.samples for n in roles})
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (wait4), {len(timeline.samples)} samples")
    print("| s | " + " | ".join(names) + " | cores |")
    print("|---" * (len(names) + 2) + "|")
    for at, used in usage_per_bucket(timeline, bucket):
        cells = " | ".join(f"{used.get(n, 0.0):.2f}" for n in names)
        print(f"| {at:.0f} | {cells} | {sum(used.values()):.2f} |")
    print("\n| phase | from s | to s | wall s | " + " | ".join(names) + " | cores |")
    print("|---" * (len(names) + 5) + "|")
    for name, start, end in phases(timeline):
        spent = cpu_between(timeline, start, end)
        cells = " | ".join(f"{spent.get(n, 0.0):.1f}" for n in names)
        cores = sum(spent.values()) / max(end - start, 1e-9)
        print(f"| {name} | {start:.1f} | {end:.1f} | {end - start:.1f} | {cells} | {cores:.2f} |")
        if timeline.samples and any(k.split(":")[0] for k in timeline.samples[-1][2]):
            print(f"|   threads: {'; '.join(threads_between(timeline, start, end, 6))} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("events", type=Path, help="JSON lines of events (throughput.py's corpus)")
    parser.add_argument("--root", type=Path, default=ROOT, help="source tree newsflow runs from")
    parser.add_argument("--flags", nargs="*", default=[], help="extra `newsflow process` flags")
    parser.add_argument("--raw", action="store_true", help="raw nlp.pipe(n_process=2) instead")
    parser.add_argument("--texts", type=Path, help="--raw's bodies: a newsflow output directory")
    parser.add_argument("--sample-seconds", type=float, default=0.1, help="/proc sampling (0.1)")
    parser.add_argument("--bucket-seconds", type=float, default=1.0, help="table rows (1)")
    parser.add_argument("--output", type=Path, help="newsflow's output directory (kept)")
    parser.add_argument("--json", type=Path, help="write the samples here")
    parser.add_argument("--replay", type=Path, help="report the samples of an earlier --json")
    args = parser.parse_args()
    if args.replay:
        saved = json.loads(args.replay.read_text())
        timeline = Timeline(0, 0.0, saved["roles"], [tuple(s) for s in saved["samples"]])
        report(timeline, saved["wall"], saved["cpu"], args.bucket_seconds)
        return 0
    with tempfile.TemporaryDirectory(prefix="newsflow-timeline-") as tmp:
        work = Path(tmp)
        if args.raw:
            bodies = work / "bodies.jsonl"
            with bodies.open("w") as out:
                for path in sorted(args.texts.glob("enriched*.jsonl")):
                    for line in path.open():
                        out.write(json.dumps({"body": json.loads(line)["body"]}) + "\n")
            argv = [sys.executable, "-c", RAW_SPACY, str(bodies), "2"]
        else:
            script = console_script(args.root, work / "script")
            output = args.output or work / "out"
            argv = [sys.executable, str(script), "process", str(args.events), "--output",
                    str(output), *args.flags]  # fmt: skip
        timeline, wall, cpu = record(argv, args.sample_seconds, args.root)
    print(f"load average {os.getloadavg()[0]:.1f}")
    report(timeline, wall, cpu, args.bucket_seconds)
    if args.json:
        saved = {"roles": timeline.roles, "samples": timeline.samples, "wall": wall, "cpu": cpu}
        args.json.write_text(json.dumps(saved))
    return 0


if __name__ == "__main__":
    sys.exit(main())
