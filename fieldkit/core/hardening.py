"""Keeping a serving process's memory out of core dumps (issue 17, point 9).

A kit that crashes while serving holds the draft key and answers being sealed in
memory; a core file would put them on disk, readable by whoever seizes the kit. So
``serve`` sets the core size limit to zero (hard and soft, so nothing in the process
can raise it again) and, on Linux, marks the process not dumpable, which also keeps
other processes of the same account from attaching to it or reading its memory.

Hand-written with ``resource`` and ``ctypes``: ``prctl`` is one libc call, and the
packages that wrap it would add a compiled dependency for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

__all__ = ["PR_GET_DUMPABLE", "forbid_core_dumps"]

PR_SET_DUMPABLE = 4  # from <linux/prctl.h>
PR_GET_DUMPABLE = 3


def forbid_core_dumps() -> None:
    """No core file and, on Linux, no dumping or attaching; harmless where unsupported."""
    try:
        import resource
    except ImportError:  # not on POSIX: there is no core file to forbid
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
