"""The age v1 file format (age-encryption.org/v1), built on the ``cryptography`` package.

The sections below follow the spec: conventions (base64), the header and its stanzas,
the X25519 recipient type, the scrypt recipient type, the header MAC, the payload key
and STREAM, and finally the public ``encrypt``/``decrypt`` functions. ASCII armor lives
in ``age_armor``.

Not implemented: plugins, the hybrid post-quantum and tagged recipient types, and SSH
keys. Their stanzas are skipped like any unknown stanza, so a file that also carries an
X25519 or scrypt stanza for us still decrypts.

Every failure to read a file surfaces as one ``DecryptionError`` whose message is
deliberately generic; ``.kind`` and ``.reason`` say precisely what went wrong for logs.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fieldkit.core.crypto import age_armor, bech32

__all__ = [
    "DecryptionError",
    "Identity",
    "KeyFormatError",
    "Recipient",
    "ScryptIdentity",
    "ScryptRecipient",
    "Stanza",
    "X25519Identity",
    "X25519Recipient",
    "decrypt",
    "encrypt",
    "parse_identities",
    "parse_recipient",
    "recipient_stanzas",
]

FILE_KEY_SIZE = 16
CHUNK_SIZE = 64 * 1024
_TAG_SIZE = 16
_PAYLOAD_NONCE_SIZE = 16
_ZERO_NONCE = bytes(12)
_WRAPPED_KEY_SIZE = FILE_KEY_SIZE + _TAG_SIZE


# --- Errors -----------------------------------------------------------------------------


class DecryptionError(Exception):
    """Any failure to read an age file. ``str()`` stays generic on purpose.

    ``kind`` is one of ``KINDS`` (the failure classes of the age test vectors) and
    ``reason`` the precise cause, for logs. Neither ever contains plaintext or key material.
    """

    KINDS: ClassVar[frozenset[str]] = frozenset({"header", "hmac", "payload", "armor", "no_match"})

    def __init__(self, kind: str, reason: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown DecryptionError kind {kind!r}")
        super().__init__("age: decryption failed")
        self.kind = kind
        self.reason = reason

    def __reduce__(self) -> tuple[type[DecryptionError], tuple[str, str]]:
        return (DecryptionError, (self.kind, self.reason))

    def __repr__(self) -> str:
        return f"DecryptionError(kind={self.kind!r}, reason={self.reason!r})"


class KeyFormatError(ValueError):
    """A recipient or identity string is malformed; the message says how to fix it.

    Messages never repeat secret key text, so they are safe to show and to log.
    """


def _header_error(reason: str) -> DecryptionError:
    return DecryptionError("header", reason)


# --- Conventions: canonical unpadded base64 ----------------------------------------------

_BASE64_CHARS = re.compile(rb"[A-Za-z0-9+/]*")


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes, what: str) -> bytes:
    # The stdlib decoder tolerates padding and non-zero trailing bits; age forbids both
    # because they would make one header encodable in several ways.
    if not _BASE64_CHARS.fullmatch(text) or len(text) % 4 == 1:
        raise _header_error(f"{what}: invalid base64")
    decoded = base64.b64decode(text + b"=" * (-len(text) % 4))
    if _b64encode(decoded) != text:
        raise _header_error(f"{what}: non-canonical base64")
    return decoded


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


# --- Header and recipient stanzas ---------------------------------------------------------

_VERSION_PREFIX = b"age-encryption.org/"
_V1_LINE = b"age-encryption.org/v1"
_ARGUMENT = re.compile(rb"[\x21-\x7e]+")
_STANZA_PREFIX = b"-> "
_MAC_PREFIX = b"---"
_COLUMNS = 64
_MAC_LINE_LENGTH = len(b"--- ") + 43


@dataclass(frozen=True, slots=True)
class Stanza:
    """One recipient stanza: its type (first argument), further arguments, decoded body."""

    type: str
    args: tuple[str, ...]
    body: bytes

    def encode(self) -> bytes:
        arg_line = b" ".join(arg.encode("ascii") for arg in (self.type, *self.args))
        if not all(_ARGUMENT.fullmatch(arg) for arg in arg_line.split(b" ")):
            raise ValueError("stanza arguments must be non-empty printable ASCII without spaces")
        body = _b64encode(self.body)
        lines = [body[i : i + _COLUMNS] for i in range(0, len(body), _COLUMNS)]
        if len(body) % _COLUMNS == 0:
            lines.append(b"")  # the body must end with a short line, possibly empty
        return b"".join([_STANZA_PREFIX, arg_line, b"\n", b"\n".join(lines), b"\n"])


@dataclass(frozen=True, slots=True)
class _Header:
    stanzas: list[Stanza]
    mac_input: bytes  # the header up to and including "---"
    mac: bytes
    payload_start: int


def _parse_header(data: bytes) -> _Header:
    def read_line(start: int) -> tuple[bytes, int]:
        end = data.find(b"\n", start)
        if end < 0:
            raise _header_error("header ends early (missing line feed)")
        return data[start:end], end + 1

    line, position = read_line(0)
    if line != _V1_LINE:
        if line.endswith(b"\r"):
            raise _header_error("header lines end with CRLF; age headers use LF only")
        if line.startswith(_VERSION_PREFIX):
            raise _header_error("unsupported age format version")
        raise _header_error("not an age file (bad version line)")

    stanzas: list[Stanza] = []
    while True:
        line_start = position
        line, position = read_line(position)
        if line.startswith(_MAC_PREFIX):
            if not stanzas:
                raise _header_error("header has no recipient stanzas")
            if len(line) != _MAC_LINE_LENGTH or line[3:4] != b" ":
                raise _header_error("malformed MAC line")
            mac = _b64decode(line[4:], "header MAC")
            return _Header(stanzas, data[: line_start + 3], mac, position)
        if not line.startswith(_STANZA_PREFIX):
            raise _header_error("expected a recipient stanza or the MAC line")
        args = line[len(_STANZA_PREFIX) :].split(b" ")
        if not all(_ARGUMENT.fullmatch(arg) for arg in args):
            raise _header_error("malformed stanza argument")
        body_lines = []
        while True:
            body_line, position = read_line(position)
            if body_line.startswith(b"-"):
                raise _header_error("stanza lacks its final short body line")
            if len(body_line) > _COLUMNS:
                raise _header_error("stanza body line longer than 64 columns")
            body_lines.append(body_line)
            if len(body_line) < _COLUMNS:
                break
        body = _b64decode(b"".join(body_lines), "stanza body")
        type_, *rest = (arg.decode("ascii") for arg in args)
        stanzas.append(Stanza(type_, tuple(rest), body))


def recipient_stanzas(data: bytes) -> list[Stanza]:
    """The recipient stanzas of an age file's header, read without any key (spec: "Header").

    Someone who cannot open the file can still see how many recipients, and of which
    types, it was encrypted to; X25519 stanzas do not say which key. Raises
    :class:`DecryptionError` for a header that is not valid age v1.
    """
    return _parse_header(data).stanzas


class Recipient(Protocol):
    """Something that wraps a file key into stanzas (an X25519 key, a passphrase...)."""

    def wrap(self, file_key: bytes) -> list[Stanza]: ...


class Identity(Protocol):
    """Something that may unwrap the file key from a header's stanzas.

    ``unwrap`` returns None when no stanza is addressed to it, and raises
    DecryptionError(kind="header") for a malformed stanza of its own type.
    """

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...


def _unwrap_body(wrap_key: bytes, body: bytes) -> bytes | None:
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


# --- The X25519 recipient type -------------------------------------------------------------

_X25519_INFO = b"age-encryption.org/v1/X25519"
_X25519_KEY_SIZE = 32
_RECIPIENT_HRP = "age"
_IDENTITY_HRP = "AGE-SECRET-KEY-"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 24 else text[:20] + "...")


class X25519Recipient:
    """A public key, written ``age1...``."""

    __slots__ = ("_public_bytes", "_public_key")

    def __init__(self, public_key: X25519PublicKey) -> None:
        self._public_key = public_key
        self._public_bytes = public_key.public_bytes_raw()

    @classmethod
    def from_string(cls, text: str) -> X25519Recipient:
        """Parse ``age1...``; raise KeyFormatError saying what is wrong."""
        if not text:
            raise KeyFormatError("recipient is empty; expected a public key starting 'age1'")
        if text.upper().startswith("AGE-SECRET-KEY-"):
            raise KeyFormatError(
                "this is a secret key, not a recipient; use the public 'age1...' key (age-keygen -y prints it)"
            )
        if text.startswith(("ssh-", "ecdsa-")):
            raise KeyFormatError("SSH public keys are not supported as recipients")
        if text.startswith("age1pq1"):
            raise KeyFormatError("post-quantum (age1pq1...) recipients are not supported")
        if text.startswith(("age1tag1", "age1tagpq1")):
            raise KeyFormatError("hardware-key (age1tag...) recipients are not supported")
        try:
            hrp, data = bech32.decode(text)
        except bech32.Bech32Error as error:
            raise KeyFormatError(
                f"not a valid age recipient {_shown(text)}: {error} (check for a typo or a truncated copy)"
            ) from None
        if hrp.startswith("age1"):
            raise KeyFormatError(f"plugin recipients ({hrp}1...) are not supported")
        if hrp == _RECIPIENT_HRP.upper():
            raise KeyFormatError("age recipients are written in lower case ('age1...')")
        if hrp != _RECIPIENT_HRP:
            raise KeyFormatError(f"not an age recipient {_shown(text)}: must start with 'age1'")
        if len(data) != _X25519_KEY_SIZE:
            raise KeyFormatError(f"age recipient {_shown(text)} has the wrong key length")
        return cls(X25519PublicKey.from_public_bytes(data))

    def to_string(self) -> str:
        return bech32.encode(_RECIPIENT_HRP, self._public_bytes)

    def wrap(self, file_key: bytes) -> list[Stanza]:
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        # A low-order recipient key makes exchange() raise ValueError, which refuses to
        # seal to a key anyone could compute the shared secret for.
        shared_secret = ephemeral.exchange(self._public_key)
        wrap_key = _hkdf(shared_secret, share + self._public_bytes, _X25519_INFO)
        body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza("X25519", (_b64encode(share).decode("ascii"),), body)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, X25519Recipient):
            return NotImplemented
        return self._public_bytes == other._public_bytes

    def __hash__(self) -> int:
        return hash(self._public_bytes)

    def __repr__(self) -> str:
        return f"X25519Recipient({self.to_string()!r})"


class X25519Identity:
    """A secret key, written ``AGE-SECRET-KEY-1...``. Its repr shows only the public side."""

    __slots__ = ("_private_key", "_public_bytes")

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private_key = private_key
        self._public_bytes = private_key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_string(cls, text: str) -> X25519Identity:
        """Parse ``AGE-SECRET-KEY-1...``; errors never repeat the key text."""
        if text.startswith("AGE-PLUGIN-"):
            raise KeyFormatError("plugin identities (AGE-PLUGIN-...) are not supported")
        if text.startswith("AGE-SECRET-KEY-PQ-"):
            raise KeyFormatError("post-quantum identities are not supported")
        if text.startswith("age1"):
            raise KeyFormatError("this is a public recipient, not a secret key (identity)")
        try:
            hrp, data = bech32.decode(text)
        except bech32.Bech32Error as error:
            raise KeyFormatError(f"not a valid age secret key: {error}") from None
        if hrp != _IDENTITY_HRP:
            raise KeyFormatError("not an age secret key: must start with 'AGE-SECRET-KEY-1'")
        if len(data) != _X25519_KEY_SIZE:
            raise KeyFormatError("age secret key has the wrong length")
        return cls(X25519PrivateKey.from_private_bytes(data))

    def to_string(self) -> str:
        return bech32.encode(_IDENTITY_HRP, self._private_key.private_bytes_raw())

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self._private_key.public_key())

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "X25519":
                continue
            if len(stanza.args) != 1:
                raise _header_error("X25519 stanza must have exactly one argument")
            share = _b64decode(stanza.args[0].encode("ascii"), "X25519 share")
            if len(share) != _X25519_KEY_SIZE:
                raise _header_error("X25519 share is not 32 bytes")
            if len(stanza.body) != _WRAPPED_KEY_SIZE:
                raise _header_error("X25519 stanza body is not a wrapped 16-byte file key")
            try:
                shared_secret = self._private_key.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:
                # cryptography refuses an all-zero shared secret, as the spec requires.
                raise _header_error("X25519 share is a low-order point") from None
            wrap_key = _hkdf(shared_secret, share + self._public_bytes, _X25519_INFO)
            file_key = _unwrap_body(wrap_key, stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={self.recipient().to_string()!r})"


# --- The scrypt recipient type --------------------------------------------------------------

_SCRYPT_SALT_LABEL = b"age-encryption.org/v1/scrypt"
_SCRYPT_SALT_SIZE = 16
_WORK_FACTOR = re.compile(r"[1-9][0-9]*", re.ASCII)
_MAX_ENCRYPT_WORK_FACTOR = 30


def _scrypt_wrap_key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=_SCRYPT_SALT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase)


def _check_passphrase(passphrase: str) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("passphrase must be a non-empty string")
    return passphrase.encode("utf-8")


class ScryptRecipient:
    """A passphrase to encrypt to. Must be the file's only recipient (spec rule)."""

    __slots__ = ("_passphrase", "work_factor")

    def __init__(self, passphrase: str, work_factor: int = 18) -> None:
        if not 1 <= work_factor <= _MAX_ENCRYPT_WORK_FACTOR:
            raise ValueError(f"work_factor must be 1..{_MAX_ENCRYPT_WORK_FACTOR} (log2 of N)")
        self._passphrase = _check_passphrase(passphrase)
        self.work_factor = work_factor

    def wrap(self, file_key: bytes) -> list[Stanza]:
        salt = os.urandom(_SCRYPT_SALT_SIZE)
        wrap_key = _scrypt_wrap_key(self._passphrase, salt, self.work_factor)
        body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
        args = (_b64encode(salt).decode("ascii"), str(self.work_factor))
        return [Stanza("scrypt", args, body)]

    def __repr__(self) -> str:
        return f"ScryptRecipient(work_factor={self.work_factor})"


