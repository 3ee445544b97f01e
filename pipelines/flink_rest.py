"""Flink's REST API, as the launcher, the operator command and the tests use it.

One small client (``urllib``, JSON) for what newsflow needs of a Flink cluster: find a job by
name, cancel it, stop it with a savepoint, read its checkpoints and the TaskManagers. The Beam job
server submits the job but cannot be relied on to cancel it on a remote cluster (a job outlived
its launcher there), so the launcher cancels through this API; ``newsflow savepoint`` wraps the
stop-with-savepoint call an upgrade starts with (deploy/README.md, "Upgrades").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "CANCELED"})
REQUEST_TIMEOUT_SECONDS = 10.0
DEFAULT_REST = "localhost:8081"
SAVEPOINT_TIMEOUT_SECONDS = 300.0
POLL_SECONDS = 0.5


class FlinkRestError(RuntimeError):
    """The cluster's REST API refused or failed a request, or a job is not there."""


def rest_url(master: str) -> str:
    """``http://host:port`` of a ``--flink_master`` value (``host:port`` or a URL)."""
    master = master.strip().rstrip("/")
    return master if master.startswith(("http://", "https://")) else f"http://{master}"


def local_name(resource_id: str) -> str:
    """The ``flink.sh status`` name (``taskmanager-N``) of a TaskManager of the local cluster,
    whose resource ids ``deploy/flink/flink.sh`` makes ``NAME-NANOS``, one per start."""
    return resource_id.rsplit("-", 1)[0]


class FlinkRest:
    """The REST API of the cluster at ``master`` (``host:port`` or URL)."""

    def __init__(self, master: str = DEFAULT_REST) -> None:
        self.url = rest_url(master)

    def call(self, path: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise FlinkRestError(f"{method} {self.url}{path}: HTTP {exc.code} {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise FlinkRestError(f"{method} {self.url}{path}: {exc}") from exc
        return json.loads(text) if text else None

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the cluster knows: ``jid``, ``name``, ``state``, ``start-time`` ..."""
        return self.call("/jobs/overview")["jobs"]

    def job(self, jid: str) -> dict[str, Any]:
        return self.call(f"/jobs/{jid}")

    def find_job(self, name_or_id: str, running_only: bool = True) -> dict[str, Any] | None:
        """The newest job with this id or name (not yet ended, unless ``running_only`` is off)."""
        found = [
            job
            for job in self.jobs()
            if name_or_id in (job["jid"], job["name"])
            and not (running_only and job["state"] in TERMINAL_STATES)
        ]
        return max(found, key=lambda job: job["start-time"], default=None)

    def default_parallelism(self) -> int | None:
        """The cluster's ``parallelism.default`` (Beam's job server would use 1 for a remote
        cluster whose configuration it cannot read)."""
        for entry in self.call("/jobmanager/config"):
            if entry["key"] == "parallelism.default":
                return int(entry["value"])
        return None

    def cancel(self, jid: str) -> None:
        self.call(f"/jobs/{jid}?mode=cancel", method="PATCH")

    def checkpoints(self, jid: str) -> dict[str, Any]:
        """``counts`` (completed, failed, ...), ``latest`` (``completed`` with size and duration,
        ``restored`` with the checkpoint a restart restored) and ``history``."""
        return self.call(f"/jobs/{jid}/checkpoints")

    def taskmanagers(self) -> list[dict[str, Any]]:
        return self.call("/taskmanagers")["taskmanagers"]

    def job_taskmanagers(self, jid: str) -> set[str]:
        """Resource ids of the TaskManagers running the job's tasks (a cluster may also have
        idle standby TaskManagers; a fault injected into one of those tests nothing)."""
        return {
            tm["taskmanager-id"]
            for vertex in self.job(jid)["vertices"]
            for tm in self.call(f"/jobs/{jid}/vertices/{vertex['id']}/taskmanagers")["taskmanagers"]
        }

    def distribution_maxima(self, jid: str, name: str) -> dict[str, int]:
        """The largest value of the Beam distribution ``name`` per newsflow step (namespace
        ``newsflow.<step>``), over the job's subtasks. Beam's Flink runner registers a
        distribution as an operator gauge named ``<operator>.newsflow_<step>_<name>`` whose value
        is its text (``DistributionResult{sum=.., count=.., min=.., max=..}``)."""
        found: dict[str, int] = {}
        for vertex in self.job(jid)["vertices"]:
            for index in range(vertex["parallelism"]):
                path = f"/jobs/{jid}/vertices/{vertex['id']}/subtasks/{index}/metrics"
                ids = [m["id"] for m in self.call(path) if m["id"].endswith(name)]
                if not ids:
                    continue
                wanted = urllib.parse.quote(",".join(ids), ",")
                for metric in self.call(f"{path}?get={wanted}"):
                    step = re.search(rf"newsflow_([a-z]+)_{re.escape(name)}$", metric["id"])
                    largest = re.search(r"max=(-?\d+)", str(metric.get("value")))
                    if step and largest:
                        value = int(largest.group(1))
                        found[step.group(1)] = max(found.get(step.group(1), value), value)
        return found

    def stop_with_savepoint(
        self, jid: str, directory: str | None = None, timeout: float = SAVEPOINT_TIMEOUT_SECONDS
    ) -> str:
        """Stop the job with a savepoint (sources stop, a last savepoint is taken, the job ends
        FINISHED); return the savepoint's location. ``directory``: the cluster's
        ``state.savepoints.dir`` when None."""
        body: dict[str, Any] = {"drain": False}
        if directory:
            body["targetDirectory"] = directory
        trigger = self.call(f"/jobs/{jid}/stop", method="POST", body=body)["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call(f"/jobs/{jid}/savepoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                operation = status["operation"]
                if "failure-cause" in operation:
                    cause = operation["failure-cause"].get("stack-trace", "").splitlines()[:1]
                    raise FlinkRestError(f"savepoint of job {jid} failed: {' '.join(cause)}")
                return operation["location"]
            time.sleep(POLL_SECONDS)
        raise FlinkRestError(f"no savepoint of job {jid} within {timeout:g}s")

    def wait_for_state(self, jid: str, states: frozenset[str], timeout: float) -> str:
        """Poll the job until its state is one of ``states``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.job(jid)["state"]
            if state in states:
                return state
            if time.monotonic() >= deadline:
                raise FlinkRestError(f"job {jid} is {state}, not {sorted(states)} after {timeout}s")
            time.sleep(POLL_SECONDS)


def add_parser(sub_parser: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``newsflow savepoint`` through the CLI's subcommand factory."""
    parser = sub_parser(
        "savepoint",
        help="stop a FlinkRunner job with a savepoint; print its path for run --savepoint_path",
    )
    parser.add_argument(
        "--job", required=True, help="the Flink job's id or name (newsflow run --job_name)"
    )
    parser.add_argument(
        "--flink-master",
        "--flink_master",
        default=DEFAULT_REST,
        help="the cluster's REST address, HOST:PORT",
    )
    parser.add_argument(
        "--savepoint-dir",
        "--savepoint_dir",
        default=None,
        help="where to write the savepoint; none: the cluster's state.savepoints.dir",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """``newsflow savepoint``: prints the savepoint's path on stdout."""
    rest = FlinkRest(args.flink_master)
    job = rest.find_job(args.job)
    if job is None:
        raise FlinkRestError(f"no running Flink job named or numbered {args.job} at {rest.url}")
    print(rest.stop_with_savepoint(job["jid"], args.savepoint_dir))
    print(f"job {job['name']} ({job['jid']}) stopped with a savepoint", file=sys.stderr)
    return 0
