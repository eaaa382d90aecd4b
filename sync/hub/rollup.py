"""Hub to hub without records: a regional hub sends its upstream hub signed, sealed counts.

``fieldkit hub rollup`` reads the regional hub's records once (with its identity), keeps
only counts (:mod:`sync.hub.reports.rollup`: per centre, form, version, item, answer and
cycle, before suppression; no record id, kit id, free text or day), signs them with the
hub's forwarding key (the Ed25519 key the upstream hub enrolled it with, ``fieldkit hub
enrol-upstream``) as a ``fieldkit-rollup/1`` document, and seals that with age to the
upstream hub's recipient (from the enrolment response). Nobody in between can read or
change it; only the upstream hub can open it, and it knows who made it.

The upstream hub (``fieldkit hub rollup-import``) opens it with its identity, checks the
format, the signature against the key of the enrolled source ``hub <id>`` (epoch 1, not
revoked), that it was made for this hub, and that it is newer than the roll-up it holds
from that hub. It keeps the newest one per regional hub, as received (still sealed), in
``HUBDIR/rollups.sqlite``, replacing the older in one transaction: importing the same
file again changes nothing, and a kill midway leaves the older one. ``fieldkit hub
report`` adds every held roll-up's counts to the hub's own before scoring and
suppression (:func:`held_rollups`).

Over HTTP (``fieldkit hub rollup`` without ``--out``; ``POST /api/v1/rollups``) the
hub's server holds no identity, so it cannot open the roll-up. The regional hub then
wraps the sealed file in a *delivery* (``fieldkit-rollup-delivery/1``) signed with the
same forwarding key, naming its hub, the hub it is for and the time it was made; the
server checks that signature, that it is for this hub and newer than the held one, and
holds it the same way, answering with a receipt signed by its receipt key
(``fieldkit-rollup-receipt/1``). What is inside is checked when it is opened: by the
report, which leaves out (and names) a roll-up that does not open, verify, or match its
delivery.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from sync.hub.forward import FORWARD_EPOCH, Upstream, forward_signing_key
from sync.hub.reports.rollup import RollupTables, TablesError, read_tables, tables_payload
from sync.hub.sidedb import SideDatabase
from sync.hub.store import HubStore
from sync.protocol.bundle import BundleError, SourceRef, check_source_id
from sync.protocol.client import HubClient
from sync.protocol.receipts import (
    MAX_DOCUMENT_BYTES,
    SignedDocumentError,
    load_public_key,
    read_signed_document,
    sign_document,
)

__all__ = [
    "DELIVERY_FORMAT",
    "MAX_DELIVERY_BYTES",
    "RECEIPT_FORMAT",
    "ROLLUP_DB_FILE",
    "ROLLUP_FORMAT",
    "HeldRollup",
    "ImportedRollup",
    "MadeRollup",
    "OpenedRollup",
    "RollupError",
    "accept_delivery",
    "delivery",
    "held_rollups",
    "import_rollup",
    "list_rollups",
    "make_rollup",
    "open_rollup",
    "send_rollup",
]

ROLLUP_FORMAT = "fieldkit-rollup/1"
DELIVERY_FORMAT = "fieldkit-rollup-delivery/1"
RECEIPT_FORMAT = "fieldkit-rollup-receipt/1"
ROLLUP_DB_FILE = "rollups.sqlite"
# A signed document is at most MAX_DOCUMENT_BYTES; the sealed file adds little to it, and a
# delivery carries the sealed file in base64 (so one sent over HTTP holds about 12 MB of counts).
MAX_ROLLUP_BYTES = MAX_DOCUMENT_BYTES + 64 * 1024
MAX_DELIVERY_BYTES = MAX_DOCUMENT_BYTES

# The one table of this feature: the newest roll-up of each regional hub, still sealed.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rollups(
    hub_id TEXT PRIMARY KEY, made TEXT NOT NULL, sha256 TEXT NOT NULL,
    sealed BLOB NOT NULL, received TEXT NOT NULL);
"""


