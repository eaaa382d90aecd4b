"""Turning a kit into one as older fieldkit versions left it, to test upgrades on the real layout."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fieldkit.kit.settings_seal import seal_settings


def _derive(passphrase: str, kdf: dict, info: bytes) -> bytes:
    master = Scrypt(salt=base64.b64decode(kdf["salt"]), length=32, n=2 ** int(kdf["work_factor"]), r=8, p=1).derive(
        passphrase.encode("utf-8")
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def as_before_hub_list_signing(kit: Path, passphrase: str) -> None:
    """The kit as ``init`` and ``sync enrol`` wrote it before the hub list was signed.

    ``kit.json`` sealed but without ``hub_list_signed``; the signing key wrapped with the
    additional data "sealed settings" and the kit id only; ``sync.json`` without the
    ``hubs_signature`` table. Everything else stays as it is.
    """
    keys_path, config_path, state_path = kit / "kit-keys.json", kit / "kit.json", kit / "sync.json"
    keys = json.loads(keys_path.read_text())
    config = json.loads(config_path.read_text())
    kit_id = config["kit_id"].encode()
    wrap = _derive(passphrase, keys["kdf"], b"fieldkit/v1 signing key wrap")
    old = keys["signing_key"]
    private = AESGCM(wrap).decrypt(
        base64.b64decode(old["nonce"]),
        base64.b64decode(old["wrapped"]),
        b"fieldkit/v1 sealed settings\nfieldkit/v1 signed hub list\n" + kit_id,
    )
    nonce = os.urandom(12)
    wrapped = AESGCM(wrap).encrypt(nonce, private, b"fieldkit/v1 sealed settings\n" + kit_id)
    keys["signing_key"] = {"nonce": base64.b64encode(nonce).decode(), "wrapped": base64.b64encode(wrapped).decode()}
    config = {name: value for name, value in config.items() if name not in ("seal", "hub_list_signed")}
    config["seal"] = seal_settings(config, _derive(passphrase, keys["kdf"], b"fieldkit/v1 settings seal"))
    keys_path.write_text(json.dumps(keys, indent=2, sort_keys=True) + "\n")
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if state_path.exists():
        state = json.loads(state_path.read_text())
        state.pop("hubs_signature", None)
        state_path.write_text(json.dumps(state, sort_keys=True, separators=(",", ":")))
