"""Throwaway hub keys and kits in a temporary folder, made with the real key code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import generate_hub_keys, load_hub_identities
from fieldkit.kit.config import UnlockedKit, init_kit, unlock

PASSPHRASE = "a passphrase for benchmarks only"
CHEAP_WORK_FACTOR = 10  # scrypt N = 2**10: for kits whose unlock is not what is measured


@dataclass(frozen=True)
class HubKeys:
    recipient: str
    identities: list[age.X25519Identity]


@dataclass(frozen=True)
class BenchKit:
    data_dir: Path
    passphrase_file: Path

    def unlock(self) -> UnlockedKit:
        return unlock(self.data_dir, PASSPHRASE)


def make_hub_keys(folder: Path) -> HubKeys:
    files = generate_hub_keys(folder / "hub-keys", None, work_factor=CHEAP_WORK_FACTOR)
    return HubKeys(files.recipient, load_hub_identities(files.identity_path, None))


def make_kit(folder: Path, hub: HubKeys, *, name: str = "kit", work_factor: int = CHEAP_WORK_FACTOR) -> BenchKit:
    """A kit sealing to ``hub``; pass the default work factor when unlocking is measured."""
    config = init_kit(folder / name, hub.recipient, PASSPHRASE, work_factor=work_factor)
    passphrase_file = folder / f"{name}-passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    passphrase_file.chmod(0o600)
    return BenchKit(config.data_dir, passphrase_file)
