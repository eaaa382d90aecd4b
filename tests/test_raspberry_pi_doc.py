"""docs/raspberry-pi.md names only commands, options and scripts that exist.

Every ``fieldkit`` command line in the guide (code blocks and inline code) is looked up
in the real click command tree, and each of its options in that command's parameters;
every ``scripts/NAME.sh`` it runs must exist and know each option given to it.
"""

from __future__ import annotations

import re
import shlex

import click
import pytest

from fieldkit.cli import COMMANDS, cli
from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "raspberry-pi.md"
# Options the guide names that another branch of this wave adds (serve --wait-for-unlock:
# the unlock page). Once merged, this test fails until the entry is removed here.
PENDING: set[tuple[str, str]] = set()  # options the guide names before they exist (none now)


def _command_lines() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    lines = [line.split(" # ", 1)[0].strip() for line in text.splitlines() if line.startswith("    ")]
    prose = " ".join(line for line in text.splitlines() if not line.startswith("    "))
    inline = [span for span in re.findall(r"`([^`]*)`", prose) if re.search(r"\bfieldkit |scripts/", span)]
    # "`serve --mdns-name NAME`": a sub-command named alone, in prose.
    inline += [f"fieldkit {span}" for span in re.findall(r"`([^`]*)`", prose) if span.split(" ")[0] in COMMANDS]
    return [line for line in lines + inline if line]


def _invocations(kind: str) -> list[tuple[str, list[str]]]:
    found = []
    for line in _command_lines():
        words = shlex.split(line)
        for index, word in enumerate(words):
            after_sudo_user = index > 0 and words[index - 1] == "-u"  # "sudo -u fieldkit": the account
            if kind == "fieldkit" and not after_sudo_user and (word == "fieldkit" or word.endswith("/bin/fieldkit")):
                found.append((line, words[index + 1 :]))
                break
            if kind == "script" and re.fullmatch(r"scripts/[\w-]+\.sh", word):
                found.append((line, words[index:]))
    return found


def _options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}


@pytest.mark.parametrize(("line", "words"), _invocations("fieldkit"))
def test_every_fieldkit_command_and_option_in_the_guide_exists(line: str, words: list[str]) -> None:
    command: click.Command = cli
    path: list[str] = []
    context = click.Context(cli)
    for word in words:
        if word.startswith("-"):
            break
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(context, word)
        if sub is None:
            break
        command, path = sub, [*path, word]
    assert path, f"no fieldkit command in: {line}"
    for word in words[len(path) :]:
        option = word.split("=", 1)[0]
        if option.startswith("--") and (path[-1], option) not in PENDING:
            assert option in _options(command), f"fieldkit {' '.join(path)} has no option {option} ({line})"


@pytest.mark.parametrize(("line", "words"), _invocations("script"))
def test_every_script_and_option_in_the_guide_exists(line: str, words: list[str]) -> None:
    script = ROOT / words[0]
    assert script.is_file(), line
    usage = script.read_text(encoding="utf-8")
    for word in words[1:]:
        if word.startswith("--"):
            assert f"{word})" in usage or f"{word}|" in usage, f"{words[0]} does not take {word} ({line})"


def test_pending_options_are_still_pending() -> None:
    """At the merge that adds one, remove it from PENDING so the test above checks it."""
    for command_name, option in PENDING:
        command = cli.get_command(click.Context(cli), command_name)
        assert command is not None and option not in _options(command), f"remove {option} from PENDING"


def test_the_guide_is_linked_from_the_readme_and_the_deployment_notes() -> None:
    for doc in ("README.md", "docs/deployment.md"):
        assert "docs/raspberry-pi.md" in (ROOT / doc).read_text(encoding="utf-8"), doc
