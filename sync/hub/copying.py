"""Copying a hub's tables from one database to another: PostgreSQL into SQLite, or back.

A backup of a PostgreSQL hub holds its tables as a ``hub.sqlite`` file, like an SQLite
hub's backup, so one backup format serves both and any backup restores into either
(``fieldkit hub restore --database``): that is also how a regional office's SQLite hub
moves to PostgreSQL when it outgrows one file. The source is read in one snapshot
(``REPEATABLE READ`` on PostgreSQL; SQLite's read transaction) while the hub goes on
merging, and the copy is written in one transaction, so it holds the hub as it was at
one commit, or nothing. Columns are named from ``sync.hub.schema``, so the two
databases' column order does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sync.hub.database import POSTGRESQL, Database
from sync.hub.schema import metadata
from sync.hub.store import HubConfig, connect_database, new_sqlite_database

__all__ = ["copy_hub_tables", "copy_tables"]

_BATCH = 500


def _snapshot(source: Database) -> None:
    if source.dialect == POSTGRESQL:
        source.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        source.execute("BEGIN")


def _batches(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def copy_tables(source: Database, dest: Database) -> int:
    """Copy every row of the hub's tables from ``source`` into ``dest``, whose tables are new and empty.

    ``dest`` was made by ``sync.hub.migrate.create_schema`` (so it is stamped with the
    newest revision already; the source must be at it too, which opening it as a store
    makes sure of). Returns the number of rows copied.
    """
    copied = 0
    _snapshot(source)
    try:
        dest.begin_write()
        try:
            dest.execute("DELETE FROM meta")  # create_schema's own rows: the source's come instead
            for table in metadata.sorted_tables:
                names = [column.name for column in table.columns]
                listed = ", ".join(names)
                select = f"SELECT {listed} FROM {table.name}"  # noqa: S608  # nosec B608 - our own metadata's names
                insert = f"INSERT INTO {table.name}({listed}) VALUES({', '.join('?' * len(names))})"  # nosec B608
                for batch in _batches(source.stream(select)):
                    dest.executemany(insert, batch)
                    copied += len(batch)
            if dest.dialect == POSTGRESQL:
                _advance_sequences(dest)
            dest.commit()
        except BaseException:
            dest.rollback()
            raise
    finally:
        source.rollback()
    return copied


def copy_hub_tables(source: HubConfig, dest: HubConfig | Path) -> int:
    """Copy the tables of the hub ``source`` into a new SQLite file at the path ``dest``, or into
    the new, empty tables of the hub ``dest`` (made by ``sync.hub.store.new_postgres_schema``)."""
    target = new_sqlite_database(dest) if isinstance(dest, Path) else connect_database(dest)
    try:
        origin = connect_database(source)
        try:
            return copy_tables(origin, target)
        finally:
            origin.close()
    finally:
        target.close()


def _advance_sequences(dest: Database) -> None:
    """Past the highest copied id, PostgreSQL's serial columns go on numbering (SQLite does that by itself)."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.primary_key and column.autoincrement is True:
                dest.execute(
                    f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({column.name}), 0) + 1, false) "  # noqa: S608  # nosec B608
                    f"FROM {table.name}",
                    (table.name, column.name),
                )
