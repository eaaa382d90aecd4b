"""A kit's identity and keys: creating a data folder, and unlocking it with the passphrase.

``kit.json`` holds what is public (kit id, key epoch, the hub and escrow
recipients and the role of each, the signing public key). ``kit-keys.json`` holds the scrypt salt and
the Ed25519 signing key wrapped with a key derived from the passphrase. One
scrypt run at unlock gives a master key; HKDF splits it into the draft key, the
key that unwraps the signing key and the key that seals the settings, so unlocking
costs one scrypt, not three.

The settings are sealed (``fieldkit.kit.settings_seal``): ``kit.json`` carries an
HMAC per setting under a key only the passphrase gives, and the signing key is
wrapped with additional data that says so, so neither adding a recipient nor removing
the seal goes unnoticed at unlock. A kit made before sealing existed is sealed at its
next unlock (``UnlockedKit.sealed_now`` says when that happened).

The kit also signs its list of enrolled hubs (``fieldkit.kit.hub_list``). ``kit.json``
says so (``hub_list_signed``, sealed like every setting) and the signing key is wrapped
with additional data that says so too, so removing the mark does not pass for a kit
from before. A sealed kit from before signs its hub list as it is at its next unlock,
once (``UnlockedKit.hubs_vouched_now`` lists the entries it then vouched for).

A kit whose passphrase was changed (``fieldkit passphrase``, :func:`change_passphrase`)
keeps its draft key, settings seal key and signing key: ``kit-keys.json`` then has the
format ``fieldkit-kit/2`` and holds the draft and seal keys wrapped (AES-GCM, bound to the
kit id and the format) under a key that HKDF takes from the new passphrase's scrypt, next to
the signing key wrapped as before under the new wrap key. Unlock reads either layout; the
change is one atomic replacement of ``kit-keys.json``, so a crash leaves the old
passphrase or the new one working, never neither.

The scrypt cost is chosen for the machine at ``init`` and at every passphrase change
(:func:`choose_kdf_cost`): N = 2**17 and r = 8 (128 MiB, what the service unit's memory
bound leaves room for) and the parallelisation p raised until one derive takes about a
second; OpenSSL runs the p lanes one after another in the same memory, so p costs time, not
memory.

Destroying ``kit-keys.json`` (``fieldkit wipe``) makes the drafts unreadable
even to someone who later learns the passphrase.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import os
import secrets
import time
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
from fieldkit.core.storage.atomic import ensure_private_dir, remove_temp_files, write_atomic
from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.settings import read_settings
from fieldkit.kit.hub_list import sign_as_it_is
from fieldkit.kit.roles import HUB_ROLE_DEFAULT, ROLES_FIELD, check_role, role_names, role_texts
from fieldkit.kit.settings_seal import (
    HUB_LIST_FIELD,
    SEAL_FIELD,
    SettingsChanged,
    check_seal,
    seal_settings,
    wrap_aad,
)

KIT_FILE = "kit.json"
KEYS_FILE = "kit-keys.json"
KIT_FORMAT = "fieldkit-kit/1"
# kit-keys.json of a kit whose passphrase was changed: the draft and seal keys are wrapped.
WRAPPED_KEYS_FORMAT = "fieldkit-kit/2"
DEFAULT_WORK_FACTOR = 17  # scrypt N = 2**17: ~128 MiB for a moment at unlock, fine on a Pi Zero 2 W
MIN_WORK_FACTOR = 10  # what unlock accepts (tests use 10); init never chooses below DEFAULT_WORK_FACTOR
MAX_WORK_FACTOR = 22
SCRYPT_R = 8
MAX_PARALLEL = 16  # scrypt p: what init may choose and unlock accepts
KDF_TARGET_SECONDS = 1.0
_DRAFT_KEY_INFO = b"fieldkit/v1 draft key"
_WRAP_KEY_INFO = b"fieldkit/v1 signing key wrap"
_SEAL_KEY_INFO = b"fieldkit/v1 settings seal"
_KEYS_WRAP_INFO = b"fieldkit/v2 draft and seal key wrap"


@dataclass(frozen=True)
class KitConfig:
    """What any process may know about a kit without its passphrase."""

    data_dir: Path
    kit_id: str
    epoch: int
    created: str
    recipients: tuple[str, ...]  # hub first, then escrow
    signing_public_key: str  # base64 of the raw Ed25519 public key
    hub_list_signed: bool = False  # the kit signs its hub list: a missing signature is tampering
    # One role per recipient, as kit.json says it (fieldkit.kit.roles); () for a kit from before roles.
    recipient_roles: tuple[str, ...] = ()

    @property
    def hub_recipient(self) -> str:
        return self.recipients[0]

    @property
    def roles(self) -> list[str]:
        """Each recipient's role, an older kit's filled in (``fieldkit.kit.roles.role_names``)."""
        return role_names(self.recipient_roles, len(self.recipients))

    def who_can_open(self) -> list[str]:
        """The English words for who can open the answers, one per recipient, for the consent script."""
        return role_texts(self.recipient_roles, len(self.recipients))

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
    sealed_now: bool = False  # this unlock sealed the settings of a kit made before sealing existed
    # This unlock signed the hub list of a kit made before it was signed, as it was: these
    # entries (hub_id, receipt_public_key, verified), for the operator to compare; else None.
    hubs_vouched_now: tuple[dict[str, Any], ...] | None = None

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir


@dataclass(frozen=True)
class _Keys:
    draft: bytes
    wrap: bytes
    seal: bytes
    keys_wrap: bytes  # wraps the draft and seal keys once the passphrase was changed


def _derive(passphrase: str, salt: bytes, work_factor: int, parallel: int = 1) -> _Keys:
    master = Scrypt(salt=salt, length=32, n=2**work_factor, r=SCRYPT_R, p=parallel).derive(passphrase.encode("utf-8"))
    keys = []
    for info in (_DRAFT_KEY_INFO, _WRAP_KEY_INFO, _SEAL_KEY_INFO, _KEYS_WRAP_INFO):
        keys.append(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master))
    return _Keys(*keys)


@dataclass(frozen=True)
class KdfCost:
    """The scrypt cost a kit's passphrase is stretched with, and how long one derive took here."""

    work_factor: int  # N = 2**work_factor
    parallel: int  # p
    seconds: float | None = None  # measured on this machine; None when the cost was given, not chosen

    @property
    def memory_mib(self) -> int:
        return 128 * SCRYPT_R * 2**self.work_factor // 2**20

    def describe(self) -> str:
        text = f"scrypt N=2^{self.work_factor}, r={SCRYPT_R}, p={self.parallel} ({self.memory_mib} MiB)"
        if self.seconds is not None:
            text += f", about {self.seconds:.2f} s per unlock on this machine"
        return text


