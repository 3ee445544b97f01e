"""NER on several cores: a pool of processes that share one load of the model.

The local runner (Prism) runs all of a job's Python in one SDK worker process, so spaCy there uses
one core whatever the machine has. ``NerPool`` spreads each batch over ``processes`` worker
processes. They are forked from multiprocessing's fork server, never from the SDK worker itself
(it holds gRPC threads, which ``fork`` would copy mid-flight). The server is a fresh process that
imports an explicit list of modules once (``ner_preload``: spaCy and the first pool's model), so
a worker starts with the model in memory (copy-on-write) instead of importing spaCy and loading
its own: a 2-process pool costs one model load, not two. The server imports nothing of the
parent's main module, whatever runs it (a console script, pytest).

A worker uses the server's copy only while the model's files on disk are the ones it was loaded
from (same paths, sizes and modification times, checked in the worker's initializer): a model
whose files changed or vanished is loaded from disk by the worker, as a spawned worker would,
and fails there when it cannot be. The calling thread only waits, so the SDK worker's other
bundles (decode, dedup, sinks) run meanwhile.

A pool is infrastructure, not data: it is "broken" when a worker process dies
(``BrokenProcessPool``: killed by an operator or the OOM killer, a crash in native code, or its
initializer failing to load the model) or cannot be started (``OSError`` from starting it: no
memory, a process limit). Then the pool is started anew and the call retried, up to ``RESTARTS``
times; a pool that still breaks raises ``NerPoolError``, an ``InfrastructureError``: the job
fails with that line, and no article is dead-lettered for it. Exceptions spaCy raises on a text
inside a worker reach the caller as they are: they are that text's failure (the enrich step
dead-letters the one article).

A worker also ends when the process that started it ends, however that one died (``kill -9``, the
OOM killer): it watches its end of the pipe its parent sent it its task on, which the kernel
closes with the parent. A worker left behind would hold its model (over 300 MB) and keep
multiprocessing's resource tracker and fork server alive, which exit once every holder of their
pipes has. At a normal exit the fork server is stopped and reaped like a worker, so the job's
resource usage (``wait4``, which the benchmarks read) includes its CPU.
"""

from __future__ import annotations

import atexit
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
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from schemas.errors import NerPoolError
from transforms.text.malloc import keep_freed_memory
from transforms.text.models import Entity
from transforms.text.ner import MemoryZones, load_ner_model

# Restarts of a broken pool within one call before it raises NerPoolError.
RESTARTS = 2
WATCH_THREAD = "newsflow-watch"  # a pool worker's thread that ends it with its parent
PR_SET_NAME = 15
# The model the fork server preloads, read by ``ner_preload`` when the server starts.
PRELOAD_MODEL_ENV = "NEWSFLOW_NER_PRELOAD_MODEL"
PRELOAD_MODULES = ["transforms.text.ner_preload"]

_worker_ner: MemoryZones | None = None  # the worker's model, in zones over many batches
_preloaded: tuple[str, Any, tuple | None] | None = None  # model, nlp, files when loaded
_server_stop_registered = False


def _start_worker(model: str) -> None:
    """Pool initializer: tie the worker's life to its parent's, keep the memory its batches free
    (``malloc.keep_freed_memory``), then take the model, kept for the worker's lifetime: the fork
    server's copy while its files on disk are unchanged, else a load from disk (which raises
    when the model is gone: the pool breaks, see the module doc)."""
    _exit_with_parent()
    keep_freed_memory()
    global _worker_ner
    if _preloaded is not None and _preloaded[0] == model and _preloaded[2] == model_files(model):
        _worker_ner = MemoryZones(_preloaded[1])
    else:
        _worker_ner = MemoryZones(load_ner_model(model))


def preload(model: str | None) -> None:
    """The fork server's model load, with the files it was loaded from. A model that does not
    load is left to the workers, whose initializer raises it to the pool's caller: the server
    must survive it (multiprocessing's preload passes only ``ImportError``): what spaCy raises
    for a model it cannot load, ``SystemExit`` too (``spacy.info`` exits on a model without
    ``meta.json``)."""
    global _preloaded
    if not model:
        return
    try:
        files = model_files(model)
        _preloaded = (model, load_ner_model(model), files) if files else None
    except (OSError, ValueError, ImportError, LookupError, SystemExit):  # the workers report it
        _preloaded = None


def model_files(model: str) -> tuple[tuple[str, int, int], ...] | None:
    """``(path, size, mtime_ns)`` of every file of ``model`` (an installed package's directory,
    as spaCy resolves the name first, or a path), sorted; None when there is no such directory
    or it cannot be listed."""
    import spacy.util

    root = spacy.util.get_package_path(model) if spacy.util.is_package(model) else Path(model)
    if not root.is_dir():
        return None
    try:
        stats = [
            (str(path), path.stat())
            for path in root.rglob("*")
            if "__pycache__" not in path.parts and path.is_file()
        ]
    except OSError:
        return None
    return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats))


