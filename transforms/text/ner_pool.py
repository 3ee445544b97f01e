"""NER on several cores: a pool of processes that share one load of the model.

The local runner (Prism) runs all of a job's Python in one SDK worker process, so spaCy there uses
one core whatever the machine has. ``NerPool`` spreads each batch over ``processes`` worker
processes. They are forked from multiprocessing's fork server, never from the SDK worker itself
(it holds gRPC threads, which ``fork`` would copy mid-flight). The server is a fresh process that
preloads, once, what every worker would otherwise import and load on its own: spaCy with the
model (``ner_preload``), and the modules the parent's main module imported (multiprocessing
re-runs that module in each process it starts; with the ``newsflow`` console script that meant
importing Beam and the whole pipeline per worker). Starting a 2-process pool so costs one model
load instead of two and no pipeline imports. The calling thread only waits, so the SDK worker's
other bundles (decode, dedup, sinks) run meanwhile.

A worker that dies (a crash in native code) breaks the pool: the call raises, the pool is started
anew, and the caller retries one article at a time, so only the article that kills a worker
is dead-lettered.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import sys
import threading
import types
import weakref
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver
from typing import Any

from transforms.text.models import Entity
from transforms.text.ner import annotate, load_ner_model

# The model the fork server preloads (read by ``ner_preload`` when the server starts).
PRELOAD_MODEL_ENV = "NEWSFLOW_NER_PRELOAD_MODEL"
PRELOAD_MODULE = "transforms.text.ner_preload"

_worker_nlp: Any = None
_worker_model: str | None = None
_stop_registered = False


def _load_model(model: str) -> None:
    """Pool initializer: the worker's model, kept for its lifetime; free when the worker was
    forked from a server that preloaded this model."""
    global _worker_nlp, _worker_model
    if _worker_model != model:
        _worker_nlp, _worker_model = load_ner_model(model), model


def preload(model: str | None) -> None:
    """The fork server's model load. A model spaCy cannot load is left to each worker's
    initializer, which raises it to the pool's caller (the server must not die of it)."""
    if model:
        with contextlib.suppress(OSError):
            _load_model(model)


def main_modules() -> list[str]:
    """Modules a new process needs to re-run the parent's main module cheaply: its own name when
    run with ``-m`` (``pkg.__main__`` excepted: multiprocessing skips it, and importing it would
    run it) and the modules of what it imported. None for ``python -c`` or a REPL, whose main
    multiprocessing does not re-run."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if main is None or (spec is None and not hasattr(main, "__file__")):
        return []
    names = {spec.name} if spec is not None else set()
    for key, value in vars(main).items():
        if key.startswith("__"):  # the interpreter's own: loader, builtins, spec
            continue
        module = value if isinstance(value, types.ModuleType) else None
        name = module.__name__ if module else getattr(value, "__module__", None)
        if isinstance(name, str) and name in sys.modules:
            names.add(name)
    return sorted(n for n in names if n != "__mp_main__" and "__main__" not in n)


def _context(model: str) -> multiprocessing.context.BaseContext:
    """The fork-server context, its server (started with the first pool) preloading ``model``
    and the main module's imports."""
    global _stop_registered
    context = multiprocessing.get_context("forkserver")
    os.environ[PRELOAD_MODEL_ENV] = model
    context.set_forkserver_preload([*main_modules(), PRELOAD_MODULE])
    if not _stop_registered:
        atexit.register(_stop_fork_server)
        _stop_registered = True
    return context


def _stop_fork_server() -> None:
    """At exit (after ``concurrent.futures`` has joined every pool's workers), stop the fork
    server and reap it, as a spawned worker is reaped: otherwise it ends on its own once this
    process is gone, orphaned, and the CPU it and the workers used is missing from the job's
    resource usage (``wait4``), which the benchmarks read. multiprocessing has no public call for
    this; ``_stop`` is the one its own tests use."""
    forkserver._forkserver._stop()


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
            mp_context=_context(self._model),
            initializer=_load_model,
            initargs=(self._model,),
        )

    def warm_up(self) -> None:
        """Start every worker and wait until each has its model. The executor starts a process
        per task submitted while none is idle, so ``processes`` tasks at once start them all;
        without this the first batches wait for the fork server and the workers to start."""
        futures = [self._executor.submit(_loaded) for _ in range(self._processes)]
        for future in futures:
            future.result()

    def annotate(self, bodies: Sequence[str], batch_size: int) -> list[tuple[Entity, ...]]:
        """Entities for each body, in order, as ``ner.annotate`` gives them."""
        executor = self._executor
        slices = balanced_slices([len(body) for body in bodies], self._processes)
        try:
            futures = [
                executor.submit(_annotate_in_worker, [bodies[i] for i in part], batch_size)
                for part in slices
            ]
            return [entities for future in futures for entities in future.result()]
        except BrokenProcessPool:
            self._restart(executor)
            raise

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """Replace the broken executor once, however many threads saw it break."""
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._current[0] = self._start()

    def close(self) -> None:
        _shut_down(self._current)


def _shut_down(current: list[ProcessPoolExecutor]) -> None:
    """Stop the workers when the last DoFn lets go of the pool, or at exit at the latest."""
    current[0].shutdown(wait=True, cancel_futures=True)
