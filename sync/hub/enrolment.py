"""The hub's side of enrolment: one-time tokens, and accepting a kit's signed request.

The exchange itself is described in :mod:`sync.protocol.enrolment`.
"""

from __future__ import annotations

import datetime
import secrets
from typing import TYPE_CHECKING

from sync.protocol.bundle import BundleError, SourceRef, check_source_id
from sync.protocol.receipts import (
    SignedDocumentError,
    load_public_key,
    read_signed_document,
    sign_document,
)

if TYPE_CHECKING:
    from sync.hub.store import HubStore

from sync.protocol.enrolment import (
    DEFAULT_TOKEN_DAYS,
    REQUEST_FORMAT,
    RESPONSE_FORMAT,
    TOKEN_ALPHABET,
    TOKEN_LENGTH,
    EnrolmentError,
    EnrolmentToken,
    required_field,
    token_sha256,
)
from sync.protocol.stamps import format_stamp, utcnow


def create_token(
    store: HubStore, *, valid_days: int = DEFAULT_TOKEN_DAYS, now: datetime.datetime | None = None
) -> EnrolmentToken:
    """A new one-time token, remembered (as a hash) by the hub until it is used."""
    if valid_days < 1:
        raise EnrolmentError("a token must be valid for at least one day")
    moment = now or utcnow()
    text = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
    expires = format_stamp(moment + datetime.timedelta(days=valid_days))
    store.add_token(token_sha256(text), expires)
    return EnrolmentToken(
        token=text,
        hub_id=store.config.hub_id,
        receipt_public_key=store.config.receipt_public_key,
        expires=expires,
    )


def accept_enrolment(store: HubStore, request: bytes, *, now: datetime.datetime | None = None) -> bytes:
    """Enrol the kit that signed ``request``; return the signed response for it.

    Accepting the same request again (a response lost on the way) returns a response
    again and changes nothing.
    """
    try:
        document = read_signed_document(request, REQUEST_FORMAT, what="enrolment request")
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
    recipients = required_field(payload, "recipients")
    if not isinstance(recipients, list) or store.config.recipient not in recipients:
        raise EnrolmentError(
            f"kit {kit_id} does not seal its records to this hub's recipient "
            f"({store.config.recipient}), so the hub could never read them; create the kit "
            "again with --hub-recipient-file set to this hub's hub-recipient.txt"
        )
    token = required_field(payload, "token")
    if not isinstance(token, str):
        raise EnrolmentError("the enrolment request carries no token")
    moment = now or utcnow()
    source = SourceRef("kit", kit_id, epoch)
    store.enrol_with_token(token_sha256(token), source, public_key_text, now=format_stamp(moment))
    response = {
        "format": RESPONSE_FORMAT,
        "hub_id": store.config.hub_id,
        "receipt_public_key": store.config.receipt_public_key,
        "kit_id": kit_id,
        "epoch": epoch,
        "accepted": format_stamp(moment),
    }
    return sign_document(response, store.receipt_signing_key)


