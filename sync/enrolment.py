"""Enrolment: a kit registers its signing key at a hub with a one-time token.

Four steps, each one file, so the whole exchange can travel on a USB stick:

1. hub, :func:`create_token`: a one-time token (printed, and written to a token file
   that also names the hub and its receipt public key);
2. kit, :func:`make_enrolment_request`: a request signed with the kit's key (kit id,
   key epoch, public key, the kit's age recipients, the token); the kit remembers
   what the token said about the hub;
3. hub, :func:`accept_enrolment`: checks the signature, the token (known, unused,
   not expired) and that the kit seals to this hub's recipient; enrols the kit and
   answers with a response signed by the hub's receipt key;
4. kit, :func:`apply_enrolment_response`: checks the response is for this kit and is
   signed by the key the token named, and stores that key: from now on only receipts
   signed with it mark records as synced.

Over HTTP the same functions apply: the kit posts the request and gets the response in
the reply. A token typed by hand carries no hub key, so the kit then trusts the key in
the first valid response (trust on first use); a token file avoids that.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldkit.errors import FieldkitError
from fieldkit.kit import UnlockedKit, load_config
from sync.bundle import BundleError, SourceRef, check_source_id
from sync.outbox import EnrolledHub, PendingEnrolment, SyncState
from sync.receipts import (
    SignedDocumentError,
    load_public_key,
    read_signed_document,
    sign_document,
)

if TYPE_CHECKING:
    from sync.hubstore import HubStore

__all__ = [
    "REQUEST_FORMAT",
    "RESPONSE_FORMAT",
    "TOKEN_FILE_FORMAT",
    "EnrolmentError",
    "EnrolmentToken",
    "accept_enrolment",
    "apply_enrolment_response",
    "create_token",
    "make_enrolment_request",
    "normalise_token",
    "token_sha256",
]

TOKEN_FILE_FORMAT = "fieldkit-enrolment-token/1"  # noqa: S105 (a format name, not a secret)
REQUEST_FORMAT = "fieldkit-enrolment-request/1"
RESPONSE_FORMAT = "fieldkit-enrolment-response/1"
DEFAULT_TOKEN_DAYS = 14

# 20 characters of base32 (100 bits), in groups of five: easy to read aloud and type.
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TOKEN_LENGTH = 20
_GROUP = 5
_MAX_TOKEN_FILE_BYTES = 64 * 1024


class EnrolmentError(FieldkitError):
    """An enrolment step was refused; ``str()`` says why and what to do."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_token(text: str) -> str:
    """The token without spaces or dashes, in capitals; ``EnrolmentError`` if malformed."""
    compact = "".join(ch for ch in text.upper() if ch not in " -\t\r\n")
    if len(compact) != _TOKEN_LENGTH or any(ch not in _ALPHABET for ch in compact):
        raise EnrolmentError(
            f"not an enrolment token: expected {_TOKEN_LENGTH} letters and digits 2-7, "
            "as 'fieldkit hub enrol' printed them"
        )
    return compact


