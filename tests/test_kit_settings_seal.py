"""A seized kit's settings: an added recipient, a removed seal or an old unsealed kit (issue 17, point 1).

Through the real ``fieldkit`` commands on real files: the kit must refuse to unlock
when ``kit.json`` was changed without the passphrase, and seal an old kit once.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import recipient_fingerprint
from fieldkit.core.storage.records import RecordStore
from tests.sync_cli import PASSPHRASE, new_kit, run

ATTACKER = age.X25519Identity.generate().recipient().to_string()


def _simulate(kit: Path, passphrase_file: Path, expect: int = 0):
    return run("simulate", "--data", kit, "--responses", 1, "--seed", 3, "--passphrase-file", passphrase_file,
               expect=expect)  # fmt: skip


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def test_an_added_recipient_stops_the_kit_from_unlocking(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    _edit(kit / "kit.json", lambda data: data["recipients"].append(ATTACKER))
    refused = _simulate(kit, passphrase_file, expect=1)
    assert "'recipients' was changed" in refused.output
    assert "cannot be trusted" in refused.output and "not unlocked" in refused.output
    assert recipient_fingerprint(ATTACKER) in refused.output  # the operator sees the key that was added
    assert RecordStore(kit).count() == 0  # nothing was sealed to the added key


def test_removing_the_seal_does_not_pass_for_an_old_kit(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    kit = new_kit(tmp_path, hub_keys, passphrase_file)

    def strip(data: dict) -> None:
        del data["seal"]
        data["recipients"].append(ATTACKER)

    _edit(kit / "kit.json", strip)
    refused = _simulate(kit, passphrase_file, expect=1)
    assert "its seal was removed" in refused.output
    assert RecordStore(kit).count() == 0
    # A changed epoch is named too, and the untouched kit still works.
    kit2 = new_kit(tmp_path, hub_keys, passphrase_file, name="kit2")
    _edit(kit2 / "kit.json", lambda data: data.update(epoch=2))
    assert "'epoch' was changed" in _simulate(kit2, passphrase_file, expect=1).output


def _legacy_kit(folder: Path, recipient: str) -> None:
    """A kit exactly as fieldkit wrote it before settings were sealed (kit id as the only AAD)."""
    folder.mkdir(mode=0o700)
    kit_id = "kit-0123456789ab"
    signing = Ed25519PrivateKey.generate()
    salt = os.urandom(32)
    master = Scrypt(salt=salt, length=32, n=2**10, r=8, p=1).derive(PASSPHRASE.encode())
    wrap = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"fieldkit/v1 signing key wrap").derive(master)
    nonce = os.urandom(12)
    raw = signing.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())  # fmt: skip
    public = signing.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    keys = {
        "format": "fieldkit-kit/1",
        "kdf": {"name": "scrypt", "salt": b64(salt), "work_factor": 10, "r": 8, "p": 1},
        "signing_key": {"nonce": b64(nonce), "wrapped": b64(AESGCM(wrap).encrypt(nonce, raw, kit_id.encode()))},
    }
    config = {"format": "fieldkit-kit/1", "kit_id": kit_id, "epoch": 1, "created": "2026-01-05",
              "recipients": [recipient], "signing_public_key": b64(public)}  # fmt: skip
    (folder / "kit-keys.json").write_text(json.dumps(keys))
    (folder / "kit.json").write_text(json.dumps(config))


def test_an_old_kit_is_sealed_once_at_its_next_unlock(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    recipient = (hub_keys / "hub-recipient.txt").read_text().strip()
    kit = tmp_path / "old-kit"
    _legacy_kit(kit, recipient)
    first = _simulate(kit, passphrase_file)
    assert "now sealed with the passphrase" in first.stderr
    assert recipient_fingerprint(recipient) in first.stderr
    assert "seal" in json.loads((kit / "kit.json").read_text())
    second = _simulate(kit, passphrase_file)
    assert "sealed" not in second.stderr  # said once
    assert RecordStore(kit).count() == 2
    _edit(kit / "kit.json", lambda data: data["recipients"].append(ATTACKER))
    assert "'recipients' was changed" in _simulate(kit, passphrase_file, expect=1).output
    assert RecordStore(kit).count() == 2


def test_serve_start_and_init_print_the_recipients(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    recipient = (hub_keys / "hub-recipient.txt").read_text().strip()
    created = run("init", "--data", tmp_path / "k", "--hub-recipient", recipient, "--escrow-recipient", ATTACKER,
                  "--escrow-role", "partner-organisation",
                  "--passphrase-file", passphrase_file, "--kdf-work-factor", "10")  # fmt: skip
    assert f"hub (regional-team): {recipient_fingerprint(recipient)}  {recipient}" in created.output
    assert f"escrow (partner-organisation): {recipient_fingerprint(ATTACKER)}  {ATTACKER}" in created.output
    assert recipient_fingerprint(recipient) != recipient_fingerprint(ATTACKER)


def test_an_old_kit_with_a_swapped_signing_key_is_not_sealed(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    kit = tmp_path / "old-kit"
    _legacy_kit(kit, (hub_keys / "hub-recipient.txt").read_text().strip())
    other = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                  serialization.PublicFormat.Raw)  # fmt: skip
    _edit(kit / "kit.json", lambda data: data.update(signing_public_key=base64.b64encode(other).decode()))
    refused = _simulate(kit, passphrase_file, expect=1)
    assert "names another signing key" in refused.output
    assert "seal" not in json.loads((kit / "kit.json").read_text())
    assert RecordStore(kit).count() == 0
