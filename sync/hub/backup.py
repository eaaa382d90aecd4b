"""Backing up a hub's data folder and restoring it (``fieldkit hub backup`` and ``hub restore``).

Each SQLite database in the folder (``hub.sqlite``, ``forward.sqlite``, ``rollups.sqlite``) is copied with
SQLite's online backup API (:func:`sync.hub.store.copy_database`), so the copy is
consistent while ``fieldkit hub serve`` runs and merges bundles; their ``-wal`` and
``-shm`` files are left out (the copy already holds every committed change). The other
files (``hub.json``, the signing keys ``receipt-key.pem`` and ``forward-key.pem`` as
they are stored, reports) are copied as they are. The hub's age identity, which opens
the records, is never in the hub folder, so it is never in the backup either.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from fieldkit.core.storage.atomic import PRIVATE_DIR_MODE, StorageError
from fieldkit.core.storage.backup import BackupError, BackupManifest, BackupWriter, folder_files, restore_backup
from sync.hub.store import HubStore, copy_database, load_hub_config

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


def restore_hub(source: Path, data_dir: Path) -> BackupManifest:
    """Restore a hub backup into ``data_dir`` (new or empty); the database is opened and checked."""
    manifest = restore_backup(source, data_dir, kind="hub")
    with HubStore(data_dir) as store:
        store.record_count()
    return manifest