def choose_kdf_cost(target_seconds: float = KDF_TARGET_SECONDS) -> KdfCost:
    """Measure scrypt here and choose p so that one derive at N=2**17, r=8 takes about ``target_seconds``.

    Never below today's strength (N=2**17, p=1) and never above :data:`MAX_PARALLEL`.
    N stays at 2**17: 2**18 would need 256 MiB, all the service unit's ``MemoryMax``, so
    the time is bought with p, which OpenSSL runs lane after lane in the same 128 MiB.
    """
    salt = os.urandom(32)
    started = time.perf_counter()
    _derive(secrets.token_hex(16), salt, DEFAULT_WORK_FACTOR, 1)
    one = max(time.perf_counter() - started, 1e-6)
    parallel = max(1, min(MAX_PARALLEL, round(target_seconds / one)))
    return KdfCost(DEFAULT_WORK_FACTOR, parallel, one * parallel)


def _kdf_record(salt: bytes, cost: KdfCost) -> dict[str, Any]:
    return {"name": "scrypt", "salt": _b64(salt), "work_factor": cost.work_factor, "r": SCRYPT_R, "p": cost.parallel}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def init_kit(
    data_dir: Path,
    hub_recipient: str,
    passphrase: str,
    *,
    escrow_recipient: str | None = None,
    hub_role: str = HUB_ROLE_DEFAULT,
    escrow_role: str | None = None,
    work_factor: int = DEFAULT_WORK_FACTOR,
    parallel: int = 1,
    epoch: int = 1,
) -> KitConfig:
    """Create a kit in an empty (or new) folder and return its public config.

    ``hub_role`` and ``escrow_role`` name who holds each key (``fieldkit.kit.roles``), for the
    consent script; an escrow recipient needs its role, and a role needs its recipient.
    """
    data_dir = Path(data_dir)
    roles = [check_role(hub_role, "--hub-role")]
    if escrow_recipient and escrow_role is None:
        raise FieldkitError(
            "--escrow-recipient needs --escrow-role: the consent script tells each person who can open their answers"
        )
    if escrow_role is not None and not escrow_recipient:
        raise FieldkitError("--escrow-role names the holder of --escrow-recipient, which was not given")
    if escrow_role is not None:
        roles.append(check_role(escrow_role, "--escrow-role"))
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
    cost = _checked_cost(work_factor, parallel)
    derived = _derive(passphrase, salt, cost.work_factor, cost.parallel)
    created = datetime.datetime.now(datetime.UTC).date().isoformat()
    keys = {
        "format": KIT_FORMAT,
        "kdf": _kdf_record(salt, cost),
        "signing_key": _wrap_signing_key(signing_key, derived.wrap, kit_id),
    }
    config: dict[str, Any] = {
        "format": KIT_FORMAT,
        "kit_id": kit_id,
        "epoch": epoch,
        "created": created,
        "recipients": recipients,
        ROLES_FIELD: roles,
        "signing_public_key": _b64(public),
        HUB_LIST_FIELD: True,
    }
    config[SEAL_FIELD] = seal_settings(config, derived.seal)
    # Keys first: a kit.json without keys would look like a kit that cannot be unlocked.
    write_atomic(data_dir / KEYS_FILE, _json(keys))
    write_atomic(data_dir / KIT_FILE, _json(config))
    return load_config(data_dir)


