"""Who may open the operator pages: the kit's own screen, or an operator logged in over TLS.

From 127.0.0.1 or ::1 (the person at the kit, or over ssh) the operator pages open as
they always did. From any other address they answer only on the TLS listener
(``wsgi.url_scheme`` https, fieldkit/webbase/tls_server.py) and only after a login with
the operator password; over plain HTTP from the network they stay 404. Sessions are kept
in memory (a restart ends them all) under a random token in a cookie of their own,
``fko``: Secure (cookies ignore ports, so without it a phone's plain request to the
interview port would carry it), HttpOnly, SameSite=Strict, Path=/operator. A session
unused for ``IDLE_SECONDS`` ends.

Failed logins and unlocks are counted (fieldkit/webbase/throttle.py) per address and
overall, in two windows, so the wait grows from at most one short window to at most one
long one and never further: guessing is slow, and the operator is never locked out for
good. Failures from the kit's own screen count apart and only per key, so a flood from
the network cannot keep the person at the kit from unlocking it.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Request
from werkzeug.wrappers import Response

from fieldkit.kit.operator_password import OperatorVerifier
from fieldkit.webbase.throttle import FailureThrottle

__all__ = ["COOKIE", "IDLE_SECONDS", "Attempts", "OperatorAccess", "Sessions", "is_local", "over_tls"]

COOKIE = "fko"
COOKIE_PATH = "/operator"
IDLE_SECONDS = 30 * 60
LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1"})


def is_local(request: Request, local: frozenset[str] = LOCAL_ADDRESSES) -> bool:
    return request.remote_addr in local


def over_tls(request: Request) -> bool:
    return request.environ.get("wsgi.url_scheme") == "https"


class Sessions:
    """Operator sessions in memory: the digest of each token and when it was last used."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def start(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            self._seen[self._digest(token)] = self._clock()
        return token

    def _prune(self) -> None:
        now = self._clock()
        for digest, seen in list(self._seen.items()):
            if now - seen > self._idle:
                del self._seen[digest]

    def valid(self, token: str | None) -> bool:
        """True for a live session's token (and it counts as used now)."""
        if not token:
            return False
        with self._lock:
            self._prune()
            digest = self._digest(token)
            if digest not in self._seen:
                return False
            self._seen[digest] = self._clock()
            return True

    def end(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._seen.pop(self._digest(token), None)

    def end_all(self) -> None:
        with self._lock:
            self._seen.clear()


class Attempts:
    """Failed attempts at one secret (the passphrase, the operator password), throttled in two windows."""

    def __init__(self, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        # At most 5 failures per address a window and 20 in all; at most 20 per address in
        # five windows and 60 in all: after that the wait is the long window, never more.
        self._network = (
            FailureThrottle(per_key=5, overall=20, window_seconds=window_seconds, clock=clock),
            FailureThrottle(per_key=20, overall=60, window_seconds=5 * window_seconds, clock=clock),
        )
        self._local = FailureThrottle(per_key=5, overall=10**9, window_seconds=window_seconds, clock=clock)
        self._one_at_a_time = threading.Lock()

    @property
    def lock(self) -> threading.Lock:
        """Held while a secret is checked: one check (one scrypt) at a time."""
        return self._one_at_a_time

    def retry_after(self, address: str, *, local: bool) -> int:
        """0 when an attempt from ``address`` may be checked now, else whole seconds to wait."""
        if local:
            wait = self._local.retry_after(address, overall=False)
        else:
            wait = max(throttle.retry_after(address) for throttle in self._network)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str, *, local: bool) -> None:
        if local:
            self._local.failed(address)
        else:
            for throttle in self._network:
                throttle.failed(address)

    def succeeded(self, address: str, *, local: bool) -> None:
        for throttle in (self._local,) if local else self._network:
            throttle.succeeded(address)


@dataclass
class OperatorAccess:
    """What one running kit knows about its operator: the password, the sessions, the attempts.

    Made before the kit is unlocked and kept after, so that the browser that unlocked the
    kit stays logged in. ``problem``: why the network login is off (a verifier file the
    kit did not sign), shown on the login page; ``verifier`` None and no problem: none set.
    """

    verifier: OperatorVerifier | None = None
    problem: str | None = None
    sessions: Sessions = field(default_factory=Sessions)
    logins: Attempts = field(default_factory=Attempts)
    unlocks: Attempts = field(default_factory=Attempts)
    https_urls: tuple[str, ...] = ()
    fingerprint: str = ""

    def logged_in(self, request: Request) -> bool:
        return over_tls(request) and self.sessions.valid(request.cookies.get(COOKIE))

    def allowed(self, request: Request) -> bool:
        """May this request open an operator page?"""
        return is_local(request) or self.logged_in(request)

    def log_in(self, response: Response) -> None:
        response.set_cookie(
            COOKIE,
            self.sessions.start(),
            path=COOKIE_PATH,
            secure=True,
            httponly=True,
            samesite="Strict",
        )

    def log_out(self, request: Request, response: Response) -> None:
        self.sessions.end(request.cookies.get(COOKIE))
        response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="Strict")
