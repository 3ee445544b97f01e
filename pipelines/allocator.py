"""glibc's malloc arenas in newsflow's long-running processes: two, unless the operator says.

glibc gives a thread that finds the arenas in use an arena of its own, up to eight per core
(16 here), and memory freed into an arena stays with it. A job's worker has ~60 threads (Beam's
bundle and data threads, kafka-python's, gRPC's) taking turns at the same indexes; CPython's GIL
lets one of them allocate at a time, so extra arenas buy no concurrency, only slack: each keeps
its own freed pages resident. Capped at two in soaks side by side (docs/performance.md,
"2026-12-07 07:51"), the local runner's launcher, where the indexes live, held 6-12 MiB less,
and with short windows it was flat from minute 20 instead of still growing at minute 30, for the
same CPU. Set before the process starts its threads: an arena is assigned at a thread's first
allocation and kept.

``MALLOC_ARENA_MAX`` or ``GLIBC_TUNABLES=glibc.malloc.arena_max=N`` in the environment win
(glibc reads them at start; newsflow then leaves the limit alone). Other C libraries (musl,
macOS) have no such arenas, and nothing is done there.
"""

from __future__ import annotations

import ctypes
import os
import platform

ARENAS = 2
M_ARENA_MAX = -8  # glibc's <malloc.h>


def operator_chose() -> bool:
    """Whether the environment sets glibc's arena limit (glibc's own knobs, read at start)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in tunables


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True if the cap was set here."""
    if operator_chose() or platform.libc_ver()[0] != "glibc":
        return False
    return ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas) == 1
