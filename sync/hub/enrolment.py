"""The hub's side of enrolment: one-time tokens, and accepting a kit's (or hub's) proved request.

The exchange itself is described in :mod:`sync.protocol.enrolment`.
"""

from __future__ import annotations

import datetime
import secrets
from typing import TYPE_CHECKING

from fieldkit.core.crypto.hubkeys import parse_recipient_text
from fieldkit.core.errors import FieldkitError
from sync.hub.forward import accept_hub_request, payload_format
from sync.protocol.bundle import BundleError, SourceRef, check_source_id
from sync.protocol.enrolment import (
    DEFAULT_TOKEN_DAYS,
    REQUEST_FORMAT,
    RESPONSE_FORMAT,
    TOKEN_ALPHABET,
    TOKEN_KINDS,
    TOKEN_LENGTH,
    EnrolmentError,
    EnrolmentToken,
    TokenKeys,
    prove,
    read_proved,
    refuse_old_format,
    required_field,
    token_keys,
)
from sync.protocol.receipts import (
    SignedDocumentError,
    load_public_key,
    read_signed_document,
    sign_document,
)
from sync.protocol.stamps import format_stamp, utcnow

if TYPE_CHECKING:
    from sync.hub.store import HubStore


def create_token(
    store: HubStore,
    *,
    valid_days: int = DEFAULT_TOKEN_DAYS,
    kind: str = "kit",
    for_source: str | None = None,
    now: datetime.datetime | None = None,
    actor: str | None = None,
) -> EnrolmentToken:
    """A new one-time token for a ``kind`` of source, remembered by its id until it is used.

    ``for_source`` names an id already enrolled here: the token then enrols only that id,
    and may give it a new key epoch (the operator's approval of the new key).
    """
    if valid_days < 1:
        raise EnrolmentError("a token must be valid for at least one day")
    if kind not in TOKEN_KINDS:
        raise EnrolmentError(f"a token enrols a kit or a hub, not {kind!r}")
    if for_source is not None:
        try:
            check_source_id(for_source, f"{kind} id")
        except BundleError as error:
            raise EnrolmentError(str(error)) from None
    moment = now or utcnow()
    text = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
    expires = format_stamp(moment + datetime.timedelta(days=valid_days))
    keys = token_keys(text)
    store.add_token(keys.token_id, keys.mac_key, expires, kind=kind, for_source=for_source, actor=actor)
    return EnrolmentToken(
        token=text,
        hub_id=store.config.hub_id,
        receipt_public_key=store.config.receipt_public_key,
        expires=expires,
        kind=kind,
    )


def accept_enrolment(
    store: HubStore, request: bytes, *, now: datetime.datetime | None = None, actor: str | None = None
) -> bytes:
    """Enrol the kit or hub that made ``request``; return the proved, signed response.

    ``actor`` is who the audit trail names (``api`` over HTTP; None: the OS account).

    The request must carry a valid proof (HMAC) under a token this hub made, before
    anything else in it is looked at. Accepting the same request again (a response lost
    on the way) returns a response again and changes nothing.
    """
    message = read_proved(request, role="request", what="enrolment request")
    kind, mac_key = store.token_proof(message.token_id)
    if not message.verify(mac_key):
        raise EnrolmentError(
            "the enrolment request was not made with a token from this hub, or it was changed on "
            "the way; nothing was enrolled"
        )
    if message.kind != kind:
        raise EnrolmentError(
            f"this token enrols a {kind}, not a {message.kind}; ask the hub operator for a "
            f"{message.kind} token ('fieldkit hub enrol{' --kind hub' if message.kind == 'hub' else ''}')"
        )
    if kind == "kit":
        signed = _accept_kit(store, message.signed, message.token_id, now=now, actor=actor)
    else:
        signed = accept_hub_request(store, message.signed, message.token_id, actor=actor)
    return prove(signed, TokenKeys(message.token_id, mac_key), role="response", kind=kind)


def _recipient(kit_id: str, text: object) -> str:
    """One of the age keys a kit says it seals to, in canonical form, or a refusal."""
    try:
        if isinstance(text, str):
            return parse_recipient_text(text)
    except FieldkitError:
        pass
    raise EnrolmentError(f"kit {kit_id} names a recipient that is not an age1 key; nothing was enrolled")


def _accept_kit(
    store: HubStore, request: bytes, token_id: str, *, now: datetime.datetime | None, actor: str | None
) -> bytes:
    try:
        document = read_signed_document(request, REQUEST_FORMAT, what="enrolment request")
    except SignedDocumentError as error:
        refuse_old_format(payload_format(request), "enrolment request")
        raise EnrolmentError(f"the enrolment request is not valid: {error}") from None
    try:
        payload = document.payload
        kit_id = check_source_id(required_field(payload, "kit_id"), "kit id")
        epoch = required_field(payload, "epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
            raise EnrolmentError("the enrolment request has no valid key epoch")
        public_key_text = required_field(payload, "public_key")
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
    if payload.get("token_id") != token_id:
        raise EnrolmentError("the enrolment request names another token than the one that proves it")
    recipients = required_field(payload, "recipients")
    if not isinstance(recipients, list) or not any(item in store.config.recipients for item in recipients):
        raise EnrolmentError(
            f"kit {kit_id} does not seal its records to this hub's recipient "
            f"({store.config.recipient}), so the hub could never read them; create the kit "
            "again with --hub-recipient-file set to this hub's hub-recipient.txt"
        )
    moment = now or utcnow()
    source = SourceRef("kit", kit_id, epoch)
    approved = [_recipient(kit_id, recipient) for recipient in recipients]
    store.enrol_with_token(
        token_id, source, public_key_text, now=format_stamp(moment), recipients=approved, actor=actor
    )
    response = {
        "format": RESPONSE_FORMAT,
        "hub_id": store.config.hub_id,
        "receipt_public_key": store.config.receipt_public_key,
        "kit_id": kit_id,
        "epoch": epoch,
        "token_id": token_id,
        "accepted": format_stamp(moment),
    }
    return sign_document(response, store.receipt_signing_key)

