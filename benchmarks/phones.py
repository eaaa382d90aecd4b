"""Simulated phones: whole interviews over plain HTTP against a running ``fieldkit serve``.

Each phone is one thread with its own keep-alive connection and cookie jar. It does
what a person's browser does with scripts off: fetch the pairing page, pair with the
code on the kit's screen, choose a form, then GET and POST every page, reading the
CSRF token and the questions shown from each page, and finally finish and seal. Every
request is timed by page type; a status other than 2xx/3xx, or any exception, counts
as an error, and the phone stops that interview.

The pairing code works once, so phones pair one at a time: ``next_code`` is called
under a lock and must return the code that is current at that moment (for a server
on this computer :func:`operator_code_source` reads it from the operator page).
"""

from __future__ import annotations

import http.client
import random
import re
import sys
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from benchmarks.stats import Stopwatch
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.sealing import receipt_code
from fieldkit.kit.simulate import random_answers
from fieldkit.kit.web.app import DEFAULT_INTERVIEWER_CODES
from tests.webclient import CENTRE_CHOICE, SHOWN_ITEM, csrf_token, form_values

PAGE_TYPES = (
    "pair_get", "pair_post", "home", "start", "centre_get", "centre_post",
    "section_get", "section_post", "review", "finalise", "done",
)  # fmt: skip
OPERATOR_CODE = re.compile(r'class="code"><bdi>(\d+)</bdi>')
RECEIPT = re.compile(r"/done/([0-9A-F]{8})")
MAX_PAGES_PER_INTERVIEW = 100


class PhoneError(Exception):
    """An answer a phone did not expect (wrong status, missing redirect)."""


@dataclass
class LoadResult:
    """What all phones together did: timings per page type, interviews, receipts, errors."""

    seconds: float = 0.0
    timings: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in PAGE_TYPES})
    completed: int = 0
    receipts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(times) for times in self.timings.values())

    def all_times(self) -> list[float]:
        return [time for times in self.timings.values() for time in times]

    def merge(self, other: LoadResult) -> None:
        for kind, times in other.timings.items():
            self.timings.setdefault(kind, []).extend(times)
        self.completed += other.completed
        self.receipts += other.receipts
        self.errors += other.errors


class Phone:
    """One browser: a connection to the kit, its cookies, and what it has timed."""

    def __init__(
        self, base_url: str, interviewer: str, *, timeout: float = 60.0, source_address: str | None = None
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"phones speak plain http to the kit, not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self.interviewer = interviewer
        # The phone's own address: on Wi-Fi every phone has one, and the kit limits
        # connections per address (fieldkit/webbase/guard.py), so a hundred phones
        # sharing 127.0.0.1 would be closed as if they were one greedy client.
        self.source_address = source_address
        self.cookies: dict[str, str] = {}
        self.result = LoadResult()
        self._connection: http.client.HTTPConnection | None = None

    # -- HTTP ---------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            source = (self.source_address, 0) if self.source_address else None
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout, source_address=source
            )
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self, kind: str, method: str, path: str, data: list[tuple[str, str]] | None = None
    ) -> tuple[int, str, str]:
        """Send one request; return status, body and the ``Location`` path (or "")."""
        headers = {"Host": f"{self.host}:{self.port}"}
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if data is not None:
            body = urllib.parse.urlencode(data).encode("utf-8")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        watch = Stopwatch()
        while True:
            reused = self._connection is not None
            connection = self._connect()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                text = response.read().decode("utf-8")
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed a kept-alive connection before answering: like a
                # browser, send once more on a new one. A new connection that fails is an error.
                self.close()
                if not reused:
                    raise
        self.result.timings[kind].append(watch.seconds())
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        self._keep_cookies(response.msg.get_all("Set-Cookie") or [])
        if not 200 <= response.status < 400:
            raise PhoneError(f"{method} {path}: status {response.status}")
        location = urllib.parse.urlsplit(response.getheader("Location", ""))
        target = location.path + (f"?{location.query}" if location.query else "")
        return response.status, text, target

    def _keep_cookies(self, headers: list[str]) -> None:
        for header in headers:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                expired = morsel["expires"] and "1970" in morsel["expires"]
                if not morsel.value or expired or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def get(self, kind: str, path: str) -> str:
        return self.request(kind, "GET", path)[1]

    def post_redirect(self, kind: str, path: str, data: list[tuple[str, str]]) -> str:
        """POST a form that must answer with a redirect; return where it points."""
        status, _text, location = self.request(kind, "POST", path, data)
        if status not in (302, 303) or not location:
            raise PhoneError(f"POST {path}: expected a redirect, got status {status}")
        return location

    # -- the interviewer's steps --------------------------------------------------

    def pair(self, next_code: Callable[[], str], pairing_lock: threading.Lock) -> None:
        token = csrf_token(self.get("pair_get", "/pair"))
        with pairing_lock:
            code = next_code()
            self.post_redirect(
                "pair_post", "/pair", [("csrf_token", token), ("code", code), ("interviewer", self.interviewer)]
            )

    def interview(self, form: Form, answers: Mapping[str, Any], language: str) -> str:
        """One whole interview; returns the receipt code the phone was shown."""
        home = self.get("home", "/home")
        chosen = [("form", form.id), ("lang", language)]
        path = self.post_redirect("start", "/start", [("csrf_token", csrf_token(home)), *chosen])
        if path.startswith("/centre"):
            # The kit follows a form pack with centres: pick one, as the interviewer does.
            picker = self.get("centre_get", path)
            listed = CENTRE_CHOICE.findall(picker)
            if not listed:
                raise PhoneError("the centre picker lists no centre")
            path = self.post_redirect(
                "centre_post", "/centre", [("csrf_token", csrf_token(picker)), *chosen, ("centre", listed[0])]
            )
        for _ in range(MAX_PAGES_PER_INTERVIEW):
            if path.endswith("/review"):
                break
            page = self.get("section_get", path)
            pairs = form_values(dict(answers), SHOWN_ITEM.findall(page))
            path = self.post_redirect(
                "section_post", path, [("csrf_token", csrf_token(page)), ("action", "next"), *pairs]
            )
        else:
            raise PhoneError(f"no review page after {MAX_PAGES_PER_INTERVIEW} pages")
        review = self.get("review", path)
        done = self.post_redirect(
            "finalise",
            path.replace("/review", "/finalise"),
            [("csrf_token", csrf_token(review)), ("confirm_missing", "yes")],
        )
        receipt = RECEIPT.search(done)
        if receipt is None:
            raise PhoneError(f"finishing led to {done!r}, not a receipt")
        self.get("done", done)
        return receipt.group(1)


