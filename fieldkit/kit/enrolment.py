"""The kit's side of enrolment: a signed, token-proved request, and the hub's key from its proved response.

The exchange itself is described in :mod:`sync.protocol.enrolment`.
"""

from __future__ import annotations

import datetime

from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.outbox import EnrolledHub, PendingEnrolment, SyncState
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.enrolment import (
    REQUEST_FORMAT,
    RESPONSE_FORMAT,
    EnrolmentError,
    EnrolmentToken,
    prove,
    read_proved,
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


def make_enrolment_request(kit: UnlockedKit, token: EnrolmentToken, *, now: datetime.datetime | None = None) -> bytes:
    """A request signed with the kit's key and proved with the token; remembers the pending enrolment.

    The token itself is not in the request (only its id), so whoever receives it cannot
    use the token.
    """
    if token.kind is not None and token.kind != "kit":
        raise EnrolmentError(
            f"this token file enrols a {token.kind}, not a kit; ask the hub operator for a kit token"
        )
    moment = now or utcnow()
    config = kit.config
    keys = token_keys(token.token)
    payload = {
        "format": REQUEST_FORMAT,
        "kind": "kit",
        "kit_id": config.kit_id,
        "epoch": config.epoch,
        "public_key": config.signing_public_key,
        "recipients": list(config.recipients),
        "token_id": keys.token_id,
        "hub_id": token.hub_id,
        "created": format_stamp(moment),
    }
    request = prove(sign_document(payload, kit.signing_key), keys, role="request", kind="kit")
    SyncState(config.data_dir).set_pending_enrolment(
        PendingEnrolment(
            hub_id=token.hub_id,
            receipt_public_key=token.receipt_public_key,
            token_id=keys.token_id,
            mac_key=keys.mac_key.hex(),
            created=format_stamp(moment),
        )
    )
    return request


def apply_enrolment_response(kit: UnlockedKit, response: bytes) -> EnrolledHub:
    """Store the hub's receipt key from a response that proves it knows this kit's token.

    The kit is unlocked: the new hub list is signed with its key (``fieldkit.kit.hub_list``).
    """
    config = kit.config
    state = SyncState(kit.data_dir)
    pending = state.pending_enrolment()
    if pending is None:
        raise EnrolmentError("this kit has no enrolment in progress; run 'fieldkit sync enrol --token-file FILE' first")
    message = read_proved(response, role="response", what="enrolment response")
    if message.token_id != pending.token_id or not message.verify(bytes.fromhex(pending.mac_key)):
        raise EnrolmentError(
            "the enrolment response does not prove it comes from the hub that made this kit's token "
            "(someone in between, a wrong address, or a response for another request); its key is "
            "not trusted and nothing was stored"
        )
    try:
        document = read_signed_document(message.signed, RESPONSE_FORMAT, what="enrolment response")
        payload = document.payload
        hub_id = check_source_id(required_field(payload, "hub_id"), "hub id")
        key_text = required_field(payload, "receipt_public_key")
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
    verified = "token-file" if pending.receipt_public_key is not None else "token-proof"
    hub = EnrolledHub(hub_id=hub_id, receipt_public_key=key_text, enrolled=format_stamp(utcnow()), verified=verified)
    state.add_hub(hub, kit)
    state.clear_pending_enrolment()
    return hub
