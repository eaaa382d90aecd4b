"""Making and upgrading the hub database (``hub.sqlite``) with SQLAlchemy Core and Alembic.

A new database is made from ``sync.hub.schema`` and stamped with Alembic's newest
revision. An older one is upgraded by the revisions in ``sync/hub/migrations/versions``,
all of them in one transaction (SQLite and PostgreSQL both roll back DDL): a kill during
an upgrade leaves the database as it was.

Two markers say which schema a database has. ``alembic_version`` is Alembic's, the one
this code goes by. ``meta`` row ``'schema'`` is the number the releases before Alembic
went by ("1" to "5"); every revision keeps it up to date, so that an older fieldkit still
refuses a newer database ("made by another version of fieldkit") instead of using it.
A database made before Alembic has no ``alembic_version``: its number says which
revision it is at, and it is stamped with that revision in the same transaction that
upgrades it.

``sync.hub.store`` imports this module only to make or upgrade a database: opening a
database that is up to date reads both markers with the driver alone (``sqlite3`` or
psycopg), so a hub command does not pay for importing SQLAlchemy and Alembic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, insert
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateSchema

from sync.hub.database import POSTGRESQL, WRITE_LOCK
from sync.hub.schema import metadata

__all__ = ["LEGACY_REVISIONS", "MIGRATIONS_DIR", "SchemaTooNew", "create_schema", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The schema numbers of the releases before Alembic, and the revision each one is.
LEGACY_REVISIONS = {"1": "schema1", "2": "schema2", "3": "schema3", "4": "schema4", "5": "schema5"}


class SchemaTooNew(Exception):
    """The database is at a revision this code does not have: a newer fieldkit made it."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in the migrations folder."""
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def _engine(connect: Callable[[], Any], dialect: str) -> Engine:
    """An engine over the hub's own connections (for SQLite: WAL, synchronous=FULL, no implicit transactions).

    The hub's SQLite connections leave transactions to it (``isolation_level=None``), so
    the engine says ``BEGIN IMMEDIATE`` itself: the DDL is then inside the transaction
    too (SQLAlchemy's documented way for pysqlite), and no other writer slips in between.
    On PostgreSQL psycopg begins the transaction, and the hub's write lock (the advisory
    lock :class:`sync.hub.database.Database` takes) keeps the store's writers out.
    """
    if dialect == POSTGRESQL:
        engine = create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)

        @event.listens_for(engine, "begin")
        def _lock(connection: Connection) -> None:
            connection.exec_driver_sql(WRITE_LOCK)

        return engine
    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_schema(connect: Callable[[], Any], dialect: str, schema: str, *, pg_schema: str | None = None) -> None:
    """Make the tables of a new, empty database, numbered ``schema`` and stamped with the newest revision.

    On PostgreSQL they go into the new schema ``pg_schema`` (made in the same transaction).
    """
    engine = _engine(connect, dialect)
    try:
        with engine.begin() as connection:
            if dialect == POSTGRESQL:
                assert pg_schema is not None  # nosec B101 - the caller always names it
                connection.execute(CreateSchema(pg_schema))
            metadata.create_all(connection)
            connection.execute(insert(metadata.tables["meta"]).values(key="schema", value=schema))
            command.stamp(_config(connection), "head")
    finally:
        engine.dispose()


def _revision_of(connection: Connection) -> tuple[str | None, str | None]:
    number = connection.exec_driver_sql("SELECT value FROM meta WHERE key='schema'").scalar()
    return number, MigrationContext.configure(connection).get_current_revision()


def upgrade(connect: Callable[[], Any], dialect: str) -> tuple[str | None, str | None]:
    """Bring the database up to the newest revision in one transaction; the schema number (before, after).

    Raises ``SchemaTooNew`` (changing nothing) for a database at a revision this code
    does not know, or with a schema number it does not know and no revision.
    """
    engine = _engine(connect, dialect)
    try:
        with engine.begin() as connection:
            before, revision = _revision_of(connection)
            config = _config(connection)
            if (before in LEGACY_REVISIONS and before != "5") or revision is None:
                # Made before Alembic (an old release's database has no alembic_version;
                # one turned back into an old release's by hand has a wrong one).
                if before not in LEGACY_REVISIONS:
                    raise SchemaTooNew(f"schema {before!r}")
                command.stamp(config, LEGACY_REVISIONS[before], purge=True)
            else:
                try:
                    ScriptDirectory.from_config(config).get_revision(revision)
                except CommandError as error:
                    raise SchemaTooNew(f"revision {revision!r}") from error
            command.upgrade(config, "head")
            after, _ = _revision_of(connection)
    finally:
        engine.dispose()
    return before, after
