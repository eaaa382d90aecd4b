"""A real ``fieldkit serve`` process on a free loopback port: start-up time and memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.kits import BenchKit
from benchmarks.stats import Stopwatch
from tests.processes import read_until_ready

READY_TIMEOUT_SECONDS = 60.0


@dataclass
class ServedKit:
    process: subprocess.Popen[str]
    base_url: str
    ready_seconds: float
    output: list[str] = field(default_factory=list)

    def memory_mb(self, field_name: str = "VmRSS") -> float:
        """A memory figure of the server process from /proc (VmRSS: resident now, VmHWM: peak)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        match = re.search(rf"^{field_name}:\s+(\d+) kB$", status, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"/proc/{self.process.pid}/status has no {field_name}")
        return int(match.group(1)) / 1024

    def pin_to_one_core(self) -> int:
        """Keep every thread of the server on one core (the last one this process may use).

        ``os.sched_setaffinity(pid)`` moves one thread only, so each of ``/proc/PID/task``
        is moved; waitress has started all its threads by "ready". Returns the core.
        """
        core = max(os.sched_getaffinity(0))
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), {core})
        return core

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_serve(kit: BenchKit, *extra: str, wrapper: Sequence[str] = ()) -> ServedKit:
    """Start ``fieldkit serve`` and return once it prints "ready" (the time it took included).

    The clock starts before the process is created, so the figure holds Python's own
    start-up, the imports, the scrypt unlock and the app's set-up: what a person waits.
    ``wrapper`` is a command that runs serve, such as ``taskset -c 0`` (it execs serve
    itself, so the pid is serve's).
    """
    command = [
        *wrapper, sys.executable, "-m", "fieldkit", "serve", "--data", str(kit.data_dir),
        "--passphrase-file", str(kit.passphrase_file), "--host", "127.0.0.1", "--port", "0",
        "--operator-port", "0", *extra,
    ]  # fmt: skip
    watch = Stopwatch()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    if read_until_ready(process, READY_TIMEOUT_SECONDS, lines):
        ready = watch.seconds()
        url = re.search(r"phones: (http://\S+)", "\n".join(lines))
        if url is not None:
            served = ServedKit(process, url.group(1).rstrip("/"), ready, lines)
            # Keep reading its output, so a full pipe never blocks the server.
            threading.Thread(target=_drain, args=(process, lines), daemon=True).start()
            return served
    process.kill()
    process.wait()
    raise RuntimeError("fieldkit serve did not become ready:\n" + "\n".join(lines))


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
