"""The command line imports a sub-command's modules only when that command runs.

Every kit start pays for what ``fieldkit serve`` imports (on a Pi, and 200 times in the
restart proof), so the kit's command must not pull in the hub, its exports and reports.
"""

from __future__ import annotations

import subprocess
import sys

import click

from fieldkit.cli import COMMANDS, cli

_PROBE = """
import sys
from fieldkit.cli import cli
try:
    cli(["serve", "--help"], prog_name="fieldkit")
except SystemExit:
    pass
print(sorted(name for name in sys.modules if name.startswith(("sync.hub", "fieldkit.cli.hub", "fieldkit.cli.report"))))
"""


def test_serve_runs_without_importing_the_hub() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60)
    assert "--data" in result.stdout  # the help itself was shown
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_lazy_command_loads_and_help_lists_them_all() -> None:
    context = click.Context(cli)
    assert set(cli.list_commands(context)) >= set(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(context, "no-such-command") is None