def _checked_cost(work_factor: int, parallel: int) -> KdfCost:
    if not MIN_WORK_FACTOR <= work_factor <= MAX_WORK_FACTOR or not 1 <= parallel <= MAX_PARALLEL:
        raise FieldkitError(
            f"the scrypt cost must have a work factor from {MIN_WORK_FACTOR} to {MAX_WORK_FACTOR} and p from 1 "
            f"to {MAX_PARALLEL} (got {work_factor} and {parallel})"
        )
    return KdfCost(work_factor, parallel)


def _wrap_signing_key(
    signing_key: Ed25519PrivateKey, wrap_key: bytes, kit_id: str, keys_format: str = KIT_FORMAT
) -> dict[str, str]:
    """The signing key encrypted under ``wrap_key``, bound to the kit id, sealed settings and a signed hub list."""
    nonce = os.urandom(12)
    private = signing_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    aad = wrap_aad(kit_id, sealed=True, hub_list=True) + _layout_aad(keys_format)
    wrapped = AESGCM(wrap_key).encrypt(nonce, private, aad)
    return {"nonce": _b64(nonce), "wrapped": _b64(wrapped)}


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
    """The public description of the kit in ``data_dir`` (not checked against its seal: see ``unlock``)."""
    return _config_from(Path(data_dir), _read_json(Path(data_dir) / KIT_FILE, "kit settings file"))


