"""The C allocator of a serving process: memory that a batch freed is kept for the next one.

glibc gives freed memory back to the system eagerly: blocks over its mmap threshold are unmapped when freed, and
the top of the heap is trimmed, and each thread of the pool may get an arena of its own. The next batch then
touches its arrays (the model's hidden layer alone takes 2.5 KB a row) as fresh pages, and on big batches the
page faults cost as much as the arithmetic. So a serving process keeps blocks up to 32 MiB on its heap, trims
it only past 128 MiB free, and uses one arena (the GIL serialises allocations anyway): its resident memory
settles at what its largest batches used instead of being given back and faulted in again.
"""

from __future__ import annotations

import ctypes
from typing import Final

M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
M_ARENA_MAX: Final = -8

KEPT_FREE_BYTES: Final = 128 << 20
LARGEST_HEAP_BLOCK: Final = 32 << 20
"""glibc's ceiling for the mmap threshold on 64-bit systems."""


def keep_freed_memory() -> bool:
    """Set the thresholds with glibc's ``mallopt``; False, and nothing changed, with another C library."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to load, or one without mallopt (macOS)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, LARGEST_HEAP_BLOCK), (M_TRIM_THRESHOLD, KEPT_FREE_BYTES), (M_ARENA_MAX, 1))
    applied = [mallopt(parameter, value) for parameter, value in settings]
    return applied == [1] * len(settings)  # glibc answers 1 for each; musl's mallopt answers 0