class RollupError(FieldkitError):
    """A roll-up cannot be made, or was refused; ``str()`` says why. Nothing was changed.

    ``status``: the HTTP status of the refusal (403 a signer not allowed, 409 older than held).
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _stamp(microseconds: bool = False) -> str:
    now = datetime.datetime.now(datetime.UTC)
    if microseconds:
        return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return now.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _made(value: object) -> str:
    """The time a roll-up was made, in the one form that sorts as text (``…SS.ffffffZ``)."""
    try:
        if not isinstance(value, str) or len(value) != 27:
            raise ValueError
        datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise RollupError("the roll-up has no valid time it was made (YYYY-MM-DDTHH:MM:SS.ffffffZ)") from None
    return value


# --- Making one ------------------------------------------------------------------------


@dataclass(frozen=True)
class MadeRollup:
    sealed: bytes
    hub_id: str
    for_hub: str
    made: str


def make_rollup(store: HubStore, tables: RollupTables, upstream: Upstream) -> MadeRollup:
    """The signed roll-up of ``tables`` for ``upstream``, sealed to its recipient."""
    if not upstream.recipient:
        raise RollupError(
            f"this hub does not know hub {upstream.hub_id}'s recipient (it enrolled before hubs said it); "
            "enrol again with 'fieldkit hub enrol-upstream'"
        )
    try:
        recipient = age.parse_recipient(upstream.recipient)
    except (age.KeyFormatError, ValueError):
        raise RollupError(f"hub {upstream.hub_id}'s recipient is not an age key; enrol again") from None
    payload = {
        "format": ROLLUP_FORMAT,
        "hub_id": store.config.hub_id,
        "epoch": FORWARD_EPOCH,
        "for_hub": upstream.hub_id,
        "made": _stamp(microseconds=True),
        "tables": tables_payload(tables),
    }
    signed = sign_document(payload, forward_signing_key(store.data_dir))
    return MadeRollup(age.encrypt(signed, [recipient]), store.config.hub_id, upstream.hub_id, str(payload["made"]))


# --- Opening one -----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedRollup:
    hub_id: str
    made: str
    sha256: str  # of the sealed file
    tables: RollupTables


def open_rollup(store: HubStore, sealed: bytes, identities: Sequence[age.Identity]) -> OpenedRollup:
    """Open, verify and read a sealed roll-up (the checks in the module docstring)."""
    if len(sealed) > MAX_ROLLUP_BYTES:
        raise RollupError(f"the roll-up is too large ({len(sealed)} bytes)")
    try:
        signed = age.decrypt(sealed, identities)
    except age.DecryptionError as error:
        if error.kind == "no_match":
            raise RollupError("this hub's identity does not open the roll-up: it was sealed to another hub") from None
        raise RollupError(f"the roll-up is damaged or not an age file ({error.reason})") from None
    try:
        document = read_signed_document(signed, ROLLUP_FORMAT, what="roll-up")
    except SignedDocumentError as error:
        raise RollupError(str(error)) from None
    payload = document.payload
    hub_id, key = _source_key(store, payload, "roll-up")
    if not document.verify(key):
        raise RollupError(
            f"the roll-up's signature does not verify with the key hub {hub_id} enrolled with: "
            "it was changed after signing, or forged"
        )
    if payload.get("for_hub") != store.config.hub_id:
        raise RollupError(
            f"the roll-up was made for hub {str(payload.get('for_hub'))[:60]}, not this hub ({store.config.hub_id})"
        )
    made = _made(payload.get("made"))
    try:
        tables = read_tables(payload.get("tables"))
    except TablesError as error:
        raise RollupError(f"the roll-up from hub {hub_id} is not valid: {error}") from None
    return OpenedRollup(hub_id, made, hashlib.sha256(sealed).hexdigest(), tables)


# --- Holding them --------------------------------------------------------------------


@dataclass(frozen=True)
class HeldRollup:
    hub_id: str
    made: str
    sha256: str
    received: str


class _RollupDb(SideDatabase):
    """``HUBDIR/rollups.sqlite``: every write one transaction, fsynced at commit."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(Path(data_dir) / ROLLUP_DB_FILE, _SCHEMA, RollupError, "restore it from a backup")

    def held(self) -> list[tuple[HeldRollup, bytes]]:
        rows = self._db.execute("SELECT hub_id, made, sha256, received, sealed FROM rollups ORDER BY hub_id")
        return [(HeldRollup(*row[:4]), bytes(row[4])) for row in rows.fetchall()]


