"""The command line imports a sub-command's modules only when that command runs.

Every kit start pays for what ``fieldkit serve`` imports (on a Pi, and 200 times in the
restart proof), so the kit's command must not pull in the hub, its exports and reports.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import click

from fieldkit.cli import COMMANDS, cli
from fieldkit.cli.hub import HUB_COMMANDS

_PROBE = """
import sys
from fieldkit.cli import cli
try:
    cli({args!r}, prog_name="fieldkit")
except SystemExit:
    pass
print(sorted(name for name in sys.modules if name.startswith({prefixes!r})))
"""


def loaded(args: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules under ``prefixes`` that running ``fieldkit ARGS`` imported (after its output)."""
    probe = _PROBE.format(args=args, prefixes=prefixes)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert "--data" in result.stdout  # the help itself was shown
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_serve_runs_without_importing_the_hub() -> None:
    assert loaded(["serve", "--help"], ("sync.hub", "fieldkit.cli.hub", "fieldkit.cli.report")) == []


def test_a_hub_programme_command_runs_without_the_hub_pages_or_reports() -> None:
    heavy = ("sync.hub.web", "sync.hub.reports", "flask", "fieldkit.cli.hub_http", "fieldkit.cli.report")
    assert loaded(["hub", "centres", "list", "--help"], heavy) == []


def test_every_lazy_command_loads_and_help_lists_them_all() -> None:
    context = click.Context(cli)
    assert set(cli.list_commands(context)) >= set(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(context, "no-such-command") is None


def test_every_lazy_hub_command_loads() -> None:
    group = cli.get_command(click.Context(cli), "hub")
    assert isinstance(group, click.Group)
    context = click.Context(group)
    assert set(group.list_commands(context)) >= set(HUB_COMMANDS)
    for name in HUB_COMMANDS:
        command = group.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name
