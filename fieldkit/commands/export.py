"""``fieldkit hub export``: the hub's records, decrypted into tables, a codebook and a data package."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from fieldkit.errors import FieldkitError
from fieldkit.hubkeys import identity_needs_passphrase, load_hub_identities
from fieldkit.passphrase import PASSPHRASE_FILE_OPTION, read_passphrase
from sync.export import FORMATS, ExportReport, plan_export, run_export

PLAINTEXT_WARNING = (
    "These files hold answers in plaintext: keep them on an encrypted disk, share them only "
    "with people allowed to see them, and delete them when the analysis is done."
)


@contextlib.contextmanager
def _progress(total: int, show: bool) -> Iterator[Callable[[int], None] | None]:
    if not show:
        yield None
        return
    with click.progressbar(length=total, label="Decrypting records", file=sys.stderr) as bar:
        yield bar.update


def _print_report(report: ExportReport) -> None:
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for problem in report.problems:
        click.echo(problem.line(), err=True)
    click.echo(f"Wrote {report.out_dir}:")
    for table in report.tables:
        note = "" if table.labels_available else " (no form definition: labels unavailable)"
        click.echo(f"  {table.path.name}: {table.rows} records{note}")
        if table.hash_differs and table.labels_available:
            click.echo(
                f"    {table.hash_differs} made with another definition of this form version "
                "(flagged in the form_hash column)"
            )
    click.echo("  the codebook and datapackage.json describe them")
    if report.quarantined:
        click.echo(
            f"{report.quarantined} record ids are in quarantine and were not exported; "
            "'fieldkit hub status' lists them."
        )
    click.echo(PLAINTEXT_WARNING)


@click.command("export")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The hub's data folder.")  # fmt: skip
@click.option("--identity", "identity_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The hub identity (hub-identity.age, or hub-identity.txt).")  # fmt: skip
@PASSPHRASE_FILE_OPTION
@click.option("--format", "table_format", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv: one CSV file per table; json: one JSON array of objects per table.")  # fmt: skip
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new or empty folder for the export.")  # fmt: skip
@click.option("--lang", "language", default="en", show_default=True,
              help="Language of the labels in the codebook and datapackage.json.")  # fmt: skip
@click.option("--translations", "translations_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Take labels from this translations folder instead of the shipped one.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace an earlier export in --out.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar on stderr (default: when stderr is a terminal).")  # fmt: skip
def export(
    data_dir: Path,
    identity_file: Path,
    passphrase_file: Path | None,
    table_format: str,
    out_dir: Path,
    language: str,
    translations_dir: Path | None,
    force: bool,
    progress: bool | None,
) -> None:
    """Decrypt the hub's records into one table per form version, with a codebook.

    Writes OUT/<form>-v<version>.csv (or .json), the codebook and a Frictionless
    datapackage.json. A record that cannot be decrypted is listed with the reason
    and the others are still exported; the exit status is then 1.
    """
    plan = plan_export(
        data_dir, out_dir, table_format=table_format, language=language,
        translations_dir=translations_dir, force=force,
    )  # fmt: skip
    passphrase = None
    if identity_needs_passphrase(identity_file):
        passphrase = read_passphrase(passphrase_file, prompt="Hub identity passphrase")
    identities = load_hub_identities(identity_file, passphrase)
    if plan.recipient not in {identity.recipient().to_string() for identity in identities}:
        click.echo(
            f"Warning: {identity_file.name} is not the key of this hub ({plan.recipient}); "
            "only records also sealed to it (an escrow key) will open.",
            err=True,
        )
    show = progress if progress is not None else sys.stderr.isatty()
    with _progress(plan.total, show) as advance:
        report = run_export(plan, identities, advance=advance)
    _print_report(report)
    if report.failed:
        raise FieldkitError(
            f"{report.failed} of {report.failed + report.exported} records could not be exported "
            f"(listed above); the other {report.exported} are in {report.out_dir}"
        )
