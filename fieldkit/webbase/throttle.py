"""Counting failed attempts (pairing codes, operator passwords) to slow down guessing.

One throttle for both web apps, so the kit's pairing and the hub's login limit guesses
the same way: failures are counted per key (a client address) and in total within a
sliding window. While either count is at its limit, further attempts from that key are
not even checked, so the right secret is refused too and guessing cannot go faster by
spreading over many addresses (the kit's pairing asks only about the key, and rotates
its code when the total is reached, so that a flood cannot lock out the right code).
The table of keys holds at most ``max_keys``: the key whose last failure is oldest is
forgotten first, so a flood from ever new addresses cannot grow it without bound.
Nothing is stored on disk: a restart forgets it all.
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
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key = per_key
        self.max_keys = max_keys
        self.overall = overall
        self.window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # Ordered by each key's latest failure, oldest first: the first is the one to forget.
        self._by_key: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
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

    def retry_after(self, key: str, *, overall: bool = True) -> float:
        """0 when an attempt from ``key`` may be checked now, else the seconds to wait.

        ``overall=False`` asks about the key's own limit only.
        """
        with self._lock:
            now = self._clock()
            self._prune(now)
            waits = []
            times = self._by_key.get(key)
            if times is not None and len(times) >= self.per_key:
                waits.append(times[0] + self.window - now)
            if overall and len(self._all) >= self.overall:
                waits.append(self._all[0] + self.window - now)
            return max(waits, default=0.0)

    def failed(self, key: str) -> bool:
        """Count one failed attempt from ``key`` (and in the total); True when the total is at its limit."""
        with self._lock:
            now = self._clock()
            times = self._by_key.pop(key, None) or collections.deque()
            times.append(now)
            self._by_key[key] = times  # now the newest
            while len(self._by_key) > self.max_keys:
                self._by_key.popitem(last=False)
            self._all.append(now)
            return len(self._all) >= self.overall

    def keys_held(self) -> int:
        """How many keys the table holds now (bounded by ``max_keys``)."""
        with self._lock:
            return len(self._by_key)

    def clear_overall(self) -> None:
        """Forget the total, keep each key's failures (the kit did this after changing its code)."""
        with self._lock:
            self._all.clear()

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures; they still count in the total until they expire."""
        with self._lock:
            self._by_key.pop(key, None)

    def clear(self) -> None:
        """Forget every failure (an operator lifted the limits)."""
        with self._lock:
            self._by_key.clear()
            self._all.clear()
