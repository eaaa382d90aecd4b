"""Assessment cycles: the rounds of a monitoring programme, in the ``cycles`` table.

A cycle has a safe id (it goes into every record made during it, and into packs), a
name, a first and a last day, the forms it uses and the centres it covers (none listed:
every active centre). Open cycles never overlap in dates, so on any day at most one
cycle is current and a record's cycle is never a guess. Closing a cycle ends it for
good: it stays in reports and trends, but no new pack carries it.

The read API (``cycle_by_id``, ``previous_cycle``, ``current_cycle``) is what packs,
reports and trends use.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from fieldkit.core.errors import FieldkitError
from sync.hub import audit
from sync.hub.registry import centres, clean_code
from sync.hub.store import HubStore
from sync.protocol.pack import CYCLE_ID
from sync.protocol.stamps import format_stamp, utcnow

__all__ = [
    "CycleError",
    "HubCycle",
    "add_cycle",
    "close_cycle",
    "current_cycle",
    "cycle_by_id",
    "cycles",
    "parse_day",
    "previous_cycle",
]

NAME_MAX = 200  # the pack's limit
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class CycleError(FieldkitError):
    """A change to the cycles was refused; ``str()`` says why. Nothing was changed."""


@dataclass(frozen=True)
class HubCycle:
    """One assessment round as the hub keeps it."""

    cycle_id: str
    name: str
    start: datetime.date
    end: datetime.date
    forms: tuple[str, ...]
    centres: tuple[str, ...]  # () means every active centre
    added: str
    closed: str | None  # when it was closed, or None while open

    @property
    def is_open(self) -> bool:
        return self.closed is None

    def includes(self, day: datetime.date) -> bool:
        return self.start <= day <= self.end


def parse_day(text: str, what: str) -> datetime.date:
    """A day written YYYY-MM-DD, or :class:`CycleError`."""
    try:
        if not _DAY.fullmatch(text.strip()):
            raise ValueError(text)
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise CycleError(f"the {what} day {text[:20]!r} is not a day written YYYY-MM-DD") from None


def _from_row(row: Sequence[object]) -> HubCycle:
    cycle_id, name, start, end, forms, centre_codes, added, closed = row
    return HubCycle(
        str(cycle_id), str(name), datetime.date.fromisoformat(str(start)), datetime.date.fromisoformat(str(end)),
        tuple(json.loads(str(forms))), tuple(json.loads(str(centre_codes))), str(added),
        None if closed is None else str(closed),
    )  # fmt: skip


def cycles(store: HubStore) -> list[HubCycle]:
    """Every cycle, open and closed, by start day."""
    with store.transaction() as db:
        rows = db.execute(
            "SELECT cycle_id, name, start_day, end_day, forms, centres, added, closed FROM cycles "
            "ORDER BY start_day, cycle_id"
        ).fetchall()
    return [_from_row(row) for row in rows]


def cycle_by_id(store: HubStore, cycle_id: str) -> HubCycle | None:
    """The cycle with this id, or None."""
    return next((cycle for cycle in cycles(store) if cycle.cycle_id == cycle_id), None)


def previous_cycle(store: HubStore, cycle: HubCycle) -> HubCycle | None:
    """The cycle that started last before ``cycle`` did (open or closed), or None."""
    earlier = [other for other in cycles(store) if other.start < cycle.start]
    return max(earlier, key=lambda other: (other.start, other.cycle_id), default=None)


def current_cycle(store: HubStore, today: datetime.date) -> HubCycle | None:
    """The open cycle whose days include ``today``, or None (open cycles never overlap)."""
    return next((c for c in cycles(store) if c.is_open and c.includes(today)), None)


def add_cycle(
    store: HubStore,
    cycle_id: str,
    *,
    name: str,
    start: datetime.date,
    end: datetime.date,
    forms: Sequence[str],
    known_forms: Collection[str],
    centre_codes: Sequence[str] = (),
) -> HubCycle:
    """Add an open cycle after checking it against the forms, the registry and the other cycles."""
    if not CYCLE_ID.fullmatch(cycle_id):
        raise CycleError(
            f"the cycle id {cycle_id[:40]!r} may hold only letters, digits, '.', '_' and '-', start with a "
            "letter or digit, and be at most 40 characters (for example 2027-q1)"
        )
    clean_name = " ".join(name.split())
    if not clean_name or len(clean_name) > NAME_MAX or not clean_name.isprintable():
        raise CycleError(f"the cycle needs a name of 1 to {NAME_MAX} printable characters")
    if end < start:
        raise CycleError(f"the cycle ends ({end}) before it starts ({start})")
    form_ids = tuple(dict.fromkeys(form.strip() for form in forms if form.strip()))
    if not form_ids:
        raise CycleError("the cycle needs at least one form (--forms)")
    unknown = [form for form in form_ids if form not in known_forms]
    if unknown:
        raise CycleError(
            f"no form {', '.join(unknown)} in the hub's forms folder; the forms are: {', '.join(sorted(known_forms))}"
        )
    active = {centre.code.casefold(): centre.code for centre in centres(store)}
    covered: list[str] = []
    for text in centre_codes:
        if not text.strip():
            continue
        code = clean_code(text)
        if code.casefold() not in active:
            raise CycleError(f"centre {code} is not an active centre of the registry ('hub centres list')")
        covered.append(active[code.casefold()])
    covered = list(dict.fromkeys(covered))
    with store.transaction() as db:
        rows = db.execute(
            "SELECT cycle_id, name, start_day, end_day, forms, centres, added, closed FROM cycles"
        ).fetchall()
        for other in map(_from_row, rows):
            if other.cycle_id.casefold() == cycle_id.casefold():
                raise CycleError(f"there is already a cycle {other.cycle_id}; cycle ids are never reused")
            if other.is_open and other.start <= end and start <= other.end:
                raise CycleError(
                    f"the cycle's days overlap open cycle {other.cycle_id} ({other.start} to {other.end}); "
                    "open cycles never overlap: change the days, or close that cycle first"
                )
        added = format_stamp(utcnow())
        db.execute(
            "INSERT INTO cycles(cycle_id, name, start_day, end_day, forms, centres, added, closed) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, NULL)",
            (cycle_id, clean_name, start.isoformat(), end.isoformat(), json.dumps(list(form_ids)),
             json.dumps(covered), added),
        )  # fmt: skip
        detail = {"start": start.isoformat(), "end": end.isoformat(), "forms": list(form_ids), "centres": len(covered)}
        audit.append(db, audit.cli_actor(), "cycle.added", cycle_id, detail)
    return HubCycle(cycle_id, clean_name, start, end, form_ids, tuple(covered), added, None)


def close_cycle(store: HubStore, cycle_id: str) -> HubCycle:
    """Close an open cycle: no later pack carries it."""
    with store.transaction() as db:
        row = db.execute(
            "SELECT cycle_id, name, start_day, end_day, forms, centres, added, closed FROM cycles WHERE cycle_id=?",
            (cycle_id,),
        ).fetchone()
        if row is None:
            raise CycleError(f"no cycle {cycle_id[:40]!r} ('hub cycles list')")
        cycle = _from_row(row)
        if not cycle.is_open:
            raise CycleError(f"cycle {cycle_id} was already closed on {cycle.closed}")
        closed = format_stamp(utcnow())
        db.execute("UPDATE cycles SET closed=? WHERE cycle_id=?", (closed, cycle_id))
        audit.append(db, audit.cli_actor(), "cycle.closed", cycle_id)
    return replace(cycle, closed=closed)