@dataclass(frozen=True)
class ImportedRollup:
    opened: OpenedRollup
    replaced: str | None  # the time the older one held was made
    unchanged: bool  # this very roll-up was held already


def _hold(store: HubStore, hub_id: str, made: str, sealed: bytes) -> tuple[str | None, bool]:
    """Hold ``sealed`` as hub ``hub_id``'s newest roll-up: (when the replaced one was made, unchanged)."""
    sha256 = hashlib.sha256(sealed).hexdigest()
    with _RollupDb(store.data_dir) as held, held.transaction() as db:
        row = db.execute("SELECT made, sha256 FROM rollups WHERE hub_id=?", (hub_id,)).fetchone()
        if row is not None and row[1] == sha256:
            return None, True
        if row is not None and row[0] >= made:
            raise RollupError(
                f"refused: this hub holds a roll-up from hub {hub_id} made {row[0]}, newer than "
                f"this one (made {made}); an older roll-up never replaces a newer one",
                status=409,
            )
        if row is None:
            db.execute(
                "INSERT INTO rollups(hub_id, made, sha256, sealed, received) VALUES(?, ?, ?, ?, ?)",
                (hub_id, made, sha256, sealed, _stamp()),
            )
        else:
            db.execute(
                "UPDATE rollups SET made=?, sha256=?, sealed=?, received=? WHERE hub_id=?",
                (made, sha256, sealed, _stamp(), hub_id),
            )
    return (None if row is None else str(row[0])), False


def import_rollup(store: HubStore, sealed: bytes, identities: Sequence[age.Identity]) -> ImportedRollup:
    """Check ``sealed`` and hold it as the newest roll-up of its hub (module docstring)."""
    opened = open_rollup(store, sealed, identities)
    replaced, unchanged = _hold(store, opened.hub_id, opened.made, sealed)
    return ImportedRollup(opened, replaced, unchanged)


# --- Over HTTP -----------------------------------------------------------------------


def delivery(store: HubStore, made: MadeRollup) -> bytes:
    """The signed delivery of a sealed roll-up, for ``POST /api/v1/rollups``."""
    payload = {
        "format": DELIVERY_FORMAT,
        "hub_id": made.hub_id,
        "epoch": FORWARD_EPOCH,
        "for_hub": made.for_hub,
        "made": made.made,
        "sealed": base64.b64encode(made.sealed).decode("ascii"),
    }
    return sign_document(payload, forward_signing_key(store.data_dir))


def _source_key(store: HubStore, payload: dict, what: str) -> tuple[str, Ed25519PublicKey]:
    try:
        hub_id = check_source_id(payload.get("hub_id"), "hub id")
    except BundleError as error:
        raise RollupError(f"the {what} names no valid hub: {error}") from None
    epoch = payload.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise RollupError(f"the {what} from hub {hub_id} has no valid key epoch")
    try:
        return hub_id, store.key_for(SourceRef("hub", hub_id, epoch))
    except BundleError as error:
        raise RollupError(f"{what} refused: {error}", status=403) from None


