"""HTTP between kits and hubs: a small client, backoff, the kit's link state, and push.

The client uses ``urllib.request`` from the standard library on purpose. A kit runs on
a Raspberry Pi and installs from a wheel; each dependency is one more thing to audit and
keep working offline. The kit needs only three requests (``GET /api/v1/hello``,
``POST /api/v1/bundles``, ``POST /api/v1/enrol``), so urllib is enough once we add what
it lacks by default:

- a timeout on every socket operation, so a dead link never hangs a worker;
- bounded reads of answers (``max_response_bytes``), so a hostile or broken server
  cannot fill the kit's memory;
- no redirects: a captive portal answers with a redirect to its login page, and a
  redirect turns our POST into a GET elsewhere; we report it instead;
- only ``http`` and ``https`` URLs (urllib would also open ``file:`` and ``ftp:``);
- no proxy for loopback addresses (a proxy set in the environment must not swallow a
  hub on the same machine).

Nothing a server answers is trusted: a push marks records as synced only through
:meth:`sync.outbox.Outbox.apply_receipt`, which verifies the hub's signature.

The kit keeps, per hub, a *link* in ``DATA/sync.json`` (table ``links``): the hub's URL
and the state of attempts (consecutive failures, last attempt, last success, next
attempt, last error), so a restarted kit resumes its backoff instead of starting over.
``docs/sync.md`` describes the protocol.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.client
import ipaddress
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinydb

from fieldkit.errors import FieldkitError
from fieldkit.kit import UnlockedKit
from fieldkit.storage.locks import writer_lock
from fieldkit.storage.tinydb_storage import open_db
from sync.bundle import DEFAULT_LIMITS, BundleError, check_source_id
from sync.enrolment import EnrolmentToken, apply_enrolment_response, make_enrolment_request
from sync.outbox import SYNC_STATE_FILE, EnrolledHub, Outbox, SyncState
from sync.receipts import ReceiptError, SignedDocumentError, load_public_key

__all__ = [
    "API_PREFIX",
    "BUNDLE_CONTENT_TYPE",
    "DEFAULT_BATCH",
    "HELLO_FORMAT",
    "JSON_CONTENT_TYPE",
    "Backoff",
    "HubClient",
    "HubHello",
    "HubLink",
    "HubLinks",
    "PassOutcome",
    "PushTarget",
    "TransportError",
    "choose_target",
    "enrol_over_http",
    "normalise_hub_url",
    "parse_stamp",
    "push_pass",
    "push_with_retries",
    "retry_passes",
]

API_PREFIX = "/api/v1"
BUNDLE_CONTENT_TYPE = "application/x-tar"
JSON_CONTENT_TYPE = "application/json"
HELLO_FORMAT = "fieldkit-hub-hello/1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_BATCH = 500
_LINKS_TABLE = "links"
_USER_AGENT = "fieldkit-sync/1"


class TransportError(FieldkitError):
    """A request to a hub failed. ``retryable`` says whether waiting could help.

    ``code`` is the hub's refusal code when the hub answered with one (for example
    ``revoked-source``), ``status`` the HTTP status when there was an answer at all.
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def parse_stamp(text: str | None) -> datetime.datetime | None:
    """A ``YYYY-MM-DDTHH:MM:SSZ`` time as written in the link state; ``None`` if absent."""
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


