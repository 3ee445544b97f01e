"""NerPool: the same entities as in-process NER, in body order; a dead worker costs one call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool

import pytest

from transforms.text.ner import DEFAULT_MODEL, annotate, load_ner_model
from transforms.text.ner_pool import NerPool, _loaded, balanced_slices

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


def test_a_killed_worker_fails_one_call_then_the_pool_is_new(pool: NerPool) -> None:
    expected = pool.annotate(BODIES, 2)
    for pid in list(pool._executor._processes):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        pool.annotate(BODIES, 2)
    assert pool.annotate(BODIES, 2) == expected


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


def test_pool_processes_import_no_extraction_libraries() -> None:
    """Each pool process imports ``ner_pool``; HTML extraction and language identification
    (trafilatura, lxml, py3langid: start-up CPU per process) must not come with it."""
    code = (
        "import sys, transforms.text.ner_pool; "
        "print(sorted({'trafilatura', 'lxml', 'py3langid'} & set(sys.modules)))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


MAIN_SCRIPT = """
import json
from transforms.text.ner_pool import main_modules
if __name__ == "__main__":
    print(main_modules())
"""


def test_the_fork_server_preloads_what_a_main_script_imported(tmp_path) -> None:
    """multiprocessing re-runs a main script in every process it starts: the server imports its
    modules once, so that re-run costs nothing. ``python -c`` has no main to re-run."""
    script = tmp_path / "main.py"
    script.write_text(MAIN_SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "['json', 'transforms.text.ner_pool']"
    code = MAIN_SCRIPT.replace('if __name__ == "__main__":\n    ', "")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_workers_fork_from_the_server_with_the_model_loaded(pool: NerPool) -> None:
    """Workers are the fork server's children (never forked from this process, whose threads
    fork would copy) and hold the model the server preloaded."""
    parents = {pool._executor.submit(os.getppid).result() for _ in range(4)}
    assert os.getpid() not in parents
    assert all(pool._executor.submit(_loaded).result() for _ in range(4))
