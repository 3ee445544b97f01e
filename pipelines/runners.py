"""Which local runner newsflow's DirectRunner really is.

Beam 2.77's DirectRunner first tries Prism, downloading its binary from GitHub releases; where that
fails it falls back to the FnApiRunner, which drops elements that one timer-driven stateful step
emits into another (newsflow's dedup chain) and fires event-time timers early in streaming. So
newsflow never lets it fall back: ``make install`` builds Prism from the Go module proxy, and a
DirectRunner job is submitted to that binary as a PrismRunner job (``TiedPrismRunner``, which starts
the binary through ``pipelines/lifeline.py`` so that it dies with the job).

Prism's runner-initiated bundle splits are turned off (``prism_disable_sdf_split``). When a bundle
of a stateful step makes no progress for two of Prism's 100 ms progress ticks (a spaCy batch, a
cold worker), Prism splits it and frees the keys of the split-off rest while the first part may
still be processing elements of those keys; two bundles of one key then run at once and state
updates are lost (it lost articles in newsflow's dedup steps; the split path is apache/beam#35771's,
and tests/stream/runners reproduces it). The Kafka reader checkpoints itself, so nothing waits on
a runner split; on one machine, with one SDK worker, splits bought no parallelism either.

Beam connects to Prism right after starting it, before Prism listens; gRPC then waited its
reconnect backoff, about a second of every local job's start. The job server waits for Prism's
port first (``ListeningServer``), and so does the Flink job server of a FlinkRunner job
(``ListeningFlinkRunner``), which listens 1.5-4 s after it is started and was connected to
0.7-1.4 s later, at the next backoff.

The FlinkRunner likewise downloads its job server jar from a URL that may not serve it (Beam 2.77's
is not on the Maven mirror this project reaches), so it is pointed at the one ``make flink-jar``
assembled, when there is one and no jar was named; a jar of another Beam version than the SDK is
refused (that jar is Beam 2.62.0's, run from ``.venv-flink``). Any other runner is left alone.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

from apache_beam import version as beam_version
from apache_beam.options.pipeline_options import (
    DebugOptions,
    FlinkRunnerOptions,
    PipelineOptions,
    PrismRunnerOptions,
    StandardOptions,
)
from apache_beam.runners.portability import job_server
from apache_beam.runners.portability.flink_runner import FlinkJarJobServer, FlinkRunner
from apache_beam.runners.portability.prism_runner import PrismJobServer, PrismRunner
from apache_beam.utils.subprocess_server import SubprocessServer

from pipelines.lifeline import launcher_command
from pipelines.worker_pool import endpoint_alive

REPO_ROOT = Path(__file__).resolve().parent.parent
PRISM_ENV = "NEWSFLOW_PRISM"
PRISM_CANDIDATES = (REPO_ROOT / ".cache" / "prism" / "prism",)
LOCAL_RUNNERS = ("DirectRunner", "PrismRunner")
PRISM_NO_SPLITS = "prism_disable_sdf_split"
# Beam stages a `pip freeze` of the submitting environment with every job, for a remote worker to
# compare against its own; a local job's SDK worker is this very process, and the child `pip`
# costs 0.3 s of CPU per job (a sixth of the launcher's own start-up).
NO_SUBMISSION_ENV_LOG = "disable_logging_submission_environment"
# How long a stopping job waits for Prism to exit on SIGINT before leaving it to Beam's stop, which
# looks again after a second too: Prism exits in milliseconds unless a job it runs holds it (then
# Beam's stop interrupts it again and kills it, as before).
PRISM_EXIT_SECONDS = 1.0
# How long a starting job waits for its job server's port before leaving the wait to Beam (which
# waits on), and the pause between two looks (a refused connection to a local port is answered at
# once).
LISTEN_SECONDS = 30.0
LISTEN_PROBE_SECONDS = 0.01
FLINK_JOB_SERVER_ENV = "NEWSFLOW_FLINK_JOB_SERVER_JAR"
FLINK_JOB_SERVER_JAR = (
    REPO_ROOT / "deploy" / "flink" / ".cache" / "job-server" / "beam-flink-job-server.jar"
)


class PrismNotFoundError(RuntimeError):
    """No Prism binary: the local runner cannot start (an install problem, not a data problem)."""


class FlinkJobServerNotFoundError(FileNotFoundError):
    """``$NEWSFLOW_FLINK_JOB_SERVER_JAR`` names no file: a FlinkRunner job cannot start."""


class FlinkVersionMismatchError(RuntimeError):
    """The job server jar is another Beam version than this Python SDK: Beam supports only the
    same version on both sides of the job API, so the job is not submitted."""


def prism_binary() -> Path:
    """``$NEWSFLOW_PRISM``, else the one ``make install`` built, else ``prism`` on PATH."""
    override = os.environ.get(PRISM_ENV)
    candidates = [Path(override)] if override else list(PRISM_CANDIDATES)
    on_path = shutil.which("prism")
    if on_path and not override:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise PrismNotFoundError(
        f"no Prism runner binary at {', '.join(map(str, candidates))}; run `make install` "
        f"(builds it with Go) or set {PRISM_ENV}"
    )


def use_local_runner(options: PipelineOptions, runner: str) -> None:
    """Set ``runner`` on ``options``; a local run is pointed at the Prism binary, whose job log
    follows newsflow's verbosity (quiet unless -v)."""
    standard = options.view_as(StandardOptions)
    if runner == "FlinkRunner":
        use_flink_job_server(options)
        standard.runner = f"{__name__}.{ListeningFlinkRunner.__name__}"
        return
    if runner not in LOCAL_RUNNERS:
        standard.runner = runner
        return
    prism = options.view_as(PrismRunnerOptions)
    if not prism.prism_location:
        prism.prism_location = str(prism_binary())
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        prism.prism_log_level = "warn"
    options.view_as(DebugOptions).add_experiment(PRISM_NO_SPLITS)
    options.view_as(DebugOptions).add_experiment(NO_SUBMISSION_ENV_LOG)
    standard.runner = f"{__name__}.{TiedPrismRunner.__name__}"