def operator_code_source(base_url: str, *, timeout: float = 30.0) -> Callable[[], str]:
    """Reads the current pairing code from the operator page (works from 127.0.0.1 only)."""
    parts = urllib.parse.urlsplit(base_url)

    def next_code() -> str:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        try:
            connection.request("GET", "/operator/")
            response = connection.getresponse()
            page = response.read().decode("utf-8")
        finally:
            connection.close()
        match = OPERATOR_CODE.search(page)
        if response.status != 200 or match is None:
            raise PhoneError(f"the operator page gave status {response.status} and no pairing code")
        return match.group(1)

    return next_code


def records_lost(result: LoadResult, store: RecordStore, held_before: int = 0) -> int:
    """Interviews the phones saw sealed that the kit's store does not hold (0 when none).

    Every receipt shown must belong to a stored record, and the store must have grown
    by exactly the number of interviews finished; the larger shortfall is returned.
    """
    stored = {receipt_code(record_id) for record_id in store.ids()}
    missing_receipts = sum(1 for receipt in result.receipts if receipt not in stored)
    count_gap = abs(store.count() - held_before - result.completed)
    return max(missing_receipts, count_gap)


def _own_address(base_url: str, number: int) -> str | None:
    """A loopback address of phone ``number``'s own (127.0.0.2 on), when the kit is on 127.0.0.1.

    Linux answers the whole of 127.0.0.0/8 on the loopback interface, so each phone can
    connect from its own address as it would over Wi-Fi.
    """
    if urllib.parse.urlsplit(base_url).hostname != "127.0.0.1" or not sys.platform.startswith("linux"):
        return None
    host = number + 2
    return f"127.0.{host // 256}.{host % 256}"


def run_phones(
    base_url: str,
    next_code: Callable[[], str],
    phones: int,
    form: Form,
    *,
    interviews_each: int = 1,
    language: str = "en",
    seed: int = 0,
    text_answer: str | None = None,
    interviewer_codes: tuple[str, ...] = DEFAULT_INTERVIEWER_CODES,
    timeout: float = 60.0,
) -> LoadResult:
    """``phones`` phones at once, each pairing and then doing ``interviews_each`` interviews.

    All phones start together (a barrier), so the kit sees them at once. Answers come
    from :func:`fieldkit.kit.simulate.random_answers`, reproducible from ``seed``; with
    ``text_answer`` every free-text answer is that text (a canary to search for later).
    """
    rng = random.Random(seed)
    plans = [
        [random_answers(form, rng, text_answer=text_answer) for _ in range(interviews_each)] for _ in range(phones)
    ]
    devices = [
        Phone(
            base_url,
            interviewer_codes[n % len(interviewer_codes)],
            timeout=timeout,
            source_address=_own_address(base_url, n),
        )
        for n in range(phones)
    ]
    pairing_lock = threading.Lock()
    start_line = threading.Barrier(phones)

    def one_phone(number: int) -> None:
        phone = devices[number]
        try:
            start_line.wait()
            phone.pair(next_code, pairing_lock)
            for answers in plans[number]:
                phone.result.receipts.append(phone.interview(form, answers, language))
                phone.result.completed += 1
        except Exception as error:  # every failure is a finding to report, never a crash
            phone.result.errors.append(f"phone {number + 1}: {type(error).__name__}: {error}")
        finally:
            phone.close()

    watch = Stopwatch()
    threads = [threading.Thread(target=one_phone, args=(n,), name=f"phone-{n + 1}") for n in range(phones)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = LoadResult(seconds=watch.seconds())
    for phone in devices:
        total.merge(phone.result)
    return total
