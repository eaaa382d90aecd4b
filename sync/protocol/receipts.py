"""Signed documents, and the hub's receipts that tell a kit which records are safe.

A signed document is one small JSON file (an *envelope*)::

    {"format": "fieldkit-signed/1", "payload": "<base64 of the payload bytes>",
     "signature": "<base64 Ed25519 signature over exactly those bytes>"}

The payload is canonical JSON whose own ``format`` says what it is, so a signature made
for one kind of document (an enrolment request, say) can never pass for another (a
receipt). Receipts and the enrolment request and response use this envelope.

A receipt is signed by the hub's receipt key after the records of one bundle are
durable at the hub. Only a receipt that verifies with the key the kit learnt at
enrolment, names this kit, and lists a record with the SHA-256 the kit holds, marks
that record as synced. ``docs/formats.md`` ("Receipt") is the reference.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fieldkit.core.errors import FieldkitError
from sync.protocol.bundle import BundleError, Manifest, SourceRef, canonical_json, check_source_id

__all__ = [
    "ENVELOPE_FORMAT",
    "RECEIPT_FORMAT",
    "Receipt",
    "ReceiptError",
    "SignedDocument",
    "SignedDocumentError",
    "key_fingerprint",
    "load_public_key",
    "make_receipt",
    "public_key_text",
    "read_receipt",
    "read_signed_document",
    "sign_document",
]

ENVELOPE_FORMAT = "fieldkit-signed/1"
RECEIPT_FORMAT = "fieldkit-receipt/1"
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class SignedDocumentError(FieldkitError):
    """A signed document could not be read or does not verify; ``str()`` says which."""


class ReceiptError(SignedDocumentError):
    """A receipt was not accepted; nothing was marked as synced."""


def public_key_text(key: Ed25519PublicKey) -> str:
    """Base64 of the raw 32-byte Ed25519 public key (as ``kit.json`` writes it)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public_key(text: object, what: str = "public key") -> Ed25519PublicKey:
    """The Ed25519 public key in ``text`` (base64 of 32 bytes); ``SignedDocumentError`` if not."""
    try:
        if not isinstance(text, str):
            raise ValueError("not text")
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise SignedDocumentError(f"the {what} is not an Ed25519 public key") from None


def key_fingerprint(key_text: object) -> str:
    """A short name of a hub's receipt key (base64 Ed25519), for a person to compare at a glance.

    80 bits of SHA-256 over the raw key, in five groups of four hex digits, like a
    recipient's fingerprint; ``fieldkit hub init`` and ``hub enrol`` print the hub's, the kit
    prints those it vouches for and refuses. Text that is not a key gets a fingerprint of
    the text, so a forged entry is named too.
    """
    try:
        raw = base64.b64decode(str(key_text), validate=True)
    except (ValueError, binascii.Error):
        raw = str(key_text).encode("utf-8", "replace")
    digest = hashlib.sha256(b"fieldkit receipt key\n" + raw).hexdigest()
    return " ".join(digest[start : start + 4] for start in range(0, 20, 4))


@dataclass(frozen=True)
class SignedDocument:
    """An envelope read from bytes: the payload is parsed but not yet trusted."""

    payload: dict[str, Any]
    payload_bytes: bytes
    signature: bytes

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """True when the signature over the payload bytes verifies with ``public_key``."""
        try:
            public_key.verify(self.signature, self.payload_bytes)
        except InvalidSignature:
            return False
        return True


def sign_document(payload: dict[str, Any], signing_key: Ed25519PrivateKey) -> bytes:
    """The envelope bytes for ``payload`` (which must carry its own ``format``)."""
    if not isinstance(payload.get("format"), str):
        raise ValueError("a signed payload names its own format")
    payload_bytes = canonical_json(payload)
    envelope = {
        "format": ENVELOPE_FORMAT,
        "payload": base64.b64encode(payload_bytes).decode("ascii"),
        "signature": base64.b64encode(signing_key.sign(payload_bytes)).decode("ascii"),
    }
    return json.dumps(envelope, indent=2, sort_keys=True).encode("ascii") + b"\n"


