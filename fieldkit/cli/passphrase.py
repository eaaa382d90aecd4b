"""Getting a passphrase from the person at the keyboard, or from a file for unattended use."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fieldkit.core.errors import FieldkitError
from fieldkit.kit.config import MAX_WORK_FACTOR, MIN_WORK_FACTOR, KdfCost, choose_kdf_cost

MIN_NEW_PASSPHRASE_LENGTH = 8


def read_passphrase(passphrase_file: Path | None, *, prompt: str, confirm: bool = False) -> str:
    """The passphrase from ``passphrase_file`` (its first line) or asked on the terminal.

    ``confirm`` asks twice and enforces a minimum length: use it when a passphrase is
    being chosen, not when one is being checked.
    """
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FieldkitError(f"cannot read the passphrase file {passphrase_file}: {error}") from None
        lines = text.splitlines()
        passphrase = lines[0] if lines else ""
    elif sys.stdin is not None and sys.stdin.isatty():
        passphrase = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    else:
        raise FieldkitError("a passphrase is needed and there is no terminal to ask on: use --passphrase-file FILE")
    if not passphrase:
        raise FieldkitError("the passphrase is empty")
    if confirm and len(passphrase) < MIN_NEW_PASSPHRASE_LENGTH:
        raise FieldkitError(f"choose a passphrase of at least {MIN_NEW_PASSPHRASE_LENGTH} characters")
    return passphrase


PASSPHRASE_FILE_OPTION = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the passphrase from the first line of FILE instead of asking (for unattended use).",
)


OPERATOR_PASSWORD_FILE_OPTION = click.option(
    "--operator-password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the operator password (for the operator's pages from a phone) from the first line of FILE.",
)


def read_operator_password(password_file: Path | None, *, required: bool) -> str | None:
    """The new operator password from a file or asked twice; None when neither is possible and not ``required``."""
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise FieldkitError(f"cannot read the operator password file {password_file}: {error}") from None
        return lines[0] if lines else ""
    if sys.stdin is not None and sys.stdin.isatty():
        password: str = click.prompt("New operator password", hide_input=True, confirmation_prompt=True)
        return password
    if required:
        raise FieldkitError("an operator password is needed and there is no terminal to ask on: "
                            "use --operator-password-file FILE")  # fmt: skip
    return None


WORK_FACTOR_OPTION = click.option(
    "--kdf-work-factor",
    type=click.IntRange(MIN_WORK_FACTOR, MAX_WORK_FACTOR),
    default=None,
    hidden=True,  # tests use a cheaper scrypt; people keep the cost measured for the machine
)


def kdf_cost(work_factor: int | None) -> KdfCost:
    """The scrypt cost for a new passphrase: measured here (about 1 s), or the hidden option's for tests."""
    if work_factor is not None:
        return KdfCost(work_factor, 1)
    click.echo("Measuring how long the passphrase key takes on this machine...", err=True)
    return choose_kdf_cost()
