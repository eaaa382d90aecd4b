"""The docs say what the code does: a command, option or test named in the docs must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fieldkit.cli.docs import render

ROOT = Path(__file__).resolve().parent.parent


def test_command_reference_is_current() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/cli.md is stale: run 'python -m fieldkit.cli.docs > docs/cli.md'"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line.strip() for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[1].startswith("bash scripts/demo.sh")
    assert lines[2].startswith("bash scripts/test.sh")
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _named_tests() -> list[str]:
    text = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"`(tests/[\w/]+\.py(?:::\w+)?)`", text)))


@pytest.mark.parametrize("reference", _named_tests())
def test_every_test_the_threat_model_names_exists(reference: str) -> None:
    path, _, name = reference.partition("::")
    source = (ROOT / path).read_text(encoding="utf-8")
    if name:
        assert re.search(rf"^(async )?def {name}\(", source, re.M), reference


def test_architecture_names_every_package_folder_and_only_real_ones() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w/]+/)` \|", text, flags=re.MULTILINE))
    packages = {
        f"{init.parent.relative_to(ROOT).as_posix()}/"
        for top in ("fieldkit", "sync")
        for init in (ROOT / top).rglob("__init__.py")
        if init.parent != ROOT / top
    }
    assert packages - listed == set(), "packages missing from docs/architecture.md"
    missing = {folder for folder in listed if not (ROOT / folder).is_dir()}
    assert missing == set(), "docs/architecture.md names folders that do not exist"


def _commands_in(text: str) -> list[list[str]]:
    """Each ``fieldkit ...`` command a page names: its indented lines, and inline `fieldkit ...` code."""
    found = [line.split() for line in re.findall(r"^ {4,}(fieldkit [^\n|#]+)", text, flags=re.M)]
    found += [code.split() for code in re.findall(r"`(fieldkit [^`]+)`", text)]
    return found


def test_every_command_and_option_the_hub_keys_page_names_exists() -> None:
    import click

    from fieldkit.cli import cli

    commands = _commands_in((ROOT / "docs" / "hub-keys.md").read_text(encoding="utf-8"))
    assert len(commands) >= 10, "the page's commands were not found"
    named = set()
    for words in commands:
        command: click.Command = cli
        context = click.Context(cli)
        rest = words[1:]
        while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
            sub = command.get_command(context, rest[0])
            assert sub is not None, f"{' '.join(words)}: no command {rest[0]!r}"
            command, rest = sub, rest[1:]
        options = {opt for param in command.params for opt in param.opts}
        for word in rest:
            if word.startswith("--"):
                assert word in options, f"{' '.join(words)}: {command.name} has no option {word}"
        named.add(command.name)
    assert {"keygen", "recipient", "pack", "export", "report", "init", "enrol"} <= named
