"""The single hub operator password of earlier versions, in ``HUBDIR/operator-password.json``,
and the checks of the hashes the operator accounts keep (:mod:`sync.hub.operators`).

Hubs now have named operator accounts in the store; a hub with this file and no account
yet gets an admin named ``admin`` holding the file's hash, and the file is removed
(:func:`sync.hub.operators.adopt_single_password`). What follows describes the file.

The hash is in werkzeug's format (``werkzeug.security``, method ``scrypt:N:8:1``), made and
checked by ``fieldkit.core.crypto.passwords`` with the standard library's scrypt (the call
werkzeug makes), which the kit's operator password uses too. Hubs set up before that hold a
hash in the first format (``fieldkit-hub-operator/1``: scrypt through ``cryptography``,
salt and hash in base64); it still verifies, and the login that proves the password
rewrites it in the current format with the same cost (:meth:`OperatorPassword.upgrade`).
The file is mode 0600 and never holds the password in clear.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fieldkit.core.crypto.passwords import (
    DEFAULT_WORK_FACTOR,
    WORK_FACTORS,
    check_hash,
    hash_password,
    hash_work_factor,
)
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import write_atomic
from sync.hub.operators import MIN_PASSWORD_LENGTH

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PASSWORD_FILE",
    "OperatorPassword",
    "PasswordError",
    "check_stored",
    "stored_is_legacy",
    "stored_work_factor",
]

PASSWORD_FILE = "operator-password.json"  # noqa: S105 (a file name, not a secret)
PASSWORD_FORMAT = "fieldkit-hub-operator/2"  # noqa: S105 (a format name)
LEGACY_FORMAT = "fieldkit-hub-operator/1"  # the hand-rolled scrypt hash, verified but no longer written
# A damaged or hostile file must not make a login take minutes or gigabytes.
_WORK_FACTORS = WORK_FACTORS
_LEGACY_HASH_BYTES = 32
# Two logins that both upgrade must not each write a new salt: the second would change
# the fingerprint and end the session the first had just started.
_UPGRADE_LOCK = threading.Lock()


class PasswordError(FieldkitError):
    """The operator password is missing, damaged, too short or wrong; ``str()`` says which."""


def _normalise(password: str) -> str:
    # The same password typed on two keyboards may arrive composed or decomposed.
    return unicodedata.normalize("NFC", password)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Stored:
    """One read of the password file."""

    document: dict[str, Any]
    work_factor: int
    legacy: bool

    @property
    def hash_bytes(self) -> bytes:
        # What identifies this hash, for the session fingerprint: the first format's raw
        # scrypt output (as before), the current format's whole string (salt included).
        if self.legacy:
            return base64.b64decode(self.document["hash"], validate=True)
        return str(self.document["hash"]).encode("ascii")

    def check(self, password: str) -> bool:
        if not self.legacy:
            return check_hash(self.document["hash"], password)
        salt = base64.b64decode(self.document["salt"], validate=True)
        stored = base64.b64decode(self.document["hash"], validate=True)
        kdf = Scrypt(salt=salt, length=_LEGACY_HASH_BYTES, n=2**self.work_factor, r=8, p=1)
        return hmac.compare_digest(kdf.derive(_normalise(password).encode("utf-8")), stored)


def _parse(document: Any) -> _Stored:
    """The stored hash, or ValueError/KeyError/TypeError when the document is not one."""
    if document["format"] == LEGACY_FORMAT:
        work_factor = int(document["kdf"]["work_factor"])
        base64.b64decode(document["salt"], validate=True)
        base64.b64decode(document["hash"], validate=True)
        legacy = True
    elif document["format"] == PASSWORD_FORMAT:
        work_factor = hash_work_factor(document["hash"])
        legacy = False
    else:
        raise ValueError("format")
    if work_factor not in _WORK_FACTORS:
        raise ValueError("work factor")
    return _Stored(document, work_factor, legacy)


# A hash kept in the operator accounts (sync.hub.operators) is werkzeug's string; one
# adopted from a first-format file is that file's JSON document, kept as it was until the
# login that proves the password rewrites it.


def _parse_kept(stored: str) -> _Stored:
    if stored.startswith("{"):
        return _parse(json.loads(stored))
    return _parse({"format": PASSWORD_FORMAT, "hash": stored})


def check_stored(stored: str, password: str) -> bool:
    """True when ``password`` matches a kept hash; PasswordError when it is not one we accept."""
    try:
        kept = _parse_kept(stored)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise PasswordError("the stored password hash is damaged; set the password again") from None
    return kept.check(password)


def stored_is_legacy(stored: str) -> bool:
    return stored.startswith("{")


def stored_work_factor(stored: str) -> int:
    try:
        return _parse_kept(stored).work_factor
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise PasswordError("the stored password hash is damaged; set the password again") from None


@dataclass(frozen=True)
class OperatorPassword:
    """The stored hash of the operator password for one hub folder."""

    path: Path

    @classmethod
    def for_hub(cls, data_dir: Path) -> OperatorPassword:
        return cls(Path(data_dir) / PASSWORD_FILE)

    def exists(self) -> bool:
        return self.path.exists()

    def set(self, password: str, *, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        """Store a new password (replacing any old one); ends every session on next request."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise PasswordError(f"choose an operator password of at least {MIN_PASSWORD_LENGTH} characters")
        self._write(password, work_factor, set_at=_now())

    def _write(self, password: str, work_factor: int, *, set_at: str) -> None:
        document = {
            "format": PASSWORD_FORMAT,
            "kdf": {"name": "scrypt", "by": "werkzeug.security"},  # N, r, p and the salt are in the hash
            "hash": hash_password(password, work_factor=work_factor),
            "set": set_at,
        }
        write_atomic(self.path, (json.dumps(document, indent=2) + "\n").encode("ascii"), mode=0o600)

    def _load(self) -> _Stored:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PasswordError(
                "no operator password is set for this hub: run 'fieldkit hub password' or 'fieldkit hub serve'"
            ) from None
        except (OSError, ValueError) as error:
            raise PasswordError(f"cannot read {self.path}: {error}") from None
        try:
            return _parse(document)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise PasswordError(f"{self.path} is damaged; set the password again ('fieldkit hub password')") from None

    def check(self, password: str) -> bool:
        """True when ``password`` is the operator password (constant-time compare)."""
        return self._load().check(password)

    def is_legacy(self) -> bool:
        """True while the file holds a hash in the first format (see :meth:`upgrade`)."""
        return self._load().legacy

    def upgrade(self, password: str) -> bool:
        """Rewrite a first-format hash in the current one; ``password`` must be the right one.

        Keeps the cost and the date the password was set. False when there was nothing to
        upgrade (already current, or the password is wrong).
        """
        with _UPGRADE_LOCK:
            stored = self._load()
            if not stored.legacy or not stored.check(password):
                return False
            self._write(password, stored.work_factor, set_at=str(stored.document.get("set") or _now()))
            return True

    def kept_hash(self) -> str:
        """The stored hash as an operator account keeps it (see :func:`check_stored`)."""
        stored = self._load()
        if stored.legacy:
            return json.dumps(stored.document, sort_keys=True)
        return str(stored.document["hash"])

    def fingerprint(self) -> str:
        """A short value that changes whenever the password is set again (for sessions)."""
        return hashlib.sha256(b"fieldkit-operator-session" + self._load().hash_bytes).hexdigest()[:32]
