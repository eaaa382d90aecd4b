"""The response rate: peer interviews completed against those declined, per centre and cycle.

Kits count declined interviews per form, centre and cycle and send the counts sealed in
their bundles (``fieldkit-tally/1``); the hub keeps the newest tally of each kit key
epoch. This stage opens those tallies with the hub identity (as records are opened),
adds them up, and sets them beside the completed interviews :mod:`collect` counted.

The rate is completed / (completed + declined). Both counts are about people, so each
is published only from the threshold up ("<5" below, zero included), and a rate is
published only where both counts are: a rate from a small count would give it back.
Rows are per form and centre, for the report's cycle (``--cycle``) or for every cycle
together, never split by cycle beside a centre total: the report publishes each
centre's peer interviews elsewhere, and a total minus the shown cycles would give a
hidden one back. No totals are published beside the rows either. A tally that cannot
be opened is named (by kit, with a reason) and left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.crypto import age
from sync.hub.opening import UnreadableRecord, open_tally
from sync.hub.reports.collect import Collected
from sync.hub.reports.facts import CENTRE_FORMS, normalise_code
from sync.hub.reports.suppression import Cell, check_threshold, suppress_count
from sync.hub.store import HubStore

__all__ = ["Declined", "ResponseRow", "Responses", "read_declined", "response_rates"]

Key = tuple[str, str | None, str | None]  # (form id, centre code, cycle id)
Row = tuple[str, str | None]  # (form id, centre code): one row of the table


@dataclass(frozen=True)
class Declined:
    """Declined interviews added up over every kit's newest tally."""

    counts: Counter[Key]
    kits: int  # kit key epochs whose tally was read
    problems: tuple[tuple[str, str], ...]  # (kit id, reason), never content


@dataclass(frozen=True)
class ResponseRow:
    form_id: str
    centre: str | None
    cycle: str | None  # the report's cycle; None: every cycle together
    completed: Cell
    declined: Cell
    rate: float | None  # None: not published (a count under the threshold)


@dataclass(frozen=True)
class Responses:
    rows: tuple[ResponseRow, ...]
    kits: int
    problems: tuple[tuple[str, str], ...]


def read_declined(hub_dir: Path, identities: Sequence[age.Identity]) -> Declined:
    """Open every kit key epoch's newest tally and add up its counts."""
    counts: Counter[Key] = Counter()
    problems: list[tuple[str, str]] = []
    kits = 0
    with HubStore(hub_dir) as store:
        stored = store.tallies()
    for one in stored:
        try:
            tally = open_tally(one, identities)
        except UnreadableRecord as error:
            problems.append((one.source_id, error.reason))
            continue
        kits += 1
        for cell in tally.declined:
            counts[(cell.form, normalise_code(cell.centre), cell.cycle)] += cell.count
    return Declined(counts, kits, tuple(problems))


def response_rates(
    collected: Collected, declined: Declined, *, threshold: int, centres: frozenset[str] | None = None
) -> Responses:
    """One row per form about people and centre that has completed or declined interviews.

    With ``collected.cycle`` set only that cycle's interviews and declines count (the
    completed ones were already chosen by :func:`collect`); ``centres`` (a region
    filter) keeps only those centres' rows.
    """
    check_threshold(threshold)
    completed_by: Counter[Row] = Counter()
    declined_by: Counter[Row] = Counter()
    for (form, centre, cycle), count in collected.completed.items():
        if form not in CENTRE_FORMS and (collected.cycle is None or cycle == collected.cycle):
            completed_by[(form, centre)] += count
    for (form, centre, cycle), count in declined.counts.items():
        if form not in CENTRE_FORMS and (collected.cycle is None or cycle == collected.cycle):
            declined_by[(form, centre)] += count
    keys = set(completed_by) | set(declined_by)
    if centres is not None:
        keys = {key for key in keys if key[1] in centres}
    rows = []
    for key in sorted(keys, key=lambda key: (key[0], key[1] is None, key[1] or "")):
        done, refused = completed_by[key], declined_by[key]
        completed, said_no = _people(done, threshold), _people(refused, threshold)
        rate = None if completed.hidden or said_no.hidden else done / (done + refused)
        rows.append(ResponseRow(key[0], key[1], collected.cycle, completed, said_no, rate))
    return Responses(tuple(rows), declined.kits, declined.problems)


def _people(value: int, threshold: int) -> Cell:
    # Zero is hidden too: "nobody declined here" would say as much as "one person did".
    if value < threshold:
        return Cell(value, True)
    return suppress_count(value, threshold)
