"""glibc's malloc settings in newsflow's processes, each set where its allocations are known.

- **Arenas, two** (``limit_malloc_arenas``: ``newsflow`` and the Flink pool's SDK workers, first
  thing in ``main``). glibc gives a thread that finds the arenas in use an arena of its own, up
  to eight per core, and memory freed into an arena stays with it. A job's worker has ~60 threads
  (Beam's bundle and data threads, kafka-python's, gRPC's) taking turns at the same indexes;
  CPython's GIL lets one of them allocate at a time, so extra arenas buy no concurrency, only
  slack. Capped at two in soaks side by side (docs/performance.md, "2026-12-07 07:51"), the
  local runner's launcher, where the indexes live, held 6-12 MiB less, and with short windows it
  was flat from minute 20 instead of still growing at minute 30, for the same CPU. Set before
  the process starts its threads: an arena is assigned at a thread's first allocation and kept.
- **mmap threshold pinned at glibc's 128 KiB** (``fix_mmap_threshold``: the dedup step). The
  index merges its band keys into sorted numpy arrays by copying them (``np.insert``): arrays of
  0.5-50 MB, allocated and freed again and again as it grows. Each free of a mapped block raises
  glibc's dynamic threshold (up to 32 MiB), after which blocks of that size come from the heap
  and stay resident once freed: RSS grew ~3.1 KB per remembered article where tracemalloc counted
  1.35 KB, and 1.25 KB with the threshold fixed (an explicit value turns the adjustment off).
- **Freed memory kept** (``keep_freed_memory``: each NER pool worker). NER is the same batch
  computation again and again, and glibc handed its large temporaries back to the kernel after
  every batch (mapped blocks unmapped, the heap's top trimmed), so each batch faulted its pages
  in anew: 300,000-800,000 page faults and 1-2.5 s of kernel time a worker for 1,000 articles,
  up to a tenth of its CPU. With blocks up to 32 MiB from the heap and its top trimmed only past
  256 MiB, the pages are reused: ~50,000 faults and 0.25-0.45 s, the peak RSS within 10 MiB
  (docs/performance.md, "2026-12-07 11:00"). Both are needed: an explicit trim threshold alone
  also turns off glibc's dynamic mmap threshold, and faults more.

A setting the environment makes (glibc reads ``MALLOC_*`` and ``GLIBC_TUNABLES`` at start) wins:
newsflow then leaves that knob alone. Other C libraries (musl, macOS) are not touched.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    """One of glibc's malloc parameters: its ``mallopt`` number and its environment names."""

    param: int  # <malloc.h>'s M_* constant
    env: str
    tunable: str


ARENA_MAX = Knob(-8, "MALLOC_ARENA_MAX", "glibc.malloc.arena_max")
MMAP_THRESHOLD = Knob(-3, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold")
TRIM_THRESHOLD = Knob(-1, "MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold")

ARENAS = 2
GLIBC_MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value
KEPT_BLOCK_BYTES = 32 * 1024 * 1024  # glibc's ceiling for its dynamic mmap threshold
KEPT_TOP_BYTES = 256 * 1024 * 1024  # above a NER worker's batch peak: a trim is then rare


def operator_chose(knob: Knob) -> bool:
    """Whether the environment sets ``knob`` (glibc's own variables, read at start)."""
    return knob.env in os.environ or knob.tunable in os.environ.get("GLIBC_TUNABLES", "")


@functools.cache
def _mallopt():
    return ctypes.CDLL(None).mallopt if platform.libc_ver()[0] == "glibc" else None


def set_knob(knob: Knob, value: int) -> bool:
    """Set ``knob`` for this process; True if it was set here (not the operator's, and glibc)."""
    mallopt = _mallopt()
    if mallopt is None or operator_chose(knob):
        return False
    return mallopt(knob.param, value) == 1


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    return set_knob(ARENA_MAX, arenas)


def fix_mmap_threshold(size: int = GLIBC_MMAP_THRESHOLD) -> bool:
    return set_knob(MMAP_THRESHOLD, size)


def keep_freed_memory(
    block_bytes: int = KEPT_BLOCK_BYTES, top_bytes: int = KEPT_TOP_BYTES
) -> tuple[bool, bool]:
    """Serve blocks up to ``block_bytes`` from the heap and trim its top only past
    ``top_bytes``; whether each of the two was set here."""
    return set_knob(MMAP_THRESHOLD, block_bytes), set_knob(TRIM_THRESHOLD, top_bytes)
