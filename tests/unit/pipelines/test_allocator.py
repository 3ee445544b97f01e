"""glibc's malloc arenas in newsflow's processes (pipelines/allocator.py), counted by glibc itself.

Each case runs a fresh interpreter: the cap only binds threads that allocate after it is set, and
glibc's ``malloc_stats`` prints one ``Arena N:`` line per arena it made.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's arenas only")

THREADS = 8
PROGRAM = textwrap.dedent(
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


def arenas_after(entry: str, **env: str) -> int:
    """How many arenas glibc made once ``entry`` ran and THREADS threads allocated at once."""
    program = PROGRAM.format(entry=entry, threads=THREADS)
    knobs = ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")
    environ = {key: value for key, value in os.environ.items() if key not in knobs}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120, check=True, env={**environ, **env})  # fmt: skip
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_without_the_cap_each_thread_gets_an_arena():
    assert arenas_after("") > 2


def test_the_cap_holds_the_threads_to_two_arenas():
    entry = "from pipelines.allocator import limit_malloc_arenas; assert limit_malloc_arenas()"
    assert arenas_after(entry) == 2


@pytest.mark.parametrize(
    "env", [{"MALLOC_ARENA_MAX": "4"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}]
)
def test_the_operators_setting_wins(env):
    entry = "from pipelines.allocator import limit_malloc_arenas; assert not limit_malloc_arenas()"
    assert arenas_after(entry, **env) == 4


@pytest.mark.parametrize("module", ["pipelines.cli", "pipelines.sdk_worker"])
def test_the_job_processes_cap_their_arenas_before_anything_else(module):
    """``newsflow`` (the local runner's SDK worker) and the Flink pool's SDK workers, where the
    steps' indexes live; ``--help`` ends each before it starts a thread of its own."""
    entry = f"import {module}\ntry:\n    {module}.main(['--help'])\nexcept SystemExit:\n    pass"
    assert arenas_after(entry) == 2
