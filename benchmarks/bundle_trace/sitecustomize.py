"""Where a streaming job's launcher spends its CPU: per fused stage, and its state traffic.

``streaming_latency.py --bundle-trace DIR`` puts this directory on the job's ``PYTHONPATH``
with ``NEWSFLOW_BUNDLE_TRACE`` naming one run's FILE in DIR (``<run>.jsonl``). Only the process
started as ``python -m pipelines.cli`` (the launcher, which is the SDK worker under LOOPBACK) is
traced. It wraps two methods of Beam's SDK harness (2.77): ``SdkWorker.process_bundle``,
counting the bundles of each bundle descriptor (named by its top-level transforms) and the CPU
of the thread that ran them (``time.thread_time``: the rest of the launcher's CPU is its other
threads, gRPC channels and Kafka clients), and ``GrpcStateHandler._request``, counting state
requests by kind and the bytes appended. Every ``NEWSFLOW_BUNDLE_TRACE_SECONDS`` (10) a JSON
line with the wall clock, the process's CPU and the totals so far is appended to FILE, for the
benchmark to difference over its sending window. Counting costs a few microseconds a bundle; no
timing is added to a request.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict


class Totals:
    """``[count, thread CPU seconds, bytes]`` per key, shared by the harness's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_key: defaultdict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])

    def add(self, key: str, cpu: float = 0.0, size: int = 0) -> None:
        with self.lock:
            entry = self.by_key[key]
            entry[0] += 1
            entry[1] += cpu
            entry[2] += size

    def snapshot(self) -> dict[str, list[float]]:
        with self.lock:
            return {key: list(entry) for key, entry in self.by_key.items()}


def _stage_name(worker, descriptor_id: str, names: dict[str, str]) -> str:
    if descriptor_id not in names:
        descriptor = worker.bundle_processor_cache.fns.get(descriptor_id)
        transforms = descriptor.transforms.values() if descriptor is not None else ()
        tops = {t.unique_name.split("/")[0] for t in transforms}
        names[descriptor_id] = "+".join(sorted(t for t in tops if not t.startswith("ref_")))
    return names[descriptor_id] or descriptor_id


def _wrap_harness(totals: Totals) -> None:
    from apache_beam.runners.worker import sdk_worker

    names: dict[str, str] = {}
    process_bundle = sdk_worker.SdkWorker.process_bundle
    request = sdk_worker.GrpcStateHandler._request

    def traced_bundle(self, bundle_request, instruction_id):
        started = time.thread_time()
        try:
            return process_bundle(self, bundle_request, instruction_id)
        finally:
            stage = _stage_name(self, bundle_request.process_bundle_descriptor_id, names)
            totals.add(f"stage {stage}", time.thread_time() - started)

    def traced_request(self, state_request):
        kind = state_request.WhichOneof("request")
        size = len(state_request.append.data) if kind == "append" else 0
        totals.add(f"state {kind}", size=size)
        return request(self, state_request)

    sdk_worker.SdkWorker.process_bundle = traced_bundle
    sdk_worker.GrpcStateHandler._request = traced_request


def _write_every(path: str, seconds: float, totals: Totals) -> None:
    with open(path, "a", buffering=1) as out:
        while True:
            time.sleep(seconds)
            line = {"unix": time.time(), "cpu": time.process_time(), "totals": totals.snapshot()}
            out.write(json.dumps(line) + "\n")


def _start() -> None:
    target = os.environ.get("NEWSFLOW_BUNDLE_TRACE")
    if not target or sys.orig_argv[1:3] != ["-m", "pipelines.cli"]:
        return
    totals = Totals()
    _wrap_harness(totals)
    seconds = float(os.environ.get("NEWSFLOW_BUNDLE_TRACE_SECONDS", "10"))
    threading.Thread(target=_write_every, args=(target, seconds, totals), daemon=True).start()


_start()
