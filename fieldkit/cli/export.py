"""``fieldkit hub export``: the hub's records, decrypted into tables, a codebook and a data package."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.options import (
    HUB_DATA_OPTION,
    IDENTITY_OPTION,
    PROGRESS_OPTION,
    progress_bar,
    translations_option,
    unlock_hub_identities,
    warn_missing_keys,
)
from fieldkit.cli.passphrase import PASSPHRASE_FILE_OPTION
from fieldkit.core.counts import count_of
from fieldkit.core.errors import FieldkitError
from sync.hub.export.run import FORMATS, ExportPlan, ExportReport, plan_export, run_export
from sync.hub.store import HubStore

PLAINTEXT_WARNING = (
    "These files hold answers in plaintext: keep them on an encrypted disk, share them only "
    "with people allowed to see them, and delete them when the analysis is done."
)


def _audit(plan: ExportPlan, language: str, report: ExportReport | None, error: str | None = None) -> None:
    """The export in the hub's audit trail: format, counts, file names (never a folder path)."""
    detail: dict[str, object] = {"format": plan.table_format, "language": language, "out": plan.out_dir.name}
    if report is None:
        detail.update(result="failed", error=error or "")
    else:
        detail.update(
            result="written" if not report.failed else "partly written",
            exported=report.exported,
            failed=report.failed,
            quarantined=report.quarantined,
            files=[table.path.name for table in report.tables],
        )
    with HubStore(plan.hub_dir) as store:
        store.audit(None, "export.written", plan.hub_id, detail)


def _print_report(report: ExportReport) -> None:
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for problem in report.problems:
        click.echo(problem.line(), err=True)
    click.echo(f"Wrote {report.out_dir}:")
    for table in report.tables:
        note = "" if table.labels_available else " (no form definition: labels unavailable)"
        click.echo(f"  {table.path.name}: {count_of(table.rows, 'record', 'records')}{note}")
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
@HUB_DATA_OPTION
@IDENTITY_OPTION
@PASSPHRASE_FILE_OPTION
@click.option("--format", "table_format", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv: one CSV file per table; json: one JSON array of objects per table.")  # fmt: skip
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new or empty folder for the export.")  # fmt: skip
@click.option("--lang", "language", default="en", show_default=True,
              help="Language of the labels in the codebook and datapackage.json.")  # fmt: skip
@translations_option("Take labels from this translations folder instead of the shipped one.")
@click.option("--force", is_flag=True, help="Replace an earlier export in --out.")
@PROGRESS_OPTION
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
    """Decrypt the hub's records into one table per form, with a codebook.

    Writes OUT/<form>.csv (or .json) with the records of every version of the form
    the hub knows (shipped, archived or packed), columns by item id; a version it
    knows no definition of gets OUT/<form>-v<version>.csv. Then the codebook, its
    version table (versions.csv) and a Frictionless datapackage.json. A record
    that cannot be decrypted is listed with the reason and the others are still
    exported; the exit status is then 1.
    """
    plan = plan_export(
        data_dir, out_dir, table_format=table_format, language=language,
        translations_dir=translations_dir, force=force,
    )  # fmt: skip
    identities = unlock_hub_identities(identity_file, passphrase_file)
    warn_missing_keys(identities, plan.recipients or (plan.recipient,), identity_file)
    try:
        with progress_bar(plan.total, progress, "Decrypting records") as advance:
            report = run_export(plan, identities, advance=advance)
    except FieldkitError as error:
        _audit(plan, language, None, type(error).__name__)
        raise
    _audit(plan, language, report)
    _print_report(report)
    if report.failed:
        raise FieldkitError(
            f"{report.failed} of {report.failed + report.exported} records could not be exported "
            f"(listed above); the other {report.exported} are in {report.out_dir}"
        )
