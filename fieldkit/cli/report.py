"""``fieldkit hub report``: scorecards per centre and principle, with small numbers suppressed."""

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
from fieldkit.core.errors import FieldkitError
from sync.hub.reports.run import FIGURES_FILE, REPORT_FILE, write_report
from sync.hub.reports.suppression import DEFAULT_THRESHOLD, MINIMUM_THRESHOLD
from sync.hub.store import HubStore


def _audit(data_dir: Path, detail: dict[str, object]) -> None:
    """The report in the hub's audit trail: which one, its threshold and counts, the folder's name only."""
    with HubStore(data_dir) as store:
        store.audit(None, "report.written", "scorecards", detail)


@click.command("report")
@HUB_DATA_OPTION
@IDENTITY_OPTION
@PASSPHRASE_FILE_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for report.html, figures.csv and report.pdf (replaced if there).",
)
@click.option("--lang", "language", default="en", show_default=True, help="Language of the report.")
@click.option("--region", default=None, help="Only the centres whose region code is this.")
@click.option(
    "--cycle",
    default=None,
    help="Only the records of this assessment cycle (its id), compared with the cycle before it.",
)
@click.option(
    "--threshold",
    type=int,
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help=f"Counts of people below this show as '<N' (at least {MINIMUM_THRESHOLD}).",
)
@translations_option("Take the report's words from this translations folder instead of the shipped one.")
@PROGRESS_OPTION
def report(
    data_dir: Path,
    identity_file: Path,
    passphrase_file: Path | None,
    out_dir: Path,
    language: str,
    region: str | None,
    cycle: str | None,
    threshold: int,
    translations_dir: Path | None,
    progress: bool | None,
) -> None:
    """Write scorecards: rights red flags and ratings per centre and principle.

    Writes OUT/report.html (one printable page, nothing outside it) and
    OUT/figures.csv (every figure the page shows), prints the page to
    OUT/report.pdf with headless Chromium (without Chromium it says so and writes
    the other two; the exit status stays 0), and copies the HTML and CSV to
    DATA/reports/latest for the hub's operator page. Counts from fewer than
    THRESHOLD people show as "<THRESHOLD". A record that cannot be opened is
    listed and the report is still written; the exit status is then 1.
    """
    if threshold < MINIMUM_THRESHOLD:
        raise FieldkitError(
            f"--threshold must be at least {MINIMUM_THRESHOLD}: smaller counts could point at the people behind them"
        )
    with HubStore(data_dir) as store:
        total = store.record_count()
        recipients = store.config.recipients
    identities = unlock_hub_identities(identity_file, passphrase_file)
    warn_missing_keys(identities, recipients, identity_file)
    detail: dict[str, object] = {"language": language, "region": region, "cycle": cycle, "threshold": threshold,
                                 "out": out_dir.name}  # fmt: skip
    try:
        with progress_bar(total, progress, "Reading records") as advance:
            result = write_report(
                data_dir,
                out_dir,
                identities,
                language=language,
                region=region,
                cycle=cycle,
                threshold=threshold,
                translations_dir=translations_dir,
                advance=advance,
            )
    except FieldkitError as error:
        _audit(data_dir, {**detail, "result": "failed", "error": type(error).__name__})
        raise
    collected, cards = result.collected, result.cards
    _audit(data_dir, {**detail, "result": "written", "centres": len(cards.centres), "figures": result.figures,
                      "records_used": cards.used, "not_opened": len(collected.problems),
                      "pdf": result.pdf.path is not None})  # fmt: skip
    for line in collected.problem_lines():
        click.echo(line, err=True)
    for hub_id, reason in result.rollup_problems:
        click.echo(f"roll-up from hub {hub_id}: not used in the report: {reason}", err=True)
    if result.responses is not None:
        for kit_id, reason in result.responses.problems:
            click.echo(f"tally of declined interviews from kit {kit_id}: not used in the report: {reason}", err=True)
    if region is not None and not cards.centres:
        click.echo(f"Warning: no centre has the region code {region!r}; the report lists no centre.", err=True)
    click.echo(f"Wrote {result.out_dir / REPORT_FILE} and {result.out_dir / FIGURES_FILE}:")
    click.echo(
        f"  {len(cards.centres)} centres, {len(cards.critical)} in critical status, "
        f"{result.figures} figures, threshold {threshold}"
    )
    click.echo(f"  {cards.used} records used of {collected.read}")
    if result.rollups:
        click.echo(f"  counted with the roll-ups of {len(result.rollups)} hub(s): {', '.join(result.rollups)}")
    if result.cycle is not None:
        before = result.previous.cycle_id if result.previous is not None else "none"
        click.echo(f"  cycle {result.cycle.cycle_id} ({result.cycle.name}); compared with the previous cycle: {before}")
    if result.responses is not None:
        click.echo(f"  declined interviews: tallies of {result.responses.kits} kit key(s) read")
    if cards.region_filter is not None:
        click.echo(f"  {cards.other_regions} records not used: centres in other regions")
        for found in result.protected.unplaced:
            click.echo(
                f"  {found.interviews.shown(threshold)} records not used: centre {found.centre.code} has no region "
                "(no centre assessment gives one); it is named in the report"
            )
    for form_id, cell in result.protected.unlinked.items():
        click.echo(f"  {cell.shown(threshold)} records not used: {form_id} without a centre code")
    for reason, count in sorted(collected.not_used.items()):
        click.echo(f"  {count} records not used: {reason.replace('_', ' ')}")
    older = sum(count for (_form, _version, how), count in cards.versions.items() if how != "current")
    if older:
        click.echo(f"  {older} of the records used were made with another form version, read by question id")
    if collected.quarantined:
        click.echo(f"  {collected.quarantined} record ids in quarantine were not read ('fieldkit hub status')")
    if result.pdf.path is not None:
        click.echo(f"Wrote {result.pdf.path}")
    else:
        click.echo(f"Warning: the PDF was not made: {result.pdf.reason}; report.html and figures.csv were.", err=True)
    click.echo(f"Copied to {result.latest_dir} for the hub's page (aggregate, suppressed figures only).")
    failed = [f"{len(collected.problems)} records could not be opened"] if collected.problems else []
    if result.rollup_problems:
        failed.append(f"{len(result.rollup_problems)} roll-ups could not be used")
    if failed:
        raise FieldkitError(f"{' and '.join(failed)} (listed above); the report leaves them out")
