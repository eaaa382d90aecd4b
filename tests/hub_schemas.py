"""The hub store's tables as each release before Alembic made them, frozen, for the schema tests.

``SCHEMA_SQL[n]`` is the SQL that made a new database of schema ``n`` (release n's
``_SCHEMA``, as sqlite3 ran it, before the tables moved to ``sync.hub.schema``).
``SCHEMA_SQL["6"]`` is no release's: it is what Alembic's revision schema6 makes of
schema 5, written as SQL, the reference ``sync.hub.schema`` must match (``CURRENT``).
``table_shape`` reads back what SQLite holds, in a form two databases can be
compared by.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The versions table of schema 1 to 5 (schema 6 rebuilt it with a compact key).
_VERSIONS_1 = """
CREATE TABLE IF NOT EXISTS versions(
    id INTEGER PRIMARY KEY, record_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, kit_id TEXT NOT NULL, form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL, day TEXT NOT NULL, ciphertext BLOB NOT NULL,
    UNIQUE(record_id, sha256, kit_id, form_id, form_version, day));
"""
_BASE_1 = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources(
    kind TEXT NOT NULL, source_id TEXT NOT NULL, epoch INTEGER NOT NULL,
    public_key TEXT NOT NULL, status TEXT NOT NULL, enrolled TEXT NOT NULL, revoked TEXT,
    PRIMARY KEY(kind, source_id, epoch));
CREATE TABLE IF NOT EXISTS tokens(
    token_sha256 TEXT PRIMARY KEY, created TEXT NOT NULL, expires TEXT NOT NULL,
    used TEXT, used_by TEXT);
""" + _VERSIONS_1 + """CREATE TABLE IF NOT EXISTS bundles(
    bundle_sha256 TEXT PRIMARY KEY, source_kind TEXT NOT NULL, source_id TEXT NOT NULL,
    epoch INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    created TEXT NOT NULL, records INTEGER NOT NULL, imported TEXT NOT NULL,
    receipt BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
    code TEXT, source TEXT, bundle TEXT, label TEXT, record_id TEXT, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, id);
CREATE INDEX IF NOT EXISTS events_by_record ON events(record_id);
"""
_STEP_2 = """
CREATE TABLE IF NOT EXISTS enrolment_tokens(
    token_id TEXT PRIMARY KEY, kind TEXT NOT NULL, for_source TEXT, mac_key TEXT NOT NULL,
    created TEXT NOT NULL, expires TEXT NOT NULL, used TEXT, used_by TEXT);
CREATE TABLE IF NOT EXISTS sessions(
    id_sha256 TEXT PRIMARY KEY, data TEXT NOT NULL, operator INTEGER NOT NULL,
    created TEXT NOT NULL, expires TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(expires);
CREATE TABLE IF NOT EXISTS source_recipients(
    kind TEXT NOT NULL, source_id TEXT NOT NULL, epoch INTEGER NOT NULL, recipients TEXT NOT NULL,
    PRIMARY KEY(kind, source_id, epoch));
CREATE TABLE IF NOT EXISTS set_aside(
    id INTEGER PRIMARY KEY, record_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, kit_id TEXT NOT NULL, form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL, day TEXT NOT NULL, ciphertext BLOB NOT NULL,
    reason TEXT NOT NULL, at TEXT NOT NULL,
    UNIQUE(record_id, sha256, kit_id, form_id, form_version, day));
ALTER TABLE sources ADD COLUMN valid_up_to INTEGER;
"""
_STEP_3 = """
CREATE TABLE IF NOT EXISTS centres(
    code TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL, kind TEXT NOT NULL,
    location TEXT, active INTEGER NOT NULL, added TEXT NOT NULL, changed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cycles(
    cycle_id TEXT PRIMARY KEY, name TEXT NOT NULL, start_day TEXT NOT NULL, end_day TEXT NOT NULL,
    forms TEXT NOT NULL, centres TEXT NOT NULL, added TEXT NOT NULL, closed TEXT);
CREATE TABLE IF NOT EXISTS packs(
    version INTEGER PRIMARY KEY, made TEXT NOT NULL, sha256 TEXT NOT NULL, summary TEXT NOT NULL,
    body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS form_versions(
    form_id TEXT NOT NULL, version INTEGER NOT NULL, content_hash TEXT NOT NULL,
    source TEXT NOT NULL, added TEXT NOT NULL, PRIMARY KEY(form_id, version));
CREATE TABLE IF NOT EXISTS tallies(
    source_kind TEXT NOT NULL, source_id TEXT NOT NULL, epoch INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, ciphertext BLOB NOT NULL, received TEXT NOT NULL,
    PRIMARY KEY(source_kind, source_id, epoch));
"""
_STEP_4 = """
CREATE TABLE IF NOT EXISTS audit(
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
"""
_STEP_5 = """
CREATE TABLE IF NOT EXISTS operators(
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created TEXT NOT NULL, changed TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
ALTER TABLE sessions ADD COLUMN operator_name TEXT;
"""
# Revision schema6: versions unique on (record_id, version_key), not on the six columns.
_STEP_6 = """
DROP TABLE versions;
CREATE TABLE versions(
    id INTEGER PRIMARY KEY, record_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, kit_id TEXT NOT NULL, form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL, day TEXT NOT NULL, ciphertext BLOB NOT NULL,
    version_key BLOB NOT NULL, UNIQUE(record_id, version_key));
"""
# For a test that turns a new (empty) hub database back into an older one by hand: the
# versions table as schema 1 to 5 had it.
VERSIONS_BEFORE_6 = "DROP TABLE versions;" + _VERSIONS_1
_STEPS = [_BASE_1, _STEP_2, _STEP_3, _STEP_4, _STEP_5, _STEP_6]
SCHEMA_SQL = {str(n): "".join(_STEPS[:n]) for n in range(1, 7)}
CURRENT = "6"


def make_old_database(path: Path, schema: str) -> None:
    """A hub database as the release of ``schema`` ("1" to "5") made it: no alembic_version ("6": the reference)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.executescript(f"BEGIN;{SCHEMA_SQL[schema]}INSERT INTO meta VALUES('schema', '{schema}');COMMIT;")
    finally:
        connection.close()


def table_shape(path: Path) -> dict[str, object]:
    """What SQLite holds for each table: columns, keys, indexes, AUTOINCREMENT; alembic's own table left out.

    A primary key column counts as NOT NULL whether or not it says so: SQLAlchemy says
    it (PostgreSQL requires it), the SQL before did not, and the hub never stores NULL there.
    """
    connection = sqlite3.connect(path)
    try:
        names = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
            if name not in ("alembic_version", "sqlite_sequence")
        ]
        shape: dict[str, object] = {}
        for name in names:
            columns = [
                (column, kind.upper(), bool(notnull) or pk > 0, default, pk)
                for (_, column, kind, notnull, default, pk) in connection.execute(f"PRAGMA table_info('{name}')")
            ]
            indexes = sorted(
                (
                    tuple(column for (_, _, column) in connection.execute(f"PRAGMA index_info('{index}')")),
                    bool(unique),
                    origin,
                    index if origin == "c" else "",
                )
                for (_, index, unique, origin, _) in connection.execute(f"PRAGMA index_list('{name}')")
            )
            (sql,) = connection.execute("SELECT sql FROM sqlite_master WHERE name=?", (name,)).fetchone()
            shape[name] = {"columns": columns, "indexes": indexes, "autoincrement": "AUTOINCREMENT" in sql.upper()}
        return shape
    finally:
        connection.close()