class ListeningJobServer:
    """A Beam ``SubprocessJobServer`` (mixed in before it) connected to once its process listens.

    Beam's ``start`` builds its server and starts it in one call (2.62 and 2.77 alike), so the
    server it builds is made a ``ListeningServer`` as it is stored."""

    @property
    def _server(self) -> SubprocessServer | None:
        return self.__dict__.get("_listening_server")

    @_server.setter
    def _server(self, server: SubprocessServer | None) -> None:
        if type(server) is SubprocessServer:
            server.__class__ = ListeningServer
        self.__dict__["_listening_server"] = server


class TiedJobServer:
    """A Beam ``SubprocessJobServer`` (mixed in before it) whose process is started through
    ``pipelines.lifeline``, so that it dies with the job however the job dies."""

    def subprocess_cmd_and_endpoint(self) -> tuple[list[str], str]:
        command, endpoint = super().subprocess_cmd_and_endpoint()
        return launcher_command([str(arg) for arg in command]), endpoint


class TiedPrismJobServer(TiedJobServer, ListeningJobServer, PrismJobServer):
    """Beam's Prism job server, its binary started through ``pipelines.lifeline``, connected to
    once it listens and stopped without Beam's idle second."""

    def stop(self):
        """Beam's stop sends Prism SIGINT and then sleeps a whole second before it looks whether
        Prism has exited (``SubprocessServer._really_stop_process``), though Prism exits within
        milliseconds: every local job's process ended a second late (a quarter of file mode's
        serial tail, docs/performance.md). So Prism is interrupted and waited for here first (a
        second at most); Beam's stop then finds it gone, or escalates as before."""
        server = getattr(self, "_server", None)
        if server is not None:
            for process in prism_processes(server):
                interrupt_and_wait(process, PRISM_EXIT_SECONDS)
        return super().stop()


class ListeningServer(SubprocessServer):
    """Beam's server, whose process counts as started once its port accepts connections.

    Beam connects its gRPC channel right after starting the process. Prism listens within ~60
    ms (the Flink job server's JVM in 1.5-4 s), but a channel whose first connection was refused
    waits gRPC's reconnect backoff (a second, give or take a fifth, then 1.6 times longer each
    time) before it tries again: every local job started about a second late. Waiting for the
    port first, the channel connects at its first try."""

    def start_process(self):
        process, endpoint = super().start_process()
        wait_until_listening(process, endpoint, LISTEN_SECONDS)
        return process, endpoint


def wait_until_listening(process: subprocess.Popen | None, endpoint: str, timeout: float) -> bool:
    """Whether ``endpoint`` (host:port) accepted a connection within ``timeout`` seconds; False
    at once when ``process`` has exited (the caller reports its failure as before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        if endpoint_alive(endpoint):
            return True
        time.sleep(LISTEN_PROBE_SECONDS)
    return False


def prism_processes(server: SubprocessServer) -> list[subprocess.Popen]:
    """The live processes Beam started for ``server``'s command. Read from Beam's process cache
    (a private structure, the same in Beam 2.62 and 2.77); none if it is not there, which leaves
    the stop to Beam."""
    entries = getattr(getattr(SubprocessServer, "_cache", None), "_cache", {})
    command = tuple(getattr(server, "_cmd", ()))
    found = []
    for key, entry in list(entries.items()):
        process = getattr(entry, "obj", (None,))[0]
        if key[:1] == (command,) and isinstance(process, subprocess.Popen):
            found.append(process)
    return [process for process in found if process.poll() is None]


def interrupt_and_wait(process: subprocess.Popen, timeout: float) -> None:
    """SIGINT, then wait up to ``timeout`` seconds for the exit."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        logging.getLogger(__name__).debug(
            "Prism (pid %s) did not exit %.0f s after SIGINT", process.pid, timeout
        )


