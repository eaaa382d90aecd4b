"""The hub store's database connection: SQLite (the embedded default) or PostgreSQL.

The store's queries are written once, in the SQL both databases share, with ``?``
placeholders (SQLite's). :class:`Database` runs them on either: for PostgreSQL (through
psycopg 3) it turns each ``?`` into ``%s`` and each literal ``%`` into ``%%``, and it says
``BEGIN`` plus a transaction-scoped advisory lock where SQLite says ``BEGIN IMMEDIATE``,
so on both a write transaction has the hub to itself, as the import's order-free merge
and the audit chain's head expect. That translation is all the difference there is; the
tables themselves come from ``sync.hub.schema`` through SQLAlchemy and Alembic
(``sync.hub.migrate``). SQLAlchemy's own execution layer is not used for the queries so
that an SQLite hub (a Raspberry Pi's, a regional office's) neither imports it nor pays
for it on every row.

Every error either driver raises comes out as one :class:`DatabaseError` whose text is
the driver's message, so the store has one ``except`` for both.

A PostgreSQL hub lives in a schema of its own (``fieldkit_<hub id>_<random>``): several hubs,
or a hub and its tests, can share one database. Its URL is kept in ``hub.json``, which
is not secret, so a password in it is refused: libpq's ``~/.pgpass`` or ``PGPASSWORD``
hold that instead.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "WRITE_LOCK",
    "Database",
    "DatabaseError",
    "DatabaseUrlError",
    "PostgresTarget",
    "parse_database_url",
    "postgres_connector",
    "schema_name",
    "sqlite_connector",
]

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
_SCHEMES = ("postgresql", "postgres")
# The key of PostgreSQL's advisory lock that stands for SQLite's single writer: one per
# schema (so per hub), taken for the length of a write transaction.
WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema()))"


class DatabaseError(Exception):
    """An error of the hub's database (either backend); ``str()`` is the database's message."""


class DatabaseUrlError(ValueError):
    """A ``--database`` value that is not a usable PostgreSQL URL; ``str()`` says why."""


@dataclass(frozen=True)
class PostgresTarget:
    """Where a PostgreSQL hub lives: a libpq URL (no password) and the hub's schema in it."""

    url: str
    schema: str

    def shown(self) -> str:
        """The URL without its query string, for messages."""
        parts = urllib.parse.urlsplit(self.url)
        return parts._replace(query="", fragment="").geturl() + f" (schema {self.schema})"


