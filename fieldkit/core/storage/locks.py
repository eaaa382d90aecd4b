"""One writer at a time per data folder, across threads and processes.

TinyDB updates are read-modify-write: two writers that interleave would each write
back a table missing the other's change, and ``RecordStore.repair`` must not tidy away
a record that a ``put`` is half-way through. ``writer_lock`` serialises them. Inside one
process a re-entrant thread lock per folder orders the threads (``flock`` alone would not:
its locks belong to open files, and the web server's threads share one process);
across processes (``fieldkit serve`` next to ``fieldkit sync export``) an exclusive
``fcntl.flock`` on ``DATA/.lock`` does. The kernel drops a flock when its holder dies,
so a killed process never leaves the folder locked.

``writer_lock`` is held for one write. A command that must not run while the kit is
open at all (``fieldkit passphrase`` replaces the keys a running ``fieldkit serve``
unlocked with) takes ``sole_use``, an exclusive ``flock`` on ``DATA/.in-use`` that it
never waits for; ``fieldkit serve`` holds ``in_use``, a shared one, for as long as it runs.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fieldkit.core.storage.atomic import PRIVATE_FILE_MODE, StorageError

__all__ = [
    "CANNOT_WRITE",
    "IN_USE_FILE_NAME",
    "LOCK_FILE_NAME",
    "KitInUse",
    "in_use",
    "lock_unless_read_only",
    "sole_use",
    "writer_lock",
]

LOCK_FILE_NAME = ".lock"
IN_USE_FILE_NAME = ".in-use"
_POLL_SECONDS = 0.01
# What opening the lock file fails with on a read-only disk or a folder made read-only.
CANNOT_WRITE = (errno.EROFS, errno.EACCES, errno.EPERM)

_registry_guard = threading.Lock()
_thread_locks: dict[str, threading.RLock] = {}
# Per thread: folder key -> (nesting depth, fd holding the flock).
_held = threading.local()


def _key(data_dir: Path) -> str:
    return os.path.realpath(data_dir)


def _thread_lock_for(key: str) -> threading.RLock:
    with _registry_guard:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = threading.RLock()
        return lock


def _held_by_this_thread() -> dict[str, tuple[int, int]]:
    held = getattr(_held, "locks", None)
    if held is None:
        held = _held.locks = {}
    return held


def _busy_error(data_dir: Path, timeout: float) -> StorageError:
    return StorageError(
        f"Could not save in {data_dir}: another fieldkit process kept the data folder busy "
        f"for {timeout:g} seconds. Nothing was saved; try again in a moment.",
        path=data_dir,
    )


@contextmanager
def writer_lock(data_dir: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold the data folder's writer lock for the duration of the ``with`` block.

    Re-entrant within a thread, so a caller may hold it around several storage calls
    that take it themselves (``RecordStore.put`` does). ``timeout=None`` waits as long
    as it takes; otherwise :class:`StorageError` is raised when the lock is still taken
    after ``timeout`` seconds.
    """
    data_dir = Path(data_dir)
    key = _key(data_dir)
    deadline = None if timeout is None else time.monotonic() + timeout
    thread_lock = _thread_lock_for(key)
    if not thread_lock.acquire(timeout=-1 if timeout is None else timeout):
        raise _busy_error(data_dir, timeout or 0.0)
    try:
        held = _held_by_this_thread()
        depth, fd = held.get(key, (0, -1))
        if depth == 0:
            fd = _open_and_flock(data_dir, deadline, timeout)
        held[key] = (depth + 1, fd)
        try:
            yield
        finally:
            depth, fd = held[key]
            if depth == 1:
                del held[key]
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
            else:
                held[key] = (depth - 1, fd)
    finally:
        thread_lock.release()


def _open_and_flock(data_dir: Path, deadline: float | None, timeout: float | None) -> int:
    lock_path = data_dir / LOCK_FILE_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise StorageError.from_os_error(exc, lock_path, action="lock", outcome="Nothing was saved") from exc
    try:
        if deadline is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return fd
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy_error(data_dir, timeout or 0.0) from None
                time.sleep(_POLL_SECONDS)
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise StorageError.from_os_error(exc, lock_path, action="lock", outcome="Nothing was saved") from exc
        raise


@contextmanager
def lock_unless_read_only(data_dir: Path, *, timeout: float | None = None) -> Iterator[bool]:
    """The writer lock (yields True), or no lock when the folder cannot be written at all (False).

    On a read-only disk (an SD card going bad is remounted read-only) or a folder made
    read-only, the lock file cannot be opened for writing; but then no fieldkit process
    can change the folder either, so reading it without the lock is consistent. The
    caller must then not try to save anything: a dying kit can still be read, backed
    up and exported from.
    """
    try:
        held = writer_lock(data_dir, timeout=timeout)
        held.__enter__()
    except StorageError as error:
        if error.errno not in CANNOT_WRITE:
            raise
        yield False
        return
    try:
        yield True
    finally:
        held.__exit__(None, None, None)


class KitInUse(StorageError):
    """Another process (``fieldkit serve``) has the data folder open."""


def _open_lock_file(path: Path, outcome: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise StorageError.from_os_error(exc, path, action="lock", outcome=outcome) from exc


@contextmanager
def in_use(data_dir: Path) -> Iterator[None]:
    """Mark the data folder as open for the ``with`` block (``fieldkit serve``); many may hold it at once."""
    fd = _open_lock_file(Path(data_dir) / IN_USE_FILE_NAME, "The kit was not started")
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing drops the flock


@contextmanager
def sole_use(data_dir: Path, *, action: str) -> Iterator[None]:
    """Hold the data folder for this process alone, or raise :class:`KitInUse` at once.

    ``action`` says what was refused, for the message ("change the passphrase").
    """
    data_dir = Path(data_dir)
    fd = _open_lock_file(data_dir / IN_USE_FILE_NAME, "Nothing was changed")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KitInUse(
                f"Cannot {action}: the kit in {data_dir} is open in another fieldkit process ('fieldkit serve'). "
                "Stop it first (Ctrl+C, or 'stop the kit' on the operator page), then try again. Nothing was changed.",
                path=data_dir,
            ) from None
        yield
    finally:
        os.close(fd)
