"""The kit's side of HTTP sync: its link state per hub, enrolment over HTTP, and push with retries.

The HTTP client and its backoff are in :mod:`sync.protocol.client`; the kit keeps, per
hub, a *link* in ``DATA/sync.json`` (table ``links``): the hub's URL and the state of
attempts (consecutive failures, last attempt, last success, next attempt, last error),
so a restarted kit resumes its backoff instead of starting over.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinydb

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.tinydb_storage import open_db
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.enrolment import apply_enrolment_response, make_enrolment_request
from fieldkit.kit.outbox import SYNC_STATE_FILE, EnrolledHub, Outbox, SyncState
from sync.protocol.bundle import DEFAULT_LIMITS
from sync.protocol.client import (
    DEFAULT_BATCH,
    Backoff,
    HubClient,
    TransportError,
    normalise_hub_url,
)
from sync.protocol.enrolment import EnrolmentToken
from sync.protocol.receipts import ReceiptError, SignedDocumentError
from sync.protocol.retry import PassOutcome, retry_passes
from sync.protocol.stamps import format_stamp, utcnow

_LINKS_TABLE = "links"

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
                table.insert(dataclasses.asdict(HubLink(hub_id=hub_id, url=url, url_set=format_stamp(utcnow()))))
            elif found.get("url") != url:
                table.update({"url": url, "url_set": format_stamp(utcnow())}, query)

    def record_success(self, hub_id: str) -> None:
        now = format_stamp(utcnow())

        def change(doc: dict[str, Any]) -> None:
            doc.update(failures=0, last_attempt=now, last_success=now, next_attempt=None, last_error=None)

        self._update(hub_id, change)

    def record_failure(self, hub_id: str, error: str, wait_seconds: float) -> HubLink | None:
        """Count a failed attempt and when the next one is due; returns the new state."""
        now = utcnow()
        due = now + datetime.timedelta(seconds=max(wait_seconds, 0.0))

        def change(doc: dict[str, Any]) -> None:
            doc.update(
                failures=int(doc.get("failures") or 0) + 1,
                last_attempt=format_stamp(now),
                next_attempt=format_stamp(due),
                last_error=error[:500],
            )

        self._update(hub_id, change)
        return self.get(hub_id)


# --- Enrolment over HTTP --------------------------------------------------------------


def enrol_over_http(
    kit: UnlockedKit, url: str, token: EnrolmentToken, *, client: HubClient | None = None
) -> EnrolledHub:
    """Enrol ``kit`` at the hub at ``url``: hello, request, response; remember the URL.

    A token file names the hub and its key, and both must match. A typed token names
    neither, but only the hub that made the token can prove it in its response, so a
    stranger answering at ``url`` is not trusted and never sees the token.
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
    hub = apply_enrolment_response(kit, response)
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
        enrolled = {hub.hub_id for hub in outbox.state.trusted_hubs(kit.config)}
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
            with_tally = " and the tally of declined interviews" if prepared.tally else ""
            say(
                f"Sending {_records(prepared.count)}{with_tally} (sequence {prepared.first_seq}-{prepared.last_seq}) "
                f"to {hub_id}..."
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
            if result.tally_marked:
                say(f"  the hub {result.hub_id} holds this kit's tally of declined interviews")
            if result.marked == 0 and not result.tally_marked:
                raise TransportError(
                    f"the receipt from {result.hub_id} acknowledged none of the records sent; nothing more "
                    "is sent this time",
                    retryable=True,
                    code="empty-receipt",
                )
    except TransportError as error:
        return PassOutcome(hub_id, bundles, marked, already, len(outbox.pending_ids()), error)
    return PassOutcome(hub_id, bundles, marked, already, len(outbox.pending_ids()))


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
