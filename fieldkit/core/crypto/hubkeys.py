"""The hub's age identity: creating it, and unlocking it for export and reports.

The kit only ever holds the hub's *recipient* (public key). The identity stays
with the hub, by default encrypted with a passphrase in age's scrypt format, so
that ``age -d -i hub-identity.age`` also opens it.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import ensure_private_dir, write_atomic

RECIPIENT_FILE = "hub-recipient.txt"
PROTECTED_IDENTITY_FILE = "hub-identity.age"
PLAIN_IDENTITY_FILE = "hub-identity.txt"


@dataclass(frozen=True)
class HubKeyFiles:
    recipient: str
    recipient_path: Path
    identity_path: Path


def identity_file_text(identity: age.X25519Identity, *, now: datetime.datetime | None = None) -> str:
    created = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0).isoformat()
    return f"# created: {created}\n# public key: {identity.recipient().to_string()}\n{identity.to_string()}\n"


def generate_hub_keys(out_dir: Path, passphrase: str | None, *, work_factor: int = 18) -> HubKeyFiles:
    """Write a new hub identity and its recipient file; refuse to overwrite an existing one."""
    out_dir = ensure_private_dir(out_dir)
    identity_path = out_dir / (PROTECTED_IDENTITY_FILE if passphrase else PLAIN_IDENTITY_FILE)
    recipient_path = out_dir / RECIPIENT_FILE
    for existing in (out_dir / PROTECTED_IDENTITY_FILE, out_dir / PLAIN_IDENTITY_FILE, recipient_path):
        if existing.exists():
            raise FieldkitError(f"{existing} already exists; choose another --out folder (never overwrite a hub key)")
    identity = age.X25519Identity.generate()
    text = identity_file_text(identity).encode("utf-8")
    if passphrase:
        text = age.encrypt(text, [age.ScryptRecipient(passphrase, work_factor=work_factor)])
    write_atomic(identity_path, text)
    recipient = identity.recipient().to_string()
    write_atomic(recipient_path, (recipient + "\n").encode("ascii"), mode=0o644)
    return HubKeyFiles(recipient, recipient_path, identity_path)


def identity_needs_passphrase(path: Path) -> bool:
    head = _read(path)[:64]
    return head.startswith(b"age-encryption.org/") or head.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")


def load_hub_identities(path: Path, passphrase: str | None) -> list[age.X25519Identity]:
    """The identities in a hub identity file, decrypting it with ``passphrase`` when protected."""
    data = _read(path)
    if identity_needs_passphrase(path):
        if not passphrase:
            raise FieldkitError(f"{path.name} is protected: give its passphrase (--passphrase-file FILE)")
        try:
            data = age.decrypt(data, [age.ScryptIdentity(passphrase)])
        except age.DecryptionError:
            raise FieldkitError(f"wrong passphrase for {path.name} (or the file is damaged)") from None
    try:
        return age.parse_identities(data.decode("utf-8"))
    except (UnicodeDecodeError, age.KeyFormatError) as error:
        raise FieldkitError(f"{path.name} is not an age identity file: {error}") from None


def read_recipient_file(path: Path) -> str:
    """The one ``age1…`` recipient in a recipient file (comments and blank lines allowed)."""
    lines = [line.strip() for line in _read(path).decode("utf-8", "replace").splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if len(keys) != 1:
        found = "none" if not keys else f"{len(keys)} lines"
        raise FieldkitError(f"{path} must hold exactly one age1... recipient line, found {found}")
    try:
        return parse_recipient_text(keys[0])
    except FieldkitError as error:
        raise FieldkitError(f"{path}: {error}") from None


def parse_recipient_text(text: str) -> str:
    try:
        return age.parse_recipient(text).to_string()
    except age.KeyFormatError as error:
        raise FieldkitError(str(error)) from None  # the message already says what is wrong


def recipient_fingerprint(recipient: str) -> str:
    """A short, stable name for an ``age1...`` key, for a person to compare at a glance.

    80 bits of SHA-256 over the canonical key text, in five groups of four hex digits:
    the kit prints it at every start and on its operator page, ``hub keygen`` prints
    the same for the hub's key, so an added or swapped recipient is seen.
    """
    digest = hashlib.sha256(b"fieldkit recipient\n" + parse_recipient_text(recipient).encode("ascii")).hexdigest()
    return " ".join(digest[start : start + 4] for start in range(0, 20, 4))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise FieldkitError(f"cannot read {path}: {error.strerror or error}") from None
