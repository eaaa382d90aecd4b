"""Backing up a kit's data folder and restoring it (``fieldkit backup`` and ``restore``).

The backup holds what the kit keeps on disk, which is ciphertext and state only:
``kit.json``, ``kit-keys.json`` (the signing key and draft-key salt still wrapped with
the passphrase), the sealed records and their sidecars, the drafts (encrypted with the
draft key), ``sync.json``, ``counters.json``, the form packs. It leaves out ``cache/``
(compiled translations, rebuilt at start) and hidden names (the lock file, temporary
files). Nothing on a kit's disk is plaintext, so neither is anything in its backup.

Consistency while ``fieldkit serve`` runs: the copy is made under the kit's writer
lock, which every finalise, outbox and counter change takes, so no record is half
written and ``sync.json`` and the records agree. A draft saved meanwhile is read whole
(each write is a rename). On a read-only disk no writer can run, so the copy is made
without the lock (``docs/backup.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

from fieldkit.core.storage.backup import BackupError, BackupManifest, BackupWriter, folder_files, restore_backup
from fieldkit.core.storage.locks import lock_unless_read_only
from fieldkit.kit.config import load_config

__all__ = ["LEFT_OUT", "backup_kit", "restore_kit"]

LEFT_OUT = ("cache",)
_LOCK_TIMEOUT_SECONDS = 60.0


def refuse_inside(data_dir: Path, out: Path) -> None:
    data = os.path.realpath(data_dir)
    target = os.path.realpath(Path(out).parent)
    if target == data or target.startswith(data + os.sep):
        raise BackupError(
            f"{out} is inside the data folder {data_dir}: write the backup to another folder, "
            "ideally another disk. Nothing was backed up."
        )


def backup_kit(data_dir: Path, out: Path) -> BackupManifest:
    """Write a backup of the kit in ``data_dir`` to ``out`` (whole, or not at all)."""
    data_dir = Path(data_dir)
    config = load_config(data_dir)  # says clearly when this is not a kit folder
    refuse_inside(data_dir, out)
    held = lock_unless_read_only(data_dir, timeout=_LOCK_TIMEOUT_SECONDS)
    with held, BackupWriter(out, "kit", config.kit_id) as writer:
        for relative in folder_files(data_dir, skip_dirs=LEFT_OUT):
            writer.add_file(relative, data_dir / relative, missing_ok=relative.startswith("drafts/"))
        return writer.commit()


def restore_kit(source: Path, data_dir: Path) -> BackupManifest:
    """Restore a kit backup into ``data_dir``, which must be new or empty."""
    manifest = restore_backup(source, data_dir, kind="kit")
    load_config(data_dir)
    return manifest
