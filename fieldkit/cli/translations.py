"""``fieldkit translations``: the translators' commands (see translations/README.md)."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.core.i18n.checks import Problem, all_catalogue_problems
from fieldkit.core.i18n.compiling import compile_all
from fieldkit.core.i18n.extraction import fresh_templates, render_template, stale_templates
from fieldkit.core.i18n.layout import Layout, default_layout
from fieldkit.core.i18n.merge import MergeSummary, init_language, update_language
from fieldkit.core.i18n.pofile import CatalogueSyntaxError, write_if_changed
from fieldkit.core.i18n.status import all_status, status_table

pass_layout = click.make_pass_decorator(Layout)


def _report(problems: list[Problem]) -> None:
    """Print one line per problem and stop with status 1; nothing happens when there are none."""
    if not problems:
        return
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{len(problems)} problem(s)", err=True)
    click.get_current_context().exit(1)


@click.group()
@click.option(
    "--translations-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the catalogues (default: the shipped translations/).",
)
@click.option(
    "--forms-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of the form definitions to extract from (default: the shipped forms/).",
)
@click.pass_context
def translations(ctx: click.Context, translations_dir: Path | None, forms_dir: Path | None) -> None:
    """Translate the app and the forms: extract, update, compile, status, check, init.

    \b
    After changing templates, Python strings or forms (developers):
      fieldkit translations extract && fieldkit translations update
    After translating (translators):
      fieldkit translations check && fieldkit translations status && fieldkit forms lint
    """
    shipped = default_layout()
    ctx.obj = Layout(translations_dir or shipped.translations, forms_dir or shipped.forms, shipped.sources)


@translations.command()
@pass_layout
def extract(layout: Layout) -> None:
    """Write translations/messages.pot and forms.pot from the current sources.

    Running it again without changes to the sources changes nothing.
    """
    changed = False
    for domain, template in fresh_templates(layout).items():
        path = layout.template(domain)
        written = write_if_changed(path, render_template(template))
        changed = changed or written
        count = sum(1 for message in template.catalog if message.id)
        click.echo(f"{layout.shown(path)}: {count} strings{'' if written else ' (no change)'}")
    if changed:
        click.echo("Now run 'fieldkit translations update' to bring every language up to date.")


def _echo_summaries(summaries: list[MergeSummary]) -> None:
    for summary in summaries:
        click.echo(summary.describe())


@translations.command()
@click.argument("languages", nargs=-1, metavar="[LANGUAGE]...")
@pass_layout
def update(layout: Layout, languages: tuple[str, ...]) -> None:
    """Merge the templates into every language's catalogues (or only LANGUAGE...).

    Changed source strings keep their old translation marked fuzzy (to review),
    new strings start empty, removed ones stay at the end as obsolete (#~).
    A missing catalogue of a language (messages.po or forms.po) is started.
    """
    problems: list[Problem] = []
    for language in languages or layout.languages():
        try:
            _echo_summaries(update_language(layout, language, create=True))
        except CatalogueSyntaxError as error:
            problems.extend(Problem(error.shown, p.line, f"invalid syntax: {p.message}") for p in error.problems)
    _report(problems)


@translations.command()
@click.argument("language")
@pass_layout
def init(layout: Layout, language: str) -> None:
    """Start a new language: create its messages.po and forms.po from the templates.

    LANGUAGE is a code such as uk, id, fa or pt_BR.
    """
    code, summaries = init_language(layout, language)
    _echo_summaries(summaries)
    terms = layout.translations / "stigma-terms" / f"{code.split('_')[0]}.yaml"
    forms = layout.shown(layout.catalogue(code, "forms"))
    click.echo(f"Open {forms} and messages.po in Poedit to translate.")
    if not terms.is_file():
        click.echo(f"Also start {layout.shown(terms)} (see translations/stigma-terms/README.md).")


@translations.command("compile")
@pass_layout
def compile_command(layout: Layout) -> None:
    """Build the .mo files the app reads; refuses catalogues with errors.

    Writes beside the .po files, as Poedit does. The kit does not read these: it
    compiles into its own folder when it starts.
    """
    written, problems = compile_all(layout.translations)
    for path in written:
        click.echo(f"compiled {layout.shown(path)}")
    click.echo(f"{len(written)} catalogue(s) compiled; the others were up to date or have errors")
    _report(problems)


@translations.command()
@click.argument("languages", nargs=-1, metavar="[LANGUAGE]...")
@pass_layout
def status(layout: Layout, languages: tuple[str, ...]) -> None:
    """Show, per language, catalogue and form, how much is translated.

    "done" counts only translated and reviewed strings. A form is offered in a
    language only at 100% (nothing untranslated, nothing fuzzy).
    """
    for line in status_table(all_status(layout, list(languages) or None)):
        click.echo(line)


@translations.command()
@pass_layout
def check(layout: Layout) -> None:
    """Fail when a template is stale or a catalogue has errors.

    Errors: invalid syntax, a missing or wrong Plural-Forms header, a plural entry
    with the wrong number of forms, placeholders (%(name)s, {name}) that differ
    from the source. Untranslated and fuzzy strings are not errors ('status' shows
    them). The respectful-language check is 'fieldkit forms lint'.
    """
    problems: list[Problem] = []
    if layout.sources is None:
        click.echo(
            "note: not a source checkout, so the templates were not compared with the sources",
            err=True,
        )
    else:
        problems.extend(stale_templates(layout))
    problems.extend(all_catalogue_problems(layout))
    _report(problems)
    templates = "templates up to date; " if layout.sources is not None else ""
    click.echo(f"ok: {templates}{len(layout.languages())} language(s), no errors in their catalogues")
