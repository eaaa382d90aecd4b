"""CLI helpers shared by the sync and hub tests: a hub key, kits made with
``fieldkit init``, simulated interviews, and enrolment through the USB file flow."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from fieldkit.cli import cli
from fieldkit.kit.config import load_config
from sync.hub.store import HubStore
from sync.protocol.bundle import SourceRef

CHEAP_KDF = ["--kdf-work-factor", "10"]
PASSPHRASE = "correct horse battery staple"


def run(*args: object, expect: int = 0) -> Result:
    """Run ``fieldkit ARGS`` in-process; check the exit code and that no traceback shows."""
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert result.exit_code == expect, result.output
    assert "Traceback" not in result.output
    return result


def write_passphrase_file(folder: Path) -> Path:
    path = folder / "pass.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def make_hub_keys(folder: Path) -> Path:
    """A hub identity without passphrase and its recipient file, in ``folder/hub-keys``."""
    out = folder / "hub-keys"
    run("hub", "keygen", "--out", out, "--no-passphrase")
    return out


def new_kit(tmp_path: Path, hub_keys: Path, passphrase_file: Path, name: str = "kit") -> Path:
    data = tmp_path / name
    recipient = (hub_keys / "hub-recipient.txt").read_text().strip()
    run(
        "init", "--data", data, "--hub-recipient", recipient,
        "--passphrase-file", passphrase_file, *CHEAP_KDF,
    )  # fmt: skip
    return data


def simulate(kit: Path, passphrase_file: Path, count: int, seed: int) -> list[str]:
    """Record ids of ``count`` interviews made through the real finalise path."""
    result = run(
        "simulate", "--data", kit, "--responses", count, "--seed", seed,
        "--passphrase-file", passphrase_file,
    )  # fmt: skip
    return result.output.split()


def init_hub_folder(tmp_path: Path, hub_keys: Path, name: str = "hub") -> Path:
    hub = tmp_path / name
    run("hub", "init", "--data", hub, "--recipient-file", hub_keys / "hub-recipient.txt")
    return hub


def enrol(hub: Path, kit: Path, passphrase_file: Path, workdir: Path) -> None:
    """Enrol ``kit`` at ``hub``: token file, signed request, response, as on a USB stick."""
    name = kit.name
    token = workdir / f"token-{name}.json"
    run("hub", "enrol", "--data", hub, "--out", token)
    request = workdir / f"request-{name}.json"
    run(
        "sync", "enrol", "--data", kit, "--token-file", token, "--out", request,
        "--passphrase-file", passphrase_file,
    )  # fmt: skip
    response = workdir / f"response-{name}.json"
    run("hub", "enrol", "--data", hub, "--accept", request, "--out", response)
    run("sync", "enrol", "--data", kit, "--response", response, "--passphrase-file", passphrase_file)


def enrolled_pair(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> tuple[Path, Path]:
    """A hub folder and a kit enrolled with it."""
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    enrol(hub, kit, passphrase_file, tmp_path)
    return hub, kit


def kit_key_lookup(kit: Path):
    """A ``public_key_for`` for :func:`sync.protocol.bundle.read_bundle` that knows only this kit."""
    config = load_config(kit)

    def lookup(ref: SourceRef):
        assert ref == SourceRef("kit", config.kit_id, config.epoch)
        return config.verify_key()

    return lookup


def export(kit: Path, out: Path, passphrase_file: Path, expect: int = 0) -> Result:
    return run(
        "sync", "export", "--data", kit, "--out", out, "--passphrase-file", passphrase_file,
        expect=expect,
    )  # fmt: skip


def held(hub: Path) -> dict[str, bytes]:
    """Record id to ciphertext of every record the hub accepted."""
    with HubStore(hub) as store:
        return {record.record_id: record.ciphertext for record in store.iter_records()}
