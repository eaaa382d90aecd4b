"""Throwaway hub keys and kits in a temporary folder, made with the real key code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys, load_hub_identities
from fieldkit.kit.config import UnlockedKit, init_kit, unlock
from fieldkit.kit.enrolment import make_enrolment_request
from fieldkit.kit.tls import make_identity
from sync.hub.enrolment import accept_enrolment, create_token
from sync.hub.store import HubStore

PASSPHRASE = "a passphrase for benchmarks only"
CHEAP_WORK_FACTOR = 10  # scrypt N = 2**10: for kits whose unlock is not what is measured


@dataclass(frozen=True)
class HubKeys:
    recipient: str
    identities: list[age.X25519Identity]
    identity_path: Path  # the plain identity file, for commands that take --identity


@dataclass(frozen=True)
class BenchKit:
    data_dir: Path
    passphrase_file: Path

    def unlock(self) -> UnlockedKit:
        return unlock(self.data_dir, PASSPHRASE)


def make_hub_keys(folder: Path) -> HubKeys:
    files = generate_hub_keys(folder / "hub-keys", None, work_factor=CHEAP_WORK_FACTOR)
    return HubKeys(files.recipient, load_hub_identities(files.identity_path, None), files.identity_path)


def make_kit(folder: Path, hub: HubKeys, *, name: str = "kit", work_factor: int = CHEAP_WORK_FACTOR) -> BenchKit:
    """A kit sealing to ``hub``; pass the default work factor when unlocking is measured."""
    config = init_kit(folder / name, hub.recipient, PASSPHRASE, work_factor=work_factor)
    make_identity(config.data_dir, config.kit_id)  # as 'fieldkit init' does: serve then only reads it
    passphrase_file = folder / f"{name}-passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    passphrase_file.chmod(0o600)
    return BenchKit(config.data_dir, passphrase_file)


def enrolled_kits(folder: Path, hub: HubKeys, hub_dir: Path, count: int) -> list[UnlockedKit]:
    """``count`` kits enrolled in the hub at ``hub_dir`` through the real token flow."""
    kits = [make_kit(folder, hub, name=f"kit-{n + 1}") for n in range(count)]
    unlocked = [kit.unlock() for kit in kits]
    with HubStore(hub_dir) as store:
        for kit in unlocked:
            accept_enrolment(store, make_enrolment_request(kit, create_token(store)))
    return unlocked
