"""Roll-up tables: a hub's records reduced to counts, before suppression, for an upstream hub.

The report is records -> counts -> scores -> suppression. This module is the counts
step made portable: :func:`count_records` reads a hub's records once (as
:func:`~sync.hub.reports.collect.collect` does) into one :class:`~sync.hub.reports.collect.Collected`
per assessment cycle, plus a table of answer counts per (centre, form, form version,
item, answer, cycle), and :func:`tables_payload` writes them as plain JSON (the
``tables`` of a ``fieldkit-rollup/1`` document, docs/formats.md). An upstream hub reads
them back (:func:`read_tables`) and adds them to its own counts (:func:`add_tables`)
before scoring; suppression is then applied to the combined figures, so a cell small in
each region but large together is shown, and one small together is hidden.

What a table never holds: a record id, a kit id, an interviewer code, free text, a
number or a date typed as an answer, or a day (the cycle is the finest time). Answer
counts are kept only for items with a fixed list of answers (yes/no, choices, scales,
consent), and only for answers in that list or "prefer not"/"don't know": a value a
tampered record makes up is left out.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.model import OFFERS, RATED_TAGS, Form
from sync.hub.opening import UnreadableRecord, open_record
from sync.hub.reports.collect import (
    OTHER_CYCLE,
    UNKNOWN_FORM,
    UNREADABLE,
    AreaTally,
    CentreTally,
    Collected,
    add_record,
)
from sync.hub.reports.facts import cycle_of
from sync.hub.reports.responses import Declined
from sync.hub.store import HubStore

__all__ = [
    "RollupTables",
    "TablesError",
    "add_declined",
    "add_tables",
    "count_records",
    "read_tables",
    "tables_payload",
]

# Items whose answers come from a fixed list: the only ones whose answers are counted.
COUNTED_TYPES = frozenset({"yes_no", "select_one", "select_multiple", "likert", "consent"})
# The "how read" values of the version table (collect.py).
_HOW = frozenset({"current", "other_version", "own_definition", "other_definition"})
_MAX_ROWS = 2_000_000


class TablesError(FieldkitError):
    """A roll-up's tables are not valid; ``str()`` says what is wrong."""


@dataclass
class RollupTables:
    """A hub's counts: per cycle (None: records of no cycle), never a record."""

    cycles: dict[str | None, Collected] = field(default_factory=dict)
    # (centre, form, form version, item, answer, cycle) -> records
    answers: Counter[tuple[str | None, str, int, str, str, str | None]] = field(default_factory=Counter)
    declined: Counter[tuple[str, str | None, str | None]] = field(default_factory=Counter)
    stopped: Counter[tuple[str, str | None, str | None, str, str]] = field(default_factory=Counter)
    read: int = 0  # records read, used or not
    unreadable: int = 0
    quarantined: int = 0
    tally_kits: int = 0  # kit key epochs whose declined tally was read


