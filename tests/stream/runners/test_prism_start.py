"""The local runner's Prism job server is connected to once Prism listens.

Beam connects its gRPC channel right after starting Prism; a first connection refused (Prism
listens tens of milliseconds later) made gRPC wait its reconnect backoff, about a second, in
every local job's start. newsflow's job server builds a ``ListeningServer``, whose process counts
as started only once its port accepts connections.
"""

from __future__ import annotations

import socket

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, PrismRunnerOptions
from apache_beam.portability.api import beam_job_api_pb2_grpc

from pipelines.runners import ListeningServer, TiedPrismJobServer, prism_binary, prism_processes

pytestmark = pytest.mark.stream


def job_server() -> TiedPrismJobServer:
    options = PipelineOptions()
    options.view_as(PrismRunnerOptions).prism_location = str(prism_binary())
    return TiedPrismJobServer(options)


def test_the_job_server_starts_prism_through_a_listening_server():
    server = job_server()
    try:
        server.start()
        assert type(server._server) is ListeningServer
        assert len(prism_processes(server._server)) == 1
    finally:
        server.stop()
    assert prism_processes(server._server) == []


def test_prism_accepts_a_connection_as_soon_as_its_start_returns():
    command, endpoint = job_server().subprocess_cmd_and_endpoint()
    host, _, port = endpoint.rpartition(":")
    server = ListeningServer(beam_job_api_pb2_grpc.JobServiceStub, command, port=int(port))
    try:
        server.start_process()
        socket.create_connection((host, int(port)), timeout=5).close()
    finally:
        server.stop()
