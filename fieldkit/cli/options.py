"""Options and small helpers that several commands share, so each is defined once."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def progress_bar(total: int, show: bool | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when asked, or by default when stderr is a terminal."""
    if not (show if show is not None else sys.stderr.isatty()):
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update
