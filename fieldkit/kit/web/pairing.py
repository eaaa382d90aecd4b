"""Pairing phones with the kit: a short one-time code shown on the kit's own screen.

The local Wi-Fi is not trusted, so a phone must prove it can see the kit's
screen (or its operator) before it can start an interview. Each code works
once and expires after a few minutes, so a code photographed or overheard
earlier is of no use later. Wrong codes are limited per client (that client is
refused for the rest of the minute); the total of wrong codes from everyone is
not a reason to refuse anyone, since then a flood from a few addresses would lock
the right code out: at TOTAL_FAILURES_PER_MINUTE the code is changed instead, so
a steady flood never faces the same code for long (the operator page shows the new
one). The table of clients is bounded (FailureThrottle's ``max_keys``).

Drafts are bound to the pairing that made them: only the session that started a
draft (or the one the operator gave it to on the operator page) can list, open,
discard or restore it. Another phone that pairs with the same interviewer code
sees only how many are held elsewhere. The binding is in memory, as the sessions
are: after a restart no session holds any draft, and the operator gives the
interviewer's new pairing their drafts with one button. Sessions live only
in memory: restarting the server, revoking a session, a quick exit or
``idle_seconds`` without a request ends them (a phone that left with no link
cannot say it has gone). Each session has a short random tag, shown on the phone
and on the operator page, so two phones with the same interviewer code can be
told apart.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fieldkit.webbase.throttle import FailureThrottle

CODE_DIGITS = 6
CODE_SECONDS = 600.0
TAG_LETTERS = "ACDEFHJKMNPRTUVWXY34679"  # no 0/O, 1/I/L, 2/Z, 5/S, 8/B: easy to read out
TAG_LENGTH = 3
WINDOW_SECONDS = 60.0
DEFAULT_IDLE_SECONDS = 30 * 60.0
TOTAL_FAILURES_PER_MINUTE = 30


class RateLimited(Exception):
    """Too many wrong codes; ``retry_after`` says how many seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass
class PairedSession:
    session_id: str
    interviewer: str
    paired_at: float
    last_seen: float = field(default=0.0)
    tag: str = ""
    paired_wall: float = 0.0  # time.time() at pairing, to show the operator


def _new_tag() -> str:
    return "".join(secrets.choice(TAG_LETTERS) for _ in range(TAG_LENGTH))


def _new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


class Pairing:
    def __init__(
        self,
        interviewer_codes: tuple[str, ...],
        *,
        failures_per_minute: int = 5,
        code_seconds: float = CODE_SECONDS,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.interviewer_codes = interviewer_codes
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._wall = wall
        self._code_seconds = code_seconds
        self._lock = threading.Lock()
        self._code = _new_code()
        self._code_until = clock() + code_seconds
        self._throttle = FailureThrottle(
            per_key=failures_per_minute, overall=TOTAL_FAILURES_PER_MINUTE, window_seconds=WINDOW_SECONDS, clock=clock
        )
        self._sessions: dict[str, PairedSession] = {}
        self._holders: dict[str, str] = {}  # draft id -> the session id that may open it

    @property
    def code(self) -> str:
        with self._lock:
            self._renew_if_expired()
            return self._code

    def code_expires(self) -> tuple[str, float, float]:
        """The current code, when it expires on the wall clock (time.time()), and seconds left."""
        with self._lock:
            self._renew_if_expired()
            left = max(0.0, self._code_until - self._clock())
            return self._code, self._wall() + left, left

    def _renew_if_expired(self) -> None:
        if self._clock() >= self._code_until:
            self._set_new_code()

    def _set_new_code(self) -> None:
        self._code = _new_code()
        self._code_until = self._clock() + self._code_seconds

    def pair(self, client: str, code: str, interviewer: str) -> PairedSession | None:
        """A new session when ``code`` is the current one; None when it is wrong.

        Raises :class:`RateLimited` once this client has given too many wrong
        codes in the last minute; too many from everyone change the code instead.
        """
        # The check, the compare and the count happen under one lock, so parallel
        # guesses cannot all slip in before the first of them is counted.
        with self._lock:
            wait = self._throttle.retry_after(client, overall=False)
            if wait > 0:
                raise RateLimited(int(wait) + 1)
            self._renew_if_expired()
            if interviewer not in self.interviewer_codes or not secrets.compare_digest(code.strip(), self._code):
                if self._throttle.failed(client):
                    # Everyone together guessed too often: a new code, not a refusal of all.
                    self._set_new_code()
                    self._throttle.clear_overall()
                return None
            # A success does not clear the client's failures: they expire within the
            # window anyway, and a client that needed many tries stays slowed down.
            now = self._clock()
            self._set_new_code()  # one time only
            taken = {other.tag for other in self._sessions.values()}
            tag = _new_tag()
            while tag in taken:  # 23**3 tags: a clash is rare, and never shown twice
                tag = _new_tag()
            session = PairedSession(secrets.token_urlsafe(24), interviewer, now, now, tag, self._wall())
            self._sessions[session.session_id] = session
            return session

    def session(self, session_id: object) -> PairedSession | None:
        if not isinstance(session_id, str):
            return None
        with self._lock:
            self._expire()
            session = self._sessions.get(session_id)
            if session is not None:
                session.last_seen = self._clock()
            return session

    def _expire(self) -> None:
        """Forget sessions unused for ``idle_seconds``; the caller holds the lock."""
        oldest = self._clock() - self.idle_seconds
        for gone in [key for key, session in self._sessions.items() if session.last_seen < oldest]:
            del self._sessions[gone]

    def end(self, session_id: object) -> bool:
        with self._lock:
            return self._sessions.pop(session_id, None) is not None if isinstance(session_id, str) else False

    def sessions(self) -> list[PairedSession]:
        with self._lock:
            self._expire()
            return sorted(self._sessions.values(), key=lambda s: s.paired_at)

    # -- which pairing holds which draft ---------------------------------------------------

    def hold(self, session: PairedSession, draft_id: str) -> None:
        """``session`` started ``draft_id`` (or restored it): only it may open it from now."""
        with self._lock:
            self._holders[draft_id] = session.session_id

    def holds(self, session: PairedSession, draft_id: str) -> bool:
        with self._lock:
            return self._holders.get(draft_id) == session.session_id

    def release(self, draft_id: str) -> None:
        """The draft is sealed or gone: nothing holds it any more."""
        with self._lock:
            self._holders.pop(draft_id, None)

    def hand_over(self, session_id: object, draft_ids: list[str]) -> bool:
        """The operator gives ``draft_ids`` to a live session; False when there is no such session."""
        with self._lock:
            if not isinstance(session_id, str) or session_id not in self._sessions:
                return False
            for draft_id in draft_ids:
                self._holders[draft_id] = session_id
            return True

    def new_code(self) -> str:
        with self._lock:
            self._set_new_code()
            return self._code
