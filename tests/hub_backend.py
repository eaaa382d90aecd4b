"""Which database the hub tests' hubs keep their tables in: SQLite (the default) or PostgreSQL.

``scripts/test.sh`` runs the hub's test files twice: once as they are (every hub in its
folder's ``hub.sqlite``) and once with ``FIELDKIT_TEST_HUB_BACKEND=postgresql``. In that
second pass each pytest worker gets a new, empty database on the test server, named by
the product's own ``FIELDKIT_HUB_DATABASE`` variable, so every hub a test or a fixture
makes, whether with ``init_hub`` or ``fieldkit hub init`` in a subprocess, keeps its
tables there, each hub in a schema of its own. A test that needs an independent copy of a
hub uses :func:`copy_hub`, not a copy of the folder (which would share the tables).
Tests of what only SQLite has (the ``hub.sqlite`` file, its pages,
a read-only disk) are marked ``sqlite_only`` and run in the first pass only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sync.hub.database import Database
from sync.hub.store import (
    DATABASE_ENVIRONMENT,
    connect_database,
    load_hub_config,
    new_postgres_schema,
    read_hub_settings,
    write_hub_settings,
)

BACKEND_ENVIRONMENT = "FIELDKIT_TEST_HUB_BACKEND"
BACKENDS = ("sqlite", "postgresql")


def backend() -> str:
    """The backend of this test run (``sqlite`` unless the PostgreSQL pass says otherwise)."""
    chosen = os.environ.get(BACKEND_ENVIRONMENT, "sqlite")
    if chosen not in BACKENDS:
        raise pytest.UsageError(f"{BACKEND_ENVIRONMENT}={chosen!r}: use one of {', '.join(BACKENDS)}")
    return chosen


def on_postgres() -> bool:
    return backend() == "postgresql"


@pytest.fixture(scope="session", autouse=True)
def hub_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The database new hubs go into for the whole session: None for SQLite, else a fresh
    PostgreSQL one (each hub in a schema of its own there), set before any fixture makes a hub."""
    if not on_postgres():
        os.environ.pop(DATABASE_ENVIRONMENT, None)
        yield None
        return
    from tests.postgres import fresh_database

    server = request.getfixturevalue("postgres_server")
    with fresh_database(server.url) as url:
        os.environ[DATABASE_ENVIRONMENT] = url
        try:
            yield url
        finally:
            os.environ.pop(DATABASE_ENVIRONMENT, None)


def skip_sqlite_only(item: pytest.Item) -> None:
    """In the PostgreSQL pass, skip a test marked ``sqlite_only`` (it runs in the SQLite pass)."""
    if on_postgres() and item.get_closest_marker("sqlite_only"):
        pytest.skip("tests what only an SQLite hub has; it runs in the SQLite pass")


def copy_hub(source: Path, dest: Path) -> None:
    """A copy of the hub ``source`` that changes independently of it, at ``dest``.

    For SQLite that is a copy of the folder. A PostgreSQL hub's folder names its schema,
    so its tables are copied too, into a new schema (``sync.hub.copying``, what a backup
    and restore use), and the copy's ``hub.json`` names that one.
    """
    shutil.copytree(source, dest)
    config = load_hub_config(source)
    if config.database is None:
        return
    from sync.hub.copying import copy_hub_tables

    moved = new_postgres_schema(config.database, config)
    copy_hub_tables(config, moved)
    settings = read_hub_settings(dest)
    settings["database_schema"] = moved.database_schema
    write_hub_settings(dest, settings)


@contextmanager
def hub_db(hub_dir: Path) -> Iterator[Database]:
    """The hub's tables opened directly, as someone holding the disk or the database server
    could (each statement commits at once): to look at them, or to tamper with them."""
    database = connect_database(load_hub_config(hub_dir))
    try:
        yield database
    finally:
        database.close()


def every_stored_value(hub_dir: Path) -> str:
    """Everything the hub's database holds, as text: the file's bytes for SQLite, every row of
    every table for PostgreSQL (what a copy of the server's disk would show)."""
    config = load_hub_config(hub_dir)
    if config.postgres is None:
        return (hub_dir / "hub.sqlite").read_bytes().decode("latin-1")
    from sync.hub.schema import metadata

    with hub_db(hub_dir) as connection:
        return repr([connection.execute(f"SELECT * FROM {name}").fetchall() for name in metadata.tables])  # nosec B608 - table names of our own metadata
