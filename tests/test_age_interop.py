"""Round trips between fieldkit's age code and two independent implementations.

The real ``age`` command (Go reference implementation) and ``pyrage`` (Rust ``rage``)
must read what we write and we must read what they write: binary and armored, one and
two recipients, empty, one-byte, chunk-boundary and multi-chunk payloads, passphrases,
and key files. Missing tools skip locally but fail in CI, where they are required.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fieldkit.core.crypto.age import (
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt,
    encrypt,
    parse_identities,
    parse_recipient,
)

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
IN_CI = os.environ.get("CI") == "true"

PAYLOAD_SIZES = [0, 1, 65536, 65537, 3 * 65536 + 17]
# Low enough to keep the suite fast; age and rage accept any work factor up to their limit.
TEST_WORK_FACTOR = 10


def _missing(what: str) -> None:
    message = f"{what} is not installed; install it to run the age interoperability tests"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _pyrage():
    try:
        import pyrage
    except ImportError:
        _missing("pyrage (pip install pyrage)")
    return pyrage


@pytest.fixture(scope="module")
def pyrage():
    return _pyrage()


@pytest.fixture(scope="module")
def age_cli() -> str:
    if not (AGE and AGE_KEYGEN):
        _missing("the age command line tool (age, age-keygen; Debian package 'age')")
    return AGE


def payload(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def run_age(args: list[str], stdin: bytes = b"") -> bytes:
    result = subprocess.run([AGE, *args], input=stdin, capture_output=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def keygen(directory: Path, name: str) -> tuple[Path, str]:
    """Make a key file with age-keygen; return its path and its public key."""
    path = directory / name
    subprocess.run([AGE_KEYGEN, "-o", str(path)], capture_output=True, check=True, timeout=30)
    for line in path.read_text().splitlines():
        if line.startswith("# public key: "):
            return path, line.removeprefix("# public key: ")
    raise AssertionError("age-keygen wrote no public key comment")


@pytest.fixture(scope="module")
def cli_keys(age_cli: str, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    directory = tmp_path_factory.mktemp("age-keys")
    return [keygen(directory, "first.txt"), keygen(directory, "second.txt")]


matrix = pytest.mark.parametrize(
    ("size", "recipient_count", "armor"),
    [(size, count, armor) for size in PAYLOAD_SIZES for count in (1, 2) for armor in (False, True)],
)


# --- the age command line tool -----------------------------------------------------------


@matrix
def test_we_encrypt_age_cli_decrypts(
    cli_keys: list[tuple[Path, str]], size: int, recipient_count: int, armor: bool
) -> None:
    keys = cli_keys[:recipient_count]
    plaintext = payload(size)
    ciphertext = encrypt(plaintext, [parse_recipient(public) for _, public in keys], armor=armor)
    assert ciphertext.startswith(b"-----BEGIN AGE") == armor
    for key_file, _ in keys:
        assert run_age(["-d", "-i", str(key_file)], ciphertext) == plaintext


@matrix
def test_age_cli_encrypts_we_decrypt(
    cli_keys: list[tuple[Path, str]], size: int, recipient_count: int, armor: bool
) -> None:
    keys = cli_keys[:recipient_count]
    plaintext = payload(size)
    args = [arg for _, public in keys for arg in ("-r", public)] + (["-a"] if armor else [])
    ciphertext = run_age(args, plaintext)
    for key_file, _ in keys:
        identities = parse_identities(key_file.read_text())
        assert decrypt(ciphertext, identities) == plaintext


def test_age_keygen_key_parses_in_ours(cli_keys: list[tuple[Path, str]]) -> None:
    key_file, public = cli_keys[0]
    (identity,) = parse_identities(key_file.read_text())
    assert identity.recipient().to_string() == public
    assert identity.to_string() in key_file.read_text()


def test_our_key_file_works_with_age_cli(age_cli: str, tmp_path: Path) -> None:
    identity = X25519Identity.generate()
    key_file = tmp_path / "ours.txt"
    public = identity.recipient().to_string()
    key_file.write_text(f"# created by fieldkit\n# public key: {public}\n{identity.to_string()}\n")
    derived = subprocess.run(
        [AGE_KEYGEN, "-y", str(key_file)], capture_output=True, check=True, timeout=30
    )
    assert derived.stdout.decode().strip() == public

    plaintext = payload(70_000)
    assert run_age(["-d", "-i", str(key_file)], encrypt(plaintext, [identity.recipient()])) == (
        plaintext
    )
    assert decrypt(run_age(["-r", public], plaintext), [identity]) == plaintext


def run_age_with_passphrase(args: list[str], passphrase: str) -> None:
    """Run age where it asks for a passphrase, answering every prompt.

    age reads passphrases only from a terminal, never from a pipe or a variable. In a new
    session it has no /dev/tty, so it falls back to stdin when stdin is a terminal: we give
    it a pseudo-terminal as stdin and type the passphrase into it.
    """
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [AGE, *args],
        stdin=terminal,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(terminal)
    seen = b""
    answered = 0
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(controller, 4096)
                except OSError:  # the terminal closes when age exits
                    break
            while answered < seen.count(b" passphrase"):
                os.write(controller, passphrase.encode() + b"\n")
                answered += 1
        process.wait(timeout=60)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    assert process.returncode == 0, stderr
    assert answered >= 1, "age never asked for a passphrase"


@pytest.mark.skipif(os.name != "posix", reason="driving age's passphrase prompt needs a pty")
def test_passphrase_age_cli_encrypts_we_decrypt(age_cli: str, tmp_path: Path) -> None:
    plaintext = payload(65537)
    (tmp_path / "plain").write_bytes(plaintext)
    out = tmp_path / "plain.age"
    run_age_with_passphrase(["-p", "-o", str(out), str(tmp_path / "plain")], "correct horse")
    assert decrypt(out.read_bytes(), [ScryptIdentity("correct horse")]) == plaintext


@pytest.mark.skipif(os.name != "posix", reason="driving age's passphrase prompt needs a pty")
def test_passphrase_we_encrypt_age_cli_decrypts(age_cli: str, tmp_path: Path) -> None:
    plaintext = payload(65537)
    sealed = tmp_path / "sealed.age"
    sealed.write_bytes(
        encrypt(plaintext, [ScryptRecipient("battery staple", work_factor=TEST_WORK_FACTOR)])
    )
    out = tmp_path / "opened"
    run_age_with_passphrase(["-d", "-o", str(out), str(sealed)], "battery staple")
    assert out.read_bytes() == plaintext


# --- pyrage (rage) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pyrage_identities(pyrage):
    return [pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()]


@matrix
def test_we_encrypt_pyrage_decrypts(
    pyrage, pyrage_identities, size: int, recipient_count: int, armor: bool
) -> None:
    theirs = pyrage_identities[:recipient_count]
    recipients = [parse_recipient(str(identity.to_public())) for identity in theirs]
    plaintext = payload(size)
    ciphertext = encrypt(plaintext, recipients, armor=armor)
    for identity in theirs:
        assert pyrage.decrypt(ciphertext, [identity]) == plaintext


@matrix
def test_pyrage_encrypts_we_decrypt(
    pyrage, pyrage_identities, size: int, recipient_count: int, armor: bool
) -> None:
    theirs = pyrage_identities[:recipient_count]
    plaintext = payload(size)
    ciphertext = pyrage.encrypt(plaintext, [i.to_public() for i in theirs], armored=armor)
    for identity in theirs:
        assert decrypt(ciphertext, [X25519Identity.from_string(str(identity))]) == plaintext


def test_keys_interchange_with_pyrage(pyrage) -> None:
    ours = X25519Identity.generate()
    theirs = pyrage.x25519.Identity.from_str(ours.to_string())
    assert str(theirs.to_public()) == ours.recipient().to_string()
    assert pyrage.x25519.Recipient.from_str(ours.recipient().to_string())


@pytest.mark.parametrize("armor", [False, True])
def test_passphrase_we_encrypt_pyrage_decrypts(pyrage, armor: bool) -> None:
    plaintext = payload(65537)
    passphrase = "pässwörd with spaces ✓"  # non-ASCII checks both sides use UTF-8
    ciphertext = encrypt(
        plaintext, [ScryptRecipient(passphrase, work_factor=TEST_WORK_FACTOR)], armor=armor
    )
    assert pyrage.passphrase.decrypt(ciphertext, passphrase) == plaintext


def test_passphrase_pyrage_encrypts_we_decrypt(pyrage) -> None:
    # rage picks its own work factor (about one second), so this test is the slow one.
    plaintext = payload(65537)
    passphrase = "pässwörd with spaces ✓"
    ciphertext = pyrage.passphrase.encrypt(plaintext, passphrase, armored=True)
    assert decrypt(ciphertext, [ScryptIdentity(passphrase)]) == plaintext
