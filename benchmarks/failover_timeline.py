"""Where the time goes between a TaskManager kill and the job's first new output.

A ``Watch`` polls the cluster's REST API from the kill on (the job's state and task counts, the
TaskManagers the JobManager knows); ``timeline`` adds what only Flink and the logs know: the
failures the JobManager recorded (``/jobs/<id>/exceptions``, its own millisecond timestamps), the
SDK workers connecting to their TaskManager (Beam's ``FnApiControlClientPoolService`` in the
TaskManager logs) and the restore guard's scan (the worker pool's log). Every event is in seconds
after the kill; the events of the restore attempt that produced the output are kept (a failed
attempt also runs its tasks for a moment).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from pipelines.flink_rest import FlinkRest, FlinkRestError

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.25
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
WORKER_CONNECTED = "Beam Fn Control client connected"
RESTORE_SCAN = "restore scan read"
# Column order of the printed timeline.
PHASES = (
    ("failure", "JobManager saw the failure"),
    ("lost", "killed TaskManager dropped"),
    ("registered", "replacement registered"),
    ("running", "all tasks RUNNING"),
    ("workers", "SDK workers connected"),
    ("scan", "restore scan done"),
    ("output", "first new output"),
)


def flink_home() -> Path:
    """Where ``flink.sh`` keeps the cluster's logs (its ``NEWSFLOW_FLINK_HOME``)."""
    default = ROOT / "deploy" / "flink" / ".cache" / "cluster"
    return Path(os.environ.get("NEWSFLOW_FLINK_HOME", default))


class Watch(threading.Thread):
    """Polls job ``jid`` from ``killed`` (epoch s) until stopped: when the TaskManager
    ``resource_id`` left the JobManager's list and when all tasks last became RUNNING."""

    def __init__(self, rest: FlinkRest, jid: str, resource_id: str, killed: float) -> None:
        super().__init__(daemon=True)
        self.rest, self.jid, self.resource_id, self.killed = rest, jid, resource_id, killed
        self.lost: float | None = None
        self.running: float | None = None
        self._done = threading.Event()

    def run(self) -> None:
        was_running = True
        while not self._done.wait(POLL_SECONDS):
            try:
                job = self.rest.job(self.jid)
                ids = {tm["id"] for tm in self.rest.taskmanagers()}
            except FlinkRestError:
                continue
            now = time.time()
            if self.lost is None and self.resource_id not in ids:
                self.lost = now
            all_running = job["state"] == "RUNNING" and all(
                v["tasks"]["RUNNING"] + v["tasks"]["FINISHED"] == v["parallelism"]
                for v in job["vertices"]
            )
            if all_running and not was_running:
                self.running = now
            was_running = all_running

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)


def failures(rest: FlinkRest, jid: str, since: float) -> list[tuple[float, str]]:
    """The job's failures recorded at or after ``since`` (epoch s): (time, exception class)."""
    entries = rest.call(f"/jobs/{jid}/exceptions")["exceptionHistory"]["entries"]
    found = [(e["timestamp"] / 1000, e["exceptionName"].rsplit(".", 1)[-1]) for e in entries]
    return sorted(f for f in found if f[0] >= since)


def log_times(paths: list[Path], marker: str, since: float, until: float) -> list[float]:
    """Times (epoch s, the logs are in local time) of the lines holding ``marker`` between
    ``since`` and ``until``."""
    times = []
    for path in paths:
        if not path.exists():
            continue
        with path.open(errors="replace") as lines:
            for line in lines:
                if marker in line and (stamp := LOG_STAMP.match(line)):
                    moment = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    if since <= moment <= until:
                        times.append(moment)
    return sorted(times)


def timeline(watch: Watch, registered: float, output: float) -> dict:
    """The phases of one recovery, in seconds after the kill (None: not seen), and the failures
    (restart attempts) it took."""
    killed, home = watch.killed, flink_home()
    failed = failures(watch.rest, watch.jid, killed)
    last_attempt = max((t for t, _ in failed), default=killed)
    connected = log_times(sorted(home.glob("taskmanager-*.log")), WORKER_CONNECTED, last_attempt,
                          output)  # fmt: skip
    scans = log_times([home / "workerpool.out"], RESTORE_SCAN, last_attempt, output)
    events = {
        "failure": failed[0][0] if failed else None,
        "lost": watch.lost,
        "registered": registered,
        "running": watch.running,
        "workers": connected[-1] if connected else None,
        "scan": scans[-1] if scans else None,
        "output": output,
    }
    return {
        "after_kill": {k: None if v is None else v - killed for k, v in events.items()},
        "failures": Counter(name for _, name in failed),
    }


def header() -> str:
    """The timeline table's header: a kill, the TaskManager killed, the 1-minute load average at
    the kill, then each phase."""
    titles = ["kill", "TaskManager", "load avg", *(title for _, title in PHASES)]
    return "| " + " | ".join(titles) + " |\n|" + "---|" * len(titles)


def row(index: int, killed: str, load: float, after_kill: dict) -> str:
    cells = ["-" if after_kill[k] is None else f"{after_kill[k]:.1f}" for k, _ in PHASES]
    return f"| {index} | {killed} | {load:.1f} | " + " | ".join(cells) + " |"
