"""The ``fieldkit`` command line: one click group, one module per area.

The top layer: the only one that imports every other (``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

import click

from fieldkit import __version__
from fieldkit.core.errors import FieldkitError


class FieldkitGroup(click.Group):
    """A click group that turns every :class:`FieldkitError` into a one-line message.

    Its sub-commands are imported only when one is run (or help lists them), as click's
    documentation shows for lazy groups: ``fieldkit serve`` need not import the hub, its
    exports and reports, which would add a good part of a second to every kit start.
    """

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})  # name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}:{attribute} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FieldkitError as error:
            raise click.ClickException(str(error)) from None


# Every sub-command, by the module that defines it (imported when it is run).
COMMANDS = {
    "backup": "fieldkit.cli.backup:backup",
    "demo": "fieldkit.cli.demo:demo",
    "forms": "fieldkit.cli.forms:forms",
    "handover": "fieldkit.cli.handover:handover",
    "hub": "fieldkit.cli.hub:hub",
    "init": "fieldkit.cli.kit:init",
    "operator": "fieldkit.cli.operator:operator",
    "pack": "fieldkit.cli.pack:pack",
    "restore": "fieldkit.cli.backup:restore",
    "passphrase": "fieldkit.cli.handover:passphrase",
    "simulate": "fieldkit.cli.kit:simulate",
    "wipe": "fieldkit.cli.kit:wipe",
    "sync": "fieldkit.cli.sync:sync",
    "serve": "fieldkit.cli.serve:serve",
    "service": "fieldkit.cli.service:service",
    "translations": "fieldkit.cli.translations:translations",
}


@click.group(cls=FieldkitGroup, lazy_subcommands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fieldkit")
def cli() -> None:
    """fieldkit: peer assessments of drug treatment centres, offline first.

    A kit serves translated forms to phones over local Wi-Fi and seals every
    answer for the regional hub at once; the hub merges signed bundles from
    many kits and turns them into exports and scorecards.
    """


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="fieldkit"))
