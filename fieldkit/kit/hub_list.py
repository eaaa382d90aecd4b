"""The kit's list of enrolled hubs, signed with the kit's own key so a change made without the passphrase is seen.

A kit trusts form packs and receipts from the hubs in ``DATA/sync.json`` (table
``hubs``). That file is not sealed like ``kit.json``: someone who seizes the kit's disk
could add a hub key of their own and drop a pack signed with it into ``DATA/packs/``.
So every change to the list is made with the unlocked kit, which signs it with its
Ed25519 signing key (whose public key is in the sealed ``kit.json``); the signature and
the entries it covers are kept in table ``hubs_signature``. A hub is trusted only when
its entry (hub id, receipt key, how it was verified) is exactly one the signature covers.

Checking needs only the public key, so commands that do not unlock (``pack apply``,
``sync receipt``, ``sync prune``) check too; ``serve`` checks after the unlock has
checked ``kit.json`` against its seal. A kit made before the list was signed says so
by not carrying the mark (``hub_list_signed`` in ``kit.json``, bound to the wrapped
signing key as well): its list is trusted as it is until its next unlock signs it.
After the mark, a missing signature means the list was tampered with.

The table and its signature are written in one atomic write of ``sync.json``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinydb
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.tinydb_storage import open_db
from sync.protocol.receipts import key_fingerprint

__all__ = [
    "HUBS_TABLE",
    "SIGNATURE_KIND",
    "SIGNATURE_TABLE",
    "SYNC_STATE_FILE",
    "HubTrust",
    "RefusedHub",
    "check_hub_list",
    "read_hub_list",
    "sign_as_it_is",
    "write_hub_list",
]

SYNC_STATE_FILE = "sync.json"
HUBS_TABLE = "hubs"
SIGNATURE_TABLE = "hubs_signature"
SIGNATURE_KIND = "fieldkit-hub-list-ed25519/1"
_CONTEXT = b"fieldkit/v1 kit hub list\n"  # this signature can never pass for a bundle or a request
_DOC_ID = "1"
_SIGNED_FIELDS = ("hub_id", "receipt_public_key", "verified")


def _entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {name: doc.get(name) for name in _SIGNED_FIELDS}


def _sorted_entries(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted((_entry(doc) for doc in docs), key=lambda entry: json.dumps(entry, sort_keys=True))


def _message(kit_id: str, entries: list[dict[str, Any]]) -> bytes:
    body = json.dumps({"kit_id": kit_id, "hubs": entries}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _CONTEXT + body.encode("ascii")


def _signature_doc(kit_id: str, docs: Iterable[Mapping[str, Any]], signing_key: Ed25519PrivateKey) -> dict[str, Any]:
    entries = _sorted_entries(docs)
    signature = signing_key.sign(_message(kit_id, entries))
    return {"kind": SIGNATURE_KIND, "hubs": entries, "signature": base64.b64encode(signature).decode("ascii")}


@dataclass(frozen=True)
class RefusedHub:
    """A hub entry of ``sync.json`` the kit's signature does not cover: not trusted."""

    hub_id: str
    receipt_public_key: str
    reason: str

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.receipt_public_key)

    def line(self) -> str:
        """One line for the person at the kit."""
        return (
            f"hub {self.hub_id} (receipt key {self.fingerprint}) is NOT trusted: {self.reason}; the list of "
            "hubs in sync.json was changed without the kit passphrase, so its form packs and receipts are refused. "
            "Enrol again with a new token from your hub if it is yours."
        )


@dataclass(frozen=True)
class HubTrust:
    """Which entries of the hub list the kit vouches for and which it refuses.

    ``trusted``: the signed fields of each entry the kit vouches for. An entry is judged
    whole, never by its hub id alone: a second entry under a trusted hub's id is refused.
    """

    trusted: tuple[dict[str, Any], ...]
    refused: tuple[RefusedHub, ...]

    def covers(self, doc: Mapping[str, Any]) -> bool:
        return _entry(doc) in self.trusted


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def check_hub_list(
    docs: list[dict[str, Any]],
    signature: Mapping[str, Any] | None,
    kit_id: str,
    verify_key: Ed25519PublicKey,
    *,
    required: bool,
) -> HubTrust:
    """Split the hub entries ``docs`` into those a valid signature covers and those it does not.

    ``required``: the kit signs its hub list (its ``kit.json`` says so), so a missing
    signature is tampering. Without it and with no signature, every entry is trusted
    as an older kit trusted it; a signature that is there is always checked.
    """
    if signature is None and not required:
        return HubTrust(tuple(_entry(doc) for doc in docs), ())
    covered: list[dict[str, Any]] = []
    problem = "the kit's signature over its hub list is missing"
    if signature is not None:
        problem = "the kit's signature over its hub list does not verify"
        entries = signature.get("hubs")
        try:
            raw = base64.b64decode(str(signature.get("signature")), validate=True)
            if signature.get("kind") != SIGNATURE_KIND or not isinstance(entries, list):
                raise ValueError("not a hub list signature")
            entries = [_entry(entry) for entry in entries if isinstance(entry, dict)]
            verify_key.verify(raw, _message(kit_id, _sorted_entries(entries)))
            covered = entries
        except (ValueError, binascii.Error, InvalidSignature):
            covered = []
        else:
            problem = "the kit's signature over its hub list does not cover this entry"
    trusted: list[dict[str, Any]] = []
    refused: list[RefusedHub] = []
    for doc in docs:
        if _entry(doc) in covered:
            trusted.append(_entry(doc))
        else:
            refused.append(RefusedHub(_text(doc.get("hub_id")), _text(doc.get("receipt_public_key")), problem))
    return HubTrust(tuple(trusted), tuple(refused))


def read_hub_list(db: tinydb.TinyDB) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The hub entries and the signature document, as stored."""
    docs = [dict(doc) for doc in db.table(HUBS_TABLE).all()]
    signatures = db.table(SIGNATURE_TABLE).all()
    signature = dict(signatures[0]) if len(signatures) == 1 else None
    return docs, signature


def write_hub_list(
    db: tinydb.TinyDB,
    docs: list[dict[str, Any]],
    signed: list[dict[str, Any]],
    kit_id: str,
    signing_key: Ed25519PrivateKey,
) -> None:
    """Replace the hub table with ``docs`` and its signature with one over ``signed``, in one write.

    ``signed`` are the entries the kit vouches for (a subset of ``docs``): an entry the
    kit refused stays in the table, refused, for the operator to see, and is never
    signed because another hub was enrolled. Hold the writer lock around the call.
    """
    data = db.storage.read() or {}
    data[HUBS_TABLE] = {str(number): doc for number, doc in enumerate(docs, start=1)}
    data[SIGNATURE_TABLE] = {_DOC_ID: _signature_doc(kit_id, signed, signing_key)}
    db.storage.write(data)
    for name in (HUBS_TABLE, SIGNATURE_TABLE):
        db.table(name).clear_cache()


def sign_as_it_is(data_dir: Path, kit_id: str, signing_key: Ed25519PrivateKey) -> list[dict[str, Any]]:
    """Sign the hub list as it is now (once, when an older kit first unlocks); the entries signed."""
    path = Path(data_dir) / SYNC_STATE_FILE
    with writer_lock(Path(data_dir)):
        if not path.exists():
            return []
        with open_db(path) as db:
            docs, _signature = read_hub_list(db)
            write_hub_list(db, docs, docs, kit_id, signing_key)
    return [_entry(doc) for doc in docs]
