"""A FlinkRunner job as production runs it: production defaults and a lifetime tied to its launcher.

``with_flink_defaults`` adds to ``newsflow run --runner FlinkRunner`` what is not given:

- On a cluster (``--flink_master HOST:PORT``), Python SDK workers from Beam's worker pool
  (``--environment_type=EXTERNAL --environment_config=localhost:50000``, the pool
  ``deploy/flink/flink.sh up`` starts, a sidecar per TaskManager on Kubernetes); on ``[local]``,
  LOOPBACK (workers in the launcher, nothing else to start).
- In streaming: exactly-once checkpoints every ``--checkpoint-interval-seconds`` (10 s: a failover
  replays about that much input, and a checkpoint of a large dedup memory is incremental in
  RocksDB), kept when the job is cancelled (resubmit with ``--savepoint_path`` pointing at one),
  and no restart strategy of its own: the cluster's applies (``deploy/flink/conf/config.yaml``
  and the FlinkDeployment: exponential delay from 2 s up to 5 s, so a restore starts within
  seconds of a free slot; Flink 1.19's default with checkpoints is exponential delay too, from 1 s
  up to 1 min, without limit). A fixed delay set by the job (Beam's only restart option) would
  wait out its full delay after every attempt while no slot is free. Bundles finish
  before a checkpoint barrier (``--finish_bundle_before_checkpointing``): otherwise Beam keeps the
  outputs of the bundle in flight in the checkpoint and emits them after a restore, and after a
  savepoint upgrade one such output reached the wrong step (an article where the restore guard
  expects a tagged outcome).
- In streaming, bundles of at most 100 ms (``--max_bundle_time_mills``, Beam's default 1000): a
  Flink operator running a Python stage passes the watermark on only when its bundle ends, so
  each of the stages between the reader and the sinks held it up to about a second more, and the
  keyed steps release articles on the watermark (deploy/README.md, "Where the cluster's 30 s
  went": at 2 articles/s p50 20.1 -> 14.0 s in the same loaded hour).
- In streaming, a caught-up partition polled for 100 ms (``--idle-poll-millis``, 1000
  elsewhere) and its watermark 0.5 s behind the wall clock (``--idle-watermark-lag-seconds``,
  2 s elsewhere): on this runner the Kafka reader runs fused with the steps after it, and its
  stage passes the watermark on only when the bundle holding its polls ends, floored to whole
  seconds (the splittable DoFn's watermark holds), so an idle poll and the lag are each part of
  every article's wait in the keyed steps (deploy/README.md, "Whole-second watermarks": at 2
  articles/s the reader's stage 4.2-4.6 -> 2.8-3.7 s behind the clock at the median).
- In streaming, a caught-up partition rests 1.5 s after an empty poll (``--idle-rest-millis``,
  1000 elsewhere): Beam 2.62's FlinkRunner keeps only the whole seconds of the delay the SDK
  reports when the bundle ends, which is the rest minus the time already spent, so a 1 s rest
  resumed at once (every partition polled back to back, its stage always in a bundle) and 1.5 s
  rests 1 s there. The cluster's CPU per article at 1-2 articles/s fell 12-26% for the same
  latency (deploy/README.md, "The reader's rest on Flink").
- Cores: one SDK worker per TaskManager slot (``--sdk_worker_parallelism=1``) and NER inside it
  (``--ner-processes=1``): the cluster's default parallelism 2 on one slot per TaskManager then
  keeps 2 Python processes busy on the 2-core machine, instead of 2 x 2 spaCy processes fighting
  for it. Raise ``--ner-processes`` where TaskManagers have idle cores.
- The cluster's own ``parallelism.default`` (the job server cannot read a remote cluster's
  configuration and would run everything at parallelism 1).
- A job name of its own (``--job_name``, ``newsflow-<command>-<group>-<UTC time>``) by which the
  launcher finds the job on the cluster.

``cancelled_on_exit`` then cancels that job through the REST API when the launcher ends before
the job does (Ctrl-C, SIGTERM, an error) unless ``--detach`` was given: a job must not keep
writing after the process that owns it is gone.

A launcher killed with ``kill -9`` (or the OOM killer, or its host lost) cancels nothing: its job
runs on in the cluster, and the consumer group's lease, held by the launcher, expires. A restart
then took the lease and submitted a second job on the same group beside the first (two dedup
memories, every input after it written twice); so did a second ``--detach``. ``refuse_running_jobs``
refuses to submit while a job of the group still runs there, naming it and the way back.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pipelines.flink_rest import TERMINAL_STATES, FlinkRest, FlinkRestError
from pipelines.group_lock import GroupInUseError

LOG = logging.getLogger("newsflow")

LOCAL_MASTERS = ("[local]", "[auto]", "[collection]")
DEFAULT_WORKER_POOL = "localhost:50000"
# Longest bundle of a streaming job: the watermark leaves a Flink operator only between bundles.
STREAMING_BUNDLE_MILLIS = 100
# A caught-up partition's poll and watermark lag behind the wall clock, streaming on Flink.
STREAMING_IDLE_POLL_MILLIS = 100
STREAMING_IDLE_LAG_SECONDS = 0.5
STREAMING_IDLE_REST_MILLIS = 1500
# How long a launcher that ends waits for the job it submitted to appear on the cluster.
FIND_JOB_SECONDS = 30.0
JOB_NAME_TIME = "%Y%m%d-%H%M%S"


class WorkerPoolUnavailableError(ConnectionError):
    """No Beam worker pool answers where the EXTERNAL environment points: the job's Python
    workers could not start, so it is not submitted."""


def on_cluster(master: str) -> bool:
    return master not in LOCAL_MASTERS


def given(argv: list[str]) -> set[str]:
    """Option names present on the command line, underscore spelling."""
    return {a.lstrip("-").split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}


def flag_value(argv: list[str], name: str) -> str | None:
    """The value of ``--name=V`` or ``--name V`` (hyphen or underscore spelling), last one wins."""
    spellings = {f"--{name}", f"--{name.replace('_', '-')}"}
    value = None
    for i, token in enumerate(argv):
        flag, eq, rest = token.partition("=")
        if flag in spellings:
            value = rest if eq else (argv[i + 1] if i + 1 < len(argv) else None)
    return value


def cluster_parallelism(argv: list[str]) -> int | None:
    """The cluster's default parallelism, asked of its REST API, when ``argv`` submits to a
    cluster without ``--parallelism``."""
    master = flag_value(argv, "flink_master") or "[auto]"
    if not on_cluster(master) or "parallelism" in given(argv):
        return None
    return FlinkRest(master).default_parallelism()


def with_flink_defaults(
    argv: list[str],
    streaming: bool,
    command: str,
    checkpoint_seconds: float,
    group: str,
    parallelism: int | None = None,
) -> list[str]:
    """``argv`` plus the FlinkRunner defaults above for every option it does not set
    (``parallelism``: the cluster's, see ``cluster_parallelism``)."""
    present = given(argv)
    master = flag_value(argv, "flink_master") or "[auto]"
    defaults: dict[str, str | None] = {
        "sdk_worker_parallelism": "1",
        "ner_processes": "1",
        "job_name": f"newsflow-{command}-{group}-{datetime.now(UTC):{JOB_NAME_TIME}}",
    }
    if on_cluster(master):
        defaults |= {"environment_type": "EXTERNAL", "environment_config": DEFAULT_WORKER_POOL}
        defaults["parallelism"] = str(parallelism) if parallelism else None
    else:
        defaults["environment_type"] = "LOOPBACK"
    if streaming:
        defaults["max_bundle_time_mills"] = str(STREAMING_BUNDLE_MILLIS)
        defaults["idle_watermark_lag_seconds"] = str(STREAMING_IDLE_LAG_SECONDS)
        defaults["idle_poll_millis"] = str(STREAMING_IDLE_POLL_MILLIS)
        defaults["idle_rest_millis"] = str(STREAMING_IDLE_REST_MILLIS)
    if streaming and checkpoint_seconds > 0:
        defaults |= {
            "checkpointing_interval": str(int(checkpoint_seconds * 1000)),
            "checkpointing_mode": "EXACTLY_ONCE",
            "externalized_checkpoints_enabled": None,
            "retain_externalized_checkpoints_on_cancellation": None,
            "finish_bundle_before_checkpointing": None,
        }
    flags = {
        "externalized_checkpoints_enabled",
        "retain_externalized_checkpoints_on_cancellation",
        "finish_bundle_before_checkpointing",
    }
    added = [
        f"--{name}" if name in flags else f"--{name}={value}"
        for name, value in defaults.items()
        if name not in present
        and (value is not None or name in flags)
        and not (name == "environment_config" and "environment_type" in present)
    ]
    return [*argv, *added]


def require_worker_pool(argv: list[str]) -> None:
    """Refuse to submit an EXTERNAL job when nothing listens at its worker pool's address."""
    if (flag_value(argv, "environment_type") or "").upper() != "EXTERNAL":
        return
    address = flag_value(argv, "environment_config") or DEFAULT_WORKER_POOL
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=5):
            return
    except (OSError, ValueError) as exc:
        raise WorkerPoolUnavailableError(
            f"no Beam worker pool at {address} (--environment_config): start it with "
            f"`deploy/flink/flink.sh up` or pass --environment_type=LOOPBACK ({exc})"
        ) from exc


