"""Starting a real ``fieldkit`` command that serves, and stopping it, for the tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

READY_SECONDS = 30


def start_until_ready(*args: str) -> tuple[subprocess.Popen, str]:
    """Run ``python -m fieldkit ARGS``; return once it prints "ready", with all it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.strip() == "ready":
            return process, "\n".join(lines)
    stop(process, gently=False)
    raise AssertionError(f"fieldkit {' '.join(args[:2])} did not become ready:\n" + "\n".join(lines))


def stop(process: subprocess.Popen, *, gently: bool = True) -> None:
    """SIGTERM (or SIGKILL), wait, and close the output pipe."""
    if process.poll() is None:
        if gently:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        if process.poll() is None:
            process.kill()
            process.wait(10)
    if process.stdout is not None:
        process.stdout.close()
