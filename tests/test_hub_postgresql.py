"""A hub on PostgreSQL (``hub init --database``): its tables, what is refused, moving between databases.

The whole hub suite also runs on PostgreSQL (``FIELDKIT_TEST_HUB_BACKEND=postgresql``, see
tests/hub_backend.py); these tests are about what only the choice of database brings, and
run in both passes against the real test server (``postgres_url``).
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from sync.hub.database import postgres_connector
from sync.hub.schema import metadata
from sync.hub.store import HEAD_REVISION, HubStore, HubStoreError, init_hub
from tests.bundle_corpus import HUB_RECIPIENT, enrol_key, make_bundle, sealed_records
from tests.hub_backend import hub_db
from tests.sync_cli import run


def _postgres_hub(folder: Path, url: str, hub_id: str = "hub-national") -> Path:
    init_hub(folder, HUB_RECIPIENT, hub_id=hub_id, database=url)
    return folder


def _fill(store: HubStore, kit_id: str = "kit-00000000a001", count: int = 12, seed: int = 1) -> None:
    key = Ed25519PrivateKey.generate()
    enrol_key(store, key, kit_id)
    result = store.import_bundle(make_bundle(key, kit_id, sealed_records(kit_id, count, seed=seed)))
    assert result.status == "accepted" and result.new == count, result.summary()


def test_a_postgresql_hub_keeps_its_tables_in_its_own_schema_at_the_newest_revision(
    tmp_path: Path, postgres_url: str
) -> None:
    hub = tmp_path / "hub"
    output = run("hub", "init", "--data", hub, "--recipient-file", _recipient_file(tmp_path), "--hub-id",
                 "hub-national", "--database", postgres_url).output  # fmt: skip
    assert "Its tables are in the PostgreSQL database" in output
    assert sorted(path.name for path in hub.iterdir()) == ["hub.json", "receipt-key.pem"]  # no hub.sqlite
    settings = json.loads((hub / "hub.json").read_text())
    assert settings["database"] == postgres_url
    assert settings["database_schema"].startswith("fieldkit_hub_national_")
    with HubStore(hub) as store:
        assert store.dialect == "postgresql"
        _fill(store)
        assert store.record_count() == 12
    status = run("hub", "status", "--data", hub).output
    assert "Tables in the PostgreSQL database" in status and "Records: 12 accepted" in status
    # Alembic sees nothing to change between those tables and the one description of them.
    schema = settings["database_schema"]
    engine = create_engine(
        "postgresql+psycopg://", creator=postgres_connector(_target(hub), autocommit=False), poolclass=NullPool
    )
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == HEAD_REVISION
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
    with psycopg.connect(postgres_url) as admin:
        listed = admin.execute("SELECT table_name FROM information_schema.tables WHERE table_schema=%s", (schema,))
        tables = {row[0] for row in listed}
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_two_hubs_of_one_id_in_one_database_never_share_tables(tmp_path: Path, postgres_url: str) -> None:
    first = _postgres_hub(tmp_path / "first", postgres_url)
    second = _postgres_hub(tmp_path / "second", postgres_url)  # a hub made again with the id of a lost one
    with HubStore(first) as store:
        _fill(store)
    with HubStore(second) as store:
        assert store.record_count() == 0 and store.sources() == []
    assert _target(first).schema != _target(second).schema


@pytest.mark.parametrize(
    ("database", "said"),
    [
        ("mysql://host/db", "is not a PostgreSQL URL"),
        ("hub.sqlite", "is not a PostgreSQL URL"),
        ("postgresql://fieldkit:s3cret@127.0.0.1/hubs", "holds a password"),
        ("postgresql://127.0.0.1:notaport/hubs", "cannot be read"),
        ("postgresql://127.0.0.1", "names no database"),
    ],
)
def test_an_unusable_database_url_is_refused_and_nothing_is_made(tmp_path: Path, database: str, said: str) -> None:
    hub = tmp_path / "hub"
    result = run("hub", "init", "--data", hub, "--recipient-file", _recipient_file(tmp_path), "--database",
                 database, expect=1)  # fmt: skip
    assert said in result.output and "nothing was made" in result.output
    assert "s3cret" not in result.output
    assert not hub.exists()


def test_a_database_server_that_is_not_there_is_said_plainly_and_nothing_is_made(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port of 127.0.0.1 that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hub = tmp_path / "hub"
    result = run("hub", "init", "--data", hub, "--recipient-file", _recipient_file(tmp_path), "--database",
                 f"postgresql://fieldkit@127.0.0.1:{port}/hubs", expect=1)  # fmt: skip
    assert "cannot connect to the PostgreSQL database" in result.output
    assert "that the server is running" in result.output and "nothing was made" in result.output
    assert not hub.exists()


def test_a_dropped_connection_fails_one_call_plainly_and_the_next_reconnects(
    tmp_path: Path, postgres_url: str
) -> None:
    hub = _postgres_hub(tmp_path / "hub", postgres_url)
    with HubStore(hub) as store:
        _fill(store)
        # The server ends the hub's connections (a restart, a failover, a dropped link); only
        # those to this test's own database, so the tests running beside it keep theirs.
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name='fieldkit-hub' "
                "AND datname=current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert ended, "the hub had no connection to end"
        with pytest.raises(HubStoreError, match="Could not read the hub's PostgreSQL database") as raised:
            store.record_count()
        assert "Traceback" not in str(raised.value)
        assert store.record_count() == 12  # the next call has a new connection
        _fill(store, kit_id="kit-00000000a002", seed=2)
        assert store.record_count() == 24


def test_imports_running_side_by_side_lose_nothing_and_merge_each_bundle_once(
    tmp_path: Path, postgres_url: str
) -> None:
    hub = _postgres_hub(tmp_path / "hub", postgres_url)
    kits = [(f"kit-00000000b00{n}", Ed25519PrivateKey.generate()) for n in range(4)]
    with HubStore(hub) as store:
        for kit_id, key in kits:
            enrol_key(store, key, kit_id)
    bundles = [make_bundle(key, kit_id, sealed_records(kit_id, 25, seed=n)) for n, (kit_id, key) in enumerate(kits)]
    results: list[str] = []

    def importer(offset: int) -> None:
        with HubStore(hub) as store:  # a connection of its own, as a second 'hub import' would have
            for index in range(len(bundles)):
                results.append(store.import_bundle(bundles[(index + offset) % len(bundles)]).status)

    threads = [threading.Thread(target=importer, args=(offset,)) for offset in (0, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(results) == ["accepted"] * 4 + ["already-merged"] * 4
    with HubStore(hub) as store:
        assert store.record_count() == 100 and store.quarantine() == []
    with hub_db(hub) as connection:
        assert connection.execute("SELECT COUNT(*) FROM bundles").fetchone()[0] == 4


def test_a_backup_moves_a_hub_from_sqlite_to_postgresql_and_back_with_the_same_state(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIELDKIT_HUB_DATABASE", raising=False)
    small = tmp_path / "regional"
    init_hub(small, HUB_RECIPIENT, hub_id="hub-regional")
    with HubStore(small) as store:
        _fill(store)
        store.audit(None, "test.marker", "before the move")
        digest, trail = store.state_digest(), len(store.audit_entries())
    run("hub", "backup", "--data", small, "--out", tmp_path / "regional.tar")
    moved = tmp_path / "national"
    run("hub", "restore", "--from", tmp_path / "regional.tar", "--data", moved, "--database", postgres_url)
    assert not (moved / "hub.sqlite").exists()
    with HubStore(moved) as store:
        assert store.dialect == "postgresql" and store.state_digest() == digest
        assert store.verify_audit().ok and len(store.audit_entries()) == trail + 1  # + backup.restored
        _fill(store, kit_id="kit-00000000a002", seed=2)  # numbering goes on past the copied rows
        digest = store.state_digest()
    run("hub", "backup", "--data", moved, "--out", tmp_path / "national.tar")
    back = tmp_path / "back"
    run("hub", "restore", "--from", tmp_path / "national.tar", "--data", back)
    settings = json.loads((back / "hub.json").read_text())
    assert "database" not in settings and (back / "hub.sqlite").is_file()
    with HubStore(back) as store:
        assert store.dialect == "sqlite" and store.state_digest() == digest and store.verify_audit().ok


def _recipient_file(folder: Path) -> Path:
    path = folder / "hub-recipient.txt"
    path.write_text(HUB_RECIPIENT + "\n")
    return path


def _target(hub: Path):
    from sync.hub.store import load_hub_config

    target = load_hub_config(hub).postgres
    assert target is not None
    return target
