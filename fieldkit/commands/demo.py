"""``fieldkit demo``: a throwaway hub key and kit, to see fieldkit work in one command."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import click

from fieldkit import paths
from fieldkit.commands.kit import finaliser_for
from fieldkit.formengine.catalogue import load_directory
from fieldkit.hubkeys import generate_hub_keys
from fieldkit.kit import init_kit, unlock
from fieldkit.simulate import simulate

DEMO_WARNING = (
    "DEMO ONLY: this hub key is thrown away with the temporary folder. Never collect real interviews with it."
)


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary folder and print where it is.")
def demo(keep: bool) -> None:
    """Create a throwaway hub key and kit, check the shipped forms and seal sample interviews."""
    click.secho(DEMO_WARNING, fg="yellow", err=True)
    forms = load_directory(paths.forms_dir())
    for form in forms.values():
        click.echo(f"form ok: {form.key} ({len(form.items)} items)")
    workdir = Path(tempfile.mkdtemp(prefix="fieldkit-demo-"))
    try:
        hub = generate_hub_keys(workdir / "hub-keys", None)
        passphrase = secrets.token_urlsafe(16)
        config = init_kit(workdir / "kit", hub.recipient, passphrase)
        kit = unlock(config.data_dir, passphrase)
        click.echo(f"demo kit {config.kit_id} sealing to {hub.recipient}")
        for record_id in simulate(finaliser_for(kit), forms, 4, seed=1):
            click.echo(f"sealed record {record_id}")
    finally:
        if keep:
            click.echo(f"kept {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
