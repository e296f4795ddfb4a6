"""Give freed heap memory back to the operating system during long evaluation loops.

Evaluation allocates activations of a different shape nearly every batch. glibc's malloc keeps the
freed blocks in its heap when a small long-lived allocation sits above them, so the resident size of
a long evaluation creeps up with the number of batches although the memory in use stays flat.
`malloc_trim(0)` returns every whole free page of the heap (not only its top) to the system. It is a
no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # glibc only: musl and macOS have no such symbol
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system; False where that is not possible (not glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
