"""Starting a real ``fieldkit`` command that serves, and stopping it, for the tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

READY_SECONDS = 30


def read_until_ready(process: subprocess.Popen, seconds: float, lines: list[str]) -> bool:
    """Collect a serving process's output into ``lines`` until it prints "ready" (True).

    False when it ended or ``seconds`` passed first. Used by the tests, the installed
    smoke and the benchmarks alike, so "ready" means the same to all of them.
    """
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            return False
        lines.append(line.rstrip("\n"))
        if line.strip() == "ready":
            return True
    return False


def start_until_ready(*args: str) -> tuple[subprocess.Popen, str]:
    """Run ``python -m fieldkit ARGS``; return once it prints "ready", with all it printed.

    A kit's ``serve`` gets ``--operator-port 0`` unless the test gives one: tests run side by
    side, and the default HTTPS port of the operator's listener can be bound only once.
    """
    if args and args[0] == "serve" and "--operator-port" not in args:
        args = (*args, "--operator-port", "0")
    process = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    if read_until_ready(process, READY_SECONDS, lines):
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
