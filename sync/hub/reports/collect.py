"""Stage 1 of the report: read every accepted record once and add it to running tallies.

Records are opened one at a time, reduced at once to
:class:`~sync.hub.reports.facts.RecordFacts` and added to the tally of their centre;
the facts are then dropped. Nothing here grows with the number of records, only with
the number of centres, areas and red-flag questions, so memory stays flat however
many records the hub holds.

Every version of a form is used: a record made with the shipped definition is read
as it is, one made with another version (or another definition of the same version)
is read item by item id (:func:`~sync.hub.reports.facts.answers_by_item_id`). The
version table counts which. Only records of a form this copy of fieldkit does not
ship at all, and records that cannot be opened, are left out; they are counted, and
the unreadable ones named with their id and a reason, never their content.
"""

from __future__ import annotations

import contextlib
import datetime
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fieldkit.core.crypto import age
from fieldkit.core.formengine.model import Form
from sync.hub.opening import UnreadableRecord, open_record
from sync.hub.reports.facts import RecordFacts, cycle_of, facts_of, place_of
from sync.hub.store import HubStore

__all__ = [
    "CURRENT",
    "OLDER_VERSION",
    "OTHER_CYCLE",
    "OTHER_DEFINITION",
    "OWN_DEFINITION",
    "UNKNOWN_FORM",
    "UNREADABLE",
    "AreaTally",
    "CentreTally",
    "Collected",
    "add_record",
    "collect",
    "tally",
]

UNREADABLE = "unreadable"
UNKNOWN_FORM = "unknown_form"  # no shipped form of that id
OTHER_CYCLE = "other_cycle"  # a report for one cycle: a record of another cycle, or of none
# How a record's form compares with the shipped one (the version table).
CURRENT = "current"
OLDER_VERSION = "other_version"  # another version: read by item id
OWN_DEFINITION = "own_definition"  # another version the hub has the definition of: read with it
OTHER_DEFINITION = "other_definition"  # same version, another definition: read by item id


@dataclass
class AreaTally:
    """One centre's scored answers in one area, split by kind of record."""

    assessments: int = 0  # centre assessments with at least one level in the area
    assessment_levels: Counter[str] = field(default_factory=Counter)
    interviews: int = 0  # peer interviews with at least one level in the area
    interview_levels: Counter[str] = field(default_factory=Counter)
    sources: set[str] = field(default_factory=set)  # visit sources of those assessments


@dataclass
class CentreTally:
    """Everything the report keeps of one centre's records: counts, never records."""

    code: str
    assessments: int = 0
    interviews: int = 0
    regions: Counter[str] = field(default_factory=Counter)  # region codes its records give
    sources: set[str] = field(default_factory=set)
    areas: dict[str, AreaTally] = field(default_factory=dict)
    records: Counter[str] = field(default_factory=Counter)  # per form id
    flags: Counter[tuple[str, str]] = field(default_factory=Counter)  # (form, item) -> "yes"
    denials: Counter[tuple[str, str]] = field(default_factory=Counter)  # (form, item) -> "no"
    answered: Counter[bool] = field(default_factory=Counter)  # about_people -> questions answered
    prefer_not: Counter[bool] = field(default_factory=Counter)  # about_people -> "prefer not to answer"
    dont_know: Counter[bool] = field(default_factory=Counter)  # about_people -> "don't know"
    services: dict[str, Counter[str]] = field(default_factory=dict)  # harm-reduction item -> answers
    first_day: datetime.date | None = None  # the period covered: days only, never hours
    last_day: datetime.date | None = None

    @property
    def total(self) -> int:
        return self.assessments + self.interviews


@dataclass
class Collected:
    centres: dict[str, CentreTally] = field(default_factory=dict)
    unlinked: Counter[str] = field(default_factory=Counter)  # records of each form naming no centre
    people_forms: set[str] = field(default_factory=set)  # forms whose records are about people
    versions: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (form, version, how read)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason), never content
    not_used: Counter[str] = field(default_factory=Counter)
    read: int = 0  # records read from the store, used or not
    quarantined: int = 0
    cycle: str | None = None  # the only cycle whose records were used (None: every record)
    # Peer interviews (forms about people) completed, per (form, centre, cycle): the
    # response rate's numerator. Centre None: the record names none; cycle None: older.
    completed: Counter[tuple[str, str | None, str | None]] = field(default_factory=Counter)

    @property
    def used(self) -> int:
        return sum(self.versions.values())

    def problem_lines(self) -> list[str]:
        return [f"record {record_id}: not used in the report: {reason}" for record_id, reason in self.problems]