class TiedPrismRunner(PrismRunner):
    """Beam's PrismRunner whose Prism process dies with the job, however the job dies (a
    ``kill -9`` included: ``pipelines/lifeline.py``). One Prism per job process, as Beam's."""

    def default_job_server(self, options: PipelineOptions):
        def start() -> job_server.JobServer:
            return job_server.StopOnExitJobServer(TiedPrismJobServer(options))

        # Beam 2.77 shares one Prism among a process's jobs; 2.62 (.venv-flink) starts one each.
        shared = getattr(PrismRunner, "shared_handle", None)
        return shared.acquire(start) if shared is not None else start()


class ListeningFlinkJobServer(TiedJobServer, ListeningJobServer, FlinkJarJobServer):
    """Beam's Flink job server (the jar), started through ``pipelines.lifeline`` and connected to
    once it listens.

    Beam starts the server's JVM as a plain child: a ``kill -9`` of the job's launcher (an
    operator's, the OOM killer's) left it running with its ports bound, one more JVM per kill, and
    a launcher started in the background left it ignoring the SIGINT Beam stops it with."""


class ListeningFlinkRunner(FlinkRunner):
    """Beam's FlinkRunner, whose job server from a jar is a ``ListeningFlinkJobServer``; an uber
    jar submission (``--flink_submit_uber_jar``, no job server process) is Beam's. Beam's own
    choice runs first: it also normalises ``--flink_master``, and what it builds is inert until
    started."""

    def default_job_server(self, options: PipelineOptions):
        server = super().default_job_server(options)
        if isinstance(server, job_server.StopOnExitJobServer):
            return job_server.StopOnExitJobServer(ListeningFlinkJobServer(options))
        return server


FLINK_RUNNERS = ("FlinkRunner", f"{__name__}.{ListeningFlinkRunner.__name__}")


def use_flink_job_server(options: PipelineOptions) -> None:
    """Point the FlinkRunner at ``$NEWSFLOW_FLINK_JOB_SERVER_JAR``, else at the job server
    ``make flink-jar`` assembled if it exists. A jar named with ``--flink_job_server_jar`` wins, and
    ``--flink_submit_uber_jar`` is left to Beam (it needs Beam's own self-contained jar)."""
    flink = options.view_as(FlinkRunnerOptions)
    if flink.flink_submit_uber_jar:
        return
    if flink.flink_job_server_jar:
        if Path(flink.flink_job_server_jar).is_file():
            require_same_beam_version(Path(flink.flink_job_server_jar))
        return
    override = os.environ.get(FLINK_JOB_SERVER_ENV)
    if override and not Path(override).is_file():
        raise FlinkJobServerNotFoundError(
            f"{FLINK_JOB_SERVER_ENV}={override} is not a file; run `make flink-jar` or unset it"
        )
    jar = Path(override) if override else FLINK_JOB_SERVER_JAR
    if jar.is_file():
        require_same_beam_version(jar)
        flink.flink_job_server_jar = str(jar)


def job_server_beam_version(jar: Path) -> str | None:
    """The ``Beam-Version`` that ``deploy/flink/pom.xml`` writes into the assembled jar's manifest
    (None for a jar without it, e.g. one Beam published)."""
    with zipfile.ZipFile(jar) as archive:
        manifest = archive.read("META-INF/MANIFEST.MF").decode("utf-8")
    for line in manifest.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "Beam-Version":
            return value.strip()
    return None


def require_same_beam_version(jar: Path) -> None:
    """Refuse a job server of another Beam version than the running SDK.

    The job server Maven Central serves here is older than the project's Beam pin, so the
    FlinkRunner runs from ``.venv-flink`` (``make flink-venv``), whose SDK matches the jar."""
    served = job_server_beam_version(jar)
    if served is not None and served != beam_version.__version__:
        raise FlinkVersionMismatchError(
            f"{jar} is Beam {served}'s Flink job server but this Python SDK is Beam "
            f"{beam_version.__version__}; run the FlinkRunner from .venv-flink (`make flink-venv`,"
            " then .venv-flink/bin/newsflow run --runner FlinkRunner ...), see deploy/README.md"
        )
