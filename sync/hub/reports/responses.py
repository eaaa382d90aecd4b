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

Interviews that a form's stop rule ended (``stop_if``: "under 18" in the peer
interview) come in the same tallies (``fieldkit-tally/2``), per item and answer. They are
set beside each row with the same rule ("<5" below the threshold, zero included) and
never enter the rate: the person could not take part, so it was not an interview offered.
Every row of a form shows each stop its tallies name, so a missing figure never says
"none here".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fieldkit.core.crypto import age
from sync.hub.opening import UnreadableRecord, open_tally
from sync.hub.reports.collect import Collected
from sync.hub.reports.facts import CENTRE_FORMS, normalise_code
from sync.hub.reports.suppression import Cell, check_threshold, suppress_count
from sync.hub.store import HubStore

__all__ = ["Declined", "ResponseRow", "Responses", "Stopped", "read_declined", "response_rates"]

Key = tuple[str, str | None, str | None]  # (form id, centre code, cycle id)
Row = tuple[str, str | None]  # (form id, centre code): one row of the table
StopKey = tuple[str, str | None, str | None, str, str]  # (form id, centre, cycle, item id, answer)


@dataclass(frozen=True)
class Declined:
    """Declined interviews added up over every kit's newest tally."""

    counts: Counter[Key]
    kits: int  # kit key epochs whose tally was read
    problems: tuple[tuple[str, str], ...]  # (kit id, reason), never content
    stopped: Counter[StopKey] = field(default_factory=Counter)


@dataclass(frozen=True)
class Stopped:
    """One stop rule's count in a row: interviews the answer ``answer`` to ``item`` ended."""

    item: str
    answer: str
    count: Cell


@dataclass(frozen=True)
class ResponseRow:
    form_id: str
    centre: str | None
    cycle: str | None  # the report's cycle; None: every cycle together
    completed: Cell
    declined: Cell
    rate: float | None  # None: not published (a count under the threshold)
    stopped: tuple[Stopped, ...] = ()


@dataclass(frozen=True)
class Responses:
    rows: tuple[ResponseRow, ...]
    kits: int
    problems: tuple[tuple[str, str], ...]


def read_declined(hub_dir: Path, identities: Sequence[age.Identity]) -> Declined:
    """Open every kit key epoch's newest tally and add up its counts."""
    counts: Counter[Key] = Counter()
    stopped: Counter[StopKey] = Counter()
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
        for stop in tally.stopped:
            stopped[(stop.form, normalise_code(stop.centre), stop.cycle, stop.item, stop.answer)] += stop.count
    return Declined(counts, kits, tuple(problems), stopped)


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
    stopped_by: Counter[tuple[str, str | None, str, str]] = Counter()
    for (form, centre, cycle, item, answer), count in declined.stopped.items():
        if form not in CENTRE_FORMS and (collected.cycle is None or cycle == collected.cycle):
            stopped_by[(form, centre, item, answer)] += count
    stops: dict[str, set[tuple[str, str]]] = {}  # form id -> its (item, answer) stops the tallies name
    for form, _centre, item, answer in stopped_by:
        stops.setdefault(form, set()).add((item, answer))
    keys = set(completed_by) | set(declined_by) | {(form, centre) for form, centre, _i, _a in stopped_by}
    if centres is not None:
        keys = {key for key in keys if key[1] in centres}
    rows = []
    for key in sorted(keys, key=lambda key: (key[0], key[1] is None, key[1] or "")):
        done, refused = completed_by[key], declined_by[key]
        completed, said_no = _people(done, threshold), _people(refused, threshold)
        rate = None if completed.hidden or said_no.hidden else done / (done + refused)
        ended = tuple(
            Stopped(item, answer, _people(stopped_by[(key[0], key[1], item, answer)], threshold))
            for item, answer in sorted(stops.get(key[0], ()))
        )
        rows.append(ResponseRow(key[0], key[1], collected.cycle, completed, said_no, rate, ended))
    return Responses(tuple(rows), declined.kits, declined.problems)


def _people(value: int, threshold: int) -> Cell:
    # Zero is hidden too: "nobody declined here" would say as much as "one person did".
    if value < threshold:
        return Cell(value, True)
    return suppress_count(value, threshold)
