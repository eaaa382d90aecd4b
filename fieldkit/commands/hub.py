"""``fieldkit hub``: the regional hub's commands."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.hubkeys import generate_hub_keys
from fieldkit.passphrase import PASSPHRASE_FILE_OPTION, read_passphrase


@click.group()
def hub() -> None:
    """Run a regional hub: keys, enrolment, imports, exports and reports."""


@hub.command("keygen")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the new key files.",
)
@click.option("--no-passphrase", is_flag=True, help="Write the identity unprotected (hub-identity.txt).")
@PASSPHRASE_FILE_OPTION
def keygen(out_dir: Path, no_passphrase: bool, passphrase_file: Path | None) -> None:
    """Create the hub identity and its public recipient.

    Writes OUT/hub-recipient.txt (give it to every kit) and the identity, by
    default as OUT/hub-identity.age protected by a passphrase (age scrypt), or
    with --no-passphrase as OUT/hub-identity.txt, which `age -d -i` accepts.
    Keep the identity offline and backed up: without it no record can be read.
    """
    passphrase = None if no_passphrase else read_passphrase(passphrase_file, prompt="New hub passphrase", confirm=True)
    files = generate_hub_keys(out_dir, passphrase)
    click.echo(f"Hub recipient: {files.recipient}")
    click.echo(f"Wrote {files.recipient_path} and {files.identity_path}")
