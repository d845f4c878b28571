"""Keep a sending worker's resident memory flat for the whole of a long send.

glibc's malloc gives threads that allocate at the same time arenas of their own (up to eight
per core), and each arena keeps the memory freed in it. The engine's pool threads build large
requests and parse large answers, so a worker's resident size crept up through a send (161 →
176 MB over 150,000 readers) though Python's own heap stayed flat (tracemalloc: +1 MB). With
two arenas it holds at 140–144 MB. `MALLOC_ARENA_MAX` in the environment does the same and,
when set, wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(count: int = ARENAS) -> bool:
    """Call before the process starts threads. False where malloc is not glibc's, or the
    environment already chose."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    return bool(mallopt(M_ARENA_MAX, count))