def read_signed_document(data: bytes, expected_format: str, *, what: str = "document") -> SignedDocument:
    """Parse an envelope whose payload is of ``expected_format``; verify it separately."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise SignedDocumentError(f"the {what} is too large ({len(data)} bytes)")
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise SignedDocumentError(f"the {what} is not a fieldkit signed file (not JSON)") from None
    if not isinstance(envelope, dict) or envelope.get("format") != ENVELOPE_FORMAT:
        raise SignedDocumentError(f"the {what} is not a fieldkit signed file")
    try:
        payload_bytes = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signature"], validate=True)
        payload = json.loads(payload_bytes.decode("utf-8"))
    except (KeyError, TypeError, ValueError, binascii.Error, RecursionError):
        raise SignedDocumentError(f"the {what} is damaged (payload or signature)") from None
    if not isinstance(payload, dict):
        raise SignedDocumentError(f"the {what} is damaged (payload is not an object)")
    if payload.get("format") != expected_format:
        found = str(payload.get("format"))[:60]
        raise SignedDocumentError(f"the file is a {found!r}, not a {what} ({expected_format})")
    return SignedDocument(payload, payload_bytes, signature)


# --- Receipts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """What a hub says it holds durably from one bundle: record ids with their SHA-256."""

    hub_id: str
    source: SourceRef
    bundle_sha256: str
    issued: str
    records: tuple[tuple[str, str], ...]
    # The bundle's sealed tally (sequence number, SHA-256) when it held one: the kit then
    # knows the hub keeps it. Absent from receipts of bundles without a tally.
    tally: tuple[int, str] | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "format": RECEIPT_FORMAT,
            "hub_id": self.hub_id,
            "source": self.source.to_json(),
            "bundle_sha256": self.bundle_sha256,
            "issued": self.issued,
            "records": [{"record_id": rid, "sha256": sha} for rid, sha in self.records],
        }
        if self.tally is not None:
            payload["tally"] = {"seq": self.tally[0], "sha256": self.tally[1]}
        return payload


def make_receipt(
    signing_key: Ed25519PrivateKey,
    hub_id: str,
    manifest: Manifest,
    bundle_sha256: str,
    *,
    records: Iterable[tuple[str, str]] | None = None,
    issued: datetime.datetime | None = None,
) -> bytes:
    """A signed receipt for a merged bundle; by default it lists every manifest record."""
    moment = (issued or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    listed = (
        tuple(records) if records is not None else tuple((entry.record_id, entry.sha256) for entry in manifest.records)
    )
    receipt = Receipt(
        hub_id=hub_id,
        source=manifest.source,
        bundle_sha256=bundle_sha256,
        issued=moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        records=listed,
        tally=(manifest.tally.seq, manifest.tally.sha256) if manifest.tally is not None else None,
    )
    return sign_document(receipt.to_payload(), signing_key)


def read_receipt(data: bytes) -> tuple[Receipt, SignedDocument]:
    """Parse a receipt without trusting it: the caller verifies ``document`` with the key
    of ``receipt.hub_id`` before acting on it."""
    document = read_signed_document(data, RECEIPT_FORMAT, what="receipt")
    payload = document.payload
    try:
        raw_source = payload["source"]
        source = SourceRef(
            kind=str(raw_source["kind"]),
            id=check_source_id(raw_source["id"]),
            epoch=int(raw_source["epoch"]),
        )
        records = tuple(_receipt_record(item) for item in payload["records"])
        receipt = Receipt(
            hub_id=check_source_id(payload["hub_id"], "hub id"),
            source=source,
            bundle_sha256=str(payload["bundle_sha256"]),
            issued=str(payload["issued"]),
            records=records,
            tally=_receipt_tally(payload["tally"]) if "tally" in payload else None,
        )
    except (KeyError, TypeError, ValueError, BundleError):
        raise ReceiptError("the receipt is damaged (missing or malformed fields)") from None
    return receipt, document


def _receipt_record(item: Any) -> tuple[str, str]:
    record_id, sha256 = item["record_id"], item["sha256"]
    if not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
        raise ValueError("bad record id")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError("bad sha256")
    return record_id, sha256


def _receipt_tally(item: Any) -> tuple[int, str]:
    seq, sha256 = item["seq"], item["sha256"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("bad tally seq")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError("bad tally sha256")
    return seq, sha256
