"""Counts of people who declined an interview, or whose interview a stop rule ended.

A declined consent, and an answer that stops the interview (an item's ``stop_if``, such
as "under 18" in the peer interview), leave nothing but these counters.

Kept in ``DATA/counters.json`` (TinyDB on atomic writes, under the kit's writer lock):

- table ``declined``, one document: per form id, how many declined on this kit (the
  operator page's totals, as since the first release);
- table ``declined_cells``: one document per form, centre and cycle the interview was
  started for, with its count.

- table ``stopped_cells``: one document per form, centre, cycle, item and answer whose
  ``stop_if`` ended an interview, with its count (the item and its answer, a choice id,
  say why: ``age_band`` / ``age_under_18``).

Totals and cells are changed in one write of the file, so they always agree. Counts are cumulative
since the kit was made and carry no time at all: nothing here can be traced to one
person. Declines counted before cells existed appear in the tally as "no centre, no
cycle" (the total less what the cells hold).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.tinydb_storage import AtomicJSONStorage
from sync.protocol.bundle import canonical_json
from sync.protocol.tally import TALLY_FORMAT, TALLY_FORMAT_STOPPED, StopCell, TallyCell

__all__ = [
    "COUNTERS_FILE",
    "DeclinedCell",
    "StoppedCell",
    "count_declined",
    "count_stopped",
    "declined_cells",
    "declined_totals",
    "stopped_cells",
    "stopped_totals",
    "tally_digest",
    "tally_payload",
]

COUNTERS_FILE = "counters.json"
_TOTALS = "declined"
_CELLS = "declined_cells"
_STOPPED = "stopped_cells"


# The kit counts in the cells the tally carries on the wire (sync.protocol.tally).
DeclinedCell = TallyCell
StoppedCell = StopCell


def _storage(data_dir: Path) -> AtomicJSONStorage:
    return AtomicJSONStorage(Path(data_dir) / COUNTERS_FILE)


def count_declined(data_dir: Path, form_id: str, centre: str | None, cycle: str | None) -> None:
    """Add one decline of ``form_id`` at ``centre`` in ``cycle`` (totals and cells in one write)."""
    with writer_lock(data_dir):
        storage = _storage(data_dir)
        data = storage.read() or {}
        totals = data.setdefault(_TOTALS, {}).setdefault("1", {})
        totals[form_id] = int(totals.get(form_id, 0)) + 1
        cells = data.setdefault(_CELLS, {})
        for doc in cells.values():
            if (doc.get("form"), doc.get("centre"), doc.get("cycle")) == (form_id, centre, cycle):
                doc["count"] = int(doc.get("count", 0)) + 1
                break
        else:
            next_id = max((int(key) for key in cells), default=0) + 1
            cells[str(next_id)] = {"form": form_id, "centre": centre, "cycle": cycle, "count": 1}
        storage.write(data)


def count_stopped(
    data_dir: Path, form_id: str, centre: str | None, cycle: str | None, item_id: str, answer: str
) -> None:
    """Add one interview of ``form_id`` that the answer ``answer`` to ``item_id`` stopped."""
    with writer_lock(data_dir):
        storage = _storage(data_dir)
        data = storage.read() or {}
        cells = data.setdefault(_STOPPED, {})
        key = (form_id, centre, cycle, item_id, answer)
        for doc in cells.values():
            if (doc.get("form"), doc.get("centre"), doc.get("cycle"), doc.get("item"), doc.get("answer")) == key:
                doc["count"] = int(doc.get("count", 0)) + 1
                break
        else:
            next_id = max((int(key) for key in cells), default=0) + 1
            cells[str(next_id)] = {
                "form": form_id,
                "centre": centre,
                "cycle": cycle,
                "item": item_id,
                "answer": answer,
                "count": 1,
            }
        storage.write(data)


def stopped_cells(data_dir: Path) -> tuple[StoppedCell, ...]:
    """Stopped interviews per form, centre, cycle, item and answer, in a stable order."""
    data = _storage(data_dir).read() or {}
    found: dict[tuple[str, str | None, str | None, str, str], int] = {}
    for doc in (data.get(_STOPPED) or {}).values():
        key = (str(doc["form"]), doc.get("centre"), doc.get("cycle"), str(doc["item"]), str(doc["answer"]))
        found[key] = found.get(key, 0) + int(doc.get("count", 0))
    cells = [StoppedCell(*key, count) for key, count in found.items() if count > 0]
    return tuple(
        sorted(
            cells,
            key=lambda c: (c.form, c.centre is None, c.centre or "", c.cycle is None, c.cycle or "", c.item, c.answer),
        )
    )


def stopped_totals(data_dir: Path) -> dict[str, int]:
    """Stopped interviews per form id on this kit (the operator page)."""
    totals: dict[str, int] = {}
    for cell in stopped_cells(data_dir):
        totals[cell.form] = totals.get(cell.form, 0) + cell.count
    return totals


def declined_totals(data_dir: Path) -> dict[str, int]:
    """Declines per form id on this kit (the operator page)."""
    data = _storage(data_dir).read() or {}
    return {str(form): int(count) for form, count in (data.get(_TOTALS, {}).get("1") or {}).items()}


def declined_cells(data_dir: Path) -> tuple[DeclinedCell, ...]:
    """Declines per form, centre and cycle, sorted; older uncounted declines as (form, None, None)."""
    data = _storage(data_dir).read() or {}
    found: dict[tuple[str, str | None, str | None], int] = {}
    for doc in (data.get(_CELLS) or {}).values():
        key = (str(doc["form"]), doc.get("centre"), doc.get("cycle"))
        found[key] = found.get(key, 0) + int(doc.get("count", 0))
    for form, total in declined_totals(data_dir).items():
        in_cells = sum(count for (cell_form, _c, _y), count in found.items() if cell_form == form)
        if total > in_cells:
            found[(form, None, None)] = found.get((form, None, None), 0) + total - in_cells
    cells = [DeclinedCell(form, centre, cycle, count) for (form, centre, cycle), count in found.items() if count > 0]
    # Named centres and cycles first, then "none": a stable order, so the same counts give the same digest.
    return tuple(
        sorted(cells, key=lambda c: (c.form, c.centre is None, c.centre or "", c.cycle is None, c.cycle or ""))
    )


def tally_digest(cells: Iterable[DeclinedCell], stopped: Iterable[StoppedCell] = ()) -> str:
    """What the tally says, as one hash: a changed digest means a new tally must be sent.

    Without stopped interviews it is the digest kits made before stops existed, so an
    upgraded kit does not send again a tally a hub already acknowledged.
    """
    declined = [cell.to_json() for cell in cells]
    ended = [cell.to_json() for cell in stopped]
    return hashlib.sha256(canonical_json({"declined": declined, "stopped": ended} if ended else declined)).hexdigest()


def tally_payload(
    kit_id: str, epoch: int, cells: Iterable[DeclinedCell], as_of: str, stopped: Iterable[StoppedCell] = ()
) -> dict[str, Any]:
    """The plaintext of a sealed tally (docs/formats.md). ``as_of`` is a day.

    ``fieldkit-tally/1`` while no interview was stopped (what every hub reads), and
    ``fieldkit-tally/2``, the same with ``stopped`` beside ``declined``, once one was.
    """
    ended = [cell.to_json() for cell in stopped]
    payload: dict[str, Any] = {
        "format": TALLY_FORMAT_STOPPED if ended else TALLY_FORMAT,
        "kit_id": kit_id,
        "epoch": epoch,
        "as_of": as_of,
        "declined": [cell.to_json() for cell in cells],
    }
    if ended:
        payload["stopped"] = ended
    return payload
