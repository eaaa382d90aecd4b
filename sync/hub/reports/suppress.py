"""Stage 3 of the report: decide, once and on whole tables, which counts are published.

Nothing is drawn yet, and nothing after this stage decides to hide anything: the
view and the renderers only show what :class:`Protected` says, with its marks.

- **Red-flag tables about people** (peer interviews): per region and form, centres by
  red-flag questions, counting "yes" answers, with a total per question for the
  region (no total per centre: one person may report several red flags, and such a
  total would only give hidden counts away). Every count below the
  threshold is hidden as "<5", *zero included*, so that a reader cannot tell a red
  flag reported by one or two people at a centre from one nobody reported; a centre
  with fewer peer interviews than the threshold has its whole row hidden. Totals are
  protected by :func:`~sync.hub.reports.suppression.suppress` (secondary cells get
  their own mark). A centre appears in a form's table only if it has records of that
  form, so a row of zeros from no records is never mistaken for protection.
- **Region-level red flags**: a question whose "yes" answers at all the region's
  centres together reach the threshold is "reported at one or more centres in this
  region"; below the threshold it is not mentioned anywhere.
- **Centre assessments** describe centres, not people: shown as they are.
- Single counts of people (a centre's peer interviews, records naming no centre, a
  centre a region filter cannot place) are hidden alone below the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fieldkit.core.formengine.model import Form
from sync.hub.reports.facts import CENTRE_FORMS
from sync.hub.reports.score import CentreScore, Scored, Unplaced, flag_forms
from sync.hub.reports.suppression import Cell, SuppressedTable, check_threshold, suppress, suppress_count

__all__ = ["FlagTable", "Protected", "UnplacedCentre", "plain", "protect"]


@dataclass(frozen=True)
class FlagTable:
    """Centres of one region by the red-flag questions of one form: counts of "yes"."""

    form: Form
    region: str | None
    centres: tuple[str, ...]
    items: tuple[str, ...]
    table: SuppressedTable
    records: tuple[Cell, ...]  # records of this form per centre
    about_people: bool
    region_reported: tuple[str, ...]  # items reported in the region by at least the threshold


@dataclass(frozen=True)
class UnplacedCentre:
    centre: Unplaced
    interviews: Cell
    flags_reported: Cell


@dataclass(frozen=True)
class Protected:
    """The scored report with every published count decided."""

    scored: Scored
    tables: tuple[FlagTable, ...]
    interviews: Mapping[str, Cell]  # centre code -> its peer interviews
    unlinked: Mapping[str, Cell]  # form id -> records naming no centre
    unplaced: tuple[UnplacedCentre, ...]

    @property
    def threshold(self) -> int:
        return self.scored.threshold

    def tables_in(self, region: str | None) -> list[FlagTable]:
        return [table for table in self.tables if table.region == region]

    def cell(self, table: FlagTable, centre: str, item: str) -> Cell:
        return table.table.cells[table.centres.index(centre)][table.items.index(item)]


def plain(counts: Sequence[Sequence[int]], threshold: int) -> SuppressedTable:
    """A table of counts about centres, not people: every figure shown."""
    width = len(counts[0]) if counts else 0

    def shown(value: int) -> Cell:
        return Cell(value, False)

    return SuppressedTable(
        cells=tuple(tuple(shown(value) for value in row) for row in counts),
        row_totals=tuple(shown(sum(row)) for row in counts),
        column_totals=tuple(shown(sum(row[c] for row in counts)) for c in range(width)),
        grand_total=shown(sum(map(sum, counts))),
        threshold=threshold,
    )


def _table(form: Form, items: tuple[str, ...], region: str | None, centres: Sequence[CentreScore], threshold: int):
    with_records = [centre for centre in centres if centre.records.get(form.id)]
    if not with_records:
        return None
    counts = [[centre.flags.get((form.id, item), 0) for item in items] for centre in with_records]
    records = [centre.records[form.id] for centre in with_records]
    about_people = form.id not in CENTRE_FORMS
    if about_people:
        small = {row for row, number in enumerate(records) if number < threshold}
        table = suppress(counts, threshold, hidden_rows=small, hide_zeros=True, column_totals_only=True)
        record_cells = tuple(suppress_count(number, threshold) for number in records)
        reported = tuple(
            item for item, total in zip(items, table.column_totals, strict=True) if total.value >= threshold
        )
    else:
        table = plain(counts, threshold)
        record_cells = tuple(Cell(number, False) for number in records)
        reported = tuple(item for item, total in zip(items, table.column_totals, strict=True) if total.value > 0)
    return FlagTable(
        form=form,
        region=region,
        centres=tuple(centre.code for centre in with_records),
        items=items,
        table=table,
        records=record_cells,
        about_people=about_people,
        region_reported=reported,
    )


def protect(scored: Scored, forms: Mapping[str, Form]) -> Protected:
    """Decide every published count of the report (the rules in the module docstring)."""
    threshold = check_threshold(scored.threshold)
    tables = []
    flagged = {flag for centre in scored.centres for flag in centre.flags}
    for region in scored.regions():
        centres = scored.centres_in(region)
        for form, items in flag_forms(forms, flagged):
            table = _table(form, items, region, centres, threshold)
            if table is not None:
                tables.append(table)
    return Protected(
        scored=scored,
        tables=tuple(tables),
        interviews={centre.code: suppress_count(centre.interviews, threshold) for centre in scored.centres},
        unlinked={
            form_id: suppress_count(count, threshold) if form_id in scored.people_forms else Cell(count, False)
            for form_id, count in scored.unlinked.items()
        },
        unplaced=tuple(
            UnplacedCentre(
                centre,
                suppress_count(centre.interviews, threshold),
                suppress_count(centre.flags_reported, threshold),
            )
            for centre in scored.unplaced
        ),
    )
