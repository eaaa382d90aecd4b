"""Durable storage: nothing the interviewer saw as "saved" is lost, nothing is torn.

- :mod:`.atomic`: write-to-temp, fsync, rename, fsync-folder; errors an interviewer reads.
- :mod:`.locks`: one writer per data folder across threads and processes.
- :mod:`.tinydb_storage`: TinyDB on atomic writes, for small bounded tables.
- :mod:`.records`: sealed records, one file each, so a write costs the same at any size.

See ``docs/storage.md`` for the design and what a crash at each step leaves behind.
"""

from __future__ import annotations

from fieldkit.core.storage.atomic import (
    StorageError,
    ensure_private_dir,
    fsync_dir,
    remove_durably,
    remove_temp_files,
    write_atomic,
)
from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.records import RecordStore
from fieldkit.core.storage.tinydb_storage import AtomicJSONStorage, open_db

__all__ = [
    "AtomicJSONStorage",
    "RecordStore",
    "StorageError",
    "ensure_private_dir",
    "fsync_dir",
    "open_db",
    "remove_durably",
    "remove_temp_files",
    "write_atomic",
    "writer_lock",
]
