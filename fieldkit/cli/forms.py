"""``fieldkit forms``: check form definitions and their language."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.lint import lint
from fieldkit.core import paths
from fieldkit.core.formengine import catalogue
from fieldkit.core.formengine.catalogue import LOCK_NAME, check_directory
from fieldkit.core.formengine.timing import form_timing

FORMS_DIR_OPTION = click.option(
    "--forms-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of form definitions (default: the shipped forms).",
)


@click.group()
def forms() -> None:
    """Check the assessment forms."""


@forms.command("check")
@FORMS_DIR_OPTION
@click.option(
    "--update-lock",
    is_flag=True,
    help=f"Record new form versions (hash and item meanings) in {LOCK_NAME} once everything else is correct.",
)
def check(forms_dir: Path | None, update_lock: bool) -> None:
    """Load every form, and the older versions in archive/, and report every problem at once.

    Exits with status 1 when any form has a problem: a YAML error, an unknown
    key, type or tag, a missing choice list, a duplicate id, a condition that
    names an unknown item or mixes kinds of values, conditions that depend on
    each other in a circle, a form that changed without a new version, an
    archived file not named <form id>.v<version>.yaml, or an item id whose type,
    choice values or scale differ between two versions (give the changed
    question a new id).

    For each current form it also prints how long an interview takes: the words read
    aloud at 130 a minute, plus time to answer each question (forms/README.md, "How
    long a form takes").
    """
    directory = forms_dir or paths.forms_dir()
    result = check_directory(directory, lock=not update_lock, archive=True)
    for problem in result.problems:
        click.echo(str(problem), err=True)
    if result.problems:
        raise click.ClickException(f"{len(result.problems)} problem(s) in {len(result.forms) or 'the'} form file(s)")
    if update_lock:
        added = catalogue.update_lock([*result.forms.values(), *result.archived], directory / LOCK_NAME)
        lock_problems = check_directory(directory, archive=True).problems
        for problem in lock_problems:
            click.echo(str(problem), err=True)
        if lock_problems:
            raise click.ClickException(f"{len(lock_problems)} problem(s) remain after updating {LOCK_NAME}")
        click.echo(f"{LOCK_NAME}: recorded {', '.join(added) if added else 'nothing new'}")
    for form in result.forms.values():
        click.echo(f"ok  {form.key}  {len(form.sections)} sections, {len(form.items)} items")
        click.echo(f"    {form_timing(form).summary()}")
    for form in result.archived:
        click.echo(f"ok  {form.key}  archived, {len(form.sections)} sections, {len(form.items)} items")


forms.add_command(lint)
