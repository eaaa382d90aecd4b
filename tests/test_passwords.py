"""The operator password hash shared by kit and hub: werkzeug's scrypt format, made with the standard library."""

from __future__ import annotations

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from fieldkit.core.crypto.passwords import check_hash, hash_password, hash_work_factor


def test_our_hash_is_read_by_werkzeug_and_werkzeugs_by_us() -> None:
    ours = hash_password("pässword one", work_factor=10)
    assert ours.startswith("scrypt:1024:8:1$")
    assert check_password_hash(ours, "pässword one")
    theirs = generate_password_hash("pässword one", method="scrypt:1024:8:1")
    assert check_hash(theirs, "pässword one") and not check_hash(theirs, "password one")
    assert hash_work_factor(theirs) == 10


def test_composed_and_decomposed_letters_are_the_same_password() -> None:
    stored = hash_password("caf\u00e9 au lait", work_factor=10)
    assert check_hash(stored, "cafe\u0301 au lait")


@pytest.mark.parametrize(
    "stored",
    ["", "pbkdf2:sha256:1000$salt$" + "0" * 64, "scrypt:1000:8:1$salt$" + "0" * 64,
     "scrypt:" + str(2**30) + ":8:1$salt$" + "0" * 64, "scrypt:1024:8:1$sa lt$" + "0" * 64],
)  # fmt: skip
def test_a_damaged_or_costly_hash_is_refused_before_any_scrypt(stored: str) -> None:
    with pytest.raises(ValueError):
        check_hash(stored, "anything")
