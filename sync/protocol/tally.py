"""The sealed tally of declined and stopped interviews: what a kit seals to the hub and the hub opens.

A kit puts its tally in a bundle as the member ``tally.age``, age-encrypted to the same
recipients as its records and padded like them, so its size says nothing. The plaintext
(``docs/formats.md``, "Declined tally") is JSON::

    {"format": "fieldkit-tally/1", "kit_id": "...", "epoch": 1, "as_of": "2027-01-31",
     "declined": [{"form": "peer-interview", "centre": "C01", "cycle": "2027-q1", "count": 3}]}

Once an interview was stopped by a form's stop rule (``stop_if``), the kit writes
``fieldkit-tally/2``: the same, with ``stopped`` beside ``declined``::

    "stopped": [{"form": "peer-interview", "centre": "C01", "cycle": "2027-q1",
                 "item": "age_band", "answer": "age_under_18", "count": 1}]

A kit that stopped no interview still writes ``fieldkit-tally/1``, so hubs made before
stops existed read it as before. Counts are cumulative since the kit was made, per form,
centre and cycle (and, for stops, item and answer): never per person, and the only date
is the day the tally was made. The hub keeps the newest tally
of each kit key epoch; :func:`parse_tally` checks an opened one.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_TALLY_CELLS",
    "TALLY_FORMAT",
    "TALLY_FORMAT_STOPPED",
    "StopCell",
    "Tally",
    "TallyCell",
    "TallyError",
    "parse_tally",
]

TALLY_FORMAT = "fieldkit-tally/1"
TALLY_FORMAT_STOPPED = "fieldkit-tally/2"  # /1 with "stopped" beside "declined"
MAX_TALLY_CELLS = 10_000
_FORM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_CODE = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
_KEYS = {"format", "kit_id", "epoch", "as_of", "declined"}
_CELL_KEYS = {"form", "centre", "cycle", "count"}
_STOP_KEYS = {*_CELL_KEYS, "item", "answer"}
_ANSWER_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")  # an item id or a choice id (forms/README.md)


class TallyError(ValueError):
    """An opened tally is not a valid ``fieldkit-tally/1`` or ``/2`` document; ``str()`` says why."""


@dataclass(frozen=True)
class TallyCell:
    """Interviews of ``form`` declined at a centre in a cycle."""

    form: str
    centre: str | None
    cycle: str | None
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"form": self.form, "centre": self.centre, "cycle": self.cycle, "count": self.count}


@dataclass(frozen=True)
class StopCell:
    """Interviews that the answer ``answer`` to ``item`` stopped (the item's ``stop_if``)."""

    form: str
    centre: str | None
    cycle: str | None
    item: str
    answer: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "centre": self.centre,
            "cycle": self.cycle,
            "item": self.item,
            "answer": self.answer,
            "count": self.count,
        }


@dataclass(frozen=True)
class Tally:
    kit_id: str
    epoch: int
    as_of: str
    declined: tuple[TallyCell, ...]
    stopped: tuple[StopCell, ...] = ()


def _whole(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TallyError(f"{where} is not a whole number")
    return value


def _code(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _CODE.fullmatch(value) is None:
        raise TallyError(f"{where} is not a code")
    return value


def parse_tally(document: Any) -> Tally:
    """The tally in an opened, parsed plaintext; :class:`TallyError` when it is not one."""
    formats = (TALLY_FORMAT, TALLY_FORMAT_STOPPED)
    if not isinstance(document, dict) or document.get("format") not in formats:
        raise TallyError(f"it is not a {TALLY_FORMAT} or {TALLY_FORMAT_STOPPED} document")
    keys = _KEYS | {"stopped"} if document["format"] == TALLY_FORMAT_STOPPED else _KEYS
    if set(document) != keys:
        raise TallyError(f"it must hold exactly {sorted(keys)}")
    kit_id = document["kit_id"]
    if not isinstance(kit_id, str) or not kit_id:
        raise TallyError("it names no kit")
    as_of = document["as_of"]
    try:
        datetime.date.fromisoformat(as_of if isinstance(as_of, str) and len(as_of) == 10 else "")
    except ValueError:
        raise TallyError("its as_of is not a day (YYYY-MM-DD)") from None
    cells = [
        TallyCell(
            cell["form"],
            _code(cell["centre"], f"{where} centre"),
            _code(cell["cycle"], f"{where} cycle"),
            _whole(cell["count"], f"{where} count"),
        )
        for where, cell in _counts(document["declined"], "declined", "count", _CELL_KEYS)
    ]
    _counted_once([(c.form, c.centre, c.cycle) for c in cells], "a form, centre and cycle is counted twice")
    stopped = _stopped(document.get("stopped", []))
    return Tally(kit_id, _whole(document["epoch"], "epoch"), as_of, tuple(cells), stopped)


def _counts(raw: Any, name: str, label: str, keys: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each count of the list ``name`` with where it is, once the checks every count shares pass."""
    if not isinstance(raw, list) or len(raw) > MAX_TALLY_CELLS:
        raise TallyError(f"{name} must be a list of at most {MAX_TALLY_CELLS} counts")
    for index, cell in enumerate(raw):
        where = f"{label} {index + 1}"
        if not isinstance(cell, dict) or set(cell) != keys:
            raise TallyError(f"{where} must hold exactly {sorted(keys)}")
        if not isinstance(cell["form"], str) or _FORM_ID.fullmatch(cell["form"]) is None:
            raise TallyError(f"{where}: the form id is malformed")
        yield where, cell


def _counted_once(places: list[tuple[Any, ...]], refusal: str) -> None:
    if len(set(places)) != len(places):
        raise TallyError(refusal)


def _stopped(raw: Any) -> tuple[StopCell, ...]:
    cells = []
    for where, cell in _counts(raw, "stopped", "stopped count", _STOP_KEYS):
        for key in ("item", "answer"):
            if not isinstance(cell[key], str) or _ANSWER_ID.fullmatch(cell[key]) is None:
                raise TallyError(f"{where}: the {key} id is malformed")
        cells.append(
            StopCell(
                cell["form"],
                _code(cell["centre"], f"{where} centre"),
                _code(cell["cycle"], f"{where} cycle"),
                cell["item"],
                cell["answer"],
                _whole(cell["count"], f"{where} count"),
            )
        )
    places = [(c.form, c.centre, c.cycle, c.item, c.answer) for c in cells]
    _counted_once(places, "a form, centre, cycle, item and answer is counted twice among the stopped")
    return tuple(cells)
