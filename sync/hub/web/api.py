"""The hub's HTTP API for kits and downstream hubs (``/api/v1``).

- ``GET /api/v1/hello``: the hub's id and receipt public key, so a sender can check it
  reached the hub it enrolled with before sending anything. Not signed: it only saves a
  wasted upload; receipts are what a sender trusts.
- ``POST /api/v1/bundles`` (``application/x-tar``): a bundle. 200 with the signed
  receipt (the same bytes ``hub import --receipt-out`` writes) once its records are
  durable, also for a bundle merged before; otherwise a JSON refusal.
- ``POST /api/v1/enrol`` (``application/json``): a kit's or a hub's enrolment request,
  signed and proved with a one-time token; 200 with the signed, proved response, or a
  JSON refusal.
- ``POST /api/v1/rollups`` (``application/json``): an enrolled hub's signed roll-up
  delivery (``sync.hub.rollup``); 200 with a signed receipt once it is held, 403 when
  the signer is not an enrolled hub or the signature fails, 409 for one older than held,
  otherwise 400.
- ``POST /api/v1/pack`` (``application/json``): an enrolled, active kit's signed request
  for the hub's newest form pack (``sync.protocol.pull``); 200 with the signed pack when
  it is newer than the version the kit has, 204 when not; 403 with nothing said about why
  to a request that does not verify as from an enrolled, active kit.

These endpoints are exempt from CSRF: they take bytes from machines, not forms from a
browser session, and carry their own authentication (a bundle's signature by an
enrolled, unrevoked key; an enrolment's one-time token). A browser cannot be made to
forge either. Every refusal is ``{"error": code, "reason": text}`` with a 4xx status;
the bundle codes are those of ``sync.protocol.bundle.REFUSAL_CODES``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from fieldkit.core.storage.atomic import ensure_private_dir
from sync.hub.audit import API_ACTOR
from sync.hub.enrolment import accept_enrolment
from sync.hub.packing import stored_pack
from sync.hub.rollup import MAX_DELIVERY_BYTES, RollupError, accept_delivery
from sync.hub.store import HubStoreError
from sync.protocol.bundle import BundleError, SourceRef
from sync.protocol.client import BUNDLE_CONTENT_TYPE, HELLO_FORMAT, JSON_CONTENT_TYPE
from sync.protocol.enrolment import EnrolmentError, EnrolmentFormatError
from sync.protocol.pull import MAX_REQUEST_BYTES, PullRequestError, clock_problem, read_pull_request

bp = Blueprint("api", __name__, url_prefix="/api/v1")

INCOMING_DIR = "incoming"
_IN_MEMORY_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024

# Which HTTP status each bundle refusal gets: 403 when the signer is not allowed, 413 for
# size limits, 400 when the bytes are not a readable bundle, 422 when they are one that
# breaks a rule.
_REFUSAL_STATUS = {
    "unknown-source": 403,
    "revoked-source": 403,
    "bad-signature": 403,
    "too-large": 413,
    "oversized-member": 413,
    "too-many-members": 413,
    "not-a-tar": 400,
    "compressed": 400,
    "damaged": 400,
    "bad-layout": 400,
}


def json_error(status: int, code: str, reason: str) -> Response:
    response = jsonify(error=code, reason=reason)
    response.status_code = status
    return response


_HTTP_CODES = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    411: "length-required",
    413: "too-large",
    415: "unsupported-media-type",
}


def error_response(error: Exception) -> Response | None:
    """Under ``/api/`` a failure is a JSON refusal for the machine that sent it, not a page.

    None elsewhere: the operator gets the error page (``fieldkit.webbase.errors``).
    """
    if not request.path.startswith("/api/"):
        return None
    if not isinstance(error, HTTPException):
        return json_error(500, "hub-error", "the hub failed unexpectedly; nothing was stored, try again later")
    status = error.code or 500
    response = json_error(status, _HTTP_CODES.get(status, "http-error"), error.description or error.name)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def _hub():
    return current_app.extensions["fieldkit_hub"]


def _wrong_type(expected: str) -> Response | None:
    if request.mimetype != expected:
        found = request.mimetype or "none"
        return json_error(415, "unsupported-media-type", f"send {expected}, not {found[:80]}")
    return None


@bp.get("/hello")
def hello() -> Response:
    config = _hub().store.config
    return jsonify(format=HELLO_FORMAT, hub_id=config.hub_id, receipt_public_key=config.receipt_public_key)


@bp.post("/bundles")
def bundles() -> Response:
    refused = _wrong_type(BUNDLE_CONTENT_TYPE)
    if refused is not None:
        return refused
    hub = _hub()
    limit = hub.max_bundle_bytes
    if request.content_length is not None and request.content_length > limit:
        return json_error(413, "too-large", f"the bundle has {request.content_length} bytes; the limit is {limit}")
    request.max_content_length = limit
    with _received_body(hub.store.data_dir, limit) as body:
        if body is None:
            return json_error(413, "too-large", f"the bundle is larger than the limit of {limit} bytes")
        try:
            result = hub.store.import_bundle(body, label="HTTP push", actor=API_ACTOR)
        except HubStoreError as error:
            current_app.logger.error("hub store error during an HTTP import: %s", error)
            return json_error(503, "hub-unavailable", "the hub cannot store bundles right now; try again later")
    if result.refused:
        code = result.code or "refused"
        return json_error(_REFUSAL_STATUS.get(code, 422), code, result.reason or code)
    assert result.receipt is not None
    response = Response(result.receipt, status=200, mimetype=JSON_CONTENT_TYPE)
    response.headers["Fieldkit-Import"] = (
        f"{result.status}; new={result.new}; duplicates={result.duplicates}; quarantined={result.quarantined}"
    )
    return response


@contextlib.contextmanager
def _received_body(data_dir: Path, limit: int) -> Iterator[BinaryIO | None]:
    """The request body as a file: in memory while small, then an unnamed private file.

    ``tempfile.SpooledTemporaryFile`` moves to disk past ``_IN_MEMORY_BYTES``; its file
    has no name, so nothing is left behind however the request ends. Yields ``None``
    when the body turns out larger than ``limit`` (a chunked upload has no length to
    check first).
    """
    folder = ensure_private_dir(Path(data_dir) / INCOMING_DIR)
    with tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY_BYTES, mode="w+b", dir=str(folder)) as spool:
        total = 0
        while chunk := request.stream.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                yield None
                return
            spool.write(chunk)
        spool.seek(0)
        yield cast(BinaryIO, spool)


@bp.post("/enrol")
def enrol() -> Response:
    refused = _wrong_type(JSON_CONTENT_TYPE)
    if refused is not None:
        return refused
    hub = _hub()
    request.max_content_length = hub.settings.max_enrolment_bytes
    data = request.get_data(cache=False)
    try:
        # A kit's or a hub's request: the proved message says which, once its proof holds.
        answer = accept_enrolment(hub.store, data, actor=API_ACTOR)
    except EnrolmentFormatError as error:
        return json_error(400, "bad-request", str(error))
    except EnrolmentError as error:
        return json_error(403, "enrolment-refused", str(error))
    except HubStoreError as error:
        current_app.logger.error("hub store error during an enrolment: %s", error)
        return json_error(503, "hub-unavailable", "the hub cannot enrol right now; try again later")
    return Response(answer, status=200, mimetype=JSON_CONTENT_TYPE)


@bp.post("/rollups")
def rollups() -> Response:
    refused = _wrong_type(JSON_CONTENT_TYPE)
    if refused is not None:
        return refused
    hub = _hub()
    request.max_content_length = MAX_DELIVERY_BYTES
    data = request.get_data(cache=False)
    try:
        answer = accept_delivery(hub.store, data)
    except RollupError as error:
        return json_error(error.status, "rollup-refused", str(error))
    except HubStoreError as error:
        current_app.logger.error("hub store error during a roll-up delivery: %s", error)
        return json_error(503, "hub-unavailable", "the hub cannot hold roll-ups right now; try again later")
    return Response(answer, status=200, mimetype=JSON_CONTENT_TYPE)


# The one answer to every pull the hub cannot verify: whether the kit is unknown, revoked,
# or the signature wrong is none of the asker's business.
_NOT_ALLOWED = "this hub gives form packs only to kits enrolled with it"


@bp.post("/pack")
def pack() -> Response:
    refused = _wrong_type(JSON_CONTENT_TYPE)
    if refused is not None:
        return refused
    hub = _hub()
    request.max_content_length = MAX_REQUEST_BYTES
    try:
        asked = read_pull_request(request.get_data(cache=False))
        if asked.hub_id != hub.store.config.hub_id:
            raise PullRequestError("for another hub")
        key = hub.store.key_for(SourceRef("kit", asked.kit_id, asked.epoch))
        if not asked.document.verify(key):
            raise PullRequestError("bad signature")
    except (PullRequestError, BundleError):
        return json_error(403, "not-allowed", _NOT_ALLOWED)
    except HubStoreError as error:
        current_app.logger.error("hub store error during a pack pull: %s", error)
        return json_error(503, "hub-unavailable", "the hub cannot answer right now; try again later")
    clock = clock_problem(asked)
    if clock is not None:
        return json_error(403, "clock", clock)
    try:
        newest = stored_pack(hub.store)
    except HubStoreError as error:
        current_app.logger.error("hub store error during a pack pull: %s", error)
        return json_error(503, "hub-unavailable", "the hub cannot answer right now; try again later")
    if newest is None or newest[0].version <= asked.have:
        return Response(status=204)
    return Response(newest[1], status=200, mimetype=JSON_CONTENT_TYPE)
