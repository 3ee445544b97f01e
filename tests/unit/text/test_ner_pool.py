"""NerPool: the same entities as in-process NER, in body order; dead workers are replaced, a pool
that cannot run raises ``NerPoolError``."""

from __future__ import annotations

import os
import signal

import pytest

from schemas.errors import NerPoolError
from transforms.text import ner_pool
from transforms.text.ner import DEFAULT_MODEL, annotate, load_ner_model
from transforms.text.ner_pool import NerPool, _loaded, balanced_slices, model_files

BODIES = [
    "Amber Rudd spoke to the BBC in London on Sunday.",
    "",
    "Khalid Masood drove across Westminster Bridge.\n\nThe Metropolitan Police said so.",
    "WhatsApp is owned by Facebook, based in California.",
]


@pytest.mark.parametrize(
    ("sizes", "parts", "expected"),
    [
        ([10, 10, 10, 10], 2, [range(0, 2), range(2, 4)]),
        ([100, 1, 1], 2, [range(0, 1), range(1, 3)]),
        ([0, 0, 0], 2, [range(0, 2), range(2, 3)]),
        ([5], 4, [range(0, 1)]),
        ([], 2, []),
    ],
)
def test_balanced_slices(sizes: list[int], parts: int, expected: list[range]) -> None:
    assert balanced_slices(sizes, parts) == expected


@pytest.fixture(scope="module")
def pool():
    pool = NerPool(DEFAULT_MODEL, 2)
    yield pool
    pool.close()


def test_pool_matches_in_process_ner(pool: NerPool) -> None:
    assert pool.annotate(BODIES, 2) == annotate(load_ner_model(DEFAULT_MODEL), BODIES, 2)


def test_killed_workers_are_replaced_and_the_call_retried(pool: NerPool) -> None:
    """Workers killed (an operator, the OOM killer) are infrastructure, no article's fault: the
    call that meets the broken pool is answered by a new one."""
    expected = pool.annotate(BODIES, 2)
    killed = list(pool._executor._processes)
    kill_all(killed)
    assert pool.annotate(BODIES, 2) == expected
    assert not set(pool._executor._processes) & set(killed)


def test_batches_submitted_ahead_come_back_whole_and_in_order(pool: NerPool) -> None:
    """Several batches queued before any is collected (how the NER step keeps the workers fed):
    each one's entities are its own bodies', whatever order the workers finish them in."""
    expected = [pool.annotate([body], 1)[0] for body in BODIES]
    batches = [BODIES[i:] + BODIES[:i] for i in range(len(BODIES))]
    pending = [pool.submit(batch, 2) for batch in batches]
    for i, submitted in enumerate(pending):
        assert submitted.result() == expected[i:] + expected[:i]


def test_batches_outstanding_when_the_workers_died_are_sent_again(pool: NerPool) -> None:
    """Workers killed, then several batches submitted before any is collected: the pool is
    restarted once, by whichever batch meets the break first, and every batch is answered by
    the new one."""
    expected = pool.annotate(BODIES, 2)
    killed = list(pool._executor._processes)
    kill_all(killed)
    pending = [pool.submit(BODIES, 2) for _ in range(3)]
    assert [submitted.result() for submitted in pending] == [expected] * 3
    assert not set(pool._executor._processes) & set(killed)


def test_a_pool_that_cannot_start_raises_ner_pool_error(tmp_path) -> None:
    pool = NerPool(str(tmp_path / "no-such-model"), 2)
    try:
        with pytest.raises(NerPoolError, match="cannot start"):
            pool.warm_up()
    finally:
        pool.close()


def kill_all(pids: list[int]) -> None:
    assert pids, "the pool has worker processes to kill"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def test_warm_up_starts_every_worker_with_its_model_loaded() -> None:
    """The job-start warm-up must leave no model load for the first batch: every worker process
    exists and has run its initializer (a worker that had not could not answer ``_loaded``)."""
    pool = NerPool(DEFAULT_MODEL, 2)
    try:
        pool.warm_up()
        assert len(pool._executor._processes) == 2
        assert all(pool._executor.submit(_loaded).result() for _ in range(4))
    finally:
        pool.close()


def test_workers_fork_from_the_server_with_its_model(pool: NerPool) -> None:
    """Workers are the fork server's children (never forked from this process, whose threads
    fork would copy) and start with the model loaded."""
    parents = {pool._executor.submit(os.getppid).result() for _ in range(4)}
    assert os.getpid() not in parents
    assert all(pool._executor.submit(_loaded).result() for _ in range(4))


def test_a_worker_takes_the_preloaded_model_only_while_its_files_are_unchanged(
    monkeypatch,
) -> None:
    """The server's copy stands for the files it was loaded from: listed the same, the worker
    takes it; listed otherwise (a file changed, added or gone since), it loads from disk."""
    files = model_files(DEFAULT_MODEL)
    assert files, "the installed model's files are listed"
    preloaded = object()
    monkeypatch.setattr(ner_pool, "_preloaded", (DEFAULT_MODEL, preloaded, files))
    ner_pool._start_worker(DEFAULT_MODEL)
    assert ner_pool._worker_ner.nlp is preloaded
    monkeypatch.setattr(ner_pool, "_preloaded", (DEFAULT_MODEL, preloaded, files[1:]))
    ner_pool._start_worker(DEFAULT_MODEL)
    assert ner_pool._worker_ner.nlp is not preloaded
    assert ner_pool._worker_ner.nlp.pipe_names == ["ner"]


def test_a_missing_model_has_no_files(tmp_path) -> None:
    assert model_files(str(tmp_path / "no-such-model")) is None
