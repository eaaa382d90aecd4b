"""Enrolment: a kit registers its signing key at a hub with a one-time token.

This module holds what both sides share (formats, the token); each side's steps are
in ``sync.hub.enrolment`` and ``fieldkit.kit.enrolment``.

Four steps, each one file, so the whole exchange can travel on a USB stick:

1. hub, :func:`sync.hub.enrolment.create_token`: a one-time token (printed, and written to a token file
   that also names the hub and its receipt public key);
2. kit, :func:`fieldkit.kit.enrolment.make_enrolment_request`: a request signed with the kit's key (kit id,
   key epoch, public key, the kit's age recipients, the token); the kit remembers
   what the token said about the hub;
3. hub, :func:`sync.hub.enrolment.accept_enrolment`: checks the signature, the token (known, unused,
   not expired) and that the kit seals to this hub's recipient; enrols the kit and
   answers with a response signed by the hub's receipt key;
4. kit, :func:`fieldkit.kit.enrolment.apply_enrolment_response`: checks the response is for this kit and is
   signed by the key the token named, and stores that key: from now on only receipts
   signed with it mark records as synced.

Over HTTP the same functions apply: the kit posts the request and gets the response in
the reply. A token typed by hand carries no hub key, so the kit then trusts the key in
the first valid response (trust on first use); a token file avoids that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fieldkit.core.errors import FieldkitError
from sync.protocol.bundle import BundleError, check_source_id
from sync.protocol.receipts import (
    SignedDocumentError,
    load_public_key,
)

__all__ = [
    "REQUEST_FORMAT",
    "RESPONSE_FORMAT",
    "TOKEN_FILE_FORMAT",
    "EnrolmentError",
    "EnrolmentToken",
    "normalise_token",
    "required_field",
    "token_sha256",
]

TOKEN_FILE_FORMAT = "fieldkit-enrolment-token/1"  # noqa: S105 (a format name, not a secret)
REQUEST_FORMAT = "fieldkit-enrolment-request/1"
RESPONSE_FORMAT = "fieldkit-enrolment-response/1"
DEFAULT_TOKEN_DAYS = 14

# 20 characters of base32 (100 bits), in groups of five: easy to read aloud and type.
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # noqa: S105 (an alphabet, not a secret)
TOKEN_LENGTH = 20
_GROUP = 5
_MAX_TOKEN_FILE_BYTES = 64 * 1024


class EnrolmentError(FieldkitError):
    """An enrolment step was refused; ``str()`` says why and what to do."""


def normalise_token(text: str) -> str:
    """The token without spaces or dashes, in capitals; ``EnrolmentError`` if malformed."""
    compact = "".join(ch for ch in text.upper() if ch not in " -\t\r\n")
    if len(compact) != TOKEN_LENGTH or any(ch not in TOKEN_ALPHABET for ch in compact):
        raise EnrolmentError(
            f"not an enrolment token: expected {TOKEN_LENGTH} letters and digits 2-7, "
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


def required_field(payload: dict[str, Any], name: str) -> Any:
    if name not in payload:
        raise EnrolmentError(f"the enrolment file lacks its {name!r} field")
    return payload[name]
