"""Hub to hub: a regional hub forwards merged ciphertext to a national hub, never decrypting.

To the upstream hub, the forwarding hub is a *source* like a kit: it enrols once with a
one-time token from the upstream hub (``fieldkit hub enrol-upstream``) and then sends
ordinary bundles (``fieldkit hub forward``), signed with a key of its own, as source
``hub <hub id>`` key epoch 1. Each record keeps its original kit id and clear metadata,
so the upstream hub ends with the same record versions, byte for byte. The upstream hub
answers with the usual signed receipt; only records a verified receipt lists count as
forwarded, so forwarding again sends only what is new and a restart resumes.

Files in the hub folder, made on first use:

    HUBDIR/forward-key.pem   Ed25519 key that signs forwarded bundles (0600). Like the
                             receipt key it must sign unattended; it decrypts nothing.
    HUBDIR/forward.sqlite    upstream hubs (URL, receipt key, attempts), the sequence
                             number given to each record version, and which versions
                             each upstream hub has acknowledged.

Only accepted records go up (``HubStore.iter_records()``): a record id in quarantine
stays here until an operator decides, and a version forwarded before its id fell into
quarantine stays forwarded.

Only declared records go up: a record is forwarded to an upstream hub only if its kit,
when it enrolled here, declared the upstream hub's recipient among the keys it seals to
(``kit.json`` ``recipients``, each named to the person by the consent script's
``{who_can_open}``), for every key epoch of the kit that declared any. The people who
answered were then told who holds that key, and the upstream hub can open what it gets.
Records of other kits stay here (:func:`undeclared_records` counts them); their counts
can go up instead (``fieldkit hub rollup``, :mod:`sync.hub.rollup`).

Hub enrolment uses its own signed formats (``fieldkit-hub-enrolment-request/2`` and
``-response/2``) and needs a token made for hubs (``fieldkit hub enrol --kind hub``), so
that a kit's request or token can never pass for a hub's, or the reverse. Like a kit's,
the request and the response are proved with the token (:mod:`sync.protocol.enrolment`).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import write_atomic
from sync.hub.sidedb import SideDatabase
from sync.hub.store import HubStore, StoredRecord
from sync.protocol.bundle import DEFAULT_LIMITS, BundleError, OutgoingRecord, SourceRef, build_bundle, check_source_id
from sync.protocol.client import DEFAULT_BATCH, Backoff, HubClient, TransportError, normalise_hub_url
from sync.protocol.enrolment import (
    HUB_REQUEST_FORMAT,
    HUB_RESPONSE_FORMAT,
    EnrolmentError,
    EnrolmentToken,
    prove,
    read_proved,
    refuse_old_format,
    token_keys,
)
from sync.protocol.receipts import (
    ENVELOPE_FORMAT,
    ReceiptError,
    SignedDocumentError,
    load_public_key,
    public_key_text,
    read_receipt,
    read_signed_document,
    sign_document,
)
from sync.protocol.retry import PassOutcome, retry_passes

__all__ = [
    "FORWARD_DB_FILE",
    "FORWARD_EPOCH",
    "FORWARD_KEY_FILE",
    "HUB_REQUEST_FORMAT",
    "HUB_RESPONSE_FORMAT",
    "ForwardError",
    "ForwardState",
    "Upstream",
    "accept_hub_request",
    "enrol_upstream",
    "forward_pass",
    "forward_signing_key",
    "forward_with_retries",
    "payload_format",
    "undeclared_records",
    "upstream_summary",
]

FORWARD_KEY_FILE = "forward-key.pem"
FORWARD_DB_FILE = "forward.sqlite"
FORWARD_EPOCH = 1

# Room kept per record for its tar header and manifest entry (as the kit's outbox does).
_PER_RECORD_OVERHEAD = 2048
_FIXED_OVERHEAD = 64 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS upstreams(
    hub_id TEXT PRIMARY KEY, url TEXT NOT NULL, receipt_public_key TEXT NOT NULL,
    recipient TEXT NOT NULL, enrolled TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
    last_attempt TEXT, last_success TEXT, next_attempt TEXT, last_error TEXT);
CREATE TABLE IF NOT EXISTS seqs(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    UNIQUE(record_id, sha256));
CREATE TABLE IF NOT EXISTS forwarded(
    upstream TEXT NOT NULL, record_id TEXT NOT NULL, sha256 TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY(upstream, record_id, sha256));
"""


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _later(seconds: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=max(seconds, 0.0))
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class ForwardError(FieldkitError):
    """Forwarding cannot start (no upstream enrolled, a damaged state file); ``str()`` says why."""


