"""``pipelines.lifeline``: a command started through the launcher dies with the process that
started it, even when that one is killed with SIGKILL; started directly, it outlives it (the
control that shows the test can fail)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux prctl")

EXEC_TIMEOUT_SECONDS = 30
GONE_TIMEOUT_SECONDS = 10
# A parent that starts `sleep` (through the launcher or not), prints its pid and waits.
PARENT = """
import subprocess, sys, time
from pipelines.lifeline import launcher_command
command = [sys.argv[1], "600"]
child = subprocess.Popen(launcher_command(command) if sys.argv[2] == "tied" else command)
print(child.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _poll(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def started(how: str, ignore_sigint: bool = False) -> Iterator[tuple[subprocess.Popen, int]]:
    """A parent that started ``sleep`` (``how``: tied or plain) and that child's pid, once the
    child is ``sleep`` itself; both gone afterwards."""
    sleep = shutil.which("sleep")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, "sleep", how],  # by name, as Beam names `java`
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if ignore_sigint
        else None,
    )
    child = int(parent.stdout.readline())
    try:
        exec_done = _poll(
            lambda: Path(f"/proc/{child}/exe").resolve() == Path(sleep).resolve(),
            EXEC_TIMEOUT_SECONDS,
        )
        assert exec_done, "the launcher became the command"
        yield parent, child
    finally:
        parent.kill()
        parent.wait(timeout=30)
        parent.stdout.close()
        if _running(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize(("how", "survives"), [("tied", False), ("plain", True)])
def test_a_child_dies_with_its_parent_only_when_tied(how, survives):
    with started(how) as (parent, child):
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        # the control need not wait as long: a plain child is not signalled at all
        gone = _poll(lambda: not _running(child), 1 if survives else GONE_TIMEOUT_SECONDS)
        assert gone != survives


@pytest.mark.parametrize(("how", "stops"), [("tied", True), ("plain", False)])
def test_a_tied_child_stops_on_sigint_when_the_job_ignores_it(how, stops):
    """A job started in the background by a script inherits SIGINT ignored; so did Prism, which
    the job stops with SIGINT: each such job ended ~6 s late. Started plainly (the control), the
    child ignores it still."""
    with started(how, ignore_sigint=True) as (_parent, child):
        os.kill(child, signal.SIGINT)
        gone = _poll(lambda: not _running(child), GONE_TIMEOUT_SECONDS if stops else 1)
        assert gone == stops
