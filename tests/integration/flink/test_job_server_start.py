"""A FlinkRunner job connects to its Flink job server once the server listens.

The job server's JVM listens 1.5-4 s after it is started; Beam opened its gRPC channel at once,
and a channel whose first connection is refused waits gRPC's reconnect backoff (1 s, then 1.6
times longer each time), so each submission started up to a backoff late. The runner newsflow
picks for ``--runner FlinkRunner`` starts the server as a ``ListeningServer``.
"""

from __future__ import annotations

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