def accept_delivery(store: HubStore, data: bytes) -> bytes:
    """Check a delivery (signature, this hub, newer) and hold its roll-up; the signed receipt."""
    try:
        document = read_signed_document(data, DELIVERY_FORMAT, what="roll-up delivery")
    except SignedDocumentError as error:
        raise RollupError(str(error)) from None
    payload = document.payload
    hub_id, key = _source_key(store, payload, "roll-up delivery")
    if not document.verify(key):
        raise RollupError(
            f"the roll-up delivery's signature does not verify with the key hub {hub_id} enrolled with", status=403
        )
    if payload.get("for_hub") != store.config.hub_id:
        raise RollupError(f"the roll-up was made for another hub, not this hub ({store.config.hub_id})")
    made = _made(payload.get("made"))
    try:
        sealed = base64.b64decode(str(payload.get("sealed", "")), validate=True)
    except (ValueError, binascii.Error):
        raise RollupError("the roll-up delivery is damaged (the sealed roll-up is not base64)") from None
    if not sealed.startswith(b"age-encryption.org/v1\n"):
        raise RollupError("the roll-up delivery carries no age file")
    replaced, unchanged = _hold(store, hub_id, made, sealed)
    receipt = {
        "format": RECEIPT_FORMAT,
        "hub_id": store.config.hub_id,
        "from": hub_id,
        "made": made,
        "sha256": hashlib.sha256(sealed).hexdigest(),
        "held": "unchanged" if unchanged else ("replaced" if replaced else "new"),
    }
    return sign_document(receipt, store.receipt_signing_key)


def send_rollup(store: HubStore, made: MadeRollup, upstream: Upstream, *, client: HubClient | None = None) -> str:
    """Send a roll-up to ``upstream`` over HTTP; what the verified receipt says ("new", "replaced", "unchanged")."""
    client = client or HubClient(upstream.url)
    hello = client.hello()
    if hello.hub_id != upstream.hub_id or hello.receipt_public_key != upstream.receipt_public_key:
        raise RollupError(
            f"{client.url} is now hub {hello.hub_id} with another key than the hub this hub enrolled at "
            f"({upstream.hub_id}); nothing was sent"
        )
    answer = client.post_rollup(delivery(store, made))
    try:
        document = read_signed_document(answer, RECEIPT_FORMAT, what="roll-up receipt")
    except SignedDocumentError:
        raise RollupError(f"{client.url} answered, but not with a roll-up receipt; it may not hold it") from None
    receipt = document.payload
    if not document.verify(load_public_key(upstream.receipt_public_key)) or receipt.get("hub_id") != upstream.hub_id:
        raise RollupError(f"the receipt from {client.url} does not verify with hub {upstream.hub_id}'s key")
    if receipt.get("sha256") != hashlib.sha256(made.sealed).hexdigest() or receipt.get("from") != made.hub_id:
        raise RollupError(f"the receipt from {upstream.hub_id} is for another roll-up")
    return str(receipt.get("held"))


def list_rollups(data_dir: Path) -> list[HeldRollup]:
    if not (Path(data_dir) / ROLLUP_DB_FILE).exists():
        return []
    with _RollupDb(data_dir) as held:
        return [one for one, _sealed in held.held()]


def held_rollups(
    store: HubStore, identities: Sequence[age.Identity]
) -> tuple[list[OpenedRollup], list[tuple[str, str]]]:
    """Every held roll-up, opened and checked again; and (hub id, reason) for those that fail.

    Checked again because a hub's key may have been revoked since it was imported. A hub
    whose forwarded records this hub holds has its roll-up left out: it counts them too.
    """
    if not (store.data_dir / ROLLUP_DB_FILE).exists():
        return [], []
    with _RollupDb(store.data_dir) as held:
        rows = held.held()
    opened, problems = [], []
    forwarded = store.forwarding_hubs()
    for one, sealed in rows:
        if one.hub_id in forwarded:
            problems.append(
                (
                    one.hub_id,
                    f"this hub also holds records forwarded by hub {one.hub_id}; its roll-up counts them too, so "
                    "it is left out rather than counting them twice (take either its records or its counts)",
                )
            )
            continue
        try:
            found = open_rollup(store, sealed, identities)
        except RollupError as error:
            problems.append((one.hub_id, str(error)))
            continue
        if (found.hub_id, found.made) != (one.hub_id, one.made):
            problems.append((one.hub_id, "the sealed roll-up is not the one its delivery named"))
            continue
        opened.append(found)
    return opened, problems
