"""Making and upgrading the hub database with Alembic (sync.hub.migrate, sync/hub/migrations)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic import command

from sync.hub import migrate
from sync.hub.store import DB_FILE, HEAD_REVISION, SCHEMA_VERSION, HubStore, HubStoreError, version_key
from tests.hub_schemas import CURRENT, make_old_database, table_shape
from tests.sync_cli import init_hub_folder, make_hub_keys, run

# Old releases' SQLite files and their upgrades; tests/test_hub_postgresql.py checks a PostgreSQL
# hub's tables against the same metadata.
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent
SESSION = ("a" * 64, '{"csrf": "x"}', 1, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
SOURCE = ("kit", "kit-0000000001d1", 1, "age-public-key", "active", "2026-01-01T00:00:00Z", None)
VERSION = (7, "rec-1", "f" * 64, 3, "kit-0000000001d1", "peer-interview", 2, "2026-01-01", b"age\x00sealed")
# The same row once upgraded: schema 6 adds its compact key (sha256, kit, form, version, day hashed).
VERSION_6 = (*VERSION, version_key(VERSION[2], *VERSION[4:8]))


@pytest.fixture(scope="module")
def hub_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hub_keys(tmp_path_factory.mktemp("keys"))


def _markers(path: Path) -> tuple[str, list[tuple[str, ...]]]:
    connection = sqlite3.connect(path)
    try:
        (number,) = connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        revisions = (
            connection.execute("SELECT version_num FROM alembic_version").fetchall()
            if "alembic_version" in tables
            else []
        )
        return number, revisions
    finally:
        connection.close()


def _dump(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def _old_hub(tmp_path: Path, hub_keys: Path, schema: str) -> Path:
    """A hub folder whose database is what the release of ``schema`` left, holding a source, a record and a session."""
    hub = init_hub_folder(tmp_path, hub_keys)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{hub / DB_FILE}{suffix}").unlink(missing_ok=True)
    make_old_database(hub / DB_FILE, schema)
    connection = sqlite3.connect(hub / DB_FILE)
    with connection:
        columns = "kind, source_id, epoch, public_key, status, enrolled, revoked"
        connection.execute(f"INSERT INTO sources({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", SOURCE)
        connection.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", VERSION)
        if schema > "1":
            columns = "id_sha256, data, operator, created, expires"
            connection.execute(f"INSERT INTO sessions({columns}) VALUES (?, ?, ?, ?, ?)", SESSION)
    connection.close()
    return hub


def test_the_code_knows_its_newest_revision_without_alembic() -> None:
    assert migrate.head_revision() == HEAD_REVISION == f"schema{SCHEMA_VERSION}" == f"schema{CURRENT}"
    assert max(migrate.LEGACY_REVISIONS) == "5"  # Alembic came with schema 5: later ones are its alone


def test_a_new_hub_has_the_schema_6_tables_and_the_newest_revision(tmp_path: Path, hub_keys: Path) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    make_old_database(tmp_path / "sql.sqlite", CURRENT)
    assert table_shape(hub / DB_FILE) == table_shape(tmp_path / "sql.sqlite")
    assert _markers(hub / DB_FILE) == (SCHEMA_VERSION, [(HEAD_REVISION,)])


def test_the_revisions_from_an_empty_database_make_the_same_tables(tmp_path: Path, hub_keys: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    engine = migrate._engine(lambda: sqlite3.connect(empty, isolation_level=None), "sqlite")
    with engine.begin() as connection:
        command.upgrade(migrate._config(connection), "head")
    engine.dispose()
    hub = init_hub_folder(tmp_path, hub_keys)
    assert table_shape(empty) == table_shape(hub / DB_FILE)
    assert _markers(empty) == (SCHEMA_VERSION, [(HEAD_REVISION,)])


@pytest.mark.parametrize("schema", ["1", "2", "3", "4", "5"])
def test_an_old_hub_is_upgraded_keeps_its_data_and_ends_as_a_new_one(
    tmp_path: Path, hub_keys: Path, schema: str
) -> None:
    hub = _old_hub(tmp_path / "old", hub_keys, schema)
    with HubStore(hub) as store:
        (source,) = store.sources()
        assert (source.source_id, source.epoch, source.valid_up_to) == ("kit-0000000001d1", 1, None)
        assert store.read("SELECT * FROM versions") == [VERSION_6]
        sessions = store.read("SELECT * FROM sessions")
        assert sessions == ([(*SESSION, None)] if schema > "1" else [])
        audit = [(action, json.loads(detail)) for action, detail in store.read("SELECT action, detail FROM audit")]
    assert audit == [("store.upgraded", {"from_schema": schema, "to_schema": SCHEMA_VERSION})]
    fresh = init_hub_folder(tmp_path / "new", hub_keys)
    assert table_shape(hub / DB_FILE) == table_shape(fresh / DB_FILE)
    assert _markers(hub / DB_FILE) == (SCHEMA_VERSION, [(HEAD_REVISION,)])
    before = _dump(hub / DB_FILE)
    with HubStore(hub):
        pass  # up to date now: opening it again writes nothing
    assert _dump(hub / DB_FILE) == before
    run("hub", "audit", "--data", hub, "--verify")  # the chain the upgrade started verifies


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ("UPDATE alembic_version SET version_num='f00dfeed0001'", "an unknown revision"),
        (
            "DROP TABLE alembic_version; UPDATE meta SET value='7' WHERE key='schema'",
            "a number, no revision",
        ),
        ("DELETE FROM meta WHERE key='schema'; DELETE FROM alembic_version", "no marker at all"),
    ],
)
def test_a_database_of_a_newer_fieldkit_is_refused_and_left_as_it_is(
    tmp_path: Path, hub_keys: Path, change: str, what: str
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    connection = sqlite3.connect(hub / DB_FILE)
    connection.executescript(change)
    connection.close()
    before = _dump(hub / DB_FILE)
    with pytest.raises(HubStoreError, match="made by another version of fieldkit"):
        HubStore(hub)
    result = run("hub", "status", "--data", hub, expect=1)
    assert "made by another version of fieldkit" in result.output, what
    assert _dump(hub / DB_FILE) == before, what


_PAUSED = "paused in the middle of the upgrade"
_UPGRADER = textwrap.dedent(
    f"""
    import sys, time
    from pathlib import Path
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "before_cursor_execute")
    def pause(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("CREATE TABLE IF NOT EXISTS audit"):  # schema 2 and 3 are done
            print({_PAUSED!r}, flush=True)
            time.sleep(120)

    from sync.hub.store import HubStore
    HubStore(Path(sys.argv[1]))
    """
)


def test_a_kill_during_an_upgrade_leaves_the_old_schema_intact(tmp_path: Path, hub_keys: Path) -> None:
    hub = _old_hub(tmp_path, hub_keys, "1")
    before = _dump(hub / DB_FILE)
    process = subprocess.Popen(
        [sys.executable, "-c", _UPGRADER, str(hub)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == _PAUSED
        # The steps to schema 2 and 3 ran in this transaction: the new tables exist for it alone.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    copy = tmp_path / "after-kill.sqlite"  # read a copy: opening the hub would upgrade it
    shutil.copyfile(hub / DB_FILE, copy)
    if Path(f"{hub / DB_FILE}-wal").exists():
        shutil.copyfile(f"{hub / DB_FILE}-wal", f"{copy}-wal")
    assert _dump(copy) == before
    assert _markers(copy) == ("1", [])
    # And the upgrade runs whole the next time.
    with HubStore(hub) as store:
        assert store.read("SELECT * FROM versions") == [VERSION_6]
    assert _markers(hub / DB_FILE) == (SCHEMA_VERSION, [(HEAD_REVISION,)])


@pytest.mark.parametrize("schema", [None, "1"])
def test_alembic_finds_nothing_to_change_between_a_hub_database_and_the_metadata(
    tmp_path: Path, hub_keys: Path, schema: str | None
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from sync.hub.schema import metadata

    hub = init_hub_folder(tmp_path, hub_keys) if schema is None else _old_hub(tmp_path, hub_keys, schema)
    HubStore(hub).close()
    engine = migrate._engine(lambda: sqlite3.connect(hub / DB_FILE, isolation_level=None), "sqlite")

    def differences() -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        # The tables of schema 1 were made by SQL that did not say NOT NULL on their primary
        # keys (SQLite takes it as implied for INTEGER PRIMARY KEY only); the hub never
        # stores a NULL key, so that is not a difference worth a table rebuild.
        return [
            item
            for item in found
            if not (
                isinstance(item, list)
                and item[0][0] == "modify_nullable"
                and item[0][3] in metadata.tables[item[0][2]].primary_key.columns
            )
        ]

    with engine.begin() as connection:
        assert differences() == []
        connection.exec_driver_sql("DROP INDEX sessions_by_expiry")
        assert differences() != []  # it does look
        connection.rollback()
    engine.dispose()


def test_an_old_hub_on_a_read_only_disk_is_read_when_it_can_be_and_says_why_when_not(
    tmp_path: Path, hub_keys: Path
) -> None:
    from tests.test_backup import read_only_view

    # Schema 5 differs from 6 only in a key no read uses: read as it is until the disk is writable.
    current = _old_hub(tmp_path / "five", hub_keys, "5")
    with read_only_view(current) as view:
        assert "Records: 1 accepted" in run("hub", "status", "--data", view).output
    assert _markers(current / DB_FILE) == ("5", [])
    old = _old_hub(tmp_path / "three", hub_keys, "3")
    with read_only_view(old) as view:
        refused = run("hub", "status", "--data", view, expect=1)
        assert "cannot update the hub database" in refused.output and "read-only" in refused.output
    assert _markers(old / DB_FILE) == ("3", [])


def test_two_versions_of_one_record_id_keep_their_own_keys_through_the_upgrade(tmp_path: Path, hub_keys: Path) -> None:
    hub = _old_hub(tmp_path, hub_keys, "5")
    other = (8, "rec-1", "e" * 64, 3, *VERSION[4:8], b"age\x00other")  # other sealed bytes: a conflict
    with contextlib.closing(sqlite3.connect(hub / DB_FILE)) as connection, connection:
        connection.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", other)
    with HubStore(hub) as store:
        assert store.read("SELECT id, version_key FROM versions ORDER BY id") == [
            (7, version_key(VERSION[2], *VERSION[4:8])),
            (8, version_key(other[2], *other[4:8])),
        ]
        assert [(item.record_id, len(item.versions)) for item in store.quarantine()] == [("rec-1", 2)]
    # The compact key still refuses a second copy of one version of one record id.
    with contextlib.closing(sqlite3.connect(hub / DB_FILE)) as connection, pytest.raises(sqlite3.IntegrityError):
        connection.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (9, *VERSION_6[1:]))
