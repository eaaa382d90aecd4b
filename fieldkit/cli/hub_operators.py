"""``fieldkit hub operators add | remove | list | password | role | disable | enable``: the hub's operator accounts.

Whoever runs these commands holds the hub folder: filesystem access to the hub is an
admin's, so no login is asked. Passwords come from ``--password-file`` (its first line)
or are asked twice without echo; with neither a file nor a terminal the command refuses.
``list`` never prints a hash.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fieldkit.cli.options import EXISTING_FILE, HUB_DATA_OPTION
from fieldkit.core.crypto.passwords import DEFAULT_WORK_FACTOR, WORK_FACTORS
from fieldkit.core.errors import FieldkitError
from sync.hub.operators import MIN_PASSWORD_LENGTH, ROLES, Operators, adopt_single_password, permissions_of
from sync.hub.store import HubStore

__all__ = ["adopt", "operators", "read_new_password", "set_password"]

PASSWORD_FILE_OPTION = click.option(
    "--password-file",
    type=EXISTING_FILE,
    default=None,
    help="Read the operator's new password from the first line of FILE (for unattended use).",
)
WORK_FACTOR_OPTION = click.option(
    "--work-factor",
    type=click.IntRange(WORK_FACTORS.start, WORK_FACTORS.stop - 1),
    default=DEFAULT_WORK_FACTOR,
    hidden=True,  # tests use a cheaper scrypt
)


def read_new_password(password_file: Path | None, name: str) -> str:
    """A new password from ``password_file`` or asked twice; refused when neither is possible."""
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise FieldkitError(f"cannot read the password file {password_file}: {error}") from None
        password = lines[0] if lines else ""
    elif sys.stdin is not None and sys.stdin.isatty():
        password = click.prompt(f"New password for operator {name}", hide_input=True, confirmation_prompt=True)
    else:
        raise FieldkitError("a password is needed and there is no terminal to ask on: use --password-file FILE")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FieldkitError(f"choose an operator password of at least {MIN_PASSWORD_LENGTH} characters")
    return password


def adopt(store: HubStore) -> None:
    """A hub with the single operator password of earlier versions: make it operator admin's, and say so."""
    if adopt_single_password(store):
        click.echo("This hub's single operator password is now the password of operator 'admin' (role admin).")


def _open(data_dir: Path) -> HubStore:
    store = HubStore(data_dir)  # a missing or damaged hub folder is reported first
    try:
        adopt(store)
    except BaseException:
        store.close()
        raise
    return store


def set_password(data_dir: Path, name: str, password_file: Path | None, work_factor: int) -> None:
    with _open(data_dir) as store:
        accounts = Operators(store)
        accounts.require(name)  # an unknown name is refused before the password is asked
        ended = accounts.set_password(name, read_new_password(password_file, name), work_factor=work_factor)
    click.echo(f"Password of operator {name} set." + (f" {ended} open sessions ended." if ended else ""))


@click.group("operators")
def operators() -> None:
    """Keep the people who may use the hub's pages, and their roles.

    Roles: admin (enrol, revoke, quarantine, operators, everything), analyst (export,
    report, and what a viewer sees), viewer (status, and the reports already made).
    These commands need the hub folder: whoever holds it is an admin.
    """


@operators.command("add")
@HUB_DATA_OPTION
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the operator may do.")
@PASSWORD_FILE_OPTION
@WORK_FACTOR_OPTION
def add(data_dir: Path, name: str, role: str, password_file: Path | None, work_factor: int) -> None:
    """Add operator NAME (letters, digits, '.', '_', '-') with a role and a password."""
    with _open(data_dir) as store:
        accounts = Operators(store)
        accounts.check_new(name)  # a bad or taken name is refused before the password is asked
        accounts.add(name, role, read_new_password(password_file, name), work_factor=work_factor)
    click.echo(f"Operator {name} added as {role}: may {', '.join(permissions_of(role))}.")


@operators.command("remove")
@HUB_DATA_OPTION
@click.argument("name")
def remove(data_dir: Path, name: str) -> None:
    """Remove operator NAME and end their sessions (never the last admin)."""
    with _open(data_dir) as store:
        ended = Operators(store).remove(name)
    click.echo(f"Operator {name} removed." + (f" {ended} open sessions ended." if ended else ""))


@operators.command("list")
@HUB_DATA_OPTION
def list_operators(data_dir: Path) -> None:
    """The operators: name, role, when made and last changed (never a password hash)."""
    with _open(data_dir) as store:
        found = Operators(store).list()
    if not found:
        click.echo("No operator yet: add one with 'fieldkit hub operators add NAME --role admin'.")
        return
    for operator in found:
        state = "  disabled" if operator.disabled else ""
        click.echo(
            f"{operator.name:<32} {operator.role:<8} created {operator.created}  changed {operator.changed}{state}"
        )


@operators.command("password")
@HUB_DATA_OPTION
@click.argument("name")
@PASSWORD_FILE_OPTION
@WORK_FACTOR_OPTION
def password(data_dir: Path, name: str, password_file: Path | None, work_factor: int) -> None:
    """Set a new password for operator NAME; ends their open sessions (not the others')."""
    set_password(data_dir, name, password_file, work_factor)


@operators.command("role")
@HUB_DATA_OPTION
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def role(data_dir: Path, name: str, role: str) -> None:
    """Give operator NAME another ROLE; ends their open sessions (never demotes the last admin)."""
    with _open(data_dir) as store:
        ended = Operators(store).set_role(name, role)
    click.echo(f"Operator {name} is now {role}." + (f" {ended} open sessions ended." if ended else ""))


@operators.command("disable")
@HUB_DATA_OPTION
@click.argument("name")
def disable(data_dir: Path, name: str) -> None:
    """Stop operator NAME logging in, and end their sessions, keeping the account (never the last admin)."""
    with _open(data_dir) as store:
        ended = Operators(store).set_disabled(name, True)
    click.echo(f"Operator {name} disabled." + (f" {ended} open sessions ended." if ended else ""))


@operators.command("enable")
@HUB_DATA_OPTION
@click.argument("name")
def enable(data_dir: Path, name: str) -> None:
    """Let a disabled operator NAME log in again."""
    with _open(data_dir) as store:
        Operators(store).set_disabled(name, False)
    click.echo(f"Operator {name} may log in again.")