def tally(found: Collected, facts: RecordFacts, day: datetime.date | None = None, cycle: str | None = None) -> None:
    """Add one record's facts (the day it was finished, its cycle) to the running tallies."""
    if facts.about_people:
        found.people_forms.add(facts.form_id)
        found.completed[(facts.form_id, facts.centre, cycle)] += 1
    if facts.centre is None:
        found.unlinked[facts.form_id] += 1
        return
    centre = found.centres.get(facts.centre)
    if centre is None:
        centre = found.centres[facts.centre] = CentreTally(facts.centre)
    centre.records[facts.form_id] += 1
    if day is not None:
        centre.first_day = day if centre.first_day is None else min(centre.first_day, day)
        centre.last_day = day if centre.last_day is None else max(centre.last_day, day)
    if facts.region is not None:
        centre.regions[facts.region] += 1
    if facts.about_people:
        centre.interviews += 1
    else:
        centre.assessments += 1
        centre.sources |= facts.sources
    for area, levels in facts.levels.items():
        area_tally = centre.areas.setdefault(area, AreaTally())
        if facts.about_people:
            area_tally.interviews += 1
            area_tally.interview_levels.update(levels)
        else:
            area_tally.assessments += 1
            area_tally.assessment_levels.update(levels)
            area_tally.sources |= facts.sources
    centre.answered[facts.about_people] += facts.answered
    centre.prefer_not[facts.about_people] += facts.prefer_not
    centre.dont_know[facts.about_people] += facts.dont_know
    for item, answer in facts.services.items():
        centre.services.setdefault(item, Counter())[answer] += 1
    centre.flags.update((facts.form_id, item) for item in facts.red_flags)
    centre.denials.update((facts.form_id, item) for item in facts.denials)


def collect(
    hub_dir: Path,
    identities: Sequence[age.Identity],
    forms: Mapping[str, Form],
    *,
    advance: Callable[[int], None] | None = None,
    cycle: str | None = None,
    definitions: Mapping[tuple[str, int], Form] | None = None,
) -> Collected:
    """Every accepted record of the hub (of ``cycle`` only, when given), tallied for the report.

    ``definitions``: every form version the hub knows (shipped, archived, packed; see
    :mod:`sync.hub.definitions`). A record of an older version is scored with its own
    version's questions and rules when they are known, so a question a later version
    dropped still counts in the records that asked it; otherwise its answers are read
    by item id with the current form.
    """
    found = Collected(cycle=cycle)
    if cycle is not None:
        found.not_used[OTHER_CYCLE] = 0  # said even when none: the reader sees the filter worked
    with HubStore(hub_dir) as store, contextlib.closing(store.iter_records()) as records:
        found.quarantined = len(store.quarantine())
        for stored in records:
            found.read += 1
            try:
                payload = open_record(stored, identities)
            except UnreadableRecord as error:
                found.problems.append((stored.record_id, error.reason))
                found.not_used[UNREADABLE] += 1
            else:
                add_record(found, forms, payload, definitions or {})
                del payload
            if advance is not None:
                advance(1)
    return found


def add_record(
    found: Collected, forms: Mapping[str, Form], payload: Mapping, definitions: Mapping[tuple[str, int], Form]
) -> tuple[Form, RecordFacts] | None:
    """Tally one opened record; the form it was read with and its facts, or None if not used."""
    made_in = cycle_of(payload)
    if found.cycle is not None and made_in != found.cycle:
        found.not_used[OTHER_CYCLE] += 1
        return None
    made_with = payload["form"]
    form = forms.get(made_with["id"])
    if form is None:
        found.not_used[UNKNOWN_FORM] += 1
        return None
    own = definitions.get((made_with["id"], made_with["version"])) if made_with["version"] != form.version else None
    if own is not None and made_with["hash"] == own.content_hash:
        form, how = own, OWN_DEFINITION
    elif made_with["version"] != form.version:
        how = OLDER_VERSION
    elif made_with["hash"] != form.content_hash:
        how = OTHER_DEFINITION
    else:
        how = CURRENT
    exact = how in (CURRENT, OWN_DEFINITION)
    facts = facts_of(form, payload["answers"], same_definition=exact, place=place_of(payload))
    tally(found, facts, _day(payload.get("finished")), made_in)
    found.versions[(form.id, str(made_with["version"]), how)] += 1
    return form, facts


def _day(stamp: object) -> datetime.date | None:
    """The day of a record's ``finished`` time (``YYYY-MM-DDTHH:00Z``); the hour is not kept."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.date.fromisoformat(stamp[:10])
    except ValueError:
        return None
