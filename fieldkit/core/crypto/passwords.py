"""Hashing and checking an operator password: scrypt, in werkzeug's ``scrypt:N:r:p$salt$hex`` format.

The kit and the hub both keep an operator password. The hash is the one
``werkzeug.security.generate_password_hash(password, method="scrypt:N:8:1")`` writes, made
here with the standard library's ``hashlib.scrypt`` (the same call werkzeug makes), so a
hub's stored hashes stay readable and the core needs no web library. The password is
NFC-normalised first: the same password typed on two keyboards may arrive composed or
decomposed. Checking compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import unicodedata

__all__ = ["DEFAULT_WORK_FACTOR", "WORK_FACTORS", "check_hash", "hash_password", "hash_work_factor"]

DEFAULT_WORK_FACTOR = 15  # scrypt N = 2**15, r = 8: about 32 MiB and a tenth of a second
# A damaged or hostile hash must not make a check take minutes or gigabytes.
WORK_FACTORS = range(10, 23)
_SALT_CHARS = string.ascii_letters + string.digits
_SALT_LENGTH = 16
_HASH = re.compile(r"scrypt:(?P<n>[0-9]{1,8}):8:1\$(?P<salt>[A-Za-z0-9]{1,64})\$(?P<hex>[0-9a-f]{64,256})")


def _normalise(password: str) -> bytes:
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _scrypt(password: str, salt: str, n: int) -> str:
    return hashlib.scrypt(_normalise(password), salt=salt.encode("ascii"), n=n, r=8, p=1, maxmem=132 * n * 8).hex()


def hash_password(password: str, *, work_factor: int = DEFAULT_WORK_FACTOR) -> str:
    """A new hash of ``password`` with a fresh salt (scrypt N = 2**work_factor, r = 8, p = 1)."""
    if work_factor not in WORK_FACTORS:
        raise ValueError(f"scrypt work factor {work_factor} is outside {WORK_FACTORS.start}-{WORK_FACTORS.stop - 1}")
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(_SALT_LENGTH))
    n = 2**work_factor
    return f"scrypt:{n}:8:1${salt}${_scrypt(password, salt, n)}"


def hash_work_factor(stored: str) -> int:
    """The work factor of a stored hash; ValueError when it is not one this module accepts."""
    found = _HASH.fullmatch(stored)
    if found is None:
        raise ValueError("not an scrypt:N:8:1 password hash")
    n = int(found["n"])
    work_factor = n.bit_length() - 1
    if n != 2**work_factor or work_factor not in WORK_FACTORS:
        raise ValueError("scrypt N is not a power of two in the accepted range")
    return work_factor


def check_hash(stored: str, password: str) -> bool:
    """True when ``password`` matches ``stored``; ValueError when ``stored`` is not a hash we accept."""
    hash_work_factor(stored)
    found = _HASH.fullmatch(stored)
    assert found is not None  # checked just above
    made = _scrypt(password, found["salt"], int(found["n"]))
    return hmac.compare_digest(made, found["hex"])