def _config_from(data_dir: Path, data: dict[str, Any]) -> KitConfig:
    try:
        return KitConfig(
            data_dir=Path(data_dir),
            kit_id=str(data["kit_id"]),
            epoch=int(data["epoch"]),
            created=str(data["created"]),
            recipients=tuple(str(r) for r in data["recipients"]),
            signing_public_key=str(data["signing_public_key"]),
            hub_list_signed=data.get(HUB_LIST_FIELD) is True,
            recipient_roles=_roles_from(data.get(ROLES_FIELD)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FieldkitError(f"{data_dir / KIT_FILE} is incomplete ({error}); restore it from a backup") from None


def _roles_from(value: object) -> tuple[str, ...]:
    """The roles as kit.json says them. Not checked here: at unlock the seal says whether they were changed."""
    if isinstance(value, list) and all(isinstance(role, str) for role in value):
        return tuple(value)
    return ()


class WrongPassphrase(FieldkitError):
    """The passphrase does not unlock this kit."""


def unlock(data_dir: Path, passphrase: str) -> UnlockedKit:
    """Derive the kit's keys from the passphrase; a wrong one is a clear error."""
    return _open(Path(data_dir), passphrase)[0]


@dataclass(frozen=True)
class PassphraseChange:
    """A kit unlocked with its current passphrase, ready to take a new one (:func:`open_for_change`)."""

    kit: UnlockedKit
    _current: _Keys
    _keys_read: dict[str, Any]

    def to(self, new_passphrase: str, cost: KdfCost) -> None:
        """Replace ``kit-keys.json`` so that ``new_passphrase`` opens the kit and the old one no longer does.

        The draft key, the settings seal key and the signing key stay as they are, so drafts,
        the sealed settings and the signed hub list need no change: only ``kit-keys.json`` is
        replaced, in one atomic write, with those keys wrapped under keys from the new
        passphrase (a new salt, and ``cost``). A crash leaves the old file or the new one.
        """
        cost = _checked_cost(cost.work_factor, cost.parallel)
        data_dir = self.kit.data_dir
        kit_id = self.kit.config.kit_id
        salt = os.urandom(32)
        derived = _derive(new_passphrase, salt, cost.work_factor, cost.parallel)
        keys = {
            "format": WRAPPED_KEYS_FORMAT,
            "kdf": _kdf_record(salt, cost),
            "signing_key": _wrap_signing_key(self.kit.signing_key, derived.wrap, kit_id, WRAPPED_KEYS_FORMAT),
            "wrapped_keys": _wrap_kit_keys(derived, self._current.draft, self._current.seal, kit_id),
        }
        with writer_lock(data_dir):
            # Replaced only if it is still the file the old passphrase opened.
            if _read_keys(data_dir / KEYS_FILE) != self._keys_read:
                raise FieldkitError(
                    f"{KEYS_FILE} was changed by another process while the passphrase was being changed; "
                    "nothing was changed: try again"
                )
            # What a kill during an earlier change left half-written: never a second copy of the keys.
            remove_temp_files(data_dir / KEYS_FILE)
            write_atomic(data_dir / KEYS_FILE, _json(keys))


def open_for_change(data_dir: Path, passphrase: str) -> PassphraseChange:
    """Unlock the kit with its current passphrase, to give it a new one (``PassphraseChange.to``)."""
    kit, current = _open(Path(data_dir), passphrase)
    # Read again after unlocking: an unlock of a kit from before may have rewritten it.
    return PassphraseChange(kit, current, _read_keys(Path(data_dir) / KEYS_FILE))


def _read_keys(keys_path: Path) -> dict[str, Any]:
    if not keys_path.exists():
        raise FieldkitError(f"this kit's keys were wiped ({KEYS_FILE} is gone); create a new kit with 'fieldkit init'")
    return read_settings(
        keys_path,
        expected_format=KIT_FORMAT,
        also_accepted=(WRAPPED_KEYS_FORMAT,),
        what="kit keys file",
        missing=f"{keys_path.parent} is not a kit folder ({keys_path.name} is missing); run 'fieldkit init' first",
    )


def _open(data_dir: Path, passphrase: str) -> tuple[UnlockedKit, _Keys]:
    """The unlocked kit and the keys it was unlocked with (the seal key among them, for a passphrase change)."""
    # One reading of kit.json, both checked against the seal and used: never two that may differ.
    settings = _read_json(data_dir / KIT_FILE, "kit settings file")
    config = _config_from(data_dir, settings)
    keys_path = data_dir / KEYS_FILE
    keys = _read_keys(keys_path)
    try:
        kdf = keys["kdf"]
        salt = base64.b64decode(kdf["salt"])
        work_factor = int(kdf["work_factor"])
        parallel = int(kdf.get("p", 1))
        r = int(kdf.get("r", SCRYPT_R))
        nonce = base64.b64decode(keys["signing_key"]["nonce"])
        wrapped = base64.b64decode(keys["signing_key"]["wrapped"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise FieldkitError(f"{keys_path} is damaged ({error}); restore it from a backup") from None
    if not MIN_WORK_FACTOR <= work_factor <= MAX_WORK_FACTOR or not 1 <= parallel <= MAX_PARALLEL or r != SCRYPT_R:
        raise FieldkitError(
            f"{keys_path} asks for an unreasonable scrypt cost (work factor {work_factor}, r {r}, p {parallel})"
        )
    derived = _derive(passphrase, salt, work_factor, parallel)
    if keys["format"] == WRAPPED_KEYS_FORMAT:
        derived = _unwrap_kit_keys(derived, keys, config.kit_id, keys_path)
    kit_file = data_dir / KIT_FILE
    layout = _layout_aad(keys["format"])
    private = _unwrap(derived.wrap, nonce, wrapped, wrap_aad(config.kit_id, sealed=True, hub_list=True) + layout)
    if private is None and layout:
        # The wrapped layout is only ever written for a sealed kit with a signed hub list.
        raise FieldkitError("wrong passphrase for this kit")  # or an edited kit id or format: all fail here
    if private is not None:
        # Only the passphrase could have wrapped the key this way, so the settings were
        # sealed and the hub list signed: a missing or wrong seal, or a missing mark,
        # means someone changed kit.json since.
        check_seal(settings, derived.seal, kit_file)
        if settings.get(HUB_LIST_FIELD) is not True:
            raise SettingsChanged(
                f"{kit_file} was changed without the kit passphrase ('{HUB_LIST_FIELD}' was removed), so it cannot "
                "be trusted: without it, a hub added to sync.json by someone else could pass for one this kit "
                f"enrolled with. The kit was not unlocked and nothing was changed. Restore {KIT_FILE} from a backup."
            )
        return UnlockedKit(config, _matching_key(private, config), derived.draft), derived
    private = _unwrap(derived.wrap, nonce, wrapped, wrap_aad(config.kit_id, sealed=True))
    if private is not None:
        # A sealed kit from before the hub list was signed.
        check_seal(settings, derived.seal, kit_file)
        signing_key = _matching_key(private, config)
        # The mark with this wrap only follows a migration stopped half-way, after the
        # list was signed: then it is not signed again (that would vouch for what is there now).
        already = settings.get(HUB_LIST_FIELD) is True
        vouched = _sign_hub_list(data_dir, settings, keys, signing_key, derived, sign=not already)
        marked = dataclasses.replace(config, hub_list_signed=True)
        kit = UnlockedKit(marked, signing_key, derived.draft, hubs_vouched_now=None if already else vouched)
        return kit, derived
    private = _unwrap(derived.wrap, nonce, wrapped, wrap_aad(config.kit_id, sealed=False))
    if private is None:
        raise WrongPassphrase("wrong passphrase for this kit")  # or an edited kit id: both fail here
    signing_key = _matching_key(private, config)
    vouched = _sign_hub_list(data_dir, settings, keys, signing_key, derived, sign=True)
    marked = dataclasses.replace(config, hub_list_signed=True)
    return UnlockedKit(marked, signing_key, derived.draft, sealed_now=True, hubs_vouched_now=vouched), derived


def _layout_aad(keys_format: object) -> bytes:
    """Added to the signing key's wrap in the wrapped layout, so that it cannot be read as the old one."""
    return b"\0" + WRAPPED_KEYS_FORMAT.encode("ascii") if keys_format == WRAPPED_KEYS_FORMAT else b""


def _keys_aad(kit_id: str) -> bytes:
    """What the wrapped draft and seal keys are bound to: this layout of this kit."""
    return b"fieldkit wrapped kit keys\0" + WRAPPED_KEYS_FORMAT.encode("ascii") + b"\0" + kit_id.encode("utf-8")


def _wrap_kit_keys(derived: _Keys, draft: bytes, seal: bytes, kit_id: str) -> dict[str, str]:
    nonce = os.urandom(12)
    wrapped = AESGCM(derived.keys_wrap).encrypt(nonce, draft + seal, _keys_aad(kit_id))
    return {"nonce": _b64(nonce), "wrapped": _b64(wrapped)}


def _unwrap_kit_keys(derived: _Keys, keys: dict[str, Any], kit_id: str, keys_path: Path) -> _Keys:
    """The kit's own draft and seal keys, which the passphrase's keys wrap since a passphrase change."""
    try:
        nonce = base64.b64decode(keys["wrapped_keys"]["nonce"])
        wrapped = base64.b64decode(keys["wrapped_keys"]["wrapped"])
    except (KeyError, TypeError, ValueError) as error:
        raise FieldkitError(f"{keys_path} is damaged ({error}); restore it from a backup") from None
    both = _unwrap(derived.keys_wrap, nonce, wrapped, _keys_aad(kit_id))
    if both is None:
        raise FieldkitError("wrong passphrase for this kit")  # or an edited kit id: both fail here
    if len(both) != 64:
        raise FieldkitError(f"{keys_path} is damaged (the wrapped keys are not 64 bytes); restore it from a backup")
    return dataclasses.replace(derived, draft=both[:32], seal=both[32:])


def change_passphrase(data_dir: Path, old_passphrase: str, new_passphrase: str, cost: KdfCost) -> UnlockedKit:
    """Give the kit a new passphrase (:meth:`PassphraseChange.to`); the same one again is an error.

    The caller holds the kit for its sole use (``fieldkit.core.storage.locks.sole_use``).
    """
    if new_passphrase == old_passphrase:
        raise FieldkitError("the new passphrase is the same as the old one; nothing was changed")
    change = open_for_change(data_dir, old_passphrase)
    change.to(new_passphrase, cost)
    return change.kit


def _unwrap(wrap_key: bytes, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes | None:
    try:
        return AESGCM(wrap_key).decrypt(nonce, wrapped, aad)
    except InvalidTag:
        return None


def _matching_key(private: bytes, config: KitConfig) -> Ed25519PrivateKey:
    """The unwrapped signing key, which must be the one ``kit.json`` names (an old kit's is not sealed)."""
    key = Ed25519PrivateKey.from_private_bytes(private)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if _b64(public) != config.signing_public_key:
        raise SettingsChanged(
            f"{config.data_dir / KIT_FILE} names another signing key than the one the passphrase unlocks, so it "
            f"cannot be trusted; the kit was not unlocked. Restore {KIT_FILE} from a backup."
        )
    return key


def _sign_hub_list(
    data_dir: Path,
    settings: dict[str, Any],
    keys: dict[str, Any],
    signing_key: Ed25519PrivateKey,
    derived: _Keys,
    *,
    sign: bool,
) -> tuple[dict[str, Any], ...]:
    """Sign the hub list of a kit from before as it is now, mark it, and seal its settings.

    Used for a kit whose settings were not sealed yet as for a sealed one: the hub list
    is signed first (when ``sign``), then ``kit.json`` gets the mark and its seal, then the
    signing key is wrapped again to say both. A crash before the last step leaves a kit
    that simply does the rest at its next unlock, never one that refuses to open.
    """
    vouched = tuple(sign_as_it_is(data_dir, str(settings["kit_id"]), signing_key)) if sign else ()
    settings = {name: value for name, value in settings.items() if name != SEAL_FIELD}
    settings[HUB_LIST_FIELD] = True
    settings[SEAL_FIELD] = seal_settings(settings, derived.seal)
    write_atomic(data_dir / KIT_FILE, _json(settings))
    keys = dict(keys, signing_key=_wrap_signing_key(signing_key, derived.wrap, str(settings["kit_id"])))
    write_atomic(data_dir / KEYS_FILE, _json(keys))
    return vouched


__all__ = [
    "KdfCost",
    "KitConfig",
    "PassphraseChange",
    "SettingsChanged",
    "UnlockedKit",
    "WrongPassphrase",
    "change_passphrase",
    "choose_kdf_cost",
    "init_kit",
    "load_config",
    "open_for_change",
    "unlock",
]
