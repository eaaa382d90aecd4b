"""Enrolment: a kit (or a hub) registers its signing key at a hub with a one-time token.

This module holds what both sides share (formats, the token and the keys derived from
it); each side's steps are in ``sync.hub.enrolment`` and ``fieldkit.kit.enrolment``.

Four steps, each one file, so the whole exchange can travel on a USB stick:

1. hub, :func:`sync.hub.enrolment.create_token`: a one-time token for one *kind* of
   source (a kit, or a hub that forwards), printed and written to a token file that also
   names the hub and its receipt public key;
2. kit, :func:`fieldkit.kit.enrolment.make_enrolment_request`: a request signed with the
   kit's key (kit id, key epoch, public key, the kit's age recipients) and *proved* with
   the token: an HMAC under a key derived from the token (:func:`token_keys`). The token
   itself never leaves the kit; the request names it only by its token id, from which
   the token cannot be worked out;
3. hub, :func:`sync.hub.enrolment.accept_enrolment`: finds the token by its id, checks
   the HMAC (so the request was made with that token and not changed), the signature,
   the token (unused, not expired, of the right kind, and for an already enrolled kit
   made for it by the operator); enrols the kit and answers with a response signed by
   the hub's receipt key *and* proved with the same token key;
4. kit, :func:`fieldkit.kit.enrolment.apply_enrolment_response`: checks the response's
   HMAC with the token key (only the hub that made the token can answer so), that it
   is for this kit and signed by the key it names (and the token file named), and stores
   that key: from now on only receipts signed with it mark records as synced.

Over HTTP the same functions apply: the kit posts the request and gets the response in
the reply. Someone answering at the hub's address without the token learns nothing that
lets them enrol, and cannot make a response the kit accepts.

Version 2 of these formats replaced version 1, which carried the token in clear and
trusted whoever answered a typed token; version 1 files are refused with a message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fieldkit.core.errors import FieldkitError
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.receipts import (
    SignedDocumentError,
    load_public_key,
)

__all__ = [
    "HUB_REQUEST_FORMAT",
    "HUB_RESPONSE_FORMAT",
    "MESSAGE_FORMAT",
    "REQUEST_FORMAT",
    "RESPONSE_FORMAT",
    "TOKEN_FILE_FORMAT",
    "TOKEN_KINDS",
    "EnrolmentError",
    "EnrolmentFormatError",
    "EnrolmentToken",
    "ProvedMessage",
    "TokenKeys",
    "normalise_token",
    "prove",
    "read_proved",
    "refuse_old_format",
    "required_field",
    "token_keys",
]

TOKEN_FILE_FORMAT = "fieldkit-enrolment-token/2"  # noqa: S105 (a format name, not a secret)
REQUEST_FORMAT = "fieldkit-enrolment-request/2"
RESPONSE_FORMAT = "fieldkit-enrolment-response/2"
HUB_REQUEST_FORMAT = "fieldkit-hub-enrolment-request/2"
HUB_RESPONSE_FORMAT = "fieldkit-hub-enrolment-response/2"
# The outer document: a signed envelope, the token id and the HMAC that proves the token.
MESSAGE_FORMAT = "fieldkit-enrolment-message/2"
_OLD_FORMATS = (
    "fieldkit-enrolment-token/1",
    "fieldkit-enrolment-request/1",
    "fieldkit-enrolment-response/1",
    "fieldkit-hub-enrolment-request/1",
    "fieldkit-hub-enrolment-response/1",
    "fieldkit-signed/1",  # a version 1 request or response was a bare signed envelope
)
# What a token enrols: a kit, or a hub that forwards to this one. A token of one kind
# never enrols the other (the hub keeps the kind with the token, and it is in the HMAC).
TOKEN_KINDS = ("kit", "hub")
_ROLES = ("request", "response")
DEFAULT_TOKEN_DAYS = 14

# 20 characters of base32 (100 bits), in groups of five: easy to read aloud and type.
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # noqa: S105 (an alphabet, not a secret)
TOKEN_LENGTH = 20
_GROUP = 5
_MAX_TOKEN_FILE_BYTES = 64 * 1024
_MAX_MESSAGE_BYTES = 1024 * 1024


class EnrolmentError(FieldkitError):
    """An enrolment step was refused; ``str()`` says why and what to do."""


class EnrolmentFormatError(EnrolmentError):
    """The bytes are not an enrolment message of this version at all (not a refusal of one)."""


def normalise_token(text: str) -> str:
    """The token without spaces or dashes, in capitals; ``EnrolmentError`` if malformed."""
    compact = "".join(ch for ch in text.upper() if ch not in " -\t\r\n")
    if len(compact) != TOKEN_LENGTH or any(ch not in TOKEN_ALPHABET for ch in compact):
        raise EnrolmentError(
            f"not an enrolment token: expected {TOKEN_LENGTH} letters and digits 2-7, "
            "as 'fieldkit hub enrol' printed them"
        )
    return compact


@dataclass(frozen=True)
class TokenKeys:
    """What is derived from a token: the id that names it, and the key that proves it."""

    token_id: str
    mac_key: bytes


def _derive(token: str, purpose: bytes, length: int) -> bytes:
    # HKDF (RFC 5869) from the cryptography package: the token has 100 random bits, so no
    # slow password hash is needed, and one extract-expand gives independent outputs.
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"fieldkit-enrolment/2 " + purpose).derive(
        normalise_token(token).encode("ascii")
    )


def token_keys(text: str) -> TokenKeys:
    """The token id (sent, and stored by the hub) and the HMAC key (never sent)."""
    return TokenKeys(token_id=_derive(text, b"token id", 16).hex(), mac_key=_derive(text, b"mac key", 32))


def _mac(mac_key: bytes, role: str, kind: str, token_id: str, signed: bytes) -> bytes:
    header = f"{MESSAGE_FORMAT}\0{role}\0{kind}\0{token_id}\0".encode("ascii")
    return hmac.new(mac_key, header + signed, hashlib.sha256).digest()


def prove(signed: bytes, keys: TokenKeys, *, role: str, kind: str) -> bytes:
    """The message that carries ``signed`` (an envelope) with the token's proof."""
    if role not in _ROLES or kind not in TOKEN_KINDS:
        raise ValueError("unknown role or kind")
    document = {
        "format": MESSAGE_FORMAT,
        "role": role,
        "kind": kind,
        "token_id": keys.token_id,
        "signed": base64.b64encode(signed).decode("ascii"),
        "mac": base64.b64encode(_mac(keys.mac_key, role, kind, keys.token_id, signed)).decode("ascii"),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")


@dataclass(frozen=True)
class ProvedMessage:
    """A message read from bytes; nothing in it is trusted until :meth:`verify`."""

    role: str
    kind: str
    token_id: str
    signed: bytes
    mac: bytes

    def verify(self, mac_key: bytes) -> bool:
        expected = _mac(mac_key, self.role, self.kind, self.token_id, self.signed)
        return hmac.compare_digest(expected, self.mac)


def refuse_old_format(found: object, what: str) -> None:
    """``EnrolmentError`` with what to do, when ``found`` names a version 1 format."""
    if found in _OLD_FORMATS:
        raise EnrolmentFormatError(
            f"the {what} was made by an older version of fieldkit (format {found}), which sent "
            "the token in clear; it is refused. Update fieldkit on both sides, ask the hub "
            "operator for a new token and enrol again"
        )


def read_proved(data: bytes, *, role: str, what: str) -> ProvedMessage:
    """Parse a proved message of ``role``; ``EnrolmentError`` saying why if it is not one."""
    if len(data) > _MAX_MESSAGE_BYTES:
        raise EnrolmentFormatError(f"the {what} is too large to be one")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise EnrolmentFormatError(f"the {what} is not a fieldkit enrolment file") from None
    if not isinstance(document, dict):
        raise EnrolmentFormatError(f"the {what} is not a fieldkit enrolment file")
    refuse_old_format(document.get("format"), what)
    if document.get("format") != MESSAGE_FORMAT:
        raise EnrolmentFormatError(f"the {what} is not a fieldkit enrolment file")
    if document.get("role") != role:
        raise EnrolmentFormatError(f"the {what} is an enrolment {document.get('role')!s:.20}, not a {role}")
    kind, token_id = document.get("kind"), document.get("token_id")
    if kind not in TOKEN_KINDS or not isinstance(token_id, str) or len(token_id) != 32:
        raise EnrolmentFormatError(f"the {what} is damaged (no kind or token id)")
    try:
        signed = base64.b64decode(str(document.get("signed")), validate=True)
        mac = base64.b64decode(str(document.get("mac")), validate=True)
    except (binascii.Error, ValueError):
        raise EnrolmentFormatError(f"the {what} is damaged (its signed part or proof is not base64)") from None
    return ProvedMessage(role=role, kind=str(kind), token_id=token_id, signed=signed, mac=mac)


@dataclass(frozen=True)
class EnrolmentToken:
    """A one-time token, and (from a token file) the hub it belongs to."""

    token: str
    hub_id: str | None = None
    receipt_public_key: str | None = None
    expires: str | None = None
    kind: str | None = None  # "kit" or "hub"; a typed token does not say

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
            "kind": self.kind,
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
        if not isinstance(document, dict):
            raise EnrolmentError("the token file is not a fieldkit enrolment token")
        refuse_old_format(document.get("format"), "token file")
        if document.get("format") != TOKEN_FILE_FORMAT:
            raise EnrolmentError("the token file is not a fieldkit enrolment token")
        kind = document.get("kind")
        if kind not in TOKEN_KINDS:
            raise EnrolmentError("the token file is damaged: it does not say whether it enrols a kit or a hub")
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
            kind=str(kind),
        )


def required_field(payload: dict[str, Any], name: str) -> Any:
    if name not in payload:
        raise EnrolmentError(f"the enrolment file lacks its {name!r} field")
    return payload[name]
