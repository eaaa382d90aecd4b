"""The ``lint`` click command; the ``forms`` group attaches it as ``fieldkit forms lint``."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.core.errors import FieldkitError
from fieldkit.core.lint.scanner import lint_paths


class _CannotLint(click.ClickException):
    """The check could not run at all (broken term list, unreadable file)."""

    # 1 means "the wording needs changes"; a check that never ran must not look like it.
    exit_code = 2


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path), metavar="[PATHS]...")
@click.option("--strict", is_flag=True, help="Fail on warnings (terms marked 'prefer') too.")
def lint(paths: tuple[Path, ...], strict: bool) -> None:
    """Check wording for stigmatising terms about people who use drugs.

    Without PATHS, checks everything the kit ships: every form, every translation
    catalogue and, in a source checkout, the README, docs, templates and the prose
    of Python sources (comments, docstrings and strings, not names in the code nor
    one-token strings such as header names). PATHS may be files or folders.

    The wording is compared with the term lists in translations/stigma-terms/, in
    the language of each file. A term marked "avoid" is an error; one marked
    "prefer" is a warning. Every message names the respectful wording to use instead:

    \b
      forms/visit.yaml:12:9: avoid: "..." -> use "person who uses drugs" (en)

    To quote a term on purpose (for example, asking whether staff use it), add a
    comment "lint-allow: TERM -- REASON" at the end of the line or on the line above.
    Write it as a comment of the file's kind: after # in YAML, .po and Python files,
    inside <!-- --> in Markdown and HTML, inside {# #} in Jinja templates. A mark
    without a reason is an error; a mark that allows nothing is a warning.

    \b
    Exit status: 0 nothing to change; 1 errors found (or warnings, with --strict);
    2 the check could not run.
    """
    try:
        report = lint_paths(list(paths) if paths else None)
    except FieldkitError as error:
        raise _CannotLint(str(error)) from None
    for finding in report.findings:
        click.echo(finding.format())
    click.echo(report.summary())
    click.get_current_context().exit(1 if report.failed(strict=strict) else 0)
