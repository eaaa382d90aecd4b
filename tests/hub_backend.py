"""Which database the hub tests' hubs keep their tables in: SQLite (the default) or PostgreSQL.

``scripts/test.sh`` runs the hub's test files twice: once as they are (every hub in its
folder's ``hub.sqlite``) and once with ``FIELDKIT_TEST_HUB_BACKEND=postgresql``. In that
second pass every test gets a new, empty database on the test server, named by the
product's own ``FIELDKIT_HUB_DATABASE`` variable, so every hub a test makes, whether with
``init_hub`` or ``fieldkit hub init`` in a subprocess, keeps its tables there (each hub in
a schema of its own). Tests of what only SQLite has (the ``hub.sqlite`` file, its pages,
a read-only disk) are marked ``sqlite_only`` and run in the first pass only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sync.hub.database import Database
from sync.hub.store import DATABASE_ENVIRONMENT, connect_database, load_hub_config

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


@pytest.fixture(autouse=True)
def hub_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The database new hubs of this test go into: None for SQLite, else a fresh PostgreSQL one."""
    if not on_postgres():
        monkeypatch.delenv(DATABASE_ENVIRONMENT, raising=False)
        return None
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("tests what only an SQLite hub has; it runs in the SQLite pass")
    url = str(request.getfixturevalue("postgres_url"))
    monkeypatch.setenv(DATABASE_ENVIRONMENT, url)
    return url


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
