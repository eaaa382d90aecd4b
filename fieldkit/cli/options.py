"""Options and small helpers that several commands share, so each is defined once."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click

from fieldkit.cli.passphrase import read_passphrase
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import identity_needs_passphrase, load_hub_identities
from fieldkit.core.errors import FieldkitError

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

HUB_DATA_OPTION = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The hub's data folder.",
)
HUB_DATABASE_OPTION = click.option(
    "--database",
    default=None,
    metavar="URL",
    help="A PostgreSQL database for the hub's tables (postgresql://[user@]host[:port]/database, no password: "
    "that goes in ~/.pgpass), for a national or global hub; default: FIELDKIT_HUB_DATABASE if set, else an "
    "SQLite file in the folder.",
)
IDENTITY_OPTION = click.option(
    "--identity",
    "identity_file",
    required=True,
    type=EXISTING_FILE,
    help="The hub identity (hub-identity.age, or hub-identity.txt).",
)
PROGRESS_OPTION = click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar on stderr (default: when stderr is a terminal)."
)


def translations_option(help_text: str) -> Callable:
    return click.option(
        "--translations",
        "translations_dir",
        default=None,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help=help_text,
    )


def read_file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise FieldkitError(f"cannot read {path}: {error.strerror or error}") from None


def unlock_hub_identities(identity_file: Path, passphrase_file: Path | None) -> list[age.X25519Identity]:
    """The hub identity, asking for (or reading) its passphrase only when it is protected."""
    passphrase = None
    if identity_needs_passphrase(identity_file):
        passphrase = read_passphrase(passphrase_file, prompt="Hub identity passphrase")
    return load_hub_identities(identity_file, passphrase)


def warn_missing_keys(identities: Sequence[age.X25519Identity], recipients: Sequence[str], identity_file: Path) -> None:
    """Say on stderr which of the hub's recipients (current first) ``identity_file`` holds no identity for."""
    held = {identity.recipient().to_string() for identity in identities}
    missing = [recipient for recipient in recipients if recipient not in held]
    if not missing:
        return
    if len(missing) == len(recipients):
        click.echo(
            f"Warning: {identity_file.name} is not the key of this hub ({recipients[0]}); "
            "only records also sealed to it (an escrow key) will open.",
            err=True,
        )
        return
    which = "current" if missing[0] == recipients[0] else "earlier"
    click.echo(
        f"Warning: {identity_file.name} does not hold this hub's {which} key {missing[0]}"
        + (f" (nor {len(missing) - 1} other)" if len(missing) > 1 else "")
        + "; records sealed to it will not open: use the newest hub-identity-N file, which holds every key.",
        err=True,
    )


@contextlib.contextmanager
def progress_bar(total: int, show: bool | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when asked, or by default when stderr is a terminal."""
    if not (show if show is not None else sys.stderr.isatty()):
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update
