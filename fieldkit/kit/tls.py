"""The kit's TLS identity for the operator's listener: an EC P-256 key and a self-signed certificate.

Phones on the kit's Wi-Fi reach the operator pages (the unlock page, the login) over
HTTPS, so a person on the same network cannot read the kit passphrase or the operator
password off the air. No authority vouches for a kit on a field network: the operator
checks the certificate's SHA-256 fingerprint, printed by ``init``, ``serve`` and
``fieldkit operator certificate``, against the one on the card kept with the kit
(docs/threat-model.md, "Unlocking and the operator from the network").

The key lives in ``DATA/tls/key.pem`` (0600). It is not protected by the passphrase: the
kit must serve the unlock page before it knows the passphrase. Someone who has had the
disk can therefore pose as the kit; ``--renew`` makes a new identity.

Making an identity needs ``cryptography.x509``; reading one at every start does not:
the standard ``ssl`` module, which the HTTPS listener loads anyway, checks that key and
certificate belong together and gives the certificate's bytes for the fingerprint. So
``serve`` never imports the X.509 modules, about 1.5 MB of a Pi-class kit's memory
(``docs/performance.md``).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import PRIVATE_FILE_MODE, ensure_private_dir, write_atomic

__all__ = ["TLS_DIR", "TlsIdentity", "ensure_identity", "fingerprint_of", "load_identity", "make_identity"]

TLS_DIR = "tls"
KEY_FILE = "key.pem"
CERT_FILE = "cert.pem"
HOST_NAMES = ("fieldkit.local", "localhost")
_VALID_DAYS = 10 * 366  # a kit in a bag may go years without anyone renewing anything


@dataclass(frozen=True)
class TlsIdentity:
    """Where the key and certificate are, and the certificate's fingerprint."""

    key_path: Path
    cert_path: Path
    fingerprint: str  # SHA-256 of the DER certificate, as colon-separated upper-case hex pairs


def fingerprint_of(der: bytes) -> str:
    """``AB:CD:...``: how browsers show a certificate's SHA-256 fingerprint."""
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def _paths(data_dir: Path) -> tuple[Path, Path]:
    folder = Path(data_dir) / TLS_DIR
    return folder / KEY_FILE, folder / CERT_FILE


def make_identity(data_dir: Path, kit_id: str) -> TlsIdentity:
    """A new key and certificate in ``DATA/tls/``, replacing any there."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key_path, cert_path = _paths(data_dir)
    ensure_private_dir(key_path.parent)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fieldkit {kit_id}")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(host) for host in HOST_NAMES]
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The key first: a certificate without its key would be an identity the kit cannot use.
    write_atomic(key_path, key_pem, mode=PRIVATE_FILE_MODE)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return TlsIdentity(key_path, cert_path, fingerprint_of(cert.public_bytes(serialization.Encoding.DER)))


def load_identity(data_dir: Path) -> TlsIdentity | None:
    """The kit's identity, None when it has none yet; FieldkitError when the files are damaged."""
    key_path, cert_path = _paths(data_dir)
    if not key_path.exists() and not cert_path.exists():
        return None
    try:
        der = ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="ascii"))
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path)
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise FieldkitError(
                f"the TLS key in {key_path.parent} does not match its certificate; "
                "make a new one with 'fieldkit operator certificate --renew'"
            ) from None
        raise _unreadable(key_path, error.reason or str(error)) from None
    except (OSError, ValueError) as error:  # ValueError: not ASCII, or not a PEM certificate
        raise _unreadable(key_path, getattr(error, "strerror", None) or str(error)) from None
    return TlsIdentity(key_path, cert_path, fingerprint_of(der))


def _unreadable(key_path: Path, why: str) -> FieldkitError:
    return FieldkitError(
        f"the kit's TLS key or certificate in {key_path.parent} cannot be read ({why}); "
        "make a new one with 'fieldkit operator certificate --renew'"
    )


def ensure_identity(data_dir: Path, kit_id: str) -> tuple[TlsIdentity, bool]:
    """The kit's identity, made now when it has none (a kit made before); True when it was made."""
    found = load_identity(data_dir)
    if found is not None:
        return found, False
    return make_identity(data_dir, kit_id), True
