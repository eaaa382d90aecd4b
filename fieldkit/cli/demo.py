"""``fieldkit demo``: a throwaway hub key and kit, serving the shipped forms at once."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

import click

from fieldkit.cli.serve import HOST_OPTION, PORT_OPTION
from fieldkit.core import paths
from fieldkit.core.crypto.hubkeys import generate_hub_keys
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.kit.config import init_kit, unlock
from fieldkit.kit.serving import serve_kit
from fieldkit.kit.web.app import WebSettings

DEMO_WARNING = "DEMO ONLY: the hub key below is thrown away when the demo stops. Never collect real interviews with it."


@click.command("demo")
@HOST_OPTION
@PORT_OPTION
@click.option("--keep", is_flag=True, help="Keep the temporary folder (hub key and kit) and print where it is.")
def demo(host: str, port: int, keep: bool) -> None:
    """Make a throwaway hub key and kit in a temporary folder and serve the shipped forms."""
    click.secho(DEMO_WARNING, fg="yellow", err=True)
    forms, broken_forms = load_serving_forms(paths.forms_dir())
    workdir = Path(tempfile.mkdtemp(prefix="fieldkit-demo-"))
    try:
        hub = generate_hub_keys(workdir / "hub-keys", None)
        passphrase = secrets.token_urlsafe(16)
        config = init_kit(workdir / "kit", hub.recipient, passphrase)
        click.echo(f"demo hub recipient: {hub.recipient}")
        kit = unlock(config.data_dir, passphrase)
        serve_kit(kit, forms, WebSettings(), host=host, port=port, broken_forms=broken_forms)
    finally:
        if keep:
            click.echo(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
