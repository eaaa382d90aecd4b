"""``fieldkit service install``: run the kit as a hardened systemd service (docs/raspberry-pi.md)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import click

from fieldkit.kit.service_unit import DEFAULT_ACCOUNT, DEFAULT_UNIT_DIR, ServiceError, plan_install


@click.group("service")
def service() -> None:
    """Run the kit as a systemd service that starts locked at boot."""


@service.command("install")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The kit's data folder (made if missing, owned by the service's account).",
)
@click.option(
    "--account", default=DEFAULT_ACCOUNT, show_default=True, help="The account the kit runs as (made if missing)."
)
@click.option(
    "--unit-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_UNIT_DIR,
    show_default=True,
    help="Folder the unit file fieldkit.service is written to.",
)
@click.option("--dry-run", is_flag=True, help="Print the unit and every system command; change nothing.")
def install(data_dir: Path, account: str, unit_dir: Path, dry_run: bool) -> None:
    """Write a hardened systemd unit for the kit in DATA and start it.

    The unit runs 'fieldkit serve --data DATA --wait-for-unlock' as its own
    account with no privileges: the kit starts locked at boot and is unlocked
    from the operator's phone. Makes the account, gives it the data folder,
    writes the unit, then runs systemctl daemon-reload and enable --now (only
    enable while DATA holds no kit yet). Needs root, except with --dry-run.
    """
    try:
        plan = plan_install(data_dir.absolute(), account=account, unit_dir=unit_dir)
    except ServiceError as error:
        raise click.UsageError(str(error)) from None
    if dry_run:
        click.echo(f"would write {plan.unit_path}:")
        click.echo(plan.unit, nl=False)
        click.echo("would run, as root:")
        for command in plan.commands:
            click.echo(f"  {shlex.join(command)}")
        for note in plan.notes:
            click.echo(f"note: {note}")
        click.echo("nothing was changed (--dry-run)")
        return
    if os.geteuid() != 0:
        raise click.ClickException(
            "installing a service needs root: run it with sudo, or see what it would do with --dry-run"
        )
    if not plan.unit_path.parent.is_dir():
        raise click.UsageError(f"--unit-dir {plan.unit_path.parent} is not a folder")
    writes_unit_before = next(i for i, command in enumerate(plan.commands) if command[0] == "systemctl")
    for index, command in enumerate(plan.commands):
        if index == writes_unit_before:
            plan.unit_path.write_text(plan.unit, encoding="utf-8")
            plan.unit_path.chmod(0o644)
            click.echo(f"wrote {plan.unit_path}")
        click.echo(f"running: {shlex.join(command)}")
        done = subprocess.run(command, check=False)  # noqa: S603  # nosec B603 - fixed commands, no shell
        if done.returncode != 0:
            raise click.ClickException(
                f"'{shlex.join(command)}' failed (exit status {done.returncode}); the steps before it were done"
            )
    for note in plan.notes:
        click.echo(f"note: {note}")
    click.echo(f"installed {plan.unit_path.name}; 'systemctl status {plan.unit_path.name}' shows it")
