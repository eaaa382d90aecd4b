"""The kit operator's password: an scrypt hash in ``DATA/operator-password.json``, signed by the kit.

The operator logs in with it from a phone on the kit's network (the person at the kit
itself, on 127.0.0.1, needs none). It is set at ``init`` and changed with ``fieldkit
operator password``, both of which need the kit passphrase: the file carries an Ed25519
signature by the kit's signing key over the kit id and the hash, so a hash written into
the folder by someone without the passphrase is refused (:class:`VerifierRefused`) and
the network login stays off. The file never holds the password in clear (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.crypto.passwords import DEFAULT_WORK_FACTOR, check_hash, hash_password, hash_work_factor
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import write_atomic
from fieldkit.kit.config import KitConfig

__all__ = [
    "MIN_OPERATOR_PASSWORD_LENGTH",
    "OPERATOR_PASSWORD_FILE",
    "OperatorVerifier",
    "VerifierRefused",
    "check_new_password",
    "load_verifier",
    "set_operator_password",
]

OPERATOR_PASSWORD_FILE = "operator-password.json"  # noqa: S105 (a file name, not a secret)
_FORMAT = "fieldkit-kit-operator/1"
MIN_OPERATOR_PASSWORD_LENGTH = 8


class VerifierRefused(FieldkitError):
    """The operator password file is damaged or was not signed by this kit."""


def _message(kit_id: str, stored_hash: str, set_at: str) -> bytes:
    return b"\0".join([b"fieldkit kit operator password v1", kit_id.encode(), stored_hash.encode(), set_at.encode()])


def check_new_password(password: str, passphrase: str) -> None:
    """FieldkitError when ``password`` may not be the operator password."""
    if len(password) < MIN_OPERATOR_PASSWORD_LENGTH:
        raise FieldkitError(f"choose an operator password of at least {MIN_OPERATOR_PASSWORD_LENGTH} characters")
    if unicodedata.normalize("NFC", password) == unicodedata.normalize("NFC", passphrase):
        raise FieldkitError(
            "the operator password must differ from the kit passphrase: the passphrase unlocks the drafts, "
            "the operator password only opens the operator page"
        )


def set_operator_password(
    config: KitConfig,
    signing_key: Ed25519PrivateKey,
    password: str,
    *,
    passphrase: str,
    work_factor: int = DEFAULT_WORK_FACTOR,
) -> None:
    """Store a new operator password for this kit, signed with its key (replacing any old one)."""
    check_new_password(password, passphrase)
    stored = hash_password(password, work_factor=work_factor)
    set_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = signing_key.sign(_message(config.kit_id, stored, set_at))
    document = {
        "format": _FORMAT,
        "kit_id": config.kit_id,
        "hash": stored,
        "set": set_at,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    write_atomic(config.data_dir / OPERATOR_PASSWORD_FILE, (json.dumps(document, indent=2) + "\n").encode("ascii"))


@dataclass(frozen=True)
class OperatorVerifier:
    """A signed operator password hash, checked against this kit's key."""

    stored_hash: str

    def check(self, password: str) -> bool:
        return check_hash(self.stored_hash, password)


def load_verifier(config: KitConfig) -> OperatorVerifier | None:
    """The kit's operator password, None when none was ever set; VerifierRefused when it cannot be trusted."""
    path = config.data_dir / OPERATOR_PASSWORD_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise VerifierRefused(f"cannot read {path} ({error}); set it again with 'fieldkit operator password'") from None
    try:
        if document["format"] != _FORMAT or document["kit_id"] != config.kit_id:
            raise ValueError("format or kit id")
        stored, set_at = str(document["hash"]), str(document["set"])
        hash_work_factor(stored)
        signature = base64.b64decode(document["signature"], validate=True)
        config.verify_key().verify(signature, _message(config.kit_id, stored, set_at))
    except (KeyError, TypeError, ValueError, binascii.Error, InvalidSignature):
        raise VerifierRefused(
            f"{path} was not written by this kit (its signature does not match), so the operator login from the "
            "network stays off; the operator page still works on this computer. Set the password again with "
            "'fieldkit operator password'."
        ) from None
    return OperatorVerifier(stored)