# --- The forwarding key and state ------------------------------------------------------


def forward_signing_key(data_dir: Path) -> Ed25519PrivateKey:
    """The hub's forwarding key, made (0600, atomically) the first time it is needed."""
    path = Path(data_dir) / FORWARD_KEY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_atomic(path, pem, mode=0o600)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise ForwardError(f"cannot load the forwarding key {path}: {error}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ForwardError(f"{path} is not an Ed25519 key")
    return loaded


@dataclass(frozen=True)
class Upstream:
    """A hub this hub forwards to, and the key its receipts must verify with."""

    hub_id: str
    url: str
    receipt_public_key: str
    recipient: str
    enrolled: str
    failures: int = 0
    last_attempt: str | None = None
    last_success: str | None = None
    next_attempt: str | None = None
    last_error: str | None = None


class ForwardState(SideDatabase):
    """``HUBDIR/forward.sqlite``; every write is one transaction, fsynced at commit."""

    def __init__(self, data_dir: Path) -> None:
        advice = "restore it from a backup or remove it"
        super().__init__(Path(data_dir) / FORWARD_DB_FILE, _SCHEMA, ForwardError, advice)

    # -- upstream hubs ---------------------------------------------------------------

    def upstreams(self) -> list[Upstream]:
        rows = self._db.execute(
            "SELECT hub_id, url, receipt_public_key, recipient, enrolled, failures, last_attempt, "
            "last_success, next_attempt, last_error FROM upstreams ORDER BY hub_id"
        ).fetchall()
        return [Upstream(*row) for row in rows]

    def save_upstream(self, upstream: Upstream) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO upstreams(hub_id, url, receipt_public_key, recipient, enrolled) "
                "VALUES(?, ?, ?, ?, ?) ON CONFLICT(hub_id) DO UPDATE SET url=excluded.url, "
                "receipt_public_key=excluded.receipt_public_key, recipient=excluded.recipient",
                (upstream.hub_id, upstream.url, upstream.receipt_public_key, upstream.recipient, upstream.enrolled),
            )

    def find(self, url: str | None) -> Upstream:
        """The upstream hub at ``url``, or the only one when no URL is given."""
        upstreams = self.upstreams()
        if url is not None:
            url = normalise_hub_url(url)
            for upstream in upstreams:
                if upstream.url == url:
                    return upstream
            raise ForwardError(
                f"this hub is not enrolled at {url}: run 'fieldkit hub enrol-upstream --data HUBDIR "
                "--to URL --token TOKEN' with a token from that hub first"
            )
        if len(upstreams) == 1:
            return upstreams[0]
        if not upstreams:
            raise ForwardError("this hub forwards nowhere yet: run 'fieldkit hub enrol-upstream' first")
        raise ForwardError("this hub is enrolled at several hubs: say which with --to URL")

    def record_attempt(self, hub_id: str, error: str | None, wait_seconds: float = 0.0) -> None:
        now = _stamp()
        with self.transaction() as db:
            if error is None:
                db.execute(
                    "UPDATE upstreams SET failures=0, last_attempt=?, last_success=?, next_attempt=NULL, "
                    "last_error=NULL WHERE hub_id=?",
                    (now, now, hub_id),
                )
            else:
                db.execute(
                    "UPDATE upstreams SET failures=failures+1, last_attempt=?, next_attempt=?, last_error=? "
                    "WHERE hub_id=?",
                    (now, _later(wait_seconds), error[:500], hub_id),
                )

    # -- record versions ---------------------------------------------------------------

    def forwarded(self, hub_id: str) -> set[tuple[str, str]]:
        rows = self._db.execute("SELECT record_id, sha256 FROM forwarded WHERE upstream=?", (hub_id,)).fetchall()
        return {(row[0], row[1]) for row in rows}

    def sequence_numbers(self, versions: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The sequence number of each version, given once at its first forward and kept."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO seqs(record_id, sha256) VALUES(?, ?)", versions)
            found = {}
            for record_id, sha256 in versions:
                row = db.execute("SELECT seq FROM seqs WHERE record_id=? AND sha256=?", (record_id, sha256)).fetchone()
                found[(record_id, sha256)] = int(row[0])
        return found

    def mark_forwarded(self, hub_id: str, versions: set[tuple[str, str]]) -> None:
        now = _stamp()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO forwarded(upstream, record_id, sha256, at) VALUES(?, ?, ?, ?)",
                [(hub_id, record_id, sha256, now) for record_id, sha256 in sorted(versions)],
            )


