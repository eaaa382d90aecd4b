"""Counts of people who declined an interview: the only thing a declined consent leaves.

Kept in ``DATA/counters.json`` (TinyDB on atomic writes, under the kit's writer lock):

- table ``declined``, one document: per form id, how many declined on this kit (the
  operator page's totals, as since the first release);
- table ``declined_cells``: one document per form, centre and cycle the interview was
  started for, with its count.

Both are changed in one write of the file, so they always agree. Counts are cumulative
since the kit was made and carry no time at all: nothing here can be traced to one
person. Declines counted before cells existed appear in the tally as "no centre, no
cycle" (the total less what the cells hold).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.tinydb_storage import AtomicJSONStorage
from sync.protocol.bundle import canonical_json
from sync.protocol.tally import TALLY_FORMAT

__all__ = [
    "COUNTERS_FILE",
    "DeclinedCell",
    "count_declined",
    "declined_cells",
    "declined_totals",
    "tally_digest",
    "tally_payload",
]

COUNTERS_FILE = "counters.json"
_TOTALS = "declined"
_CELLS = "declined_cells"


@dataclass(frozen=True)
class DeclinedCell:
    form: str
    centre: str | None
    cycle: str | None
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"form": self.form, "centre": self.centre, "cycle": self.cycle, "count": self.count}


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


def tally_digest(cells: Iterable[DeclinedCell]) -> str:
    """What the tally says, as one hash: a changed digest means a new tally must be sent."""
    return hashlib.sha256(canonical_json([cell.to_json() for cell in cells])).hexdigest()


def tally_payload(kit_id: str, epoch: int, cells: Iterable[DeclinedCell], as_of: str) -> dict[str, Any]:
    """The plaintext of a sealed tally (``fieldkit-tally/1``, docs/formats.md). ``as_of`` is a day."""
    return {
        "format": TALLY_FORMAT,
        "kit_id": kit_id,
        "epoch": epoch,
        "as_of": as_of,
        "declined": [cell.to_json() for cell in cells],
    }
