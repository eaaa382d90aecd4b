"""TinyDB on crash-safe writes.

TinyDB's own ``JSONStorage`` rewrites its file in place (seek, write, truncate): a kill
in the middle leaves half a JSON document. Its ``CachingMiddleware`` keeps writes in
memory until a later flush, so "saved" could be shown for data that is not on disk.
``AtomicJSONStorage`` instead writes each new state with :func:`write_atomic`, so the
file always parses, and returns only when the state is durable.

Every write serialises the whole database, so TinyDB here holds only small, bounded
tables (kit settings, outbox cursors, draft index); sealed records live one file each
in :class:`fieldkit.core.storage.records.RecordStore`. Wrap each read-modify-write in
``writer_lock(data_dir)``: TinyDB reads, changes and writes back, and two writers
interleaving would lose one of the changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import tinydb
from tinydb.storages import Storage

from fieldkit.core.storage.atomic import (
    PRIVATE_FILE_MODE,
    FsyncFunc,
    StorageError,
    ensure_private_dir,
    write_atomic,
)
from fieldkit.core.storage.locks import writer_lock

__all__ = ["AtomicJSONStorage", "open_db", "writer_lock"]


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces its JSON file atomically and durably on every write."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: FsyncFunc = os.fsync) -> None:
        super().__init__()
        self.path = Path(path)
        self._fsync = fsync

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError.from_os_error(exc, self.path, action="read", outcome="Nothing was changed") from exc
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            # Atomic writes never leave this behind; someone or something else wrote it.
            raise StorageError(
                f"Could not read {self.path}: it is not valid JSON, so it was changed outside "
                "fieldkit. Nothing was changed; restore it from a backup.",
                path=self.path,
            ) from exc
        if not isinstance(data, dict):
            raise StorageError(
                f"Could not read {self.path}: it does not hold a TinyDB database. "
                "Nothing was changed; restore it from a backup.",
                path=self.path,
            )
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        serialised = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        write_atomic(self.path, serialised, mode=PRIVATE_FILE_MODE, fsync=self._fsync)


def open_db(path: Path) -> tinydb.TinyDB:
    """Open (or start) a TinyDB file stored with :class:`AtomicJSONStorage`.

    The folder holding it is created if needed and made private (0700).
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    return tinydb.TinyDB(path, storage=AtomicJSONStorage)
