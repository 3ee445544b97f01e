"""glibc's malloc settings in newsflow's processes (transforms/text/malloc.py), read back from
glibc's own behaviour: the arenas it reports, the page faults it causes.

Each case runs a fresh interpreter: a setting binds what is allocated after it, and the
environment's knobs are read by glibc at start.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

KNOBS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
THREADS = 8
ARENAS = textwrap.dedent(
    """
    import ctypes, threading
    {entry}
    gate = threading.Barrier({threads})
    def allocate():
        kept = [bytes(2000 + i % 7) for i in range(2000)]  # above pymalloc's 512 bytes
        gate.wait()
    threads = [threading.Thread(target=allocate) for _ in range({threads})]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctypes.CDLL(None).malloc_stats()
    """
)
# A batch's temporaries, as NER makes them: blocks over glibc's starting mmap threshold, freed
# together; the faults of every round after the first are printed.
ROUNDS = 10
BATCHES = textwrap.dedent(
    """
    import resource
    {entry}
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    def batch():
        blocks = [bytearray(1 << 20) for _ in range(16)]  # zero-filled: every page touched
        del blocks
    batch()
    before = faults()
    for _ in range({rounds}):
        batch()
    print(faults() - before)
    """
)


def run(program: str, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key not in KNOBS}
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120, check=True, env={**environ, **env})  # fmt: skip


def arenas_after(entry: str, **env: str) -> int:
    """How many arenas glibc made once ``entry`` ran and THREADS threads allocated at once."""
    done = run(ARENAS.format(entry=entry, threads=THREADS), **env)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def faults_per_batch(entry: str, **env: str) -> float:
    """Page faults of one batch of 16 MiB of blocks, allocated and freed again, once warm."""
    return int(run(BATCHES.format(entry=entry, rounds=ROUNDS), **env).stdout) / ROUNDS


def test_without_the_cap_each_thread_gets_an_arena():
    assert arenas_after("") > 2


def test_the_cap_holds_the_threads_to_two_arenas():
    entry = "from transforms.text.malloc import limit_malloc_arenas; assert limit_malloc_arenas()"
    assert arenas_after(entry) == 2


@pytest.mark.parametrize(
    "env", [{"MALLOC_ARENA_MAX": "4"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}]
)
def test_the_operators_arena_limit_wins(env):
    entry = "from transforms.text.malloc import limit_malloc_arenas as f; assert not f()"
    assert arenas_after(entry, **env) == 4


@pytest.mark.parametrize("module", ["pipelines.cli", "pipelines.sdk_worker"])
def test_the_job_processes_cap_their_arenas_before_anything_else(module):
    """``newsflow`` (the local runner's SDK worker) and the Flink pool's SDK workers, where the
    steps' indexes live; ``--help`` ends each before it starts a thread of its own."""
    entry = f"import {module}\ntry:\n    {module}.main(['--help'])\nexcept SystemExit:\n    pass"
    assert arenas_after(entry) == 2


def test_by_default_glibc_hands_a_batchs_pages_back_and_faults_them_in_again():
    assert faults_per_batch("") > 2000  # 16 MiB is 4,096 pages of 4 KiB


def test_a_worker_that_keeps_freed_memory_reuses_its_pages():
    entry = "from transforms.text.malloc import keep_freed_memory; assert all(keep_freed_memory())"
    assert faults_per_batch(entry) < 100


def test_the_ner_pools_workers_keep_freed_memory():
    """The pool's initializer, as a worker runs it (``blank:en``: spaCy's tokenizer, no model)."""
    entry = "from transforms.text.ner_pool import _start_worker; _start_worker('blank:en')"
    assert faults_per_batch(entry) < 100


@pytest.mark.parametrize(
    "env",
    [
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
    ],
)
def test_the_operators_trim_threshold_wins(env):
    entry = "from transforms.text.malloc import keep_freed_memory as f; assert f() == (True, False)"
    assert faults_per_batch(entry, **env) > 2000


def test_the_dedup_steps_threshold_is_glibcs_own_starting_value():
    entry = "from transforms.text.malloc import fix_mmap_threshold; assert fix_mmap_threshold()"
    assert faults_per_batch(entry) > 2000  # pinned at 128 KiB, every 1 MiB block is mapped anew


def test_the_operators_mmap_threshold_wins():
    entry = "from transforms.text.malloc import fix_mmap_threshold; assert not fix_mmap_threshold()"
    assert (
        faults_per_batch(
            entry, MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="268435456"
        )
        < 100
    )