class ScryptIdentity:
    """A passphrase to decrypt with; refuses work factors above ``max_work_factor``.

    The limit stops a crafted file from making us spend minutes and gigabytes of memory.
    """

    __slots__ = ("_passphrase", "max_work_factor")

    def __init__(self, passphrase: str, max_work_factor: int = 22) -> None:
        self._passphrase = _check_passphrase(passphrase)
        self.max_work_factor = max_work_factor

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "scrypt":
                continue
            if len(stanza.args) != 2:
                raise _header_error("scrypt stanza must have exactly two arguments")
            salt = _b64decode(stanza.args[0].encode("ascii"), "scrypt salt")
            if len(salt) != _SCRYPT_SALT_SIZE:
                raise _header_error("scrypt salt is not 16 bytes")
            if not _WORK_FACTOR.fullmatch(stanza.args[1]):
                raise _header_error("scrypt work factor is not a plain decimal number")
            # Compare digit counts first so an absurdly long number is never converted.
            if len(stanza.args[1]) > 3 or int(stanza.args[1]) > self.max_work_factor:
                raise _header_error(f"scrypt work factor above the limit {self.max_work_factor}")
            if len(stanza.body) != _WRAPPED_KEY_SIZE:
                raise _header_error("scrypt stanza body is not a wrapped 16-byte file key")
            wrap_key = _scrypt_wrap_key(self._passphrase, salt, int(stanza.args[1]))
            file_key = _unwrap_body(wrap_key, stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __repr__(self) -> str:
        return f"ScryptIdentity(max_work_factor={self.max_work_factor})"


def _check_scrypt_alone(stanzas: Sequence[Stanza]) -> bool:
    # A passphrase file promises that whoever knew the passphrase wrote it; another stanza
    # would let a different key holder rewrite the file, so the spec forbids mixing.
    return len(stanzas) == 1 or all(stanza.type != "scrypt" for stanza in stanzas)


# --- Header MAC ---------------------------------------------------------------------------


def _header_mac(file_key: bytes, mac_input: bytes) -> crypto_hmac.HMAC:
    mac = crypto_hmac.HMAC(_hkdf(file_key, b"", b"header"), hashes.SHA256())
    mac.update(mac_input)
    return mac


# --- Payload key and STREAM ------------------------------------------------------------------

_ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + _TAG_SIZE


def _chunk_nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _payload_aead(file_key: bytes, nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))


