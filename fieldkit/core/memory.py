"""Keeping a serving process small on a Pi-class machine: glibc's malloc arenas and trimming.

glibc gives each thread that allocates its own malloc arena (up to 8 per core), and an
arena's freed memory stays resident until it is reused. Waitress serves with 8 threads,
so a kit held 8 arenas, each with a few MB that no other thread could reuse
(``docs/performance.md`` measures it). ``limit_malloc_arenas`` caps them with
``mallopt(M_ARENA_MAX)``; it must run before the threads start, which is why ``serve``
calls it first. ``trim_heap`` (``malloc_trim(0)``) returns what start-up freed, such as
the parsing of the form files, to the system.

Both are one libc call through ``ctypes`` and do nothing where the C library has no such
function (musl, macOS, Windows): they change how much memory is resident, never what a
program computes or keeps. Nothing here keeps an answer or a key any longer.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

__all__ = ["SERVING_ARENAS", "limit_malloc_arenas", "trim_heap"]

M_ARENA_MAX = -8  # from glibc's <malloc.h>
SERVING_ARENAS = 1  # one arena: the threads take turns under the interpreter lock anyway


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = SERVING_ARENAS) -> bool:
    """At most ``arenas`` malloc arenas from now on (glibc); True when the C library took it."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            return bool(libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)))
    return False


def trim_heap() -> bool:
    """Give the memory malloc holds free back to the system (glibc); True when some was."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            return bool(libc.malloc_trim(ctypes.c_size_t(0)))
    return False
