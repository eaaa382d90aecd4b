"""``hub report`` from start to end: the pipeline, then writing and publishing for the hub's page.

The stages, each its own module, each importing only the ones before it::

    facts -> collect -> score -> suppress -> responses, trends -> view -> render -> pdf -> run

``collect`` tallies records while reading them (nothing grows with their number);
``score`` applies the rules (ratings, red flags decide); ``suppress`` decides on
whole tables which counts are published; ``view`` makes every word and figure;
``render`` lays the view out as HTML and CSV; ``pdf`` prints that HTML page to
``report.pdf`` with headless Chromium (without Chromium the HTML and CSV are still
written, and :attr:`ReportResult.pdf` says why there is no PDF).

Outputs in the folder asked for: ``report.html`` (one static page, CSS inline),
``figures.csv`` (every figure the page shows) and ``report.pdf`` (the page on A4). The
HTML and CSV, plus a copy of the page that links its stylesheet (the hub's web pages allow
no inline style) and ``about.json``,
replace ``HUBDIR/reports/latest/`` in one rename, so the hub's page always shows one
whole report. They hold aggregate, suppressed figures only; still, the folder is 0700
and its files 0600, like everything else in the hub folder.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.archive import load_archive_for_serving
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.atomic import ensure_private_dir, fsync_dir, write_atomic
from sync.hub.cycles import HubCycle, cycle_by_id, previous_cycle
from sync.hub.definitions import known_to_hub
from sync.hub.reports.collect import Collected, collect
from sync.hub.reports.facts import normalise_code
from sync.hub.reports.pdf import PDF_FILE, PdfOutcome, print_pdf
from sync.hub.reports.render import CSS_FILE, figures_csv, render_html, report_css
from sync.hub.reports.responses import Responses, read_declined, response_rates
from sync.hub.reports.rollup import add_declined, add_tables
from sync.hub.reports.score import Scored, score
from sync.hub.reports.suppress import Protected, protect
from sync.hub.reports.suppression import SuppressionError, check_threshold
from sync.hub.reports.text import ReportWords
from sync.hub.reports.trends import Change, compare
from sync.hub.reports.view import build_view
from sync.hub.rollup import OpenedRollup, held_rollups
from sync.hub.store import HubStore

__all__ = [
    "ABOUT_FILE",
    "FIGURES_FILE",
    "HUB_VIEW_FILE",
    "LATEST_DIR",
    "PDF_FILE",
    "REPORT_FILE",
    "REPORT_FORMAT",
    "ReportError",
    "ReportResult",
    "write_report",
]

REPORT_FORMAT = "fieldkit-report/1"
REPORT_FILE = "report.html"
FIGURES_FILE = "figures.csv"
HUB_VIEW_FILE = "hub-view.html"
ABOUT_FILE = "about.json"
NOTE_FILE = "README.txt"
LATEST_DIR = Path("reports") / "latest"

LATEST_NOTE = """\
The latest report written by 'fieldkit hub report', shown on the hub's operator page.
These files hold only aggregate figures, with small numbers suppressed; no answer of
any one person. Each new report replaces this folder whole.
"""


class ReportError(FieldkitError):
    """The report cannot be made or written; ``str()`` says what to do."""


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    latest_dir: Path
    cards: Scored
    protected: Protected
    collected: Collected
    figures: int
    pdf: PdfOutcome
    responses: Responses | None = None
    cycle: HubCycle | None = None
    previous: HubCycle | None = None
    changes: tuple[Change, ...] = ()
    rollups: tuple[str, ...] = ()  # regional hubs whose roll-ups were added
    rollup_problems: tuple[tuple[str, str], ...] = ()  # (hub id, reason) of those left out


def _check_out_dir(out_dir: Path, hub_dir: Path) -> None:
    out_real, hub_real = out_dir.resolve(), hub_dir.resolve()
    if out_real == hub_real or hub_real in out_real.parents or out_real in hub_real.parents:
        raise ReportError(
            f"--out {out_dir} overlaps the hub folder; choose a folder outside it "
            f"(the report is copied to {hub_dir / LATEST_DIR} for the hub's page anyway)"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out {out_dir} exists and is not a folder")


def _publish_latest(hub_dir: Path, files: Mapping[str, bytes]) -> Path:
    """Replace HUBDIR/reports/latest with these files in one rename."""
    latest = hub_dir / LATEST_DIR
    parent = ensure_private_dir(latest.parent)
    staging = parent / f".latest.partial-{secrets.token_hex(6)}"
    old: Path | None = None
    try:
        ensure_private_dir(staging)
        for name, data in files.items():
            write_atomic(staging / name, data)
        if latest.exists():
            old = parent / f".latest.old-{secrets.token_hex(6)}"
            os.rename(latest, old)
        os.rename(staging, latest)
        fsync_dir(parent)
    except OSError as error:
        if old is not None and not latest.exists():
            os.rename(old, latest)
            old = None
        raise ReportError(f"could not publish the report in {latest}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return latest


def write_report(
    hub_dir: Path,
    out_dir: Path,
    identities: Sequence[age.Identity],
    *,
    language: str = "en",
    region: str | None = None,
    threshold: int = 5,
    forms: Mapping[str, Form] | None = None,
    translations_dir: Path | None = None,
    advance: Callable[[int], None] | None = None,
    today: datetime.date | None = None,
    cycle: str | None = None,
    archived: Sequence[Form] = (),
) -> ReportResult:
    """Read every record of the hub once and write the report (see the module docstring).

    ``forms`` and ``archived``: the current forms and older versions (default: the shipped
    forms and ``forms/archive/``); the versions this hub packed are added to them.
    """
    try:
        check_threshold(threshold)
    except SuppressionError as error:
        raise ReportError(f"--threshold: {error}") from None
    hub_dir, out_dir = Path(hub_dir), Path(out_dir)
    _check_out_dir(out_dir, hub_dir)
    words = ReportWords(language, Path(translations_dir) if translations_dir else paths.translations_dir())
    if forms is None:
        forms = load_directory(paths.forms_dir())
        archived, _broken = load_archive_for_serving(paths.forms_dir())  # forms check names broken files
    region_code = normalise_code(region) if region is not None else None
    if region is not None and region_code is None:
        raise ReportError("--region is empty; give a region code, or leave it out for every region")
    chosen = previous = None
    with HubStore(hub_dir) as store:
        hub_id = store.config.hub_id
        # Every version the hub knows: older records are scored with their own questions and rules.
        definitions = known_to_hub(store, forms.values(), archived).forms
        if cycle is not None:
            chosen = cycle_by_id(store, cycle)
            if chosen is None:
                raise ReportError(
                    f"--cycle {cycle[:60]!r}: the hub has no cycle of that id ('fieldkit hub cycles list' shows them)"
                )
            previous = previous_cycle(store, chosen)
        # Regional hubs' counts ('fieldkit hub rollup-import'): added before scoring, so that
        # suppression is decided on the combined figures.
        rollups, rollup_problems = held_rollups(store, identities)
    collected = _with_rollups(
        collect(hub_dir, identities, forms, advance=advance, cycle=cycle, definitions=definitions), rollups
    )
    cards = score(collected, threshold=threshold, region=region_code)
    protected = protect(cards, forms)
    centres = frozenset(centre.code for centre in cards.centres) if region_code is not None else None
    declined = read_declined(hub_dir, identities)
    for one in rollups:
        declined = add_declined(declined, one.tables)
    responses = response_rates(collected, declined, threshold=threshold, centres=centres)
    changes: tuple[Change, ...] = ()
    if chosen is not None:
        before = None
        if previous is not None:
            # The previous cycle's records, scored by the same rules, for the comparison only.
            before = score(
                _with_rollups(
                    collect(hub_dir, identities, forms, cycle=previous.cycle_id, definitions=definitions), rollups
                ),
                threshold=threshold,
                region=region_code,
            )
        changes = compare(cards, before)
    view = build_view(
        protected, words, hub_id=hub_id, forms=forms, today=today, responses=responses, cycle=chosen,
        previous=previous, changes=changes, definitions=definitions,
    )  # fmt: skip
    page = render_html(view, words).encode("utf-8")
    figures = figures_csv(view).encode("utf-8")
    # These raise StorageError, whose message says what failed and what to do.
    ensure_private_dir(out_dir)
    write_atomic(out_dir / REPORT_FILE, page)
    write_atomic(out_dir / FIGURES_FILE, figures)
    # Printed from the page just written: the PDF cannot say anything the page does not.
    pdf = print_pdf(out_dir / REPORT_FILE, out_dir / PDF_FILE)
    if pdf.path is None:
        # An older report.pdf beside this report.html would tell another story; take it away.
        (out_dir / PDF_FILE).unlink(missing_ok=True)
    about = {
        "format": REPORT_FORMAT,
        "written": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "language": words.language,
        "direction": words.direction,
        "region": region_code,
        "cycle": cycle,
        "threshold": threshold,
        "centres": len(cards.centres),
        "critical": len(cards.critical),
        "figures": len(view.figures),
    }
    latest = _publish_latest(
        hub_dir,
        {
            REPORT_FILE: page,
            FIGURES_FILE: figures,
            HUB_VIEW_FILE: render_html(view, words, css_href=CSS_FILE).encode("utf-8"),
            CSS_FILE: report_css().encode("utf-8"),
            ABOUT_FILE: (json.dumps(about, indent=2) + "\n").encode("utf-8"),
            NOTE_FILE: LATEST_NOTE.encode("utf-8"),
        },
    )
    return ReportResult(
        out_dir, latest, cards, protected, collected, len(view.figures), pdf, responses, chosen, previous, changes,
        tuple(one.hub_id for one in rollups), tuple(rollup_problems),
    )  # fmt: skip


def _with_rollups(collected: Collected, rollups: Sequence[OpenedRollup]) -> Collected:
    for one in rollups:
        add_tables(collected, one.tables)
    return collected
