"""The local runner dies with the job that started it, even after ``kill -9`` of the job alone.

Beam's PrismRunner starts the Prism binary as a plain child process. A child outlives a parent
killed with SIGKILL (or by the OOM killer): it is re-parented to init and keeps running, holding
its ports and memory, and every kill and restart of the job would add one more. Linux kills a
child with its parent only when the child asks first, with ``prctl(PR_SET_PDEATHSIG)``, and only a
process can ask for itself: so Prism is started through this launcher, which asks and then
``exec``s the binary (the request survives the ``exec``).

``PR_SET_PDEATHSIG`` fires when the *thread* that started the child ends, not the process; the
job starts Prism from the thread that runs the pipeline (the main thread, alive for the whole run).
Python pool processes watch their parent's task pipe instead (``transforms/text/ner_pool.py``).
A FlinkRunner job's Flink job server (``java -jar ...``, a plain child too) is started the same
way: after a ``kill -9`` of the job's launcher it lived on, holding its ports, a JVM per kill.
The command is looked up on ``PATH`` as the shell would (Beam names the job server's ``java``
without a directory).

The launcher also gives the command SIGINT's default action. A job started in the background
from a script (``newsflow process ... &``) or under ``nohup`` inherits SIGINT ignored, and an
ignored signal stays ignored across ``exec``: Prism, which the job stops with SIGINT, then ignored
every stop, and Beam's stop sent it five more a second apart before it killed it. Each such job
ended about 6 s late (the 27 examples' ``newsflow process``: 9.0 s in the background, 3.2 s in the
foreground). The job itself keeps what it inherited (its SIGINT and SIGTERM become a cancel once
it runs).

Usage: ``python -m pipelines.lifeline PARENT_PID COMMAND [ARG ...]``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent ends; exit at once if the parent
    (``parent_pid``) already ended before the request was made."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:
        os._exit(1)


def launcher_command(command: list[str]) -> list[str]:
    """``command`` run through this launcher, tied to the calling process."""
    return [sys.executable, "-m", __name__, str(os.getpid()), *command]


def main(argv: list[str]) -> None:
    """Ask to die with the parent, take SIGINT's default action back, then become ``argv[1:]``
    (same pid, same file descriptors)."""
    parent_pid, command = int(argv[0]), argv[1:]
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
