"""Keep freed memory for reuse instead of handing it back to the OS after every tensor.

glibc's malloc serves allocations above its mmap threshold (128 KiB, growing to at most 32 MiB) with fresh
mmap'd pages and unmaps them on free; a training step on a CPU allocates and frees activations of tens of
MB, so every step faults its pages in anew and the kernel zeroes each one. Raising the mmap threshold and the
trim threshold keeps those blocks in the heap. Measured on the 2-core AMD development machine
(`python -m benchmarks.allocator`, EfficientNet-Lite0 training steps, batch 32): partial at 128 px 279 ->
221 ms (0.79), full at 160 px 597 -> 512 ms (0.86), full at 224 px 1134 -> 979 ms (0.86), full at 128 px
unchanged (0.99-1.01); page faults fall 3-7x. The cost is that the process keeps its peak heap until it
exits, which a training run reaches anyway.

It acts on the process that calls it: the CLI calls it once per command (`cli/common.py`), workers when they
start (`experiments/runner.py`); importing liftlab changes nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30
"""Allocations below 1 GiB come from the heap, whose freed blocks are reused by the next step."""
TRIM_THRESHOLD = 1 << 31
"""Free heap at the top is given back to the OS only beyond 2 GiB."""


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process; False where the C library is not glibc (macOS,
    musl) and nothing changed.

    >>> isinstance(keep_freed_memory(), bool)
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt takes an int: TRIM_THRESHOLD is clamped to the largest one
    trimmed = mallopt(M_TRIM_THRESHOLD, min(TRIM_THRESHOLD, 2**31 - 1))
    mapped = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(trimmed and mapped)
