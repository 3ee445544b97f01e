"""What a streaming job starts dies with it: after ``kill -9`` of the ``newsflow`` process alone
(not its process group, as an operator or the OOM killer does it), none of its descendants (the
Prism runner, the NER pool processes, multiprocessing's fork server and resource tracker) is left
running.

The kill comes once every helper has started, pool processes included: one orphaned while still
importing ends only when it reaches its parent watch (docs/testing.md)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from transforms.text.ner_pool import WATCH_THREAD

pytestmark = pytest.mark.integration

CHILDREN_TIMEOUT_SECONDS = 300  # Prism's start and the pool's on a loaded machine
# The kernel signals Prism at once and the pool processes see their pipe close at once; the
# margin is for a machine whose cores are busy.
ORPHANS_GONE_TIMEOUT_SECONDS = 20

Process = tuple[int, int]  # pid, start time in clock ticks (a pid alone may be reused)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """``(parent pid, state, start time)`` of a live process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> dict[Process, str]:
    """Every live process under ``root``, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        stat = _stat(pid)
        if stat is None:
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found[(pid, stat[2])] = command
        todo.extend(children.get(pid, []))
    return found


def alive(process: Process) -> bool:
    """Still running: same pid and start time, and not a zombie waiting for its reaper."""
    stat = _stat(process[0])
    return stat is not None and stat[2] == process[1] and stat[1] != "Z"


def watching(pid: int) -> bool:
    """The pool process has started its parent watch (a thread named ``WATCH_THREAD``)."""
    try:
        names = [
            task.joinpath("comm").read_text().strip()
            for task in (Path(f"/proc/{pid}/task")).iterdir()
        ]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return WATCH_THREAD in names


def kinds(processes: dict[Process, str]) -> dict[str, int]:
    """How many of the job's expected helpers are among ``processes``; pool processes count once
    they watch their parent (one orphaned while still starting ends when it gets there). Pool
    processes are forked from the fork server, so they share its command line."""
    commands = {pid: command for (pid, _), command in processes.items()}
    forked = [pid for pid, command in commands.items() if "forkserver" in command]
    return {
        "prism": sum("prism" in c.split(" ", 1)[0] for c in commands.values()),
        "ner pool": sum(watching(pid) for pid in forked),
        "fork server": sum(not watching(pid) for pid in forked),
        "resource tracker": sum("resource_tracker" in c for c in commands.values()),
    }


def test_kill_9_of_the_job_alone_leaves_none_of_its_children(
    kafka_bootstrap, stream_topics, job_factory, run_args, kit, tmp_path
):
    # Quiet, as an operator runs it: with -v the runner logs often enough that a write to its
    # closed stdout pipe would end it anyway.
    job = job_factory(run_args(kafka_bootstrap, stream_topics, "children", tmp_path / "files"))
    expected = {"prism": 1, "ner pool": 2, "fork server": 1, "resource tracker": 1}

    def all_started() -> dict[Process, str] | None:
        assert job.proc.poll() is None, "the job is running"
        found = descendants(job.proc.pid)
        return found if kinds(found) == expected else None

    started = kit.wait_until(all_started, CHILDREN_TIMEOUT_SECONDS, f"the job starts {expected}")
    os.kill(job.proc.pid, signal.SIGKILL)  # the job alone: its children are not signalled
    job.proc.wait(timeout=60)
    deadline = time.monotonic() + ORPHANS_GONE_TIMEOUT_SECONDS
    left = [p for p in started if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if alive(p)]
    assert not left, f"left running after kill -9 of the job: {[started[p] for p in left]}"
    gone_after = ORPHANS_GONE_TIMEOUT_SECONDS - (deadline - time.monotonic())
    print(f"\nall {len(started)} descendants of the job gone {gone_after:.1f} s after kill -9")