def _answer_values(form: Form, answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for item in form.items:
        if item.type not in COUNTED_TYPES:
            continue
        value = answers.get(item.id)
        allowed = set(item.choice_ids()) | set(OFFERS)
        if item.type in ("yes_no", "consent"):
            allowed |= {"yes", "no", "given", "refused"}
        values = value if item.type == "select_multiple" and isinstance(value, list) else [value]
        for one in values:
            if isinstance(one, bool) or one is None:
                continue
            text = str(one) if isinstance(one, int) and item.type == "likert" else one
            if isinstance(text, str) and (text in allowed or (item.type == "likert" and text.isdigit())):
                found.append((item.id, text))
    return found


def count_records(
    hub_dir: Path,
    identities: Sequence[age.Identity],
    forms: Mapping[str, Form],
    *,
    definitions: Mapping[tuple[str, int], Form] | None = None,
    declined: Declined | None = None,
) -> RollupTables:
    """Every accepted record of the hub, counted per cycle; ``declined``: its kits' tallies."""
    tables = RollupTables()
    with HubStore(hub_dir) as store, contextlib.closing(store.iter_records()) as records:
        tables.quarantined = len(store.quarantine())
        for stored in records:
            tables.read += 1
            try:
                payload = open_record(stored, identities)
            except UnreadableRecord:
                tables.unreadable += 1  # counted only: its id stays at this hub
                continue
            cycle = cycle_of(payload)
            found = tables.cycles.setdefault(cycle, Collected(cycle=cycle))
            used = add_record(found, forms, payload, definitions or {})
            if used is not None:
                form, facts = used
                version = payload["form"]["version"]
                if not isinstance(version, int) or isinstance(version, bool):
                    continue  # tallied above; its answers are not counted under a made-up version
                for item_id, value in _answer_values(form, payload["answers"]):
                    tables.answers[(facts.centre, form.id, version, item_id, value, cycle)] += 1
            del payload
    for bucket in tables.cycles.values():
        for centre in bucket.centres.values():
            centre.first_day = centre.last_day = None  # days are finer than the cycle
    if declined is not None:
        tables.declined.update(declined.counts)
        tables.stopped.update(declined.stopped)
        tables.tally_kits = declined.kits
    return tables


# --- To JSON and back ----------------------------------------------------------------


def _pairs(counter: Mapping[Any, int]) -> dict[str, int]:
    return {str(key): int(value) for key, value in sorted(counter.items())}


def _centre_json(tally: CentreTally) -> dict[str, Any]:
    return {
        "code": tally.code,
        "assessments": tally.assessments,
        "interviews": tally.interviews,
        "regions": _pairs(tally.regions),
        "sources": sorted(tally.sources),
        "records": _pairs(tally.records),
        "areas": {
            area: {
                "assessments": found.assessments,
                "assessment_levels": _pairs(found.assessment_levels),
                "interviews": found.interviews,
                "interview_levels": _pairs(found.interview_levels),
                "sources": sorted(found.sources),
            }
            for area, found in sorted(tally.areas.items())
        },
        "flags": [[form, item, n] for (form, item), n in sorted(tally.flags.items())],
        "denials": [[form, item, n] for (form, item), n in sorted(tally.denials.items())],
        "answered": {"people": tally.answered[True], "centre": tally.answered[False]},
        "prefer_not": {"people": tally.prefer_not[True], "centre": tally.prefer_not[False]},
        "dont_know": {"people": tally.dont_know[True], "centre": tally.dont_know[False]},
        "services": {item: _pairs(answers) for item, answers in sorted(tally.services.items())},
    }


def tables_payload(tables: RollupTables) -> dict[str, Any]:
    """The ``tables`` object of a roll-up document (docs/formats.md)."""
    cycles = sorted(set(tables.cycles) | {key[2] for key in tables.declined}, key=lambda c: (c is not None, c or ""))
    out = []
    for cycle in cycles:
        found = tables.cycles.get(cycle, Collected(cycle=cycle))
        out.append(
            {
                "cycle": cycle,
                "centres": [_centre_json(found.centres[code]) for code in sorted(found.centres)],
                "unlinked": _pairs(found.unlinked),
                "people_forms": sorted(found.people_forms),
                "versions": [[form, version, how, n] for (form, version, how), n in sorted(found.versions.items())],
                "completed": [[form, centre, n] for (form, centre, _c), n in sorted(found.completed.items(), key=str)],
                "unknown_form": found.not_used[UNKNOWN_FORM],
                "answers": [
                    [centre, form, version, item, value, n]
                    for (centre, form, version, item, value, c), n in sorted(tables.answers.items(), key=str)
                    if c == cycle
                ],
                "declined": [
                    [form, centre, n] for (form, centre, c), n in sorted(tables.declined.items(), key=str) if c == cycle
                ],
                "stopped": [
                    [form, centre, item, answer, n]
                    for (form, centre, c, item, answer), n in sorted(tables.stopped.items(), key=str)
                    if c == cycle
                ],
            }
        )
    return {
        "read": tables.read,
        "unreadable": tables.unreadable,
        "quarantined": tables.quarantined,
        "tally_kits": tables.tally_kits,
        "cycles": out,
    }


class _Reader:
    """Checks each value of the JSON as it is read; the first wrong one raises TablesError."""

    def __init__(self) -> None:
        self.rows = 0

    def count(self, value: object, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TablesError(f"{where} is not a count")
        return value

    def text(self, value: object, where: str, *, none: bool = False) -> Any:
        if value is None and none:
            return None
        if not isinstance(value, str) or not value or len(value) > 200:
            raise TablesError(f"{where} is not a code")
        return value

    def obj(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise TablesError(f"{where} is not an object")
        return value

    def rows_of(self, value: object, where: str, width: int) -> list[list[Any]]:
        if not isinstance(value, list) or any(not isinstance(row, list) or len(row) != width for row in value):
            raise TablesError(f"{where} is not a list of rows of {width}")
        self.rows += len(value)
        if self.rows > _MAX_ROWS:
            raise TablesError("the tables have too many rows")
        return value

    def counter(self, value: object, where: str) -> Counter[str]:
        found: Counter[str] = Counter()
        for key, n in self.obj(value, where).items():
            found[self.text(key, where)] = self.count(n, where)
        return found

    def codes(self, value: object, where: str) -> set[str]:
        if not isinstance(value, list):
            raise TablesError(f"{where} is not a list")
        return {self.text(one, where) for one in value}


def _read_centre(r: _Reader, value: object) -> CentreTally:
    data = r.obj(value, "a centre")
    code = r.text(data.get("code"), "a centre's code")
    where = f"centre {code}"
    tally = CentreTally(code)
    tally.assessments = r.count(data.get("assessments"), f"{where}: assessments")
    tally.interviews = r.count(data.get("interviews"), f"{where}: interviews")
    tally.regions = r.counter(data.get("regions"), f"{where}: regions")
    tally.sources = r.codes(data.get("sources"), f"{where}: sources")
    tally.records = r.counter(data.get("records"), f"{where}: records")
    for area, found in r.obj(data.get("areas"), f"{where}: areas").items():
        if area not in RATED_TAGS:
            raise TablesError(f"{where}: {str(area)[:40]!r} is not a rated area")
        found = r.obj(found, f"{where}: area {area}")
        tally.areas[area] = AreaTally(
            assessments=r.count(found.get("assessments"), f"{where}: area {area}"),
            assessment_levels=r.counter(found.get("assessment_levels"), f"{where}: area {area}"),
            interviews=r.count(found.get("interviews"), f"{where}: area {area}"),
            interview_levels=r.counter(found.get("interview_levels"), f"{where}: area {area}"),
            sources=r.codes(found.get("sources"), f"{where}: area {area}"),
        )
    for name in ("flags", "denials"):
        target: Counter[tuple[str, str]] = getattr(tally, name)
        for form, item, n in r.rows_of(data.get(name), f"{where}: {name}", 3):
            target[(r.text(form, where), r.text(item, where))] += r.count(n, f"{where}: {name}")
    for name in ("answered", "prefer_not", "dont_know"):
        split = r.obj(data.get(name), f"{where}: {name}")
        counts: Counter[bool] = getattr(tally, name)
        counts[True] += r.count(split.get("people"), f"{where}: {name}")
        counts[False] += r.count(split.get("centre"), f"{where}: {name}")
    for item, answers in r.obj(data.get("services"), f"{where}: services").items():
        tally.services[r.text(item, where)] = r.counter(answers, f"{where}: services")
    return tally


def read_tables(value: object) -> RollupTables:
    """The tables of a roll-up document, checked value by value (raises :class:`TablesError`)."""
    r = _Reader()
    data = r.obj(value, "the tables")
    tables = RollupTables(
        read=r.count(data.get("read"), "read"),
        unreadable=r.count(data.get("unreadable"), "unreadable"),
        quarantined=r.count(data.get("quarantined"), "quarantined"),
        tally_kits=r.count(data.get("tally_kits"), "tally_kits"),
    )
    cycles = data.get("cycles")
    if not isinstance(cycles, list):
        raise TablesError("cycles is not a list")
    for one in cycles:
        bucket = r.obj(one, "a cycle")
        cycle = r.text(bucket.get("cycle"), "a cycle id", none=True)
        if cycle in tables.cycles:
            raise TablesError(f"cycle {cycle} is given twice")
        found = tables.cycles[cycle] = Collected(cycle=cycle)
        centres = bucket.get("centres")
        if not isinstance(centres, list):
            raise TablesError("centres is not a list")
        for centre in centres:
            tally = _read_centre(r, centre)
            if tally.code in found.centres:
                raise TablesError(f"centre {tally.code} is given twice in cycle {cycle}")
            found.centres[tally.code] = tally
        found.unlinked = r.counter(bucket.get("unlinked"), "unlinked")
        found.people_forms = r.codes(bucket.get("people_forms"), "people_forms")
        for form, version, how, n in r.rows_of(bucket.get("versions"), "versions", 4):
            if how not in _HOW:
                raise TablesError("versions: an unknown way of reading")
            found.versions[(r.text(form, "versions"), r.text(version, "versions"), how)] += r.count(n, "versions")
        for form, centre, n in r.rows_of(bucket.get("completed"), "completed", 3):
            key = (r.text(form, "completed"), r.text(centre, "completed", none=True), cycle)
            found.completed[key] += r.count(n, "completed")
        unknown = r.count(bucket.get("unknown_form"), "unknown_form")
        if unknown:
            found.not_used[UNKNOWN_FORM] = unknown
        for centre, form, version, item, answer, n in r.rows_of(bucket.get("answers"), "answers", 6):
            key6 = (
                r.text(centre, "answers", none=True),
                r.text(form, "answers"),
                r.count(version, "answers"),
                r.text(item, "answers"),
                r.text(answer, "answers"),
                cycle,
            )
            tables.answers[key6] += r.count(n, "answers")
        for form, centre, n in r.rows_of(bucket.get("declined"), "declined", 3):
            key3 = (r.text(form, "declined"), r.text(centre, "declined", none=True), cycle)
            tables.declined[key3] += r.count(n, "declined")
        for form, centre, item, answer, n in r.rows_of(bucket.get("stopped"), "stopped", 5):
            key5 = (
                r.text(form, "stopped"),
                r.text(centre, "stopped", none=True),
                cycle,
                r.text(item, "stopped"),
                r.text(answer, "stopped"),
            )
            tables.stopped[key5] += r.count(n, "stopped")
    return tables


# --- Combining -----------------------------------------------------------------------


def _merge_centre(into: CentreTally, other: CentreTally) -> None:
    into.assessments += other.assessments
    into.interviews += other.interviews
    into.regions.update(other.regions)
    into.sources |= other.sources
    into.records.update(other.records)
    for area, found in other.areas.items():
        held = into.areas.setdefault(area, AreaTally())
        held.assessments += found.assessments
        held.assessment_levels.update(found.assessment_levels)
        held.interviews += found.interviews
        held.interview_levels.update(found.interview_levels)
        held.sources |= found.sources
    into.flags.update(other.flags)
    into.denials.update(other.denials)
    into.answered.update(other.answered)
    into.prefer_not.update(other.prefer_not)
    into.dont_know.update(other.dont_know)
    for item, answers in other.services.items():
        into.services.setdefault(item, Counter()).update(answers)
    days = [day for day in (into.first_day, other.first_day) if day is not None]
    into.first_day = min(days) if days else None
    days = [day for day in (into.last_day, other.last_day) if day is not None]
    into.last_day = max(days) if days else None


def _used(bucket: Collected) -> int:
    return bucket.used + bucket.not_used[UNKNOWN_FORM]


def add_tables(found: Collected, tables: RollupTables) -> None:
    """Add a roll-up's counts to ``found`` (of its cycle only when ``found.cycle`` is set)."""
    found.read += tables.read
    found.quarantined += tables.quarantined
    if tables.unreadable:
        found.not_used[UNREADABLE] += tables.unreadable
    for cycle, bucket in tables.cycles.items():
        if found.cycle is not None and cycle != found.cycle:
            found.not_used[OTHER_CYCLE] += _used(bucket)
            continue
        for code, tally in bucket.centres.items():
            _merge_centre(found.centres.setdefault(code, CentreTally(code)), tally)
        found.unlinked.update(bucket.unlinked)
        found.people_forms |= bucket.people_forms
        found.versions.update(bucket.versions)
        found.completed.update(bucket.completed)
        if bucket.not_used[UNKNOWN_FORM]:
            found.not_used[UNKNOWN_FORM] += bucket.not_used[UNKNOWN_FORM]


def add_declined(declined: Declined, tables: RollupTables) -> Declined:
    """The declined tallies with a roll-up's added."""
    counts, stopped = Counter(declined.counts), Counter(declined.stopped)
    counts.update(tables.declined)
    stopped.update(tables.stopped)
    return Declined(counts, declined.kits + tables.tally_kits, declined.problems, stopped)
