"""A Beam SDK worker for the worker pool, started cold or in advance ("ready").

A cold worker (``--control URL --worker-id ID``) is what Beam's pool runs: it connects to its
runner, then imports newsflow's modules as the job's steps unpickle and loads spaCy's model in
the NER step's ``setup``, seconds on an idle machine and tens on a loaded one, while a restore
after a failover waits for it (deploy/README.md, "Time from a TaskManager kill").

A ready worker (no arguments) does all that first, then waits on stdin for one JSON line
``{"control": URL, "worker_id": ID}`` from the pool (``pipelines/worker_pool.py`` keeps
``--ready-workers`` of them) and runs at once; its model goes to the first NER step of the
process that asks for it (``transforms.text.ner.preload_ner_model``). If newsflow's sources
changed on disk since it imported them, it starts over as a cold worker: an edited checkout never
runs stale code. End of input without a line (the pool stopped) ends it.

Either logs warnings, and the restore guard's scan (once per restore, with its time:
``benchmarks/flink_failover.py`` times a failover by it), to the pool's output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from transforms.text.malloc import limit_malloc_arenas

PACKAGES = ("pipelines", "transforms", "schemas")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def run_harness(control: str, worker_id: str) -> None:
    from apache_beam.runners.worker.sdk_worker import SdkHarness

    SdkHarness(control, worker_id=worker_id, state_cache_size=0,
               data_buffer_time_limit_ms=-1).run()  # fmt: skip


def preload() -> None:
    """Import what a newsflow job's steps import and load the default NER model."""
    import apache_beam.runners.worker.sdk_worker  # noqa: F401

    import pipelines.assembly  # noqa: F401
    from transforms.text.ner import DEFAULT_MODEL, preload_ner_model

    preload_ner_model(DEFAULT_MODEL)


def changed_since(moment: float) -> bool:
    """Whether a loaded newsflow module's source file changed after ``moment`` (epoch s)."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and name.split(".")[0] in PACKAGES and Path(path).stat().st_mtime > moment:
            return True
    return False


def cold_argv(control: str, worker_id: str) -> list[str]:
    """The command line of a cold worker for this runner."""
    return [sys.executable, "-m", "pipelines.sdk_worker", "--control", control,
            "--worker-id", worker_id]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    limit_malloc_arenas()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", help="the runner's control endpoint (cold start)")
    parser.add_argument("--worker-id", help="the worker id the runner gave (cold start)")
    args = parser.parse_args(argv)
    logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger("transforms.io.restore_guard").setLevel(logging.INFO)
    if args.control:
        run_harness(args.control, args.worker_id)
        return
    started = time.time()
    preload()
    line = sys.stdin.readline()
    if not line:
        return
    request = json.loads(line)
    if changed_since(started):
        os.execv(sys.executable, cold_argv(request["control"], request["worker_id"]))
    run_harness(request["control"], request["worker_id"])


if __name__ == "__main__":
    main()
