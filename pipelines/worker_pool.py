"""Beam's Python worker pool for the EXTERNAL environment, safe for several TaskManagers per host.

Beam's ``worker_pool_main`` keeps its SDK worker processes by worker id, but every TaskManager
numbers its workers from ``1-1`` on: two TaskManagers sharing one pool (the local cluster of
``deploy/flink/flink.sh``; on Kubernetes each has its own sidecar) then collide, and when one
releases its environment after a failover, its ``StopWorker("1-1")`` kills the other's live
worker, which fails that TaskManager's tasks again, restart after restart. This pool keys each
worker by its id and the control endpoint of the TaskManager that asked for it, and a
``StopWorker`` stops only the workers of that id whose control endpoint is gone; a worker whose
runner closes the control channel ends by itself anyway.

Workers run as ``sys.executable -c ...`` (this virtualenv's Python, whatever is on PATH), with
their output going to the pool's own, so a chatty worker cannot fill an unread pipe.

    python -m pipelines.worker_pool --service_port 50000
"""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc

LOG = logging.getLogger("newsflow.worker_pool")
STOP_GRACE_SECONDS = 10.0
WORKER = (
    "from apache_beam.runners.worker.sdk_worker import SdkHarness; "
    'SdkHarness("{control}", worker_id="{worker_id}", state_cache_size=0, '
    "data_buffer_time_limit_ms=-1).run()"
)


def endpoint_alive(url: str) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    host, _, port = url.rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


class WorkerPool(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):
    """Starts one SDK worker process per ``StartWorker``; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[tuple[str, str], subprocess.Popen] = {}

    def StartWorker(self, request, context):
        control = request.control_endpoint.url
        code = WORKER.format(control=control, worker_id=request.worker_id)
        command = [sys.executable, "-c", code]
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        except OSError as exc:
            return beam_fn_api_pb2.StartWorkerResponse(error=f"cannot start a worker: {exc}")
        with self._lock:
            self._reap()
            self._workers[(request.worker_id, control)] = process
        LOG.info("started worker %s for %s (pid %d)", request.worker_id, control, process.pid)
        return beam_fn_api_pb2.StartWorkerResponse()

    def StopWorker(self, request, context):
        with self._lock:
            mine = [key for key in self._workers if key[0] == request.worker_id]
        threading.Thread(target=self._stop_when_orphaned, args=(mine,), daemon=True).start()
        return beam_fn_api_pb2.StopWorkerResponse()

    def _stop_when_orphaned(self, keys: list[tuple[str, str]]) -> None:
        """Terminate the workers among ``keys`` whose control endpoint closes within the grace
        period (the environment being released); the others belong to a live runner."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        pending = list(keys)
        while pending and time.monotonic() < deadline:
            for key in list(pending):
                with self._lock:
                    process = self._workers.get(key)
                if process is None or process.poll() is not None:
                    pending.remove(key)
                elif not endpoint_alive(key[1]):
                    LOG.info("stopping worker %s of %s (pid %d)", *key, process.pid)
                    process.terminate()
                    pending.remove(key)
            time.sleep(0.5)
        with self._lock:
            self._reap()

    def _reap(self) -> None:
        for key, process in list(self._workers.items()):
            if process.poll() is not None:
                del self._workers[key]

    def stop_all(self) -> None:
        with self._lock:
            for process in self._workers.values():
                process.terminate()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service_port", "--service-port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pool = WorkerPool()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.add_insecure_port(f"[::]:{args.service_port}")
    server.start()
    LOG.info("worker pool listening on port %d", args.service_port)
    try:
        server.wait_for_termination()
    finally:
        pool.stop_all()


if __name__ == "__main__":
    main()
