"""The public age API: errors callers see, key parsing, and round-trip properties."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.core.crypto import bech32
from fieldkit.core.crypto.age import (
    CHUNK_SIZE,
    DecryptionError,
    KeyFormatError,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    decrypt,
    encrypt,
    parse_identities,
    parse_recipient,
)
from tests.hypothesis_profiles import examples

LOW_WORK_FACTOR = 4  # fast; the format allows any work factor from 1

# The example key pair printed in the age v1 specification.
SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


@pytest.fixture(scope="module")
def identity() -> X25519Identity:
    return X25519Identity.generate()


@pytest.fixture(scope="module")
def small_file(identity: X25519Identity) -> bytes:
    return encrypt(b"answer: yes", [identity.recipient()])


# --- keys --------------------------------------------------------------------------------


def test_spec_example_key_pair() -> None:
    identity = X25519Identity.from_string(SPEC_IDENTITY)
    assert identity.recipient().to_string() == SPEC_RECIPIENT
    assert identity.to_string() == SPEC_IDENTITY
    assert parse_recipient(f"  {SPEC_RECIPIENT}\n") == identity.recipient()


def test_generated_keys_round_trip_through_text() -> None:
    identity = X25519Identity.generate()
    again = X25519Identity.from_string(identity.to_string())
    assert again.recipient() == identity.recipient()
    assert X25519Recipient.from_string(identity.recipient().to_string()) == identity.recipient()
    assert identity.to_string().startswith("AGE-SECRET-KEY-1")


def test_identity_repr_hides_the_secret() -> None:
    identity = X25519Identity.generate()
    assert identity.to_string() not in repr(identity)
    assert identity.recipient().to_string() in repr(identity)
    assert "horse" not in repr(ScryptRecipient("horse", work_factor=LOW_WORK_FACTOR))
    assert "horse" not in repr(ScryptIdentity("horse"))


def _flip_last_char(text: str) -> str:
    """Change the checksum's last character, keeping the string's case."""
    replacement = "q" if text[-1].lower() != "q" else "p"
    return text[:-1] + (replacement.upper() if text.isupper() else replacement)


BAD_RECIPIENTS = [
    ("", r"empty"),
    ("   ", r"empty"),
    ("age1", r"not a valid age recipient"),
    (_flip_last_char(SPEC_RECIPIENT), r"checksum"),
    (SPEC_RECIPIENT[:-5], r"not a valid age recipient"),
    (SPEC_RECIPIENT[:10] + SPEC_RECIPIENT[10:].upper(), r"mixed"),
    (SPEC_RECIPIENT.replace("z", "b", 1), r"not a valid age recipient"),
    (SPEC_IDENTITY, r"secret key, not a recipient"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample", r"SSH"),
    ("age1pq1" + "q" * 60, r"post-quantum"),
    (bech32.encode("age1tag", bytes(33)), r"hardware-key"),
    (bech32.encode("age1yubikey", bytes(33)), r"plugin"),
    (bech32.encode("bc", bytes(32)), r"must start with 'age1'"),
    (SPEC_RECIPIENT.upper(), r"lower case"),
    (bech32.encode("age", bytes(31)), r"wrong key length"),
]


@pytest.mark.parametrize(("text", "message"), BAD_RECIPIENTS)
def test_bad_recipient_strings_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message) as caught:
        parse_recipient(text)
    assert isinstance(caught.value, ValueError)


def test_age1pq_recipient_is_reported_as_post_quantum() -> None:
    fake = bech32.encode("age1pq", bytes(1216))
    with pytest.raises(KeyFormatError, match="post-quantum"):
        parse_recipient(fake)


BAD_IDENTITIES = [
    _flip_last_char(SPEC_IDENTITY),
    SPEC_IDENTITY[:-3],
    SPEC_IDENTITY.lower(),  # age secret keys are written in upper case
    bech32.encode("AGE-SECRET-KEY-", bytes(31)),
    "AGE-SECRET-KEY-PQ-1" + "Q" * 60,
    "AGE-PLUGIN-YUBIKEY-1" + "Q" * 60,
    SPEC_RECIPIENT,
]


@pytest.mark.parametrize("text", BAD_IDENTITIES)
def test_bad_identity_errors_never_repeat_the_key(text: str) -> None:
    with pytest.raises(KeyFormatError) as caught:
        X25519Identity.from_string(text)
    assert text not in str(caught.value)
    assert text[15:40] not in str(caught.value)


def test_identity_file_with_comments_blank_lines_and_crlf() -> None:
    first, second = X25519Identity.generate(), X25519Identity.generate()
    text = (
        f"# created: today\r\n# public key: {first.recipient().to_string()}\r\n"
        f"{first.to_string()}\r\n\r\n   \n# another\n{second.to_string()}\n"
    )
    parsed = parse_identities(text)
    assert [i.recipient() for i in parsed] == [first.recipient(), second.recipient()]


def test_identity_file_errors_name_the_line_but_not_the_key() -> None:
    good = X25519Identity.generate().to_string()
    broken = _flip_last_char(good)
    with pytest.raises(KeyFormatError, match=r"line 3: .*checksum") as caught:
        parse_identities(f"# comment\n{good}\n{broken}\n")
    assert broken not in str(caught.value)
    with pytest.raises(KeyFormatError, match="no AGE-SECRET-KEY"):
        parse_identities("# only a comment\n\n")


# --- failures callers see ----------------------------------------------------------------


def test_decryption_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(DecryptionError("hmac", "header MAC does not match")))
    assert (error.kind, error.reason, str(error)) == (
        "hmac",
        "header MAC does not match",
        "age: decryption failed",
    )


def test_wrong_identity_is_no_match(small_file: bytes) -> None:
    with pytest.raises(DecryptionError) as caught:
        decrypt(small_file, [X25519Identity.generate()])
    assert caught.value.kind == "no_match"
    assert str(caught.value) == "age: decryption failed"
    assert caught.value.reason


def test_error_text_is_generic_and_reason_has_no_plaintext(identity: X25519Identity) -> None:
    sealed = bytearray(encrypt(b"secret-answer", [identity.recipient()]))
    sealed[-1] ^= 1
    with pytest.raises(DecryptionError) as caught:
        decrypt(bytes(sealed), [identity])
    assert caught.value.kind == "payload"
    assert str(caught.value) == "age: decryption failed"
    assert "secret" not in caught.value.reason + repr(caught.value)


def test_every_single_byte_change_is_rejected(identity: X25519Identity, small_file: bytes) -> None:
    for position in range(len(small_file)):
        tampered = bytearray(small_file)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            decrypt(bytes(tampered), [identity])


def test_tampering_in_each_part_is_reported_by_kind(
    identity: X25519Identity, small_file: bytes
) -> None:
    header_end = small_file.index(b"\n---") + 1
    mac_start = header_end + len(b"--- ")
    body_start = small_file.index(b"\n", mac_start) + 1

    def kind_after_flipping(position: int) -> str:
        # Swap in another valid base64 letter: a flipped bit could make an invalid
        # character, which is a header error whatever part it is in.
        tampered = bytearray(small_file)
        tampered[position] = ord("B") if tampered[position] == ord("A") else ord("A")
        with pytest.raises(DecryptionError) as caught:
            decrypt(bytes(tampered), [identity])
        return caught.value.kind

    assert kind_after_flipping(0) == "header"  # version line
    # An argument of the X25519 stanza: a different share no longer unwraps the key.
    assert kind_after_flipping(small_file.index(b"X25519 ") + 10) == "no_match"
    assert kind_after_flipping(mac_start + 5) == "hmac"
    assert kind_after_flipping(body_start + 20) == "payload"


def test_every_truncation_is_rejected(identity: X25519Identity, small_file: bytes) -> None:
    for length in range(len(small_file)):
        with pytest.raises(DecryptionError):
            decrypt(small_file[:length], [identity])


def test_dropping_whole_chunks_is_detected(identity: X25519Identity) -> None:
    plaintext = bytes(3 * CHUNK_SIZE + 5)
    sealed = encrypt(plaintext, [identity.recipient()])
    end_of_header = len(sealed) - (16 + 3 * (CHUNK_SIZE + 16) + 5 + 16)
    first_chunk = end_of_header + 16
    for kept_chunks in (1, 2, 3):
        cut = first_chunk + kept_chunks * (CHUNK_SIZE + 16)
        with pytest.raises(DecryptionError) as caught:
            decrypt(sealed[:cut], [identity])
        assert caught.value.kind == "payload"
    with pytest.raises(DecryptionError) as caught:
        decrypt(sealed + b"\x00", [identity])
    assert caught.value.kind == "payload"


def test_armored_file_with_garbage_is_an_armor_error(identity: X25519Identity) -> None:
    armored = encrypt(b"x", [identity.recipient()], armor=True)
    assert decrypt(b"\n  " + armored + b"\r\n", [identity]) == b"x"
    with pytest.raises(DecryptionError) as caught:
        decrypt(armored + b"trailing", [identity])
    assert caught.value.kind == "armor"
    with pytest.raises(DecryptionError) as caught:
        decrypt(armored.replace(b"\n", b"\n ", 2), [identity])
    assert caught.value.kind == "armor"


def test_not_an_age_file_is_a_header_error(identity: X25519Identity) -> None:
    for junk in (b"", b"hello\n", b"PK\x03\x04zip", b"age-encryption.org/v2\n"):
        with pytest.raises(DecryptionError) as caught:
            decrypt(junk, [identity])
        assert caught.value.kind == "header"


# --- passphrases -------------------------------------------------------------------------


def test_passphrase_round_trip_and_wrong_passphrase() -> None:
    sealed = encrypt(b"draft", [ScryptRecipient("open sesame", work_factor=LOW_WORK_FACTOR)])
    assert decrypt(sealed, [ScryptIdentity("open sesame")]) == b"draft"
    with pytest.raises(DecryptionError) as caught:
        decrypt(sealed, [ScryptIdentity("open sesam")])
    assert caught.value.kind == "no_match"


def test_work_factor_above_the_identity_limit_is_refused() -> None:
    sealed = encrypt(b"draft", [ScryptRecipient("pw", work_factor=LOW_WORK_FACTOR + 1)])
    with pytest.raises(DecryptionError) as caught:
        decrypt(sealed, [ScryptIdentity("pw", max_work_factor=LOW_WORK_FACTOR)])
    assert caught.value.kind == "header"
    assert re.search(r"work factor", caught.value.reason)


def test_passphrase_cannot_be_mixed_with_other_recipients() -> None:
    with pytest.raises(ValueError, match="only recipient"):
        encrypt(
            b"x",
            [
                ScryptRecipient("pw", work_factor=LOW_WORK_FACTOR),
                X25519Identity.generate().recipient(),
            ],
        )


def test_bad_arguments_are_value_errors(identity: X25519Identity, small_file: bytes) -> None:
    with pytest.raises(ValueError):
        encrypt(b"x", [])
    with pytest.raises(ValueError):
        decrypt(small_file, [])
    with pytest.raises(ValueError):
        ScryptRecipient("")
    with pytest.raises(ValueError):
        ScryptRecipient("pw", work_factor=0)


# --- round trips -------------------------------------------------------------------------


@settings(max_examples=examples(60), deadline=None)
@given(plaintext=st.binary(max_size=3000), armor=st.booleans(), two_recipients=st.booleans())
def test_decrypt_inverts_encrypt(plaintext: bytes, armor: bool, two_recipients: bool) -> None:
    identities = [X25519Identity.generate() for _ in range(2 if two_recipients else 1)]
    sealed = encrypt(plaintext, [i.recipient() for i in identities], armor=armor)
    for identity in identities:
        assert decrypt(sealed, [identity]) == plaintext


@settings(max_examples=examples(10), deadline=None)
@given(plaintext=st.binary(max_size=200))
def test_passphrase_decrypt_inverts_encrypt(plaintext: bytes) -> None:
    sealed = encrypt(plaintext, [ScryptRecipient("pw", work_factor=LOW_WORK_FACTOR)])
    assert decrypt(sealed, [ScryptIdentity("pw")]) == plaintext


@pytest.mark.parametrize(
    "size", [CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 1]
)
def test_round_trip_at_chunk_boundaries(identity: X25519Identity, size: int) -> None:
    plaintext = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sealed = encrypt(plaintext, [identity.recipient()])
    chunks = max(1, -(-size // CHUNK_SIZE))
    header_length = sealed.index(b"\n---") + 1 + len(b"--- ") + 43 + 1
    assert len(sealed) == header_length + 16 + size + 16 * chunks
    assert decrypt(sealed, [identity]) == plaintext
    assert decrypt(memoryview(bytearray(sealed)), [identity]) == plaintext


def test_each_file_uses_fresh_keys(identity: X25519Identity) -> None:
    first = encrypt(b"same", [identity.recipient()])
    second = encrypt(b"same", [identity.recipient()])
    assert first != second
    assert first.split(b"\n")[1] != second.split(b"\n")[1]  # a fresh ephemeral share
