"""tracemalloc snapshots of a soaked job's launcher (``memory_soak.py --snapshots DIR``).

Python imports ``sitecustomize`` at start-up from the path; ``memory_soak.py`` puts this
directory on the job's ``PYTHONPATH`` with ``NEWSFLOW_SOAK_SNAPSHOTS`` naming a directory. Only
the process started as ``python -m pipelines.cli`` (the launcher, which is the SDK worker under
LOOPBACK) traces; its NER pool and Prism do not. Every ``NEWSFLOW_SOAK_SNAPSHOT_SECONDS`` (60) a
snapshot is dumped as ``<unix time>.snap``, for ``soak_snapshots.py`` to compare by line.
Tracing costs CPU and memory of its own: a traced run's RSS is not the untraced job's.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _dump_every(directory: Path, seconds: float) -> None:
    while True:
        time.sleep(seconds)
        tracemalloc.take_snapshot().dump(str(directory / f"{time.time():.1f}.snap"))


def _start() -> None:
    target = os.environ.get("NEWSFLOW_SOAK_SNAPSHOTS")
    if not target or sys.orig_argv[1:3] != ["-m", "pipelines.cli"]:
        return
    directory = Path(target)
    directory.mkdir(parents=True, exist_ok=True)
    seconds = float(os.environ.get("NEWSFLOW_SOAK_SNAPSHOT_SECONDS", "60"))
    tracemalloc.start(1)
    threading.Thread(target=_dump_every, args=(directory, seconds), daemon=True).start()


_start()
