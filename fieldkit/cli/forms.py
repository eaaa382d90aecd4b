"""``fieldkit forms``: check form definitions and their language."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.lint import lint
from fieldkit.core import paths
from fieldkit.core.formengine import catalogue
from fieldkit.core.formengine.catalogue import LOCK_NAME, check_directory
from fieldkit.core.formengine.timing import form_timing
from fieldkit.core.formengine.xlsform_export import complete_languages, language_column, write_xlsform
from fieldkit.core.formengine.xlsform_import import ImportProblems, read_xlsform, write_imported

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
    question a new id). An appearance fieldkit does not render is a warning,
    not a problem.

    For each current form it also prints how long an interview takes: the words read
    aloud at 130 a minute, plus time to answer each question (forms/README.md, "How
    long a form takes").
    """
    directory = forms_dir or paths.forms_dir()
    result = check_directory(directory, lock=not update_lock, archive=True)
    for problem in (*result.problems, *result.warnings):
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


@forms.command("export")
@click.argument("form_id")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The XLSForm file to write (.xlsx).",
)
@FORMS_DIR_OPTION
def export(form_id: str, out: Path, forms_dir: Path | None) -> None:
    """Write the current form FORM_ID as an XLSForm spreadsheet, for ODK, KoboToolbox and the like.

    Sections become groups; every language whose forms catalogue translates the whole form gets
    its label, hint and message columns; Standards tags, scoring and what else XLSForm has no
    column for go in fieldkit_* columns, which XLSForm tools ignore (forms/README.md, "XLSForm").
    """
    directory = forms_dir or paths.forms_dir()
    if out.suffix.lower() != ".xlsx":
        raise click.ClickException(f"{out}: an XLSForm file name ends in .xlsx")
    result = check_directory(directory, lock=False, archive=False)
    form = result.forms.get(form_id)
    if form is None:
        known = ", ".join(sorted(result.forms)) or "none"
        problems = [str(problem) for problem in result.problems if f"{form_id}.yaml" in problem.path]
        detail = ("\n" + "\n".join(problems)) if problems else ""
        raise click.ClickException(f"no usable form '{form_id}' in {directory} (forms: {known}){detail}")
    languages = complete_languages(form, paths.translations_dir())
    try:
        write_xlsform(form, languages, out)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror or error}") from None
    shown = ", ".join(language_column(language.code) for language in languages)
    click.echo(f"wrote {out}: {form.key}, {len(form.items)} items, languages: {shown}")


@forms.command("import")
@click.argument("xlsform", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the form's YAML file and its translations/<language>/LC_MESSAGES/forms.po.",
)
def import_(xlsform: Path, out: Path) -> None:
    """Read an XLSForm spreadsheet (survey, choices and settings sheets) into a fieldkit form.

    Writes <form id>.yaml and, for every label::Language (code) column, that language's
    forms.po. Every feature fieldkit does not support yet (repeats, media, external
    choices...) is reported at once with its sheet, row and column, and nothing
    is written; questions that collect identifiers (device id, phone number, location,
    e-mail...) are refused: fieldkit collects no direct identifiers. An appearance
    fieldkit does not render (it renders minimal and horizontal) is a warning, and left out.
    """
    try:
        imported = read_xlsform(xlsform)
    except ImportProblems as problems:
        for problem in problems.problems:
            click.echo(f"{xlsform.name}: {problem}", err=True)
        raise click.ClickException(f"{len(problems.problems)} problem(s) in {xlsform.name}; nothing written") from None
    for warning in imported.warnings:
        click.echo(f"{xlsform.name}: warning: {warning}", err=True)
    target = out / f"{imported.form_id}.yaml"
    if target.exists():
        raise click.ClickException(f"{target} exists already; nothing written")
    try:
        written = write_imported(imported, out)
    except OSError as error:
        raise click.ClickException(f"cannot write in {out}: {error.strerror or error}") from None
    languages = ", ".join(imported.languages) or "English only"
    click.echo(f"wrote {len(written)} file(s) in {out}: {target.name}, translations: {languages}")


forms.add_command(lint)
