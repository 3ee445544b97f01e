"""Beam's Python worker pool for the EXTERNAL environment, safe for several TaskManagers per host.

Beam's ``worker_pool_main`` keeps its SDK worker processes by worker id, but every TaskManager
numbers its workers from ``1-1`` on: two TaskManagers sharing one pool (the local cluster of
``deploy/flink/flink.sh``; on Kubernetes each has its own sidecar) then collide, and when one
releases its environment after a failover, its ``StopWorker("1-1")`` kills the other's live
worker, which fails that TaskManager's tasks again, restart after restart. This pool keys each
worker by its id and the control endpoint of the TaskManager that asked for it, and a
``StopWorker`` stops only the workers of that id whose control endpoint is gone; a worker whose
runner closes the control channel ends by itself anyway.

Workers run as ``sys.executable -m pipelines.sdk_worker`` (this virtualenv's Python, whatever is
on PATH), with their output going to the pool's own, so a chatty worker cannot fill an unread
pipe. ``--ready-workers`` of them (1) are started in advance, newsflow and the NER model loaded,
and handed to the next ``StartWorker`` calls: a restore after a failover then waits for no Python
import or model load (``pipelines/sdk_worker.py``).

    python -m pipelines.worker_pool --service_port 50000 [--ready-workers 1]
"""

from __future__ import annotations

import argparse
import json
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
WORKER_MODULE = "pipelines.sdk_worker"


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

    def __init__(self, ready_workers: int = 0) -> None:
        self._lock = threading.Lock()
        self._workers: dict[tuple[str, str], subprocess.Popen] = {}
        self._ready_target = ready_workers
        self._ready: list[subprocess.Popen] = []
        with self._lock:
            self._refill()

    def StartWorker(self, request, context):
        control = request.control_endpoint.url
        with self._lock:
            process = self._hand_over(control, request.worker_id)
            self._refill()
        if process is None:
            cold = [sys.executable, "-m", WORKER_MODULE, "--control", control,
                    "--worker-id", request.worker_id]  # fmt: skip
            try:
                process = subprocess.Popen(cold, stdin=subprocess.DEVNULL)
            except OSError as exc:
                return beam_fn_api_pb2.StartWorkerResponse(error=f"cannot start a worker: {exc}")
        with self._lock:
            self._reap()
            self._workers[(request.worker_id, control)] = process
        LOG.info("started worker %s for %s (pid %d)", request.worker_id, control, process.pid)
        return beam_fn_api_pb2.StartWorkerResponse()

    def _hand_over(self, control: str, worker_id: str) -> subprocess.Popen | None:
        """A ready worker given this runner's endpoint, if one is alive (caller holds the lock)."""
        while self._ready:
            process = self._ready.pop(0)
            try:
                process.stdin.write(json.dumps({"control": control, "worker_id": worker_id})
                                    .encode() + b"\n")  # fmt: skip
                process.stdin.close()
                return process
            except OSError:
                process.kill()
        return None

    def _refill(self) -> None:
        """Start ready workers up to the target (caller holds the lock); a failure to start one
        leaves cold starts, which report it."""
        self._ready = [p for p in self._ready if p.poll() is None]
        while len(self._ready) < self._ready_target:
            try:
                self._ready.append(
                    subprocess.Popen([sys.executable, "-m", WORKER_MODULE], stdin=subprocess.PIPE)
                )
            except OSError as exc:
                LOG.warning("cannot start a ready worker: %s", exc)
                return

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
            for process in [*self._workers.values(), *self._ready]:
                process.terminate()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service_port", "--service-port", type=int, required=True)
    parser.add_argument(
        "--ready-workers", type=int, default=1,
        help="SDK workers kept started in advance, each with newsflow and the NER model loaded "
        "(about 0.3 GB each), handed to the next StartWorker calls (1; 0: cold starts only)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pool = WorkerPool(args.ready_workers)
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
