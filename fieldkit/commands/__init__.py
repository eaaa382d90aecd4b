"""Sub-commands of ``fieldkit``, one module per area."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Attach every sub-command group to the top-level ``fieldkit`` group."""
    from fieldkit.commands import demo, forms, hub, kit, serve, sync, translations

    cli.add_command(demo.demo)
    cli.add_command(forms.forms)
    cli.add_command(hub.hub)
    cli.add_command(kit.init)
    cli.add_command(kit.simulate)
    cli.add_command(kit.wipe)
    cli.add_command(sync.sync)
    cli.add_command(serve.serve)
    cli.add_command(translations.translations)
