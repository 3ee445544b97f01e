"""NER on several cores: a pool of processes, each loading the model once.

The local runner (Prism) runs all of a job's Python in one SDK worker process, so spaCy there uses
one core whatever the machine has. ``NerPool`` spreads each batch over ``processes`` worker
processes (started with ``spawn``: the SDK worker holds gRPC threads, which ``fork`` would copy
mid-flight), each of which loads the model once in its initializer and keeps it. The calling
thread only waits, so the SDK worker's other bundles (decode, dedup, sinks) run meanwhile.

A pool is infrastructure, not data: it is "broken" when a worker process dies
(``BrokenProcessPool``: killed by an operator or the OOM killer, a crash in native code, or its
initializer failing to load the model) or cannot be started (``OSError`` from spawning: no
memory, a process limit). Then the pool is started anew and the call retried, up to ``RESTARTS``
times; a pool that still breaks raises ``NerPoolError``, an ``InfrastructureError``: the job
fails with that line, and no article is dead-lettered for it. Exceptions spaCy raises on a text
inside a worker reach the caller as they are: they are that text's failure (the enrich step
dead-letters the one article).

A worker also ends when the process that started it ends, however that one died (``kill -9``, the
OOM killer): it watches its end of the spawn pipe, which the kernel closes with the parent. A
worker left behind would hold its model (over 300 MB) and keep multiprocessing's resource tracker
alive, which exits once every holder of its pipe has.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from schemas.errors import NerPoolError
from transforms.text.models import Entity
from transforms.text.ner import annotate, load_ner_model

# Restarts of a broken pool within one call before it raises NerPoolError.
RESTARTS = 2
_worker_nlp: Any = None
WATCH_THREAD = "newsflow-watch"  # a pool worker's thread that ends it with its parent
PR_SET_NAME = 15


def _start_worker(model: str) -> None:
    """Pool initializer: tie the worker's life to its parent's, then load the model once for its
    lifetime."""
    _exit_with_parent()
    global _worker_nlp
    _worker_nlp = load_ner_model(model)


def _exit_with_parent() -> None:
    """End this process as soon as its parent's end of the spawn pipe closes (the parent is gone,
    or has let go of this worker). A pipe, not ``PR_SET_PDEATHSIG``: that signal follows the
    parent *thread* that spawned the worker, and the pool spawns from whichever SDK thread first
    submits, which may end long before the process.

    The watch starts with the initializer: a worker orphaned while still starting (importing
    what its parent's main module imports) ends when it reaches it."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        _name_os_thread(WATCH_THREAD)
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name=WATCH_THREAD, daemon=True).start()


def _name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` where the OS shows it (``ps -L``, ``/proc/<pid>/task``):
    an operator, and the test, can see that a worker is watching its parent."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def _annotate_in_worker(bodies: list[str], batch_size: int) -> list[tuple[Entity, ...]]:
    return annotate(_worker_nlp, bodies, batch_size)


def _loaded() -> bool:
    return _worker_nlp is not None


def balanced_slices(sizes: Sequence[int], parts: int) -> list[range]:
    """Contiguous index ranges, at most ``parts`` of them and none empty, of about equal total
    size: a batch is as slow as its slowest slice. Every item weighs at least 1."""
    total, slices, start, done = sum(sizes) + len(sizes), [], 0, 0
    for index, size in enumerate(sizes):
        done += size + 1
        if done * parts >= total * (len(slices) + 1) or index == len(sizes) - 1:
            slices.append(range(start, index + 1))
            start = index + 1
    return slices


class NerPool:
    """``annotate`` over ``processes`` worker processes; thread-safe, shared per SDK worker."""

    def __init__(self, model: str, processes: int) -> None:
        self._model = model
        self._processes = processes
        self._lock = threading.Lock()
        self._executor = self._start()
        self._current = [self._executor]
        weakref.finalize(self, _shut_down, self._current)

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._model,),
        )

    def warm_up(self) -> None:
        """Start every worker and wait until each has loaded the model. The executor spawns a
        process per task submitted while none is idle, so ``processes`` tasks at once start them
        all; without this the first batches wait for the model loads. ``NerPoolError`` when the
        pool cannot start."""
        try:
            futures = [_submit(self._executor, _loaded) for _ in range(self._processes)]
            for future in futures:
                future.result()
        except BrokenProcessPool as exc:
            raise NerPoolError(f"the NER pool of {self._model!r} cannot start: {exc}") from exc

    def annotate(self, bodies: Sequence[str], batch_size: int) -> list[tuple[Entity, ...]]:
        """Entities for each body, in order, as ``ner.annotate`` gives them; a broken pool is
        restarted and the call retried, ``NerPoolError`` once it broke ``RESTARTS + 1`` times."""
        slices = balanced_slices([len(body) for body in bodies], self._processes)
        for _ in range(RESTARTS + 1):
            executor = self._executor
            try:
                futures = [
                    _submit(executor, _annotate_in_worker, [bodies[i] for i in part], batch_size)
                    for part in slices
                ]
                return [entities for future in futures for entities in future.result()]
            except BrokenProcessPool as exc:
                self._restart(executor)
                broken = exc
        raise NerPoolError(
            f"the NER pool of {self._model!r} broke {RESTARTS + 1} times in a row "
            f"(a worker died or could not start): {broken}"
        ) from broken

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """Replace the broken executor once, however many threads saw it break."""
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._current[0] = self._start()

    def close(self) -> None:
        _shut_down(self._current)


def _submit(executor: ProcessPoolExecutor, fn, *args):
    """``executor.submit``, where a worker that cannot be spawned breaks the pool like one that
    died (the executor starts its processes on submit)."""
    try:
        return executor.submit(fn, *args)
    except OSError as exc:
        raise BrokenProcessPool(f"cannot start a worker process: {exc}") from exc


def _shut_down(current: list[ProcessPoolExecutor]) -> None:
    """Stop the workers when the last DoFn lets go of the pool, or at exit at the latest."""
    current[0].shutdown(wait=True, cancel_futures=True)
