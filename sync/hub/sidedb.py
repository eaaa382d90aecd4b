"""A small SQLite file of the hub's beside its store: forwarding state, held roll-ups.

Each is private (made 0600 by us before SQLite opens it, so its WAL and shared-memory
files are private too), in WAL mode with ``synchronous=FULL`` (a commit is on the disk
when it returns), and every write is one ``BEGIN IMMEDIATE`` transaction. One class for
both, so they open, fail and commit the same way.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import fsync_dir

__all__ = ["SideDatabase"]


class SideDatabase:
    """``path`` opened with ``schema`` (idempotent statements); ``refuse(message)`` makes its error."""

    def __init__(self, path: Path, schema: str, refuse: Callable[[str], FieldkitError], advice: str) -> None:
        self.path = path
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.close(fd)
            fsync_dir(path.parent)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=60.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(f"BEGIN IMMEDIATE;{schema}COMMIT;")
        except sqlite3.Error as error:
            raise refuse(f"cannot open {path}: {error}; {advice}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed (and fsynced) on leaving, rolled back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
