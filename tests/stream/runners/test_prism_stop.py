"""The local runner's Prism process is stopped without Beam's idle second.

Beam's stop sends Prism SIGINT and sleeps a whole second before it looks again; newsflow's job
server interrupts Prism and waits for its exit first, so Beam's stop finds it gone and never
sleeps. The control shows the test can fail: Beam's own stop of the same server sleeps.
"""

from __future__ import annotations

import apache_beam.utils.subprocess_server as beam_subprocess
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, PrismRunnerOptions
from apache_beam.runners.portability.prism_runner import PrismJobServer

from pipelines.runners import TiedPrismJobServer, prism_binary, prism_processes

pytestmark = pytest.mark.stream


class SleepRecorder:
    """Beam's ``subprocess_server.time``, with each ``sleep`` recorded and returned at once."""

    def __init__(self, real) -> None:
        self._real = real
        self.sleeps: list[float] = []

    def __getattr__(self, name):
        return getattr(self._real, name)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def started(server_class):
    options = PipelineOptions()
    options.view_as(PrismRunnerOptions).prism_location = str(prism_binary())
    server = server_class(options)
    server.start()
    (process,) = prism_processes(server._server)
    return server, process


@pytest.mark.parametrize(
    ("server_class", "sleeps"), [(TiedPrismJobServer, False), (PrismJobServer, True)]
)
def test_prism_exits_on_stop_without_an_idle_second(monkeypatch, server_class, sleeps):
    server, process = started(server_class)
    recorder = SleepRecorder(beam_subprocess.time)
    monkeypatch.setattr(beam_subprocess, "time", recorder)
    try:
        server.stop()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert bool(recorder.sleeps) == sleeps
    assert prism_processes(server._server) == []
