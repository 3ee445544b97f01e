"""Where newsflow's file mode spends its CPU, next to raw spaCy on the same articles.

For issue 19's overhead hunt: on a machine shared with other jobs wall time is noisy, CPU seconds
are not, so every run reports the CPU seconds of each process it started, by role:

* ``launcher``: the Python process that builds the job; Prism runs its SDK worker in it
  (LOOPBACK), so decode, cleaning, dedup, encoding and the sinks are all here;
* ``prism``: the runner (Go);
* ``ner-pool``: multiprocessing's processes: newsflow's NER pool, its fork server and the
  resource tracker;
* ``forked``: raw ``nlp.pipe``'s ``n_process`` workers (forked);
* ``raw``: raw ``nlp.pipe``'s own process;
* ``py-spy``: the profiler, when ``--py-spy`` is given (its CPU is in ``total``).

Runs (``--runs``, alternated ``--repeat`` times in one session, medians printed):
``raw1``/``raw2`` are ``nlp.pipe`` over whole bodies, batch 32, ``n_process`` 1 or 2 (the model
newsflow loads, NER only); ``newsflow`` is the ``newsflow process`` console script with
``--flags``, from the source tree ``--root`` (default: this checkout); ``base`` the same from
``--base-root`` (an export of another commit, e.g. ``git archive main``), for before/after.
Each tree runs through the console script its own pyproject declares (written as pip writes it).

Per-process CPU comes from sampling ``/proc`` every ``--sample-seconds`` (the last sample of a
process that exits between samples is short by at most that much); ``total`` is exact: the
child's ``wait4`` rusage, which includes every descendant reaped. ``--py-spy DIR`` records each
newsflow run with ``py-spy record --subprocesses --format raw`` (collapsed stacks) into DIR.
No assertion: figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

RAW_SPACY = """
import json, sys
from transforms.text.ner import load_ner_model
bodies = [json.loads(line)["body"] for line in open(sys.argv[1])]
nlp = load_ner_model()
docs = nlp.pipe(bodies, batch_size=32, n_process=int(sys.argv[2]))
print(sum(len(doc.ents) for doc in docs))
"""


def role(proc: psutil.Process, root_pid: int) -> str:
    """Which part of the job a process is, from its command line."""
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if "py-spy" in cmdline:
        return "py-spy"
    if "bin/newsflow" in cmdline:
        return "launcher"
    if "prism" in cmdline and ("python" not in cmdline or "pipelines.lifeline" in cmdline):
        return "prism"  # seen before or after pipelines.lifeline execs it
    if proc.pid == root_pid:
        return "raw"
    return "ner-pool" if "multiprocessing" in cmdline else "forked"


@dataclass
class Sampler:
    """Last-seen CPU seconds of every process in a tree, sampled from a thread."""

    root_pid: int
    interval: float
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        root = psutil.Process(self.root_pid)
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    name = self.cpu.get(proc.pid, (None, 0))[0] or role(proc, self.root_pid)
                    self.cpu[proc.pid] = (name, times.user + times.system)
                except psutil.Error:
                    continue
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()

    def by_role(self) -> dict[str, float]:
        roles: dict[str, float] = {}
        for name, seconds in self.cpu.values():
            roles[name] = roles.get(name, 0.0) + seconds
        return roles


@dataclass(frozen=True)
class Run:
    name: str
    wall: float
    cpu: float
    roles: dict[str, float]
    stdout: str


def measure(name: str, argv: list[str], root: Path, interval: float) -> Run:
    """Wall and CPU seconds (total by ``wait4``, per role by sampling) of one child."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=root, env=env)
        sampler = Sampler(proc.pid, interval)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        sampler.stop()
        thread.join()
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{name} failed:\n{err.read().decode()[-3000:]}")
        out.seek(0)
        roles = sampler.by_role()
        roles.pop("gone", None)
        return Run(name, wall, usage.ru_utime + usage.ru_stime, roles, out.read().decode())


def command(run: str, events: Path, work: Path, args, index: int) -> list[str]:
    python = sys.executable
    if run.startswith("raw"):
        return [python, "-c", RAW_SPACY, str(events), run[-1]]
    out = work / f"{run}-{index}"
    shutil.rmtree(out, ignore_errors=True)
    root = args.base_root if run == "base" else args.root
    script = str(console_script(root, work / f"{run}-script"))
    argv = [python, script, "process", str(events), "--output", str(out), *args.flags]
    if args.py_spy:
        spy = Path(shutil.which("py-spy") or Path(python).parent / "py-spy")
        profile = Path(args.py_spy) / f"{run}-{index}.txt"
        return [str(spy), "record", "--subprocesses", "--format", "raw", "--rate", "50",
                "--nonblocking", "-o", str(profile), "--", *argv]  # fmt: skip
    return argv


def console_script(root: Path, folder: Path) -> Path:
    """The ``newsflow`` console script pip writes for ``root``'s pyproject, under
    ``folder/bin``: each tree runs as its users run it (multiprocessing re-runs the main script
    in every process it starts, so ``python -c``, or another tree's script, would hide or add
    that cost)."""
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["newsflow"].split(":")
    script = folder / "bin" / "newsflow"  # role() knows the launcher by "bin/newsflow"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f"import sys\nfrom {module} import {function}\n"
        f"if __name__ == '__main__':\n    sys.exit({function}())\n"
    )
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("events", type=Path, help="JSON lines of events (throughput.py's corpus)")
    parser.add_argument("--runs", nargs="+", default=["raw2", "newsflow"], help="in order")
    parser.add_argument("--repeat", type=int, default=1, help="alternated rounds (1)")
    parser.add_argument("--root", type=Path, default=ROOT, help="source tree newsflow runs from")
    parser.add_argument("--base-root", type=Path, help="source tree of the run named base")
    parser.add_argument("--flags", nargs="*", default=[], help="extra `newsflow process` flags")
    parser.add_argument("--sample-seconds", type=float, default=0.2, help="/proc sampling (0.2)")
    parser.add_argument("--py-spy", help="directory for py-spy collapsed stacks of newsflow runs")
    parser.add_argument("--keep-outputs", type=Path, help="write run outputs here (<run>-<i>)")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args()
    if args.py_spy:
        Path(args.py_spy).mkdir(parents=True, exist_ok=True)
    results: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="newsflow-profile-") as tmp:
        work = args.keep_outputs or Path(tmp)
        for index in range(args.repeat):
            for name in args.runs:
                argv = command(name, args.events, work, args, index)
                root = {"newsflow": args.root, "base": args.base_root}.get(name, ROOT)
                run = measure(name, argv, root, args.sample_seconds)
                results.append(run)
                roles = " ".join(f"{k}={v:.1f}" for k, v in sorted(run.roles.items()))
                print(f"{name} #{index}: wall {run.wall:.1f} s, CPU {run.cpu:.1f} s ({roles})",
                      flush=True)  # fmt: skip
    summarize(results, args.runs)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0


def summarize(results: list[Run], names: list[str]) -> None:
    """Medians per run name, and each one's wall and CPU ratios against the first name's."""
    med = {
        name: (
            statistics.median(r.wall for r in results if r.name == name),
            statistics.median(r.cpu for r in results if r.name == name),
        )
        for name in names
    }
    base_wall, base_cpu = med[names[0]]
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| run | median wall s | median CPU s | throughput ratio | CPU ratio |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu) in med.items():
        ratios = f"{base_wall / wall:.2f} | {base_cpu / cpu:.2f}"
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {ratios} |")


if __name__ == "__main__":
    sys.exit(main())
