"""Counting failed attempts (pairing codes, operator passwords) to slow down guessing.

One throttle for both web apps, so the kit's pairing and the hub's login limit guesses
the same way: failures are counted per key (a client address) and in total within a
sliding window. While either count is at its limit, further attempts from that key are
not even checked, so the right secret is refused too and guessing cannot go faster by
spreading over many addresses. Nothing is stored on disk: a restart forgets it all.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

__all__ = ["FailureThrottle"]


class FailureThrottle:
    """Failures per key and overall within ``window_seconds``; safe to share between threads."""

    def __init__(
        self,
        *,
        per_key: int,
        overall: int,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key = per_key
        self.overall = overall
        self.window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._by_key: dict[str, collections.deque[float]] = {}
        self._all: collections.deque[float] = collections.deque()

    def _prune(self, now: float) -> None:
        # A failure counts for exactly one window. Keys whose failures all expired are
        # dropped, so the table stays as small as the overall limit keeps it.
        horizon = now - self.window
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        for key in list(self._by_key):
            times = self._by_key[key]
            while times and times[0] <= horizon:
                times.popleft()
            if not times:
                del self._by_key[key]

    def retry_after(self, key: str) -> float:
        """0 when an attempt from ``key`` may be checked now, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            waits = []
            times = self._by_key.get(key)
            if times is not None and len(times) >= self.per_key:
                waits.append(times[0] + self.window - now)
            if len(self._all) >= self.overall:
                waits.append(self._all[0] + self.window - now)
            return max(waits, default=0.0)

    def failed(self, key: str) -> None:
        """Count one failed attempt from ``key`` (and in the total)."""
        with self._lock:
            now = self._clock()
            self._by_key.setdefault(key, collections.deque()).append(now)
            self._all.append(now)

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures; they still count in the total until they expire."""
        with self._lock:
            self._by_key.pop(key, None)

    def clear(self) -> None:
        """Forget every failure (an operator lifted the limits)."""
        with self._lock:
            self._by_key.clear()
            self._all.clear()