def _encrypt_payload(file_key: bytes, plaintext: memoryview) -> list[bytes]:
    nonce = os.urandom(_PAYLOAD_NONCE_SIZE)
    aead = _payload_aead(file_key, nonce)
    chunk_count = max(1, -(-len(plaintext) // CHUNK_SIZE))
    parts = [nonce]
    for index in range(chunk_count):
        chunk = plaintext[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE]
        parts.append(aead.encrypt(_chunk_nonce(index, index == chunk_count - 1), chunk, None))
    return parts


def _decrypt_payload(file_key: bytes, payload: memoryview) -> bytes:
    if len(payload) < _PAYLOAD_NONCE_SIZE:
        raise _header_error("file ends before the payload nonce")
    aead = _payload_aead(file_key, bytes(payload[:_PAYLOAD_NONCE_SIZE]))
    body = payload[_PAYLOAD_NONCE_SIZE:]
    if not body:
        raise DecryptionError("payload", "payload has no chunks")
    chunk_count = -(-len(body) // _ENCRYPTED_CHUNK_SIZE)
    plaintext = []
    for index in range(chunk_count):
        chunk = body[index * _ENCRYPTED_CHUNK_SIZE : (index + 1) * _ENCRYPTED_CHUNK_SIZE]
        final = index == chunk_count - 1
        try:
            plain = aead.decrypt(_chunk_nonce(index, final), chunk, None)
        except InvalidTag:
            reason = f"chunk {index} failed authentication"
            if final:
                reason += " (damaged, truncated, not marked final, or followed by data)"
            raise DecryptionError("payload", reason) from None
        if final and not plain and chunk_count > 1:
            raise DecryptionError("payload", "final chunk is empty but is not the only chunk")
        plaintext.append(plain)
    return b"".join(plaintext)


# --- Encrypting and decrypting files ---------------------------------------------------------


def encrypt(
    plaintext: bytes | bytearray | memoryview,
    recipients: Sequence[Recipient],
    *,
    armor: bool = False,
) -> bytes:
    """Encrypt ``plaintext`` to every recipient; return an age file (armored if asked)."""
    if not recipients:
        raise ValueError("encrypt needs at least one recipient")
    file_key = os.urandom(FILE_KEY_SIZE)
    stanzas = [stanza for recipient in recipients for stanza in recipient.wrap(file_key)]
    if not _check_scrypt_alone(stanzas):
        raise ValueError("a passphrase (scrypt) recipient must be the only recipient")
    mac_input = b"".join([_V1_LINE, b"\n", *(stanza.encode() for stanza in stanzas), b"---"])
    mac = _header_mac(file_key, mac_input).finalize()
    parts = [mac_input, b" ", _b64encode(mac), b"\n"]
    parts += _encrypt_payload(file_key, memoryview(plaintext))
    binary = b"".join(parts)
    return age_armor.armor(binary) if armor else binary


def decrypt(
    ciphertext: bytes | bytearray | memoryview,
    identities: Sequence[Identity],
    *,
    armored: bool | None = None,
) -> bytes:
    """Decrypt an age file with the first identity that matches; raise DecryptionError.

    Armor is detected automatically unless ``armored`` says which form to expect.
    """
    if not identities:
        raise ValueError("decrypt needs at least one identity")
    data = ciphertext if isinstance(ciphertext, bytes) else bytes(ciphertext)
    if armored is None:
        armored = age_armor.looks_armored(data)
    if armored:
        try:
            data = age_armor.dearmor(data)
        except age_armor.ArmorError as error:
            raise DecryptionError("armor", str(error)) from None

    header = _parse_header(data)
    if not _check_scrypt_alone(header.stanzas):
        raise _header_error("an scrypt stanza must be the only stanza in the header")
    for identity in identities:
        file_key = identity.unwrap(header.stanzas)
        if file_key is not None:
            break
    else:
        raise DecryptionError("no_match", f"none of {len(identities)} identities matched the recipient stanzas")
    if len(file_key) != FILE_KEY_SIZE:
        raise _header_error("unwrapped file key is not 16 bytes")
    try:
        _header_mac(file_key, header.mac_input).verify(header.mac)
    except InvalidSignature:
        raise DecryptionError("hmac", "header MAC does not match") from None
    return _decrypt_payload(file_key, memoryview(data)[header.payload_start :])


# --- Key text ---------------------------------------------------------------------------------


def parse_recipient(text: str) -> X25519Recipient:
    """Parse one ``age1...`` recipient, ignoring surrounding whitespace."""
    return X25519Recipient.from_string(text.strip())


def parse_identities(text: str) -> list[X25519Identity]:
    """Parse an identity file: one key per line, ``#`` comments and blank lines allowed."""
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(X25519Identity.from_string(line))
        except KeyFormatError as error:
            raise KeyFormatError(f"identity file line {number}: {error}") from None
    if not identities:
        raise KeyFormatError("identity file contains no AGE-SECRET-KEY-1... lines")
    return identities
