"""The kit's TLS identity: read back at every start without the X.509 modules, damage named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fieldkit.core.errors import FieldkitError
from fieldkit.kit.tls import load_identity, make_identity


def test_an_identity_reads_back_with_its_fingerprint(tmp_path: Path) -> None:
    made = make_identity(tmp_path, "kit-a")
    assert load_identity(tmp_path) == made
    assert load_identity(tmp_path / "none") is None


def test_a_key_from_another_kit_is_refused(tmp_path: Path) -> None:
    make_identity(tmp_path / "a", "kit-a")
    make_identity(tmp_path / "b", "kit-b")
    (tmp_path / "a/tls/key.pem").write_bytes((tmp_path / "b/tls/key.pem").read_bytes())
    with pytest.raises(FieldkitError, match="does not match its certificate; make a new one with 'fieldkit operator"):
        load_identity(tmp_path / "a")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cert.pem", b"not a certificate"),
        ("cert.pem", b"\xff\xfe\x00"),
        ("key.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        ("key.pem", None),
    ],
)
def test_damaged_files_are_named_with_the_way_out(tmp_path: Path, name: str, content: bytes | None) -> None:
    make_identity(tmp_path, "kit-a")
    target = tmp_path / "tls" / name
    if content is None:
        target.unlink()
    else:
        target.write_bytes(content)
    with pytest.raises(FieldkitError, match=r"TLS key or certificate in .*tls cannot be read \(.+\); make a new one"):
        load_identity(tmp_path)


def test_reading_an_identity_does_not_load_the_x509_modules(tmp_path: Path) -> None:
    make_identity(tmp_path, "kit-a")
    script = (
        "import sys; from pathlib import Path; from fieldkit.kit.tls import load_identity; "
        f"assert load_identity(Path({str(tmp_path)!r})) is not None; print('cryptography.x509' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