# --- Backoff --------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter and a cap.

    After ``n`` consecutive failures the wait is drawn uniformly between half and all of
    ``min(cap, first * factor ** (n - 1))``: it grows quickly, never exceeds the cap, and
    the random half keeps many kits that lost the same network from returning at once.
    """

    first: float = 2.0
    factor: float = 2.0
    cap: float = 300.0

    def ceiling(self, failures: int) -> float:
        exponent = max(failures, 1) - 1
        # Stop multiplying once past the cap: factor ** 1000 would overflow a float.
        step = self.first
        for _ in range(min(exponent, 64)):
            step *= self.factor
            if step >= self.cap:
                return self.cap
        return min(step, self.cap)

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(failures)
        draw = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2


# --- The client -----------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # urllib then raises HTTPError with the 3xx status, which we report


@dataclass(frozen=True)
class HubHello:
    """What a hub says about itself before a kit sends anything (not signed)."""

    hub_id: str
    receipt_public_key: str


def normalise_hub_url(url: str) -> str:
    """``url`` without a trailing slash; :class:`FieldkitError` unless it is http(s)."""
    text = url.strip()
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise FieldkitError(f"not a hub address: {url!r}; give one like http://192.168.1.10:8090")
    if parsed.query or parsed.fragment:
        raise FieldkitError(f"the hub address {url!r} must not have a query or fragment")
    return text.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HubClient:
    """Talks to one hub's ``/api/v1``; every failure is a :class:`TransportError`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.url = normalise_hub_url(url)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if _is_loopback(urllib.parse.urlsplit(self.url).hostname or ""):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    # -- the three requests ----------------------------------------------------------

    def hello(self) -> HubHello:
        """The hub's id and receipt key; a :class:`TransportError` if this is no hub."""
        body = self._request("GET", "/hello", None, None)
        try:
            document = json.loads(body.decode("utf-8"))
            if not isinstance(document, dict) or document.get("format") != HELLO_FORMAT:
                raise ValueError("not a hello")
            hub_id = check_source_id(document.get("hub_id"), "hub id")
            key = document.get("receipt_public_key")
            load_public_key(key, "hub receipt key")
        except (UnicodeDecodeError, ValueError, BundleError, SignedDocumentError, RecursionError):
            raise TransportError(
                f"{self.url} answered, but not as a fieldkit hub (a captive portal, a Wi-Fi login "
                "page or a wrong address?); nothing was sent",
                retryable=True,
                status=200,
            ) from None
        return HubHello(hub_id=hub_id, receipt_public_key=str(key))

    def post_bundle(self, data: bytes) -> bytes:
        """Send bundle bytes; the answer's body (a receipt, still to be verified)."""
        return self._request("POST", "/bundles", data, BUNDLE_CONTENT_TYPE)

    def post_enrolment(self, data: bytes) -> bytes:
        """Send an enrolment request; the answer's body (a response, still to be verified)."""
        return self._request("POST", "/enrol", data, JSON_CONTENT_TYPE)

    # -- plumbing --------------------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes | None, content_type: str | None) -> bytes:
        target = self.url + API_PREFIX + path
        request = urllib.request.Request(target, data=body, method=method)  # noqa: S310 (scheme checked)
        request.add_header("User-Agent", _USER_AGENT)
        request.add_header("Accept", JSON_CONTENT_TYPE)
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return self._read_bounded(response)
        except urllib.error.HTTPError as error:
            with error:
                raise self._http_error(error) from None
        except urllib.error.URLError as error:
            reason = error.reason
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
            raise TransportError(f"cannot reach the hub at {self.url}: {text}", retryable=True) from None
        except TimeoutError:
            raise TransportError(
                f"the hub at {self.url} did not answer within {self.timeout:g} seconds", retryable=True
            ) from None
        except (http.client.HTTPException, ConnectionError, OSError) as error:
            detail = type(error).__name__ if not str(error) else str(error)
            raise TransportError(
                f"the connection to the hub at {self.url} broke off ({detail})", retryable=True
            ) from None

    def _read_bounded(self, response: Any) -> bytes:
        data = response.read(self.max_response_bytes + 1)
        if len(data) > self.max_response_bytes:
            raise TransportError(
                f"the answer from {self.url} is larger than {self.max_response_bytes} bytes; it was not read",
                retryable=True,
                status=response.status,
            )
        return data

    def _http_error(self, error: urllib.error.HTTPError) -> TransportError:
        status = error.code
        if 300 <= status < 400:
            where = error.headers.get("Location", "somewhere else")
            return TransportError(
                f"{self.url} answered with a redirect (HTTP {status}) to {where[:200]}: a captive "
                "portal or a Wi-Fi login page? Log in to the network or check the hub address",
                retryable=True,
                status=status,
            )
        code, reason = self._refusal(error)
        if status >= 500 or status in (408, 425, 429):
            return TransportError(
                f"the hub at {self.url} is not able to take this now (HTTP {status}"
                f"{', ' + code if code else ''}){': ' + reason if reason else ''}",
                retryable=True,
                status=status,
                code=code,
            )
        if code is None:
            return TransportError(
                f"{self.url} refused the request with HTTP {status} and no fieldkit reason "
                "(is this the hub's address?)",
                retryable=False,
                status=status,
            )
        return TransportError(
            f"the hub refused it ({code}, HTTP {status}): {reason}", retryable=False, status=status, code=code
        )

    def _refusal(self, error: urllib.error.HTTPError) -> tuple[str | None, str | None]:
        try:
            body = error.read(64 * 1024)
            document = json.loads(body.decode("utf-8"))
        except (OSError, http.client.HTTPException, UnicodeDecodeError, ValueError, RecursionError):
            return None, None
        if not isinstance(document, dict):
            return None, None
        code, reason = document.get("error"), document.get("reason")
        if not isinstance(code, str) or not isinstance(reason, str):
            return None, None
        # A hostile server chooses these words; keep them short and on one line.
        return " ".join(code.split())[:60], " ".join(reason.split())[:500]


