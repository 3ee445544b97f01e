"""Keep glibc from holding on to the dedup index's freed arrays.

glibc's ``malloc`` serves blocks of 128 KiB and more with ``mmap`` and returns them to the OS when
freed, but each such free raises that threshold (up to 32 MiB), after which blocks of that size
come from the heap and stay mapped once freed. The dedup index merges its band keys into sorted
numpy arrays by copying them (``np.insert``): arrays of 0.5-50 MB, allocated and freed again and
again as the index grows, so the process's RSS grew by about 3.1 KB per remembered article where
tracemalloc counted 1.35 KB. Fixing the threshold (an explicit ``mallopt`` also turns the dynamic
adjustment off) brought it to 1.25 KB (benchmarks/memory_soak.py, docs/performance.md).
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def fix_mmap_threshold(size: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Pin glibc's mmap threshold for this process; False where there is no glibc ``mallopt``
    (other platforms or C libraries keep their own policy)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(M_MMAP_THRESHOLD, size) == 1
