"""Sealing a kit's settings (``kit.json``) so that a change made without the passphrase is seen.

Someone who seizes a kit can edit ``kit.json``; without a seal, adding an ``age1...``
recipient there would make every later interview readable with their key. So each
setting in ``kit.json`` carries an HMAC-SHA256 under a key derived from the passphrase
at unlock (``seal``: ``{"kind": ..., "fields": {name: base64 MAC}}``), one per setting so
the refusal can name what changed. The signing key is wrapped with additional data that
says the settings are sealed, so deleting the seal to pose as an old, unsealed kit
fails too: only the passphrase could wrap the key again.

Hand-written on ``hmac`` from the standard library: there is nothing to it beyond one
MAC per canonical JSON value, and a library would add a dependency for five lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fieldkit.core.crypto.hubkeys import recipient_fingerprint
from fieldkit.core.errors import FieldkitError

SEAL_FIELD = "seal"
SEAL_KIND = "fieldkit-settings-hmac-sha256/1"
_SEALED_AAD = b"fieldkit/v1 sealed settings\n"
_HUB_LIST_AAD = b"fieldkit/v1 signed hub list\n"
HUB_LIST_FIELD = "hub_list_signed"  # in kit.json: this kit signs its list of hubs (fieldkit.kit.hub_list)

__all__ = [
    "HUB_LIST_FIELD",
    "SEAL_FIELD",
    "SEAL_KIND",
    "SettingsChanged",
    "check_seal",
    "recipient_lines",
    "seal_settings",
    "wrap_aad",
]


class SettingsChanged(FieldkitError):
    """``kit.json`` no longer matches the seal made with the passphrase: the kit will not unlock."""


def recipient_lines(recipients: Sequence[str], roles: Sequence[str] = ()) -> list[str]:
    """One line per recipient: hub or escrow, who holds it (``roles``, when given), fingerprint and key."""
    lines = []
    for number, recipient in enumerate(recipients):
        held = f" ({roles[number]})" if number < len(roles) else ""
        lines.append(f"{'hub' if number == 0 else 'escrow'}{held}: {recipient_fingerprint(recipient)}  {recipient}")
    return lines


def wrap_aad(kit_id: str, *, sealed: bool, hub_list: bool = False) -> bytes:
    """Additional data of the wrapped signing key: the kit id, whether settings are sealed and the hub list signed.

    ``hub_list``: the kit signs its hub list, so removing the ``kit.json`` mark (with its
    seal entry) to pose as a kit from before cannot pass: only the passphrase could wrap
    the key again without it.
    """
    prefix = (_SEALED_AAD if sealed else b"") + (_HUB_LIST_AAD if hub_list else b"")
    return prefix + kit_id.encode("utf-8")  # ids are ASCII; an edited one must not crash


def _mac(key: bytes, name: str, value: object) -> str:
    message = json.dumps([name, value], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return base64.b64encode(hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()).decode("ascii")


def seal_settings(settings: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The seal of every setting in ``settings`` (all but the seal itself)."""
    fields = {name: _mac(key, name, value) for name, value in sorted(settings.items()) if name != SEAL_FIELD}
    return {"kind": SEAL_KIND, "fields": fields}


def _differences(settings: Mapping[str, Any], key: bytes) -> list[str]:
    seal = settings.get(SEAL_FIELD)
    fields = seal.get("fields") if isinstance(seal, dict) and seal.get("kind") == SEAL_KIND else None
    if not isinstance(fields, dict):
        return ["its seal was removed or damaged"]
    found = []
    for name in sorted(set(settings) - {SEAL_FIELD}):
        expected = fields.get(name)
        if not isinstance(expected, str):
            found.append(f"'{name}' was added")
        elif not hmac.compare_digest(expected.encode("ascii", "replace"), _mac(key, name, settings[name]).encode()):
            found.append(f"'{name}' was changed")
    found.extend(f"'{name}' was removed" for name in sorted(set(fields) - set(settings)))
    return found


def check_seal(settings: Mapping[str, Any], key: bytes, path: Path) -> None:
    """Raise :class:`SettingsChanged`, naming each changed setting, unless the seal holds."""
    differences = _differences(settings, key)
    if not differences:
        return
    recipients = settings.get("recipients")
    shown = ""
    if isinstance(recipients, list) and all(isinstance(item, str) for item in recipients):
        try:
            shown = (
                " It now names these recipients: "
                + ", ".join(f"{item} ({recipient_fingerprint(item)})" for item in recipients)
                + "."
            )
        except FieldkitError:
            shown = " Its recipients are not valid age keys."
    raise SettingsChanged(
        f"{path} was changed without the kit passphrase ({'; '.join(differences)}), so it cannot be trusted: "
        "a changed recipient list would let someone else read every later interview. The kit was not unlocked "
        f"and nothing was changed.{shown} Restore {path.name} from a backup; if you changed it yourself, "
        "make a new kit with 'fieldkit init'."
    )
