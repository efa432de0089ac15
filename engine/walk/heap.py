"""How the process allocates, set once at start: a long run's resident size creeps less.

A continuous run lives for days; what it keeps is bounded (the left-behind
history, the coverage counts), yet its resident size goes on rising in steps
long after those bounds are reached, while the memory Python objects hold
stays level (tracemalloc): the steps are the C heap's. Three settings:

- at most two malloc arenas (glibc makes up to 8 per core, one per thread that
  allocates: the store's flush thread, the heartbeat, the alert sender, each
  keeping its own free pages);
- a fixed mmap threshold of 1 MiB: glibc raises it as large blocks are freed,
  after which the store's bigger merges (row groups up to 32 MB; the second
  level comes every ~34 minutes at a 2 s flush) take their buffers from the heap
  and leave it larger; with the threshold fixed the merge's step is gone a
  minute later;
- Arrow's buffers from the system allocator, not from a pool of its own, and
  ``malloc_trim(0)`` after each round (a fresh Hypothesis search, all freed).
  ``pyarrow.set_memory_pool`` reaches only what Python asks Arrow for; its C++
  code (Parquet, casts) keeps to the pool chosen when it loads, mimalloc in
  these wheels, whose 1 GiB region held 10 MB at minute 17 of a soak at 50/s
  and 16 MB in one at 1000/s, beyond the trim's reach. ``engine.cli``
  therefore sets ``ARROW_DEFAULT_MEMORY_POOL=system`` before pyarrow is
  imported; the call here covers a process that imported it first.

Measured in 60-minute soaks at 50/s (README, *Speed*): the ratio of RSS at
60 to 5 minutes went from 1.16 to 1.12-1.13 with the first three, and to 1.03
(+3 MB/hour) once Arrow's C++ code left mimalloc and the left-behind history
was packed by the chunk. On a C library without these calls (musl, macOS)
nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["settle_allocators", "release_freed_memory"]

_M_MMAP_THRESHOLD = -3  # mallopt's parameter numbers in glibc's malloc.h
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 20  # a block this large is mapped for itself, and unmapped when freed


def _libc_function(name: str, argtypes: list):
    """``name`` of the C library with its argument types, or None where there is no such call."""
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = argtypes, ctypes.c_int
    return function


_MALLOPT = _libc_function("mallopt", [ctypes.c_int, ctypes.c_int])
_MALLOC_TRIM = _libc_function("malloc_trim", [ctypes.c_size_t])


def settle_allocators(arenas: int = 2) -> None:
    """At most ``arenas`` malloc arenas, a fixed mmap threshold, and Arrow on the system allocator;
    call before threads start."""
    if _MALLOPT is not None:
        _MALLOPT(_M_ARENA_MAX, arenas)
        _MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    try:
        import pyarrow
    except ImportError:
        return
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


def release_freed_memory() -> None:
    """Return the heap's free pages (a few ms, once a round).

    No ``gc.collect()`` first: a full collection runs Python callbacks (Hypothesis times every
    collection), and a second Ctrl-C landing in one printed a traceback instead of stopping at once."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
