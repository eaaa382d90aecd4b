"""The serving process's malloc settings: one libc call each, taken where glibc is there."""

from __future__ import annotations

import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver())


@pytest.mark.skipif(not GLIBC, reason="mallopt and malloc_trim are glibc's")
def test_glibc_takes_the_arena_limit_and_trims() -> None:
    # In a child: the limit holds for the whole process, and pytest's own must not change.
    script = (
        "from fieldkit.core.memory import limit_malloc_arenas, trim_heap\n"
        "blocks = [bytearray(4096) for _ in range(20000)]\n"
        "del blocks\n"
        "print(limit_malloc_arenas(), trim_heap())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True"]
