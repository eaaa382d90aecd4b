"""Kill tests that do not depend on the machine's speed.

A kill test that sleeps a fixed time and then counts how much work got done passes on
a fast machine and fails on a loaded one although nothing was lost. The helpers here
let a test instead

- wait (with a generous timeout) until the child *acknowledges* something, and kill it
  at a random instant shortly after, scaled by how long the child itself just took, so
  that kills spread over the child's work at any speed;
- run trials until a count *or* a wall-time budget is used up, whichever comes first;
- judge the trials by whether the kill landed while work was under way (observed in
  the child's own output), not by throughput.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

# How long to wait for the next acknowledgement before calling the child stuck: far
# more than any one record takes even on a machine running the whole suite twice over.
PROGRESS_TIMEOUT = 120.0
# Trials that must have interrupted work, when at least that many ran.
MIN_INTERRUPTED = 10


def seconds_budget(default: float) -> float:
    """The wall-time bound of a trial loop; FIELDKIT_CRASH_SECONDS overrides it."""
    return float(os.environ.get("FIELDKIT_CRASH_SECONDS", default))


@dataclass
class TrialBudget:
    """At most ``count`` trials or ``seconds`` of wall time, whichever is used up first.

    The first trial always runs, so even a budget used up by set-up runs one.
    """

    count: int
    seconds: float
    started: float = field(default_factory=time.monotonic)
    run: int = 0

    def __iter__(self) -> Iterator[int]:
        deadline = self.started + self.seconds
        for trial in range(self.count):
            if trial and time.monotonic() >= deadline:
                return
            self.run = trial + 1
            yield trial

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def summary(self, interrupted: int) -> str:
        return (
            f"{interrupted} of {self.run} trials interrupted work "
            f"(bound: {self.count} trials or {self.seconds:.0f} s; took {self.elapsed:.1f} s)"
        )


def required_interrupted(trials_run: int) -> int:
    """How many trials must have interrupted work: 10, or half of them when fewer ran.

    Small enough for a slow machine to reach within the time bound (a kill lands
    during work in most trials), but never zero: a run whose kills all missed the
    work proved nothing.
    """
    return max(1, min(MIN_INTERRUPTED, trials_run // 2))


class WatchedChild:
    """A child process whose output lines are read as they arrive, with their times.

    A reader thread keeps the pipe drained, so the test can wait for the next line
    with a timeout instead of sleeping a guess.
    """

    def __init__(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        self.process = process
        self.lines: list[tuple[float, str]] = []  # complete lines only
        self._queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while raw := stream.readline():
            text = raw.decode() if isinstance(raw, bytes) else raw
            if not text.endswith("\n"):
                break  # cut short by the kill: never a complete acknowledgement
            item = (time.monotonic(), text[:-1])
            self.lines.append(item)
            self._queue.put(item)
        self._queue.put(None)

    def next_line(self, timeout: float = PROGRESS_TIMEOUT) -> tuple[float, str]:
        """The next complete line and when it arrived; fails if none comes in time."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the child printed nothing for {timeout:.0f} s: stuck?") from None
        if item is None:
            raise AssertionError(f"the child ended (status {self.process.poll()}) instead of working")
        return item

    def wait_for(self, wanted, timeout: float = PROGRESS_TIMEOUT) -> tuple[float, str]:
        """Skip lines until one for which ``wanted(line)`` is true."""
        deadline = time.monotonic() + timeout
        while True:
            arrived, line = self.next_line(max(0.0, deadline - time.monotonic()))
            if wanted(line):
                return arrived, line

    def kill(self) -> list[str]:
        """SIGKILL now; return every complete line the child printed."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return [line for _, line in self.lines]


def sleep_shortly_after(rng: random.Random, took: float, *, spread: float = 1.5) -> float:
    """Sleep a random part of ``spread`` times the last observed step; return the delay.

    Scaling by what the child itself just took (not a fixed number of seconds) makes
    the kill land anywhere in the next step or so, on a fast machine and a slow one.
    """
    delay = rng.uniform(0.0, spread * max(took, 0.001))
    time.sleep(delay)
    return delay


# A parent that has imported Python's and fieldkit's modules once and forks each trial's
# child from there: the child is still a real process, killed with SIGKILL, that does all
# of its own work (unlocking the kit, opening the store) after the fork; only starting the
# interpreter and importing are done once, not once per trial.
_FORK_SERVER = """
import json, os, socket, sys, traceback
channel = socket.socket(fileno=int(sys.argv[1]))
exec(compile(sys.argv[2], "<preload>", "exec"), {"__name__": "__preload__"})
sys.stdout.flush()
channel.send(b"ready")
while True:
    message, fds, _flags, _address = socket.recv_fds(channel, 1 << 20, 1)
    if not message:
        break
    request = json.loads(message)
    if request["op"] == "wait":
        _pid, status = os.waitpid(request["pid"], os.WNOHANG if request["poll"] else 0)
        channel.send(json.dumps(None if _pid == 0 else os.waitstatus_to_exitcode(status)).encode())
        continue
    pid = os.fork()
    if pid == 0:
        channel.close()
        os.dup2(fds[0], 1)
        os.close(fds[0])
        sys.argv = ["-c", *request["args"]]
        status = 0
        try:
            exec(compile(request["script"], "<child>", "exec"), {"__name__": "__main__"})
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            status = 1
        try:
            sys.stdout.flush()
        finally:
            os._exit(status)
    os.close(fds[0])
    channel.send(json.dumps(pid).encode())
"""


class ForkedChild:
    """What :class:`WatchedChild` needs of a ``subprocess.Popen``, for a child of a :class:`ForkServer`."""

    def __init__(self, server: ForkServer, pid: int, stdout, args: list[str]) -> None:
        self._server = server
        self.pid = pid
        self.stdout = stdout
        self.args = args
        self.returncode: int | None = None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server._wait(self.pid, poll=True)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._server._wait(self.pid, poll=False, timeout=timeout)
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """Runs ``preload`` (imports) once in a server process, then forks each child from it.

    ``spawn(script, args)`` is like ``Popen([python, "-c", script, *args], stdout=PIPE)``:
    ``sys.argv``, stdout and the exit status are the child's own.
    """

    def __init__(self, preload: str, *, env: dict[str, str] | None = None, text: bool = False) -> None:
        import socket
        import sys

        self._text = text
        self._channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER, str(theirs.fileno()), preload],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        theirs.close()
        self._channel.settimeout(PROGRESS_TIMEOUT)
        assert self._channel.recv(16) == b"ready", "the fork server did not start"

    def spawn(self, script: str, args: list[str]) -> ForkedChild:
        import json
        import socket

        read_end, write_end = os.pipe()
        try:
            request = json.dumps({"op": "fork", "script": script, "args": args}).encode()
            socket.send_fds(self._channel, [request], [write_end])
        finally:
            os.close(write_end)  # the child holds the only write end: its end is the pipe's end
        pid = json.loads(self._channel.recv(64))
        stdout = os.fdopen(read_end, "r" if self._text else "rb")
        return ForkedChild(self, pid, stdout, args)

    def _wait(self, pid: int, *, poll: bool, timeout: float | None = None) -> int | None:
        import json

        self._channel.settimeout(timeout if timeout is not None else PROGRESS_TIMEOUT)
        try:
            self._channel.send(json.dumps({"op": "wait", "pid": pid, "poll": poll}).encode())
            return json.loads(self._channel.recv(64))
        finally:
            self._channel.settimeout(PROGRESS_TIMEOUT)

    def close(self) -> None:
        self._channel.close()  # the server reads the end of its channel and exits
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
