"""A FlinkRunner job connects to its Flink job server once the server listens.

The job server's JVM listens 1.5-4 s after it is started; Beam opened its gRPC channel at once,
and a channel whose first connection is refused waits gRPC's reconnect backoff (1 s, then 1.6
times longer each time), so each submission started up to a backoff late. The runner newsflow
picks for ``--runner FlinkRunner`` starts the server as a ``ListeningServer``, and through
``pipelines.lifeline``: a ``kill -9`` of the job's launcher left the server's JVM running, and a
launcher started in the background (SIGINT ignored) left it ignoring Beam's stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_job_api_pb2

from pipelines.runners import ListeningFlinkJobServer, ListeningServer
from pipelines.worker_pool import endpoint_alive

pytestmark = pytest.mark.flink


def test_the_channel_is_opened_once_the_job_server_listens(flink_job_server_jar, monkeypatch):
    listening_when_opened: list[bool] = []
    open_channel = grpc.insecure_channel

    def observed(target, *args, **kwargs):
        listening_when_opened.append(endpoint_alive(target))
        return open_channel(target, *args, **kwargs)

    monkeypatch.setattr(grpc, "insecure_channel", observed)
    server = ListeningFlinkJobServer(
        PipelineOptions([f"--flink_job_server_jar={flink_job_server_jar}"])
    )
    try:
        stub = server.start()
        assert type(server._server) is ListeningServer
        assert listening_when_opened == [True]
        assert stub.GetJobs(beam_job_api_pb2.GetJobsRequest(), timeout=30).job_info == []
    finally:
        server.stop()


GONE_TIMEOUT_SECONDS = 20  # the kernel signals the JVM at once; a margin for a busy machine
# A job's launcher as far as its job server goes: starts the server, says so, and waits.
LAUNCHER = """
import sys, time
from apache_beam.options.pipeline_options import PipelineOptions
from pipelines.runners import ListeningFlinkJobServer
server = ListeningFlinkJobServer(PipelineOptions([f"--flink_job_server_jar={sys.argv[1]}"]))
server.start()
print("listening", flush=True)
time.sleep(600)
"""


def ignored_signals(pid: int) -> int:
    """The process's mask of ignored signals (``SigIgn`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn for pid {pid}")


def test_the_job_server_dies_with_a_launcher_killed_in_the_background(flink_job_server_jar, procs):
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, flink_job_server_jar],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `&` and nohup do
    )
    server = None
    try:
        assert launcher.stdout.readline().strip() == "listening"
        (server,) = procs.children(launcher.pid)
        assert Path(f"/proc/{server}/exe").resolve().name == "java"
        assert not ignored_signals(server) & 1 << (signal.SIGINT - 1), "SIGINT stops the server"
        launcher.kill()
        launcher.wait(timeout=30)
        deadline = time.monotonic() + GONE_TIMEOUT_SECONDS
        while procs.alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not procs.alive(server), "the job server outlived its launcher"
    finally:
        launcher.kill()
        launcher.wait(timeout=30)
        launcher.stdout.close()
        if server is not None and procs.alive(server):
            os.kill(server, signal.SIGKILL)