# --- Link state in sync.json ----------------------------------------------------------


@dataclass(frozen=True)
class HubLink:
    """Where a hub is reached and how the last attempts went."""

    hub_id: str
    url: str
    url_set: str
    failures: int = 0
    last_attempt: str | None = None
    last_success: str | None = None
    next_attempt: str | None = None
    last_error: str | None = None


_LINK_FIELDS = {f.name for f in dataclasses.fields(HubLink)}


class HubLinks:
    """The ``links`` table of the kit's ``sync.json``; writes hold the writer lock."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / SYNC_STATE_FILE

    def _open(self) -> tinydb.TinyDB:
        return open_db(self.path)

    def all(self) -> list[HubLink]:
        with self._open() as db:
            docs = db.table(_LINKS_TABLE).all()
        return [HubLink(**{k: v for k, v in doc.items() if k in _LINK_FIELDS}) for doc in docs]

    def get(self, hub_id: str) -> HubLink | None:
        return next((link for link in self.all() if link.hub_id == hub_id), None)

    def latest(self) -> HubLink | None:
        """The link whose URL was set most recently: where pushes go by default."""
        links = sorted(self.all(), key=lambda link: (link.url_set, link.hub_id))
        return links[-1] if links else None

    def _update(self, hub_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        with writer_lock(self.data_dir), self._open() as db:
            table = db.table(_LINKS_TABLE)
            query = tinydb.Query().hub_id == hub_id
            found = table.get(query)
            if found is None:
                return
            doc = dict(found)
            change(doc)
            table.update(doc, query)

    def set_url(self, hub_id: str, url: str) -> None:
        """Remember ``url`` for ``hub_id`` (an earlier URL is replaced, its attempts kept)."""
        url = normalise_hub_url(url)
        with writer_lock(self.data_dir), self._open() as db:
            table = db.table(_LINKS_TABLE)
            query = tinydb.Query().hub_id == hub_id
            found = table.get(query)
            if found is None:
                table.insert(dataclasses.asdict(HubLink(hub_id=hub_id, url=url, url_set=_stamp(_utcnow()))))
            elif found.get("url") != url:
                table.update({"url": url, "url_set": _stamp(_utcnow())}, query)

    def record_success(self, hub_id: str) -> None:
        now = _stamp(_utcnow())

        def change(doc: dict[str, Any]) -> None:
            doc.update(failures=0, last_attempt=now, last_success=now, next_attempt=None, last_error=None)

        self._update(hub_id, change)

    def record_failure(self, hub_id: str, error: str, wait_seconds: float) -> HubLink | None:
        """Count a failed attempt and when the next one is due; returns the new state."""
        now = _utcnow()
        due = now + datetime.timedelta(seconds=max(wait_seconds, 0.0))

        def change(doc: dict[str, Any]) -> None:
            doc.update(
                failures=int(doc.get("failures") or 0) + 1,
                last_attempt=_stamp(now),
                next_attempt=_stamp(due),
                last_error=error[:500],
            )

        self._update(hub_id, change)
        return self.get(hub_id)


# --- Enrolment over HTTP --------------------------------------------------------------


def enrol_over_http(
    kit: UnlockedKit, url: str, token: EnrolmentToken, *, client: HubClient | None = None
) -> EnrolledHub:
    """Enrol ``kit`` at the hub at ``url``: hello, request, response; remember the URL.

    A token file names the hub and its key, and both must match; a typed token names
    neither, and the hub's key in its first valid response is trusted (as with files).
    """
    client = client or HubClient(url)
    hello = client.hello()
    if token.hub_id is not None and token.hub_id != hello.hub_id:
        raise FieldkitError(
            f"{client.url} is hub {hello.hub_id}, but the token file is for hub {token.hub_id}; nothing was sent"
        )
    if token.receipt_public_key is not None and token.receipt_public_key != hello.receipt_public_key:
        raise FieldkitError(
            f"{client.url} says it is hub {hello.hub_id} but shows another receipt key than the token "
            "file; nothing was sent (a wrong address, or someone in between)"
        )
    named = dataclasses.replace(token, hub_id=hello.hub_id)
    request = make_enrolment_request(kit, named)
    response = client.post_enrolment(request)
    hub = apply_enrolment_response(kit.data_dir, response)
    HubLinks(kit.data_dir).set_url(hub.hub_id, client.url)
    return hub


# --- Pushing --------------------------------------------------------------------------


@dataclass(frozen=True)
class PushTarget:
    """Where to push: a URL, and the enrolled hub it must be (when known)."""

    url: str
    hub_id: str | None


def choose_target(data_dir: Path, url: str | None) -> PushTarget:
    """The hub to push to: ``url`` if given, else the URL stored at enrolment."""
    state = SyncState(Path(data_dir))
    hubs = state.hubs()
    if not hubs:
        raise FieldkitError(
            "this kit is not enrolled with a hub yet: run 'fieldkit sync enrol --data DIR --hub URL --token TOKEN'"
        )
    links = HubLinks(Path(data_dir))
    if url is not None:
        url = normalise_hub_url(url)
        known = next((link for link in links.all() if link.url == url), None)
        only = hubs[0].hub_id if len(hubs) == 1 else None
        return PushTarget(url, known.hub_id if known else only)
    link = links.latest()
    if link is None:
        raise FieldkitError(
            "no hub address is known for this kit (it was enrolled with files): give --hub URL once; it is remembered"
        )
    return PushTarget(link.url, link.hub_id)


@dataclass(frozen=True)
class PassOutcome:
    """What one pass achieved. ``error`` is set when it stopped early."""

    hub_id: str | None
    bundles: int
    marked: int
    already: int
    remaining: int
    error: TransportError | None = None

    @property
    def progressed(self) -> bool:
        return self.marked > 0


def _records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def _looks_signed(answer: bytes) -> bool:
    try:
        document = json.loads(answer.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(document, dict) and document.get("format") == "fieldkit-signed/1"


def _receipt_problem(error: ReceiptError | SignedDocumentError, answer: bytes, url: str) -> TransportError:
    text = str(error)
    if not _looks_signed(answer):
        text = (
            f"{url} answered 200 but not with a fieldkit receipt (a captive portal or a Wi-Fi "
            "login page?); nothing was marked as synced"
        )
    return TransportError(text, retryable=True, status=200, code="bad-receipt")


def push_pass(
    kit: UnlockedKit,
    target: PushTarget,
    *,
    batch: int = DEFAULT_BATCH,
    client: HubClient | None = None,
    echo: Callable[[str], None] | None = None,
) -> PassOutcome:
    """Push bundles of at most ``batch`` records until the outbox is empty or a step fails.

    Never raises for network trouble or a refusal: the outcome carries the error. The
    hub URL is remembered for the hub once the hello shows it is an enrolled hub.
    """
    say = echo or (lambda _text: None)
    client = client or HubClient(target.url)
    limits = dataclasses.replace(DEFAULT_LIMITS, max_records=max(1, min(batch, DEFAULT_LIMITS.max_records)))
    outbox = Outbox(kit.data_dir, limits=limits)
    hub_id = target.hub_id
    bundles = marked = already = 0
    try:
        hello = client.hello()
        enrolled = {hub.hub_id for hub in outbox.state.hubs()}
        if target.hub_id is not None and hello.hub_id != target.hub_id:
            raise TransportError(
                f"{client.url} is hub {hello.hub_id}, not hub {target.hub_id} this kit pushes to; nothing was sent",
                retryable=False,
            )
        if hello.hub_id not in enrolled:
            raise TransportError(
                f"{client.url} is hub {hello.hub_id}, which this kit is not enrolled with; enrol first "
                "('fieldkit sync enrol --hub URL --token TOKEN')",
                retryable=False,
            )
        hub_id = hello.hub_id
        HubLinks(kit.data_dir).set_url(hub_id, client.url)
        # Each round acknowledges at least one record or stops, so this bounds the loop.
        for _round in range(len(outbox.pending_ids()) + 1):
            prepared = outbox.prepare_bundle(kit)
            if prepared is None:
                break
            say(
                f"Sending {_records(prepared.count)} (sequence {prepared.first_seq}-{prepared.last_seq}) to {hub_id}..."
            )
            answer = client.post_bundle(prepared.data)
            try:
                result = outbox.apply_receipt(answer)
            except (ReceiptError, SignedDocumentError) as error:
                raise _receipt_problem(error, answer, client.url) from None
            bundles += 1
            marked += result.marked
            already += result.already
            say(
                f"  receipt from {result.hub_id}: {_records(result.marked)} marked as synced, {prepared.remaining} left"
            )
            if result.marked == 0:
                raise TransportError(
                    f"the receipt from {result.hub_id} acknowledged none of the records sent; nothing more "
                    "is sent this time",
                    retryable=True,
                    code="empty-receipt",
                )
    except TransportError as error:
        return PassOutcome(hub_id, bundles, marked, already, len(outbox.pending_ids()), error)
    return PassOutcome(hub_id, bundles, marked, already, len(outbox.pending_ids()))


def retry_passes(
    one_pass: Callable[[], PassOutcome],
    *,
    attempts: int | None,
    backoff: Backoff | None = None,
    echo: Callable[[str], None] = lambda _text: None,
    sleep: Callable[[float], None] | None = None,
    on_success: Callable[[PassOutcome], None] = lambda _outcome: None,
    on_failure: Callable[[PassOutcome, float], None] = lambda _outcome, _delay: None,
) -> PassOutcome:
    """Run passes until one succeeds, waiting with backoff after each failed one.

    ``attempts=None`` tries for ever. A refusal that waiting cannot fix (HTTP 4xx other
    than 408/429) ends at once. A pass that made progress resets the count of failures,
    so a long push over a weak link does not drift to the longest wait. Returns the
    last outcome, with the bundles and records of every pass added up.
    """
    backoff = backoff or Backoff()
    wait = sleep or time.sleep
    failures = tried = total_marked = total_bundles = total_already = 0
    while True:
        tried += 1
        outcome = one_pass()
        total_marked += outcome.marked
        total_bundles += outcome.bundles
        total_already += outcome.already
        summed = dataclasses.replace(outcome, marked=total_marked, bundles=total_bundles, already=total_already)
        if outcome.error is None:
            on_success(outcome)
            return summed
        failures = 1 if outcome.progressed else failures + 1
        delay = backoff.delay(failures)
        on_failure(outcome, delay)
        if not outcome.error.retryable or (attempts is not None and tried >= attempts):
            return summed
        left = "" if attempts is None else f" (attempt {tried + 1} of {attempts})"
        echo(f"Problem: {outcome.error}")
        echo(f"Waiting {delay:.1f} s before trying again{left}.")
        wait(delay)


def push_with_retries(
    kit: UnlockedKit,
    target: PushTarget,
    *,
    attempts: int | None,
    backoff: Backoff | None = None,
    batch: int = DEFAULT_BATCH,
    echo: Callable[[str], None] = lambda _text: None,
    sleep: Callable[[float], None] | None = None,
    client: HubClient | None = None,
) -> PassOutcome:
    """Push passes until the outbox is empty (see :func:`retry_passes`).

    Every attempt is written to the hub's link in ``sync.json``.
    """
    links = HubLinks(kit.data_dir)

    def succeeded(outcome: PassOutcome) -> None:
        if outcome.hub_id is not None:
            links.record_success(outcome.hub_id)

    def failed(outcome: PassOutcome, delay: float) -> None:
        hub_id = outcome.hub_id or target.hub_id
        if hub_id is not None and outcome.error is not None:
            links.record_failure(hub_id, str(outcome.error), delay)

    return retry_passes(
        lambda: push_pass(kit, target, batch=batch, client=client, echo=echo),
        attempts=attempts,
        backoff=backoff,
        echo=echo,
        sleep=sleep,
        on_success=succeeded,
        on_failure=failed,
    )
