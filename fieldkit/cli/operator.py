"""``fieldkit operator``: the kit's TLS certificate and the operator's password for the network login."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.kit import DATA_OPTION, report_unlock
from fieldkit.cli.passphrase import (
    OPERATOR_PASSWORD_FILE_OPTION,
    PASSPHRASE_FILE_OPTION,
    read_operator_password,
    read_passphrase,
)
from fieldkit.kit.config import UnlockedKit, load_config, unlock
from fieldkit.kit.operator_password import check_new_password, set_operator_password
from fieldkit.kit.tls import ensure_identity, make_identity


def store_operator_password(kit: UnlockedKit, password: str, passphrase: str, work_factor: int | None = None) -> None:
    kwargs = {"work_factor": work_factor} if work_factor is not None else {}
    set_operator_password(kit.config, kit.signing_key, password, passphrase=passphrase, **kwargs)


@click.group("operator")
def operator() -> None:
    """The operator's pages from a phone: the kit's certificate and the operator password."""


@operator.command("certificate")
@DATA_OPTION
@click.option("--renew", is_flag=True, help="Make a new key and certificate (a new fingerprint to write down).")
def certificate(data_dir: Path, renew: bool) -> None:
    """Print the SHA-256 fingerprint of the kit's TLS certificate (made now if the kit has none).

    The operator checks it in the phone's browser before typing the kit passphrase
    or the operator password. --renew makes a new identity, for example after the
    data folder was out of your hands; restart 'fieldkit serve' to use it.
    """
    config = load_config(data_dir)
    if renew:
        identity = make_identity(data_dir, config.kit_id)
        click.echo("NEW CERTIFICATE: the old fingerprint is no longer the kit's. Write the new one on the kit's card:")
        click.echo(f"  {identity.fingerprint}")
        click.echo("Restart 'fieldkit serve' to use it.")
        return
    identity, made = ensure_identity(data_dir, config.kit_id)
    if made:
        click.echo("Made this kit's TLS certificate. Write its fingerprint on the kit's card:")
    click.echo(identity.fingerprint)


@operator.command("password")
@DATA_OPTION
@PASSPHRASE_FILE_OPTION
@OPERATOR_PASSWORD_FILE_OPTION
@click.option("--work-factor", type=click.IntRange(10, 22), default=None, hidden=True)  # tests use a cheaper scrypt
def password(
    data_dir: Path, passphrase_file: Path | None, operator_password_file: Path | None, work_factor: int | None
) -> None:
    """Set or change the operator password for logging in from a phone.

    Asks for the kit passphrase too: the stored password is signed with the kit's
    key, so one written into the folder without the passphrase is refused. Takes
    effect at the next 'fieldkit serve'.
    """
    load_config(data_dir)
    passphrase = read_passphrase(passphrase_file, prompt="Kit passphrase")
    new = read_operator_password(operator_password_file, required=True)
    assert new is not None  # required
    check_new_password(new, passphrase)
    kit = open_unlocked_with(data_dir, passphrase)
    store_operator_password(kit, new, passphrase, work_factor)
    click.echo(f"Set the operator password of kit {kit.config.kit_id}; restart 'fieldkit serve' to use it.")


def open_unlocked_with(data_dir: Path, passphrase: str) -> UnlockedKit:
    kit = unlock(data_dir, passphrase)
    report_unlock(kit)
    return kit


__all__ = ["operator", "store_operator_password"]