def token_sha256(text: str) -> str:
    """What the hub stores instead of the token itself."""
    return hashlib.sha256(normalise_token(text).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class EnrolmentToken:
    """A one-time token, and (from a token file) the hub it belongs to."""

    token: str
    hub_id: str | None = None
    receipt_public_key: str | None = None
    expires: str | None = None

    @property
    def display(self) -> str:
        """The token in groups of five, as people read and type it."""
        compact = normalise_token(self.token)
        return "-".join(compact[i : i + _GROUP] for i in range(0, len(compact), _GROUP))

    def to_file_bytes(self) -> bytes:
        document = {
            "format": TOKEN_FILE_FORMAT,
            "token": self.display,
            "hub_id": self.hub_id,
            "receipt_public_key": self.receipt_public_key,
            "expires": self.expires,
        }
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")

    @classmethod
    def from_text(cls, text: str) -> EnrolmentToken:
        """A token typed by hand: it names no hub."""
        return cls(token=normalise_token(text))

    @classmethod
    def from_file_bytes(cls, data: bytes) -> EnrolmentToken:
        if len(data) > _MAX_TOKEN_FILE_BYTES:
            raise EnrolmentError("the token file is too large to be a token file")
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise EnrolmentError("the token file is not a fieldkit enrolment token") from None
        if not isinstance(document, dict) or document.get("format") != TOKEN_FILE_FORMAT:
            raise EnrolmentError("the token file is not a fieldkit enrolment token")
        hub_id = document.get("hub_id")
        key = document.get("receipt_public_key")
        try:
            if hub_id is not None:
                check_source_id(hub_id, "hub id")
            if key is not None:
                load_public_key(key, "hub receipt key")
        except (BundleError, SignedDocumentError) as error:
            raise EnrolmentError(f"the token file is damaged: {error}") from None
        return cls(
            token=normalise_token(str(document.get("token", ""))),
            hub_id=hub_id,
            receipt_public_key=key,
            expires=document.get("expires"),
        )


# --- Hub side ------------------------------------------------------------------------


def create_token(
    store: HubStore, *, valid_days: int = DEFAULT_TOKEN_DAYS, now: datetime.datetime | None = None
) -> EnrolmentToken:
    """A new one-time token, remembered (as a hash) by the hub until it is used."""
    if valid_days < 1:
        raise EnrolmentError("a token must be valid for at least one day")
    moment = now or _now()
    text = "".join(secrets.choice(_ALPHABET) for _ in range(_TOKEN_LENGTH))
    expires = _stamp(moment + datetime.timedelta(days=valid_days))
    store.add_token(token_sha256(text), expires)
    return EnrolmentToken(
        token=text,
        hub_id=store.config.hub_id,
        receipt_public_key=store.config.receipt_public_key,
        expires=expires,
    )


def _field(payload: dict[str, Any], name: str) -> Any:
    if name not in payload:
        raise EnrolmentError(f"the enrolment file lacks its {name!r} field")
    return payload[name]


def accept_enrolment(store: HubStore, request: bytes, *, now: datetime.datetime | None = None) -> bytes:
    """Enrol the kit that signed ``request``; return the signed response for it.

    Accepting the same request again (a response lost on the way) returns a response
    again and changes nothing.
    """
    try:
        document = read_signed_document(request, REQUEST_FORMAT, what="enrolment request")
        payload = document.payload
        kit_id = check_source_id(_field(payload, "kit_id"), "kit id")
        epoch = _field(payload, "epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
            raise EnrolmentError("the enrolment request has no valid key epoch")
        public_key_text = _field(payload, "public_key")
        public_key = load_public_key(public_key_text, "kit public key")
    except (BundleError, SignedDocumentError) as error:
        raise EnrolmentError(f"the enrolment request is not valid: {error}") from None
    if not document.verify(public_key):
        raise EnrolmentError(
            "the enrolment request's signature does not verify with the key it carries: "
            "it was changed after the kit made it"
        )
    hub_id = payload.get("hub_id")
    if hub_id is not None and hub_id != store.config.hub_id:
        raise EnrolmentError(f"the enrolment request was made for hub {hub_id}, not this hub ({store.config.hub_id})")
    recipients = _field(payload, "recipients")
    if not isinstance(recipients, list) or store.config.recipient not in recipients:
        raise EnrolmentError(
            f"kit {kit_id} does not seal its records to this hub's recipient "
            f"({store.config.recipient}), so the hub could never read them; create the kit "
            "again with --hub-recipient-file set to this hub's hub-recipient.txt"
        )
    token = _field(payload, "token")
    if not isinstance(token, str):
        raise EnrolmentError("the enrolment request carries no token")
    moment = now or _now()
    store.enrol_with_token(token_sha256(token), SourceRef("kit", kit_id, epoch), public_key_text, now=_stamp(moment))
    response = {
        "format": RESPONSE_FORMAT,
        "hub_id": store.config.hub_id,
        "receipt_public_key": store.config.receipt_public_key,
        "kit_id": kit_id,
        "epoch": epoch,
        "accepted": _stamp(moment),
    }
    return sign_document(response, store.receipt_signing_key)


# --- Kit side ------------------------------------------------------------------------


def make_enrolment_request(kit: UnlockedKit, token: EnrolmentToken, *, now: datetime.datetime | None = None) -> bytes:
    """A request signed with the kit's key; remembers the pending enrolment in the kit."""
    moment = now or _now()
    config = kit.config
    payload = {
        "format": REQUEST_FORMAT,
        "kind": "kit",
        "kit_id": config.kit_id,
        "epoch": config.epoch,
        "public_key": config.signing_public_key,
        "recipients": list(config.recipients),
        "token": normalise_token(token.token),
        "hub_id": token.hub_id,
        "created": _stamp(moment),
    }
    request = sign_document(payload, kit.signing_key)
    SyncState(config.data_dir).set_pending_enrolment(
        PendingEnrolment(
            hub_id=token.hub_id,
            receipt_public_key=token.receipt_public_key,
            token_sha256=token_sha256(token.token),
            created=_stamp(moment),
        )
    )
    return request


def apply_enrolment_response(kit_dir: Path, response: bytes) -> EnrolledHub:
    """Store the hub's receipt key from a verified response to this kit's request."""
    config = load_config(kit_dir)
    state = SyncState(Path(kit_dir))
    pending = state.pending_enrolment()
    if pending is None:
        raise EnrolmentError("this kit has no enrolment in progress; run 'fieldkit sync enrol --token-file FILE' first")
    try:
        document = read_signed_document(response, RESPONSE_FORMAT, what="enrolment response")
        payload = document.payload
        hub_id = check_source_id(_field(payload, "hub_id"), "hub id")
        key_text = _field(payload, "receipt_public_key")
        key = load_public_key(key_text, "hub receipt key")
    except (BundleError, SignedDocumentError) as error:
        raise EnrolmentError(f"the enrolment response is not valid: {error}") from None
    if payload.get("kit_id") != config.kit_id or payload.get("epoch") != config.epoch:
        raise EnrolmentError(
            f"the enrolment response is for kit {payload.get('kit_id')} (epoch "
            f"{payload.get('epoch')}), not this kit ({config.kit_id}, epoch {config.epoch})"
        )
    if pending.hub_id is not None and hub_id != pending.hub_id:
        raise EnrolmentError(
            f"the enrolment response comes from hub {hub_id}, but the token was from hub {pending.hub_id}"
        )
    if pending.receipt_public_key is not None and key_text != pending.receipt_public_key:
        raise EnrolmentError(
            "the enrolment response carries another hub key than the token file named; it "
            "is refused (ask the hub operator for a new token)"
        )
    if not document.verify(key):
        raise EnrolmentError("the enrolment response's signature does not verify: it is forged or damaged")
    hub = EnrolledHub(hub_id=hub_id, receipt_public_key=key_text, enrolled=_stamp(_now()))
    state.add_hub(hub)
    state.clear_pending_enrolment()
    return hub
