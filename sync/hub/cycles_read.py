"""Reading the hub's assessment cycles for reports: one cycle by id, and the one before it.

A minimal reader of the ``cycles`` table of the hub store (schema 3); the commands that
fill it (``fieldkit hub cycles add|close|list``) are elsewhere. :func:`add_cycle_row`
writes a row directly, for tests and for hubs made before those commands.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sync.hub.store import DB_FILE

__all__ = ["CycleRow", "add_cycle_row", "cycle_by_id", "previous_cycle"]


@dataclass(frozen=True)
class CycleRow:
    """One assessment round as a report names it."""

    cycle_id: str
    name: str
    start: datetime.date
    end: datetime.date


_COLUMNS = "cycle_id, name, start_day, end_day"


def _connect(hub_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(hub_dir) / DB_FILE}?mode=ro", uri=True)


def _row(found: tuple) -> CycleRow:
    return CycleRow(found[0], found[1], datetime.date.fromisoformat(found[2]), datetime.date.fromisoformat(found[3]))


def cycle_by_id(hub_dir: Path, cycle_id: str) -> CycleRow | None:
    """The cycle ``cycle_id``, or None when the hub has no such cycle."""
    with contextlib.closing(_connect(hub_dir)) as db:
        found = db.execute(f"SELECT {_COLUMNS} FROM cycles WHERE cycle_id=?", (cycle_id,)).fetchone()  # noqa: S608  # nosec B608 - constants only
    return _row(found) if found else None


def previous_cycle(hub_dir: Path, cycle: CycleRow) -> CycleRow | None:
    """The cycle with the latest start before ``cycle``'s start (ties: the highest id), or None."""
    with contextlib.closing(_connect(hub_dir)) as db:
        found = db.execute(
            f"SELECT {_COLUMNS} FROM cycles WHERE start_day < ? ORDER BY start_day DESC, cycle_id DESC LIMIT 1",  # noqa: S608  # nosec B608
            (cycle.start.isoformat(),),
        ).fetchone()
    return _row(found) if found else None


def add_cycle_row(
    hub_dir: Path,
    cycle_id: str,
    name: str,
    start: datetime.date,
    end: datetime.date,
    *,
    forms: Sequence[str] = (),
    centres: Sequence[str] = (),
) -> None:
    """Insert one cycle into the hub's ``cycles`` table (tests; the hub's commands do it for operators)."""
    with contextlib.closing(sqlite3.connect(Path(hub_dir) / DB_FILE, isolation_level=None)) as db:
        db.execute(
            "INSERT INTO cycles(cycle_id, name, start_day, end_day, forms, centres, added, closed) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, NULL)",
            (
                cycle_id, name, start.isoformat(), end.isoformat(), json.dumps(list(forms)),
                json.dumps(list(centres)), datetime.date.today().isoformat(),
            ),
        )  # fmt: skip
