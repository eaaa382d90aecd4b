"""docs/cli.md, written from the command line's own definitions.

``python -m fieldkit.cli.docs > docs/cli.md`` regenerates it; a test fails when the
committed page and the commands disagree, so the reference cannot drift.
"""

from __future__ import annotations

import click

from fieldkit.cli import cli

HEADER = """# Command reference

Every `fieldkit` command with its options, written from the code by
`python -m fieldkit.cli.docs > docs/cli.md` (a test checks the page is current).
`fieldkit COMMAND --help` shows the same text.
"""


def _walk(command: click.Command, path: list[str]):
    yield path, command
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in sorted(command.list_commands(context)):  # lazy groups import theirs here
            sub = command.get_command(context, name)
            if sub is not None:
                yield from _walk(sub, [*path, name])


def _option_line(parameter: click.Parameter) -> str:
    names = ", ".join(f"`{name}`" for name in parameter.opts + parameter.secondary_opts)
    help_text = " ".join((getattr(parameter, "help", None) or "").split())
    required = " (required)" if parameter.required else ""
    return f"- {names}{required}: {help_text}".rstrip(": ")


def render() -> str:
    parts = [HEADER]
    for path, command in _walk(cli, ["fieldkit"]):
        if command.hidden:
            continue
        arguments = [p.make_metavar(click.Context(command)) for p in command.params if isinstance(p, click.Argument)]
        usage = " ".join(path + arguments)
        parts.append(f"\n## `{' '.join(path)}`\n\n    {usage}\n")
        text = (command.help or "").strip()
        if text:
            parts.append("\n" + "\n".join(line.strip() for line in text.splitlines()) + "\n")
        options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
        if options:
            parts.append("\n" + "\n".join(_option_line(option) for option in options) + "\n")
    return "".join(parts)


if __name__ == "__main__":
    click.echo(render(), nl=False)
