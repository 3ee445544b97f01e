"""Progress of ``newsflow process`` on a terminal: one line, rewritten in place every second.

It reads the same job-service snapshots as the metrics endpoint (``pipelines/metrics.py``), so it
shows what the runner has counted: workers report with every finished bundle, so a batch job's
figures move in steps. When stderr is not a terminal (a pipe, a log file, CI) nothing is printed,
so logs and scripts see only what they saw before.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from pipelines.metrics import Snapshot

LOG = logging.getLogger(__name__)
REFRESH_SECONDS = 1.0


def progress_line(snap: Snapshot, elapsed_seconds: float) -> str:
    """``events read 27 · enriched 16 · duplicates 4 · dead letters 7 · 3.1 articles/s``, the
    rate being inputs that reached an outcome per second since the start."""
    duplicates, dead = sum(snap.duplicates.values()), sum(snap.dead_letters.values())
    done = snap.enriched + duplicates + dead
    rate = done / elapsed_seconds if elapsed_seconds > 0 else 0.0
    return (
        f"events read {snap.inputs_read} · enriched {snap.enriched} · duplicates {duplicates}"
        f" · dead letters {dead} · {rate:.1f} articles/s"
    )


@contextmanager
def show_progress(read: Callable[[], Snapshot], stream: TextIO | None = None) -> Iterator[None]:
    """While the body runs, rewrite a progress line on ``stream`` (stderr) if it is a terminal;
    at the end, print the final figures once on their own line."""
    out = stream or sys.stderr
    if not out.isatty():
        yield
        return
    started, done = time.monotonic(), threading.Event()
    last = [Snapshot()]

    def line() -> str:
        last[0] = _safe(read) or last[0]
        return "\r\x1b[2K" + progress_line(last[0], time.monotonic() - started)

    def refresh() -> None:
        while not done.wait(REFRESH_SECONDS):
            _write(out, line())

    thread = threading.Thread(target=refresh, name="newsflow-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        _write(out, line() + "\n")


def _safe(read: Callable[[], Snapshot]) -> Snapshot | None:
    """A snapshot, or None when the job service cannot answer (it may be shutting down): progress
    is a courtesy and never fails the command."""
    try:
        return read()
    except Exception as exc:  # grpc errors of a finishing job service, among others
        LOG.debug("progress: no metrics this time: %r", exc)
        return None


def _write(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()