# --- Enrolling a hub as a source of another hub -----------------------------------------


def payload_format(data: bytes) -> str | None:
    """The ``format`` inside a signed envelope, without trusting it; ``None`` if unreadable."""
    try:
        envelope = json.loads(data.decode("utf-8"))
        if not isinstance(envelope, dict) or envelope.get("format") != ENVELOPE_FORMAT:
            return None
        payload = json.loads(base64.b64decode(envelope["payload"], validate=True).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
        return None
    found = payload.get("format") if isinstance(payload, dict) else None
    return found if isinstance(found, str) else None


def _hub_request(store: HubStore, key: Ed25519PrivateKey, token: EnrolmentToken, target_hub_id: str) -> bytes:
    payload = {
        "format": HUB_REQUEST_FORMAT,
        "kind": "hub",
        "source_id": store.config.hub_id,
        "epoch": FORWARD_EPOCH,
        "public_key": public_key_text(key.public_key()),
        "recipient": store.config.recipient,
        "token_id": token_keys(token.token).token_id,
        "hub_id": target_hub_id,
        "created": _stamp(),
    }
    return sign_document(payload, key)


def accept_hub_request(store: HubStore, request: bytes, token_id: str, *, actor: str | None = None) -> bytes:
    """Enrol the hub that signed ``request`` as a source; return the signed response.

    Called by :func:`sync.hub.enrolment.accept_enrolment` once the request's proof under
    the hub token ``token_id`` verified.

    The same checks as for a kit, except the recipient: records a hub forwards were
    sealed by kits, to whatever recipients those kits were given, so the upstream hub
    reads them only if the kits also sealed to it (for example as their escrow). The
    response says the upstream hub's recipient so the downstream operator can check.
    """
    try:
        refuse_old_format(payload_format(request), "hub enrolment request")
        document = read_signed_document(request, HUB_REQUEST_FORMAT, what="hub enrolment request")
        payload = document.payload
        source_id = check_source_id(payload.get("source_id"), "hub id")
        epoch = payload.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
            raise EnrolmentError("the hub enrolment request has no valid key epoch")
        key_text = payload.get("public_key")
        key = load_public_key(key_text, "hub forwarding key")
        if payload.get("token_id") != token_id:
            raise EnrolmentError("the hub enrolment request names another token than the one that proves it")
    except (BundleError, SignedDocumentError) as error:
        raise EnrolmentError(f"the hub enrolment request is not valid: {error}") from None
    if not document.verify(key):
        raise EnrolmentError("the hub enrolment request's signature does not verify with the key it carries")
    target = payload.get("hub_id")
    if target is not None and target != store.config.hub_id:
        raise EnrolmentError(f"the request was made for hub {target}, not this hub ({store.config.hub_id})")
    if source_id == store.config.hub_id:
        raise EnrolmentError("a hub cannot forward to itself")
    accepted = _stamp()
    store.enrol_with_token(token_id, SourceRef("hub", source_id, epoch), str(key_text), now=accepted, actor=actor)
    response = {
        "format": HUB_RESPONSE_FORMAT,
        "hub_id": store.config.hub_id,
        "receipt_public_key": store.config.receipt_public_key,
        "recipient": store.config.recipient,
        "source_id": source_id,
        "epoch": epoch,
        "token_id": token_id,
        "accepted": accepted,
    }
    return sign_document(response, store.receipt_signing_key)


def enrol_upstream(store: HubStore, url: str, token: EnrolmentToken, *, client: HubClient | None = None) -> Upstream:
    """Enrol this hub at the hub at ``url`` over HTTP and remember it for forwarding."""
    client = client or HubClient(url)
    hello = client.hello()
    if hello.hub_id == store.config.hub_id:
        raise ForwardError(f"{client.url} is this very hub ({hello.hub_id}); a hub cannot forward to itself")
    if token.hub_id is not None and token.hub_id != hello.hub_id:
        raise ForwardError(f"{client.url} is hub {hello.hub_id}, but the token file is for hub {token.hub_id}")
    if token.receipt_public_key is not None and token.receipt_public_key != hello.receipt_public_key:
        raise ForwardError(f"{client.url} shows another receipt key than the token file names; nothing was sent")
    if token.kind is not None and token.kind != "hub":
        raise ForwardError(
            "the token file is a kit token; ask the upstream hub's operator for a hub token "
            "('fieldkit hub enrol --kind hub'); nothing was sent"
        )
    key = forward_signing_key(store.data_dir)
    keys = token_keys(token.token)
    request = prove(_hub_request(store, key, token, hello.hub_id), keys, role="request", kind="hub")
    answer = client.post_enrolment(request)
    try:
        message = read_proved(answer, role="response", what="upstream hub's enrolment response")
    except EnrolmentError as error:
        raise ForwardError(str(error)) from None
    if message.token_id != keys.token_id or not message.verify(keys.mac_key):
        raise ForwardError(
            f"{client.url} answered without proof that it knows the token: it is not the hub that "
            "made the token (someone in between, or a wrong address); its key is not trusted"
        )
    try:
        document = read_signed_document(message.signed, HUB_RESPONSE_FORMAT, what="hub enrolment response")
        payload = document.payload
        hub_id = check_source_id(payload.get("hub_id"), "hub id")
        key_text = payload.get("receipt_public_key")
        receipt_key = load_public_key(key_text, "hub receipt key")
    except (BundleError, SignedDocumentError) as error:
        raise ForwardError(f"the upstream hub's answer is not a valid enrolment response: {error}") from None
    expected_key = token.receipt_public_key or hello.receipt_public_key
    if hub_id != hello.hub_id or key_text != expected_key or not document.verify(receipt_key):
        raise ForwardError("the enrolment response does not come from the hub that was asked, or is forged")
    if payload.get("source_id") != store.config.hub_id or payload.get("epoch") != FORWARD_EPOCH:
        raise ForwardError("the enrolment response is for another hub")
    upstream = Upstream(
        hub_id=hub_id,
        url=client.url,
        receipt_public_key=str(key_text),
        recipient=str(payload.get("recipient", "")),
        enrolled=_stamp(),
    )
    with ForwardState(store.data_dir) as state:
        state.save_upstream(upstream)
    return upstream


# --- Forwarding ----------------------------------------------------------------------


def declared_kits(store: HubStore, upstream: Upstream) -> frozenset[str]:
    """The kits whose every declaring key epoch said it seals to ``upstream``'s recipient."""
    if not upstream.recipient:
        return frozenset()
    declared: dict[str, bool] = {}
    for source in store.sources():
        if source.kind != "kit":
            continue
        recipients = store.approved_recipients(source.ref)
        if recipients is None:
            continue  # enrolled before kits said their keys: nothing declared by this epoch
        declared[source.source_id] = declared.get(source.source_id, True) and upstream.recipient in recipients
    return frozenset(kit for kit, ok in declared.items() if ok)


def undeclared_records(store: HubStore, upstream: Upstream) -> Counter[str]:
    """Per kit, the accepted records that cannot go to ``upstream``: not declared (module docstring)."""
    allowed = declared_kits(store, upstream)
    found: Counter[str] = Counter()
    with contextlib.closing(store.iter_records()) as records:
        for record in records:
            if record.kit_id not in allowed:
                found[record.kit_id] += 1
    return found


def _verify_receipt(answer: bytes, upstream: Upstream, source: SourceRef, url: str) -> set[tuple[str, str]]:
    """The record versions a verified receipt from ``upstream`` acknowledges."""
    try:
        receipt, document = read_receipt(answer)
    except (ReceiptError, SignedDocumentError):
        raise TransportError(
            f"{url} answered 200 but not with a fieldkit receipt (a captive portal or a login page?); "
            "nothing was marked as forwarded",
            retryable=True,
            status=200,
            code="bad-receipt",
        ) from None
    if receipt.hub_id != upstream.hub_id or not document.verify(load_public_key(upstream.receipt_public_key)):
        raise TransportError(
            f"the receipt from {url} does not verify with the key of hub {upstream.hub_id}: forged or "
            "damaged; nothing was marked as forwarded",
            retryable=True,
            code="bad-receipt",
        )
    if receipt.source != source:
        raise TransportError(
            f"the receipt is for {receipt.source.label()}, not this hub; nothing was marked as forwarded",
            retryable=True,
            code="bad-receipt",
        )
    return set(receipt.records)


def forward_pass(
    store: HubStore,
    upstream: Upstream,
    *,
    batch: int = DEFAULT_BATCH,
    client: HubClient | None = None,
    echo: Callable[[str], None] | None = None,
) -> PassOutcome:
    """Send every accepted, declared record version ``upstream`` has not acknowledged, in bundles.

    Never raises for network trouble or a refusal: the outcome carries the error.
    """
    say = echo or (lambda _text: None)
    client = client or HubClient(upstream.url)
    batch = max(1, min(batch, DEFAULT_LIMITS.max_records))
    key = forward_signing_key(store.data_dir)
    source = SourceRef("hub", store.config.hub_id, FORWARD_EPOCH)
    bundles = marked = 0
    allowed = declared_kits(store, upstream)
    with ForwardState(store.data_dir) as state:
        done = state.forwarded(upstream.hub_id)

        def remaining() -> int:
            return sum(
                1
                for record in store.iter_records()
                if (record.record_id, record.sha256) not in done and record.kit_id in allowed
            )

        def send(chosen: list[StoredRecord]) -> None:
            nonlocal bundles, marked
            versions = [(record.record_id, record.sha256) for record in chosen]
            seqs = state.sequence_numbers(versions)
            outgoing = [
                OutgoingRecord(
                    record_id=record.record_id,
                    kit_id=record.kit_id,
                    seq=seqs[(record.record_id, record.sha256)],
                    form_id=record.form_id,
                    form_version=record.form_version,
                    day=record.day,
                    ciphertext=record.ciphertext,
                )
                for record in chosen
            ]
            data = build_bundle(key, source, outgoing)
            say(f"Forwarding {len(chosen)} record{'' if len(chosen) == 1 else 's'} to {upstream.hub_id}...")
            answer = client.post_bundle(data)
            acknowledged = _verify_receipt(answer, upstream, source, client.url) & set(versions)
            if not acknowledged:
                raise TransportError(
                    f"the receipt from {upstream.hub_id} acknowledged none of the records sent",
                    retryable=True,
                    code="empty-receipt",
                )
            state.mark_forwarded(upstream.hub_id, acknowledged)
            done.update(acknowledged)
            bundles += 1
            marked += len(acknowledged)
            say(f"  receipt from {upstream.hub_id}: {len(acknowledged)} records acknowledged")

        try:
            hello = client.hello()
            if hello.hub_id != upstream.hub_id or hello.receipt_public_key != upstream.receipt_public_key:
                raise TransportError(
                    f"{client.url} is now hub {hello.hub_id} with another key than the hub this hub "
                    f"enrolled at ({upstream.hub_id}); nothing was sent",
                    retryable=False,
                )
            chosen: list[StoredRecord] = []
            budget = DEFAULT_LIMITS.max_bundle_bytes - _FIXED_OVERHEAD
            with contextlib.closing(store.iter_records()) as records:
                for record in records:
                    if (record.record_id, record.sha256) in done or record.kit_id not in allowed:
                        continue
                    cost = record.size + _PER_RECORD_OVERHEAD
                    if chosen and (len(chosen) >= batch or cost > budget):
                        send(chosen)
                        chosen, budget = [], DEFAULT_LIMITS.max_bundle_bytes - _FIXED_OVERHEAD
                    chosen.append(record)
                    budget -= cost
            if chosen:
                send(chosen)
        except TransportError as error:
            return PassOutcome(upstream.hub_id, bundles, marked, 0, remaining(), error)
        # A complete pass sent everything accepted when it began.
        return PassOutcome(upstream.hub_id, bundles, marked, 0, 0)


def forward_with_retries(
    store: HubStore,
    upstream: Upstream,
    *,
    attempts: int | None,
    backoff: Backoff | None = None,
    batch: int = DEFAULT_BATCH,
    echo: Callable[[str], None] = lambda _text: None,
    sleep: Callable[[float], None] | None = None,
) -> PassOutcome:
    """Forward passes until everything is acknowledged (see ``retry_passes``)."""

    def note(outcome: PassOutcome, delay: float = 0.0) -> None:
        with ForwardState(store.data_dir) as state:
            state.record_attempt(upstream.hub_id, str(outcome.error) if outcome.error else None, delay)

    return retry_passes(
        lambda: forward_pass(store, upstream, batch=batch, echo=echo),
        attempts=attempts,
        backoff=backoff,
        echo=echo,
        sleep=sleep,
        on_success=note,
        on_failure=note,
    )


def upstream_summary(upstream: Upstream) -> str:
    """One line about an upstream hub and its last attempt, for the CLI."""
    parts = [f"{upstream.hub_id} at {upstream.url}"]
    if upstream.last_success:
        parts.append(f"last forwarded {upstream.last_success}")
    if upstream.last_error:
        parts.append(f"last error {upstream.last_attempt}: {upstream.last_error}")
    return "; ".join(parts)