def _exit_with_parent() -> None:
    """End this process as soon as its parent's end of the task pipe closes (the parent is gone,
    or has let go of this worker). A pipe, not ``PR_SET_PDEATHSIG``: that signal follows the
    process that forked the worker, the fork server, which outlives a killed job until its last
    worker ends.

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
    return _worker_ner.annotate(bodies, batch_size)


def _loaded() -> bool:
    return _worker_ner is not None


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
            mp_context=_fork_server_context(self._model),
            initializer=_start_worker,
            initargs=(self._model,),
        )

    def warm_up(self) -> None:
        """Start every worker and wait until each has its model. The executor starts a
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
        return self.submit(bodies, batch_size).result()

    def submit(self, bodies: Sequence[str], batch_size: int) -> PendingEntities:
        """``annotate`` without waiting: the batch is queued to the workers now and its entities
        are collected by ``result()``. A caller that submits its next batch before collecting
        this one keeps every worker busy while it handles results (a worker done with its slice
        takes the next batch's instead of waiting for its sibling's)."""
        return PendingEntities(self, bodies, batch_size)

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """Replace the broken executor once, however many threads saw it break."""
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._current[0] = self._start()

    def close(self) -> None:
        _shut_down(self._current)


class PendingEntities:
    """One batch submitted to a ``NerPool``, in ``balanced_slices`` over its workers."""

    def __init__(self, pool: NerPool, bodies: Sequence[str], batch_size: int) -> None:
        self._pool = pool
        self._bodies = bodies
        self._batch_size = batch_size
        self._slices = balanced_slices([len(body) for body in bodies], pool._processes)
        self._attempts = 0
        self._sent: tuple[ProcessPoolExecutor, list] | None = None
        self._broken: BrokenProcessPool | None = None
        self._send()

    def _send(self) -> None:
        """One attempt: every slice submitted to the pool's current executor."""
        self._attempts += 1
        executor = self._pool._executor
        try:
            self._sent = (
                executor,
                [
                    _submit(
                        executor,
                        _annotate_in_worker,
                        [self._bodies[i] for i in part],
                        self._batch_size,
                    )
                    for part in self._slices
                ],
            )
        except BrokenProcessPool as exc:
            self._failed(executor, exc)

    def _failed(self, executor: ProcessPoolExecutor, exc: BrokenProcessPool) -> None:
        self._pool._restart(executor)
        self._sent, self._broken = None, exc

    def result(self) -> list[tuple[Entity, ...]]:
        """Entities for each body, in order; a broken pool is restarted and the batch sent
        again, ``NerPoolError`` once it broke ``RESTARTS + 1`` times in a row."""
        while True:
            if self._sent is not None:
                executor, futures = self._sent
                try:
                    return [entities for future in futures for entities in future.result()]
                except BrokenProcessPool as exc:
                    self._failed(executor, exc)
            if self._attempts > RESTARTS:
                raise NerPoolError(
                    f"the NER pool of {self._pool._model!r} broke {RESTARTS + 1} times in a row "
                    f"(a worker died or could not start): {self._broken}"
                ) from self._broken
            self._send()


def _fork_server_context(model: str) -> multiprocessing.context.BaseContext:
    """The fork-server context. Its server, started with the first pool of this process, imports
    ``PRELOAD_MODULES`` and preloads the model of that first pool (the environment is how a
    preload module gets an argument)."""
    global _server_stop_registered
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD_MODULES)
    os.environ.setdefault(PRELOAD_MODEL_ENV, model)
    if not _server_stop_registered:
        atexit.register(_stop_fork_server)
        _server_stop_registered = True
    return context


def _stop_fork_server() -> None:
    """At exit (after ``concurrent.futures`` has joined every pool's workers), stop the fork
    server and reap it, as a spawned worker is reaped: otherwise it ends on its own once this
    process is gone, orphaned, and its CPU is missing from the job's resource usage.
    multiprocessing has no public call for this; ``_stop`` is the one its own tests use."""
    forkserver._forkserver._stop()


def _submit(executor: ProcessPoolExecutor, fn, *args):
    """``executor.submit``, where a worker that cannot be started breaks the pool like one that
    died (the executor starts its processes on submit)."""
    try:
        return executor.submit(fn, *args)
    except OSError as exc:
        raise BrokenProcessPool(f"cannot start a worker process: {exc}") from exc


def _shut_down(current: list[ProcessPoolExecutor]) -> None:
    """Stop the workers when the last DoFn lets go of the pool, or at exit at the latest."""
    current[0].shutdown(wait=True, cancel_futures=True)
