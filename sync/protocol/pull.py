"""Pulling a form pack over HTTP: the kit's signed request, and the hub's check of it.

``POST /api/v1/pack`` carries a ``fieldkit-signed/1`` document signed with the kit's own
key (the one the hub enrolled), whose payload is ``fieldkit-pack-request/1``::

    {"format": "fieldkit-pack-request/1", "kit_id": "...", "epoch": 1,
     "hub_id": "...", "have": 3, "created": "<stamp>"}

``have`` is the newest pack version the kit applied from that hub (0 for none). The hub
answers 200 with its newest signed pack when it is newer, 204 when it is not, and 403
with nothing more to a request it cannot verify as from an enrolled, active kit. The
stamp bounds how long a copied request can be replayed; the pack itself is signed by
the hub, so whoever answers cannot change it (``sync.protocol.pack.read_pack``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.errors import FieldkitError
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.receipts import SignedDocument, SignedDocumentError, read_signed_document, sign_document
from sync.protocol.stamps import format_stamp, parse_stamp, utcnow

__all__ = ["MAX_CLOCK_SKEW", "MAX_REQUEST_BYTES", "PULL_FORMAT", "PullRequest", "PullRequestError",
           "make_pull_request", "read_pull_request"]  # fmt: skip

PULL_FORMAT = "fieldkit-pack-request/1"
MAX_REQUEST_BYTES = 8 * 1024
# A kit's clock may drift for weeks offline (a Raspberry Pi has no clock battery), so the
# window is wide; it still stops a request copied today from working next month.
MAX_CLOCK_SKEW = datetime.timedelta(hours=36)


class PullRequestError(FieldkitError):
    """A pull request is not readable; the hub answers 403 without saying more."""


@dataclass(frozen=True)
class PullRequest:
    """A pull request as read: who says they sent it. ``document.verify`` decides whether they did."""

    kit_id: str
    epoch: int
    hub_id: str
    have: int
    created: datetime.datetime
    document: SignedDocument


def make_pull_request(
    kit_id: str, epoch: int, hub_id: str, have: int, signing_key: Ed25519PrivateKey,
    *, now: datetime.datetime | None = None,
) -> bytes:  # fmt: skip
    payload = {
        "format": PULL_FORMAT,
        "kit_id": kit_id,
        "epoch": epoch,
        "hub_id": hub_id,
        "have": have,
        "created": format_stamp(now or utcnow()),
    }
    return sign_document(payload, signing_key)


def _whole(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PullRequestError(f"the pull request's {what} is not a whole number")
    return value


def read_pull_request(data: bytes) -> PullRequest:
    """Parse (not verify) a pull request; :class:`PullRequestError` if it is not one."""
    if len(data) > MAX_REQUEST_BYTES:
        raise PullRequestError("the pull request is too large")
    try:
        document = read_signed_document(data, PULL_FORMAT, what="pull request")
        payload = document.payload
        kit_id = check_source_id(payload.get("kit_id"), "kit id")
        hub_id = check_source_id(payload.get("hub_id"), "hub id")
    except (SignedDocumentError, BundleError) as error:
        raise PullRequestError(str(error)) from None
    created = parse_stamp(payload.get("created")) if isinstance(payload.get("created"), str) else None
    if created is None:
        raise PullRequestError("the pull request has no valid time")
    return PullRequest(
        kit_id, _whole(payload.get("epoch"), "epoch"), hub_id, _whole(payload.get("have"), "version"), created, document
    )


def clock_problem(request: PullRequest, now: datetime.datetime | None = None) -> str | None:
    """Why the request's time is not acceptable, or None."""
    moment = now or utcnow()
    if abs(moment - request.created) <= MAX_CLOCK_SKEW:
        return None
    return (
        f"the request was made at {format_stamp(request.created)} by the kit's clock, but it is "
        f"{format_stamp(moment)} at the hub: set the kit's clock and try again"
    )
