"""A kit's identity and keys: creating a data folder, and unlocking it with the passphrase.

``kit.json`` holds what is public (kit id, key epoch, the hub and escrow
recipients, the signing public key). ``kit-keys.json`` holds the scrypt salt and
the Ed25519 signing key wrapped with a key derived from the passphrase. One
scrypt run at unlock gives a master key; HKDF splits it into the draft key and
the key that unwraps the signing key, so unlocking costs one scrypt, not two.
Destroying ``kit-keys.json`` (``fieldkit wipe``) makes the drafts unreadable
even to someone who later learns the passphrase.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import parse_recipient_text
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import ensure_private_dir, write_atomic
from fieldkit.core.storage.settings import read_settings

KIT_FILE = "kit.json"
KEYS_FILE = "kit-keys.json"
KIT_FORMAT = "fieldkit-kit/1"
DEFAULT_WORK_FACTOR = 17  # scrypt N = 2**17: ~128 MiB for a moment at unlock, fine on a Pi Zero 2 W
_DRAFT_KEY_INFO = b"fieldkit/v1 draft key"
_WRAP_KEY_INFO = b"fieldkit/v1 signing key wrap"


@dataclass(frozen=True)
class KitConfig:
    """What any process may know about a kit without its passphrase."""

    data_dir: Path
    kit_id: str
    epoch: int
    created: str
    recipients: tuple[str, ...]  # hub first, then escrow
    signing_public_key: str  # base64 of the raw Ed25519 public key

    @property
    def hub_recipient(self) -> str:
        return self.recipients[0]

    def age_recipients(self) -> list[age.X25519Recipient]:
        return [age.parse_recipient(text) for text in self.recipients]

    def verify_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.signing_public_key))


@dataclass(frozen=True)
class UnlockedKit:
    """A kit whose secrets are in memory: only a running command holds one."""

    config: KitConfig
    signing_key: Ed25519PrivateKey
    draft_key: bytes

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir


def _derive(passphrase: str, salt: bytes, work_factor: int) -> tuple[bytes, bytes]:
    master = Scrypt(salt=salt, length=32, n=2**work_factor, r=8, p=1).derive(passphrase.encode("utf-8"))
    keys = []
    for info in (_DRAFT_KEY_INFO, _WRAP_KEY_INFO):
        keys.append(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master))
    return keys[0], keys[1]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def init_kit(
    data_dir: Path,
    hub_recipient: str,
    passphrase: str,
    *,
    escrow_recipient: str | None = None,
    work_factor: int = DEFAULT_WORK_FACTOR,
    epoch: int = 1,
) -> KitConfig:
    """Create a kit in an empty (or new) folder and return its public config."""
    data_dir = Path(data_dir)
    if (data_dir / KIT_FILE).exists():
        raise FieldkitError(f"{data_dir} already holds a kit; use another --data folder")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise FieldkitError(f"{data_dir} is not empty; a new kit needs an empty or new folder")
    recipients = [parse_recipient_text(hub_recipient)]
    if escrow_recipient:
        recipients.append(parse_recipient_text(escrow_recipient))
    ensure_private_dir(data_dir)
    kit_id = "kit-" + secrets.token_hex(6)
    signing_key = Ed25519PrivateKey.generate()
    public = signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    salt = os.urandom(32)
    _, wrap_key = _derive(passphrase, salt, work_factor)
    nonce = os.urandom(12)
    private = signing_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    wrapped = AESGCM(wrap_key).encrypt(nonce, private, kit_id.encode("ascii"))
    created = datetime.datetime.now(datetime.UTC).date().isoformat()
    keys = {
        "format": KIT_FORMAT,
        "kdf": {"name": "scrypt", "salt": _b64(salt), "work_factor": work_factor, "r": 8, "p": 1},
        "signing_key": {"nonce": _b64(nonce), "wrapped": _b64(wrapped)},
    }
    config = {
        "format": KIT_FORMAT,
        "kit_id": kit_id,
        "epoch": epoch,
        "created": created,
        "recipients": recipients,
        "signing_public_key": _b64(public),
    }
    # Keys first: a kit.json without keys would look like a kit that cannot be unlocked.
    write_atomic(data_dir / KEYS_FILE, _json(keys))
    write_atomic(data_dir / KIT_FILE, _json(config))
    return load_config(data_dir)


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    return read_settings(
        path,
        expected_format=KIT_FORMAT,
        what=what,
        missing=f"{path.parent} is not a kit folder ({path.name} is missing); run 'fieldkit init' first",
    )


def load_config(data_dir: Path) -> KitConfig:
    """The public description of the kit in ``data_dir``."""
    data = _read_json(Path(data_dir) / KIT_FILE, "kit settings file")
    try:
        return KitConfig(
            data_dir=Path(data_dir),
            kit_id=str(data["kit_id"]),
            epoch=int(data["epoch"]),
            created=str(data["created"]),
            recipients=tuple(str(r) for r in data["recipients"]),
            signing_public_key=str(data["signing_public_key"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FieldkitError(f"{data_dir / KIT_FILE} is incomplete ({error}); restore it from a backup") from None


def unlock(data_dir: Path, passphrase: str) -> UnlockedKit:
    """Derive the kit's keys from the passphrase; a wrong one is a clear error."""
    config = load_config(data_dir)
    keys_path = Path(data_dir) / KEYS_FILE
    if not keys_path.exists():
        raise FieldkitError(f"this kit's keys were wiped ({KEYS_FILE} is gone); create a new kit with 'fieldkit init'")
    keys = _read_json(keys_path, "kit keys file")
    try:
        kdf = keys["kdf"]
        salt = base64.b64decode(kdf["salt"])
        work_factor = int(kdf["work_factor"])
        nonce = base64.b64decode(keys["signing_key"]["nonce"])
        wrapped = base64.b64decode(keys["signing_key"]["wrapped"])
    except (KeyError, TypeError, ValueError) as error:
        raise FieldkitError(f"{keys_path} is damaged ({error}); restore it from a backup") from None
    if not 10 <= work_factor <= 22:
        raise FieldkitError(f"{keys_path} asks for an unreasonable scrypt work factor ({work_factor})")
    draft_key, wrap_key = _derive(passphrase, salt, work_factor)
    try:
        private = AESGCM(wrap_key).decrypt(nonce, wrapped, config.kit_id.encode("ascii"))
    except InvalidTag:
        raise FieldkitError("wrong passphrase for this kit") from None
    return UnlockedKit(config, Ed25519PrivateKey.from_private_bytes(private), draft_key)