@contextmanager
def cancelled_on_exit(argv: list[str], detach: bool) -> Iterator[None]:
    """Cancel the cluster job named in ``argv`` if it still runs when the launcher leaves this
    block, however it leaves it (the job server's own cancel does not reach a remote cluster),
    unless ``detach`` is on."""
    master = flag_value(argv, "flink_master") or "[auto]"
    name = flag_value(argv, "job_name")
    if not on_cluster(master) or detach or name is None:
        yield
        return
    try:
        yield
    finally:
        cancel_job(FlinkRest(master), name)


def group_job(name: str, command: str, group: str, given_name: str | None) -> bool:
    """Whether a cluster job named ``name`` reads ``group``: the name newsflow gives a
    ``command`` job of the group (any start time), or the ``--job_name`` given now."""
    default = rf"newsflow-{re.escape(command)}-{re.escape(group)}-\d{{8}}-\d{{6}}"
    return name == given_name or re.fullmatch(default, name) is not None


def refuse_running_jobs(argv: list[str], command: str, group: str) -> None:
    """On a cluster, refuse to submit a ``command`` job of ``group`` while one still runs there
    (its launcher killed, or detached); call it holding the group's lease."""
    master = flag_value(argv, "flink_master") or "[auto]"
    if not on_cluster(master):
        return
    rest = FlinkRest(master)
    given_name = flag_value(argv, "job_name")
    running = [
        job
        for job in rest.jobs()
        if job["state"] not in TERMINAL_STATES
        and group_job(job["name"], command, group, given_name)
    ]
    if running:
        job = max(running, key=lambda job: job["start-time"])
        since = datetime.fromtimestamp(job["start-time"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise GroupInUseError(
            f"consumer group {group} is read by Flink job {job['name']} ({job['jid']}, "
            f"{job['state']} since {since}) on {rest.url}, whose launcher is gone (killed, or "
            f"--detach): a second job would write every input again. Take it over from its "
            f"state: `newsflow savepoint --job {job['jid']} --flink-master {master}`, then run "
            f"again with --savepoint_path=<the path it prints>; or cancel it"
        )


def cancel_job(rest: FlinkRest, name: str) -> None:
    """Cancel the running job ``name`` (waiting a little for a job still being submitted)."""
    deadline = time.monotonic() + FIND_JOB_SECONDS
    try:
        job = rest.find_job(name)
        while job is None and time.monotonic() < deadline and not _ended(rest, name):
            time.sleep(0.5)
            job = rest.find_job(name)
        if job is not None:
            LOG.warning("cancelling Flink job %s (%s) on %s", name, job["jid"], rest.url)
            rest.cancel(job["jid"])
    except FlinkRestError as exc:
        LOG.error("could not cancel Flink job %s: %s", name, exc)


def _ended(rest: FlinkRest, name: str) -> bool:
    return rest.find_job(name, running_only=False) is not None


def wait_submitted(argv: list[str]) -> bool:
    """For ``--detach``: wait until the job named in ``argv`` runs on its cluster (the job server,
    which dies with the launcher, submits it asynchronously). False off a cluster."""
    master = flag_value(argv, "flink_master") or "[auto]"
    name = flag_value(argv, "job_name")
    if not on_cluster(master) or name is None:
        return False
    rest = FlinkRest(master)
    deadline = time.monotonic() + FIND_JOB_SECONDS
    while (job := rest.find_job(name)) is None:
        if time.monotonic() >= deadline:
            raise FlinkRestError(f"job {name} did not appear on {rest.url} in {FIND_JOB_SECONDS}s")
        time.sleep(0.5)
    LOG.warning("submitted Flink job %s (%s) to %s; it runs detached", name, job["jid"], rest.url)
    return True