def parse_database_url(url: str) -> str:
    """``url`` checked as a libpq ``postgresql://`` URL that holds no password; raises :class:`DatabaseUrlError`."""
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise DatabaseUrlError(
            f"{url[:80]!r} is not a PostgreSQL URL: give postgresql://[account@]host[:port]/database "
            "(or postgresql:///database?host=/run/postgresql for a local socket)"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise DatabaseUrlError(f"the PostgreSQL URL cannot be read: {error}") from None
    if parts.password:
        raise DatabaseUrlError(
            "the PostgreSQL URL holds a password, and hub.json, where the URL is kept, is not secret: "
            "give the URL without it and put the password in the hub account's ~/.pgpass file (or PGPASSWORD)"
        )
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise DatabaseUrlError("the PostgreSQL URL names no database: end it with /DATABASE")
    return url


def schema_name(hub_id: str, suffix: str) -> str:
    """The PostgreSQL schema that holds the hub ``hub_id``'s tables.

    ``suffix`` (random, chosen at ``hub init``) keeps two hubs of one id apart: a hub made
    again with the id of a lost one, or an impostor's, never lands in another's tables.
    """
    return "fieldkit_" + re.sub(r"[^a-z0-9_]", "_", hub_id.lower())[:40] + "_" + suffix


@functools.lru_cache(maxsize=512)
def _postgres_sql(sql: str) -> str:
    """SQLite's placeholders and literal ``%`` signs in the form psycopg expects."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class Rows:
    """The result of one statement: fetch its rows (errors come out as :class:`DatabaseError`)."""

    def __init__(self, cursor: Any, errors: tuple[type[BaseException], ...]) -> None:
        self._cursor = cursor
        self._errors = errors

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchone(self) -> Any:  # a tuple, or None: typed Any as sqlite3's is, for row[0] on a known row
        try:
            row = self._cursor.fetchone()
        except self._errors as error:
            raise DatabaseError(str(error)) from error
        return tuple(row) if row is not None else None

    def fetchall(self) -> list[tuple]:
        try:
            return [tuple(row) for row in self._cursor.fetchall()]
        except self._errors as error:
            raise DatabaseError(str(error)) from error

    def __iter__(self) -> Iterator[tuple]:
        try:
            for row in self._cursor:
                yield tuple(row)
        except self._errors as error:
            raise DatabaseError(str(error)) from error


class Database:
    """One connection to a hub's database; transactions are the caller's (``begin_write``)."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._connection = connection
        self.dialect = dialect
        if dialect == SQLITE:
            self._errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        else:
            import psycopg

            self._errors = (psycopg.Error,)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes (what :class:`DatabaseError` wraps)."""
        return self._errors

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == SQLITE else _postgres_sql(sql)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Rows:
        try:
            return Rows(self._connection.execute(self._sql(sql), tuple(parameters)), self._errors)
        except self._errors as error:
            raise DatabaseError(str(error)) from error

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        try:
            if self.dialect == SQLITE:
                self._connection.executemany(sql, rows)
            else:
                with self._connection.cursor() as cursor:
                    cursor.executemany(self._sql(sql), list(rows))
        except self._errors as error:
            raise DatabaseError(str(error)) from error

    def begin_write(self) -> None:
        """Start a write transaction that no other writer of this hub runs beside."""
        if self.dialect == SQLITE:
            self.execute("BEGIN IMMEDIATE")
        else:
            self.execute("BEGIN")
            self.execute(WRITE_LOCK)

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction, if there is one; errors are not raised (the first one counts)."""
        if self.in_transaction:
            with suppress(DatabaseError):
                self.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        if self.dialect == SQLITE:
            return bool(self._connection.in_transaction)
        from psycopg.pq import TransactionStatus

        return bool(self._connection.info.transaction_status != TransactionStatus.IDLE)

    @property
    def broken(self) -> bool:
        """Whether the connection is gone (a PostgreSQL server restarted, the link dropped): open another."""
        if self.dialect == SQLITE:
            return False
        return bool(self._connection.closed or self._connection.broken)

    def has_table(self, name: str) -> bool:
        """Whether the hub's tables include ``name`` (in its schema, for PostgreSQL)."""
        if self.dialect == SQLITE:
            sql = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
        else:
            sql = "SELECT 1 FROM information_schema.tables WHERE table_schema=current_schema() AND table_name=?"
        return self.execute(sql, (name,)).fetchone() is not None

    def stream(self, sql: str, parameters: Sequence[object] = (), *, batch: int = 500) -> Iterator[tuple]:
        """The rows of a long query, read a batch at a time (a server-side cursor on PostgreSQL)."""
        if self.dialect == SQLITE:
            yield from self.execute(sql, parameters)
            return
        try:
            with self._connection.transaction(), self._connection.cursor(name="fieldkit_stream") as cursor:
                cursor.itersize = batch
                cursor.execute(self._sql(sql), tuple(parameters))
                for row in cursor:
                    yield tuple(row)
        except self._errors as error:
            raise DatabaseError(str(error)) from error

    @contextmanager
    def read_only(self) -> Iterator[Database]:
        """This connection, refusing writes for the length of the block."""
        if self.dialect == SQLITE:
            self.execute("PRAGMA query_only=ON")
        else:
            self.execute("SET default_transaction_read_only = on")
        yield self

    def close(self) -> None:
        try:
            self._connection.close()
        except self._errors as error:
            raise DatabaseError(str(error)) from error


def sqlite_connector(
    path: Path, *, page_size: int | None = None, cache_mib: int | None = None, timeout: float = 60.0
) -> Callable[[], sqlite3.Connection]:
    """A function that opens the SQLite database ``path`` as the store wants it (WAL, fsync at commit).

    ``page_size`` applies to a new database only (SQLite fixes it with the first page);
    ``cache_mib`` sets the connection's page cache (SQLite's default is 2 MiB).
    """

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
        if page_size is not None:
            connection.execute(f"PRAGMA page_size={int(page_size)}")  # before WAL: a no-op on an existing database
        if cache_mib is not None:
            connection.execute(f"PRAGMA cache_size={-1024 * int(cache_mib)}")  # negative: in KiB
        # WAL: readers (a hub page, an export) never block the importer. FULL: every commit
        # is fsynced before it returns, which is what allows a receipt to be sent.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    return connect


def postgres_connector(target: PostgresTarget, *, autocommit: bool = True) -> Callable[[], Any]:
    """A function that opens the hub's schema on PostgreSQL.

    ``autocommit`` leaves transactions to the caller's ``BEGIN`` (the store); SQLAlchemy
    and Alembic (``sync.hub.migrate``) take a connection without it and begin themselves.
    PostgreSQL's default ``synchronous_commit=on`` makes every ``COMMIT`` durable before
    it returns, as ``synchronous=FULL`` does for SQLite: a receipt follows only that.
    """

    def connect() -> Any:
        import psycopg

        connection = psycopg.connect(
            target.url,
            autocommit=autocommit,
            connect_timeout=20,
            options=f"-c search_path={target.schema} -c synchronous_commit=on",
            application_name="fieldkit-hub",
        )
        return connection

    return connect
