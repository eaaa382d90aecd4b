"""Backing up a hub's data folder and restoring it (``fieldkit hub backup`` and ``hub restore``).

Each SQLite database in the folder (``hub.sqlite``, ``forward.sqlite``, ``rollups.sqlite``) is copied with
SQLite's online backup API (:func:`sync.hub.store.copy_database`), so the copy is
consistent while ``fieldkit hub serve`` runs and merges bundles; their ``-wal`` and
``-shm`` files are left out (the copy already holds every committed change). The other
files (``hub.json``, the signing keys ``receipt-key.pem`` and ``forward-key.pem`` as
they are stored, reports) are copied as they are. The hub's age identity, which opens
the records, is never in the hub folder, so it is never in the backup either.

A PostgreSQL hub's tables go into the backup as a ``hub.sqlite`` file of the same tables
(:mod:`sync.hub.copying`), read in one snapshot: one format for both, and any backup
restores into either database (``restore_hub(..., database=URL)``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from fieldkit.core.storage.atomic import PRIVATE_DIR_MODE, StorageError
from fieldkit.core.storage.backup import BackupError, BackupManifest, BackupWriter, folder_files, restore_backup
from sync.hub.store import (
    DATABASE_ENVIRONMENT,
    DB_FILE,
    HubStore,
    HubStoreError,
    copy_database,
    load_hub_config,
    new_postgres_schema,
    read_hub_settings,
    write_hub_settings,
)

__all__ = ["SIGNING_KEYS", "backup_hub", "restore_hub"]

SIGNING_KEYS = ("receipt-key.pem", "forward-key.pem")
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _scratch_pattern(out: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{out.name}.") + r"[0-9a-f]{16}\.copy\.tmp")


def _scratch_dir(out: Path) -> Path:
    """A private folder beside ``out`` for the database copies; leftovers of a killed run go first."""
    pattern = _scratch_pattern(out)
    for name in os.listdir(out.parent) if out.parent.is_dir() else []:
        if pattern.fullmatch(name):
            shutil.rmtree(out.parent / name, ignore_errors=True)
    scratch = out.parent / f".{out.name}.{secrets.token_hex(8)}.copy.tmp"
    try:
        scratch.mkdir(mode=PRIVATE_DIR_MODE)
    except OSError as error:
        raise StorageError.from_os_error(
            error, out, action="write the backup", outcome="Nothing was written"
        ) from error
    return scratch


def backup_hub(data_dir: Path, out: Path) -> BackupManifest:
    """Write a backup of the hub in ``data_dir`` to ``out`` (whole, or not at all)."""
    data_dir, out = Path(data_dir), Path(out)
    config = load_hub_config(data_dir)
    data = os.path.realpath(data_dir)
    if os.path.realpath(out.parent) == data or os.path.realpath(out.parent).startswith(data + os.sep):
        raise BackupError(
            f"{out} is inside the hub folder {data_dir}: write the backup to another folder, "
            "ideally another disk. Nothing was backed up."
        )
    files = folder_files(data_dir, skip=lambda relative: relative.endswith(_SQLITE_SIDE_FILES))
    with BackupWriter(out, "hub", config.hub_id) as writer:
        scratch = _scratch_dir(out)
        try:
            if config.postgres is not None:
                copy = scratch / "copy.sqlite"
                _dump_postgres(data_dir, copy)
                writer.add_file(DB_FILE, copy)
                copy.unlink()
            for relative in files:
                if relative.endswith(".sqlite"):
                    copy = scratch / "copy.sqlite"
                    copy_database(data_dir / relative, copy)
                    writer.add_file(relative, copy)
                    copy.unlink()
                else:
                    writer.add_file(relative, data_dir / relative)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return writer.commit()


def _dump_postgres(data_dir: Path, dest: Path) -> None:
    """The PostgreSQL hub's tables, at one snapshot, into the new SQLite file ``dest``."""
    from sync.hub.copying import copy_hub_tables

    with HubStore(data_dir) as store:  # brings the tables up to date first, so the copy matches its schema
        config = store.config
    copy_hub_tables(config, dest)


def restore_hub(source: Path, data_dir: Path, *, database: str | None = None) -> BackupManifest:
    """Restore a hub backup into ``data_dir`` (new or empty); the database is opened and checked.

    The tables go into ``hub.sqlite`` in the folder, or, with ``database`` (a PostgreSQL URL;
    by default ``FIELDKIT_HUB_DATABASE``), into a new schema there, whichever database the
    backed-up hub used.
    """
    if database is None:
        database = os.environ.get(DATABASE_ENVIRONMENT) or None
    manifest = restore_backup(source, data_dir, kind="hub")
    settings = read_hub_settings(data_dir)
    settings.pop("database", None)
    settings.pop("database_schema", None)
    write_hub_settings(data_dir, settings)  # an SQLite hub first: the backup's hub.sqlite
    if database:
        _restore_into_postgres(Path(data_dir), settings, database)
    with HubStore(data_dir) as store:
        store.record_count()
    return manifest


def _restore_into_postgres(data_dir: Path, settings: dict[str, object], database: str) -> None:
    """Move the restored ``hub.sqlite`` into a new schema on PostgreSQL; hub.json then names it."""
    from sync.hub.copying import copy_hub_tables

    with HubStore(data_dir) as store:  # opening it brings an older backup's tables up to date
        restored = store.config
    target = new_postgres_schema(database, restored)
    try:
        copy_hub_tables(restored, target)
    except Exception as error:
        raise HubStoreError(f"could not copy the restored tables into {target.postgres}: {error}") from error
    settings.update(database=target.database, database_schema=target.database_schema)
    write_hub_settings(data_dir, settings)
    (data_dir / DB_FILE).unlink()
