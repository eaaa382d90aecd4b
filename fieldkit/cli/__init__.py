"""The ``fieldkit`` command line: one click group, one module per area.

The top layer: the only one that imports every other (``docs/architecture.md``).
"""

from __future__ import annotations

import sys

import click

from fieldkit import __version__
from fieldkit.core.errors import FieldkitError


class FieldkitGroup(click.Group):
    """A click group that turns every :class:`FieldkitError` into a one-line message."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FieldkitError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=FieldkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fieldkit")
def cli() -> None:
    """fieldkit: peer assessments of drug treatment centres, offline first.

    A kit serves translated forms to phones over local Wi-Fi and seals every
    answer for the regional hub at once; the hub merges signed bundles from
    many kits and turns them into exports and scorecards.
    """


def _register_commands() -> None:
    """Attach every sub-command group to the top-level ``fieldkit`` group."""
    from fieldkit.cli import demo, forms, hub, kit, pack, serve, sync, translations

    cli.add_command(demo.demo)
    cli.add_command(forms.forms)
    cli.add_command(hub.hub)
    cli.add_command(kit.init)
    cli.add_command(kit.simulate)
    cli.add_command(kit.wipe)
    cli.add_command(pack.pack)
    cli.add_command(sync.sync)
    cli.add_command(serve.serve)
    cli.add_command(translations.translations)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="fieldkit"))
