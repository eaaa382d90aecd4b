"""The hub's age identity: creating it, rotating it, and unlocking it for export and reports.

The kit only ever holds the hub's *recipient* (public key). The identity stays
with the hub, by default encrypted with a passphrase in age's scrypt format, so
that ``age -d -i hub-identity.age`` also opens it.

A rotation (``fieldkit hub keygen --rotate``) never changes a file: it writes the
next *generation* beside the others, ``hub-identity-N.age`` (or ``.txt``) and
``hub-recipient-N.txt`` (the first generation has no number). The new identity file
holds the new identity *and every earlier one*, newest first, so the newest file
alone opens every record the hub was ever sent, with fieldkit or with ``age -d -i``.
The newest generation is the current one: its recipient is the one kits should seal
to (``docs/hub-keys.md``).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import ensure_private_dir, write_atomic

RECIPIENT_FILE = "hub-recipient.txt"
PROTECTED_IDENTITY_FILE = "hub-identity.age"
PLAIN_IDENTITY_FILE = "hub-identity.txt"
_GENERATION_FILE = re.compile(r"hub-(identity|recipient)(?:-([1-9][0-9]{0,5}))?\.(age|txt)")


@dataclass(frozen=True)
class HubKeyFiles:
    recipient: str
    recipient_path: Path
    identity_path: Path
    generation: int = 1
    identities: int = 1  # how many identities the identity file holds (this one and the earlier ones)


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
            raise FieldkitError(
                f"{existing} already exists; choose another --out folder (never overwrite a hub key), "
                "or make this hub's next key with --rotate"
            )
    identity = age.X25519Identity.generate()
    text = identity_file_text(identity).encode("utf-8")
    if passphrase:
        text = age.encrypt(text, [age.ScryptRecipient(passphrase, work_factor=work_factor)])
    write_atomic(identity_path, text)
    recipient = identity.recipient().to_string()
    write_atomic(recipient_path, (recipient + "\n").encode("ascii"), mode=0o644)
    return HubKeyFiles(recipient, recipient_path, identity_path)


def _generation_name(kind: str, generation: int, suffix: str) -> str:
    return f"hub-{kind}{'' if generation == 1 else f'-{generation}'}.{suffix}"


def generations(out_dir: Path) -> dict[int, list[Path]]:
    """The key files of each generation in a hub keys folder, by generation number."""
    found: dict[int, list[Path]] = {}
    if not Path(out_dir).is_dir():
        return found
    for path in sorted(Path(out_dir).iterdir()):
        named = _GENERATION_FILE.fullmatch(path.name)
        if named is None or (named.group(1), named.group(3)) == ("recipient", "age"):
            continue
        found.setdefault(int(named.group(2) or 1), []).append(path)
    return found


def current_identity_file(out_dir: Path) -> Path:
    """The newest generation's identity file in a hub keys folder (it holds the earlier identities too)."""
    for generation in sorted(generations(out_dir), reverse=True):
        for suffix in ("age", "txt"):
            path = Path(out_dir) / _generation_name("identity", generation, suffix)
            if path.is_file():
                return path
    raise FieldkitError(
        f"{out_dir} holds no hub identity (hub-identity.age or hub-identity.txt); "
        "'fieldkit hub keygen --out FOLDER' makes the first one"
    )


def rotate_hub_keys(
    out_dir: Path, old_passphrase: str | None, passphrase: str | None, *, work_factor: int = 18
) -> HubKeyFiles:
    """Write the next generation of hub keys beside the others (see the module docstring).

    ``old_passphrase`` opens the current identity file when it is protected;
    ``passphrase`` protects the new one (None: written unprotected, as ``.txt``).
    Nothing existing is changed; the recipient file of the new generation is written last.
    """
    out_dir = Path(out_dir)
    current = current_identity_file(out_dir)
    earlier = load_hub_identities(current, old_passphrase)
    generation = max(generations(out_dir)) + 1
    identity_path = out_dir / _generation_name("identity", generation, "age" if passphrase else "txt")
    recipient_path = out_dir / _generation_name("recipient", generation, "txt")
    for suffix in ("age", "txt"):
        if (out_dir / _generation_name("identity", generation, suffix)).exists():  # pragma: no cover - race
            raise FieldkitError(f"{out_dir} changed while the key was made; nothing was written")
    identity = age.X25519Identity.generate()
    known = {identity.recipient().to_string()}
    lines = [identity_file_text(identity)]
    for old in earlier:
        recipient = old.recipient().to_string()
        if recipient not in known:
            known.add(recipient)
            lines.append(f"# an earlier key of this hub\n# public key: {recipient}\n{old.to_string()}\n")
    text = "".join(lines).encode("utf-8")
    if passphrase:
        text = age.encrypt(text, [age.ScryptRecipient(passphrase, work_factor=work_factor)])
    write_atomic(identity_path, text)
    recipient = identity.recipient().to_string()
    write_atomic(recipient_path, (recipient + "\n").encode("ascii"), mode=0o644)
    return HubKeyFiles(recipient, recipient_path, identity_path, generation, len(known))


def paper_backup(identity_path: Path, old_passphrase: str | None, passphrase: str, *, work_factor: int = 18) -> bytes:
    """Every identity of ``identity_path`` as armored age text protected by ``passphrase``, to print.

    ``age -d FILE`` (asking for the passphrase) gives the identity file back.
    """
    identities = load_hub_identities(identity_path, old_passphrase)
    text = "".join(
        f"# public key: {identity.recipient().to_string()}\n{identity.to_string()}\n" for identity in identities
    ).encode("utf-8")
    return age.encrypt(text, [age.ScryptRecipient(passphrase, work_factor=work_factor)], armor=True)


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
