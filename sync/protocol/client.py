"""HTTP between kits and hubs: a small client and its backoff (the kit's push is in ``fieldkit.kit.push``).

The client uses ``urllib.request`` from the standard library on purpose. A kit runs on
a Raspberry Pi and installs from a wheel; each dependency is one more thing to audit and
keep working offline. The kit needs only four requests (``GET /api/v1/hello``,
``POST /api/v1/bundles``, ``POST /api/v1/enrol``, ``POST /api/v1/pack``), so urllib is enough once we add what
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
:meth:`fieldkit.kit.outbox.Outbox.apply_receipt`, which verifies the hub's signature.

``docs/sync.md`` describes the protocol.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from fieldkit.core.errors import FieldkitError
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.receipts import SignedDocumentError, load_public_key

__all__ = [
    "API_PREFIX",
    "BUNDLE_CONTENT_TYPE",
    "DEFAULT_BATCH",
    "HELLO_FORMAT",
    "JSON_CONTENT_TYPE",
    "Backoff",
    "HubClient",
    "HubHello",
    "TransportError",
    "normalise_hub_url",
]

API_PREFIX = "/api/v1"
BUNDLE_CONTENT_TYPE = "application/x-tar"
JSON_CONTENT_TYPE = "application/json"
HELLO_FORMAT = "fieldkit-hub-hello/1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_BATCH = 500
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

    # -- the four requests ----------------------------------------------------------

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

    def post_rollup(self, data: bytes) -> bytes:
        """Send a hub's signed roll-up delivery; the answer's body (a receipt, still to be verified)."""
        return self._request("POST", "/rollups", data, JSON_CONTENT_TYPE)

    def post_pack_request(self, data: bytes) -> bytes | None:
        """Ask for the hub's newest form pack; its bytes (still to be verified), or None: nothing newer."""
        status, answer = self._exchange("POST", "/pack", data, JSON_CONTENT_TYPE)
        if status == 204:
            return None
        return answer

    # -- plumbing --------------------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes | None, content_type: str | None) -> bytes:
        return self._exchange(method, path, body, content_type)[1]

    def _exchange(self, method: str, path: str, body: bytes | None, content_type: str | None) -> tuple[int, bytes]:
        target = self.url + API_PREFIX + path
        request = urllib.request.Request(target, data=body, method=method)  # noqa: S310 (scheme checked)
        request.add_header("User-Agent", _USER_AGENT)
        request.add_header("Accept", JSON_CONTENT_TYPE)
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status), self._read_bounded(response)
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
        data: bytes = response.read(self.max_response_bytes + 1)
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
