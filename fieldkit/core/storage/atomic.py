"""Crash-safe file writes: a file holds either its old or its new content, never a mix.

Every write goes to a fresh temporary file in the same folder, is flushed to the disk
with fsync, and is then renamed over the target with ``os.replace``; the folder itself
is fsynced last so that the rename survives a power cut. When the function returns,
the bytes are on disk for good. When any step fails, the temporary file is removed,
the target keeps its previous content, and a :class:`StorageError` says what went wrong
in words an interviewer or operator can act on.
"""

from __future__ import annotations

import contextlib
import errno as errno_codes
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from fieldkit.core.errors import FieldkitError

__all__ = [
    "StorageError",
    "ensure_private_dir",
    "fsync_dir",
    "is_temp_file_name",
    "remove_durably",
    "remove_temp_files",
    "write_atomic",
]

FsyncFunc = Callable[[int], None]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

# Temporary files are hidden (leading dot) and carry a random token so that two writers
# never pick the same name and a cleanup can recognise leftovers with certainty.
_TEMP_TOKEN_BYTES = 8
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{16}\.tmp")

# Reasons phrased for the person holding the phone; EFBIG (a per-file size limit) needs
# the same response as a full disk, so it says the same thing.
_REASONS: dict[int, str] = {
    errno_codes.ENOSPC: "the disk is full",
    errno_codes.EDQUOT: "the disk is full (the storage quota is used up)",
    errno_codes.EFBIG: "the disk is full (the file size limit was reached)",
    errno_codes.EIO: "the disk reported a write error",
    errno_codes.EROFS: "the disk is read-only",
    errno_codes.EACCES: "permission was denied",
    errno_codes.EPERM: "permission was denied",
    errno_codes.ENOENT: "the folder does not exist",
    errno_codes.EMFILE: "too many files are open",
    errno_codes.ENFILE: "too many files are open",
}

_ADVICE: dict[int, str] = {
    errno_codes.ENOSPC: "free some space on the kit, then try again",
    errno_codes.EDQUOT: "free some space on the kit, then try again",
    errno_codes.EFBIG: "free some space on the kit, then try again",
    errno_codes.EIO: "the disk may be failing: copy the data folder to another disk",
    errno_codes.EROFS: (
        "the disk may be failing or mounted read-only: copy the whole data folder to another disk before "
        "anything else, and do not restore a backup over it"
    ),
}
_DEFAULT_ADVICE = "try again, and tell the kit's operator if it keeps happening"


class StorageError(FieldkitError):
    """Data could not be stored durably; ``str()`` says what failed, where, and what to do.

    ``errno`` keeps the operating system's error code (``None`` when the refusal is
    fieldkit's own, such as a record that already exists) and ``path`` the file involved.
    """

    def __init__(self, message: str, *, path: Path | None = None, errno: int | None = None):
        super().__init__(message)
        self.path = path
        self.errno = errno

    @property
    def disk_full(self) -> bool:
        """True when freeing space is the remedy."""
        return self.errno in (errno_codes.ENOSPC, errno_codes.EDQUOT, errno_codes.EFBIG)

    @classmethod
    def from_os_error(
        cls,
        exc: OSError,
        path: Path,
        *,
        action: str = "save",
        outcome: str = "Nothing was saved",
    ) -> StorageError:
        """Translate an ``OSError`` into a sentence an interviewer can act on."""
        code = exc.errno
        if code in _REASONS:
            reason = _REASONS[code]
        elif code is not None:
            reason = os.strerror(code).lower()
        else:
            reason = str(exc) or "an unexpected error occurred"
        advice = _ADVICE.get(code, _DEFAULT_ADVICE) if code is not None else _DEFAULT_ADVICE
        message = f"Could not {action} {path}: {reason}. {outcome}; {advice}."
        return cls(message, path=path, errno=code)


def is_temp_file_name(name: str) -> bool:
    """True for the names :func:`write_atomic` gives its temporary files."""
    return _TEMP_NAME.fullmatch(name) is not None


def _fsync_dir_raw(directory: Path, fsync: FsyncFunc) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path, fsync: FsyncFunc = os.fsync) -> None:
    """Make the folder's list of names (creations, renames, removals) durable."""
    path = Path(path)
    try:
        _fsync_dir_raw(path, fsync)
    except OSError as exc:
        raise StorageError.from_os_error(
            exc,
            path,
            action="flush the folder",
            outcome="Recent changes in it may not survive a power cut",
        ) from exc


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view)
        if written <= 0:
            # A regular file that accepts nothing is full, whatever the call claims.
            raise OSError(errno_codes.ENOSPC, os.strerror(errno_codes.ENOSPC))
        view = view[written:]


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = PRIVATE_FILE_MODE,
    fsync: FsyncFunc = os.fsync,
) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content.

    Returns only once the new content and its name are on disk. On any failure the
    temporary file is removed, ``path`` keeps its previous content, and
    :class:`StorageError` is raised from the original ``OSError``.

    ``fsync`` exists so that tests can wrap the real call to inject a failure.
    """
    path = Path(path)
    directory = path.parent
    temp = directory / f".{path.name}.{secrets.token_hex(_TEMP_TOKEN_BYTES)}.tmp"
    replaced = False
    fd: int | None = None
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        # The umask may have narrowed or (if odd) widened the mode; set it exactly.
        os.fchmod(fd, mode)
        _write_all(fd, data)
        fsync(fd)
        os.close(fd)
        fd = None
        os.replace(temp, path)
        replaced = True
        _fsync_dir_raw(directory, fsync)
    except OSError as exc:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if not replaced:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise StorageError.from_os_error(exc, path) from exc
        # The rename happened but may not be on disk: the new content is visible now
        # and could vanish after a power cut, so it must not be reported as saved.
        raise StorageError.from_os_error(
            exc, path, outcome="The change may not survive a power cut, so treat it as not saved"
        ) from exc


def remove_temp_files(path: Path) -> list[Path]:
    """Remove temporary files an interrupted :func:`write_atomic` of ``path`` left behind.

    A kill between creating the temporary file and renaming it leaves a hidden
    ``.NAME.<token>.tmp`` beside ``path``: harmless, but it takes space and may hold a
    partial copy of the data. Call this only while holding the folder's writer lock
    (e.g. at start-up), or it could remove the temporary file of a write in progress.
    """
    path = Path(path)
    own_temp = re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{16}\.tmp")
    removed: list[Path] = []
    try:
        names = sorted(os.listdir(path.parent))
    except FileNotFoundError:
        return removed
    for name in names:
        if own_temp.fullmatch(name):
            leftover = path.parent / name
            remove_durably(leftover)
            removed.append(leftover)
    return removed


def remove_durably(path: Path) -> None:
    """Remove a file and make the removal durable; a file already gone is fine."""
    path = Path(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageError.from_os_error(exc, path, action="remove", outcome="Nothing was removed") from exc
    try:
        _fsync_dir_raw(path.parent, os.fsync)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError.from_os_error(
            exc,
            path,
            action="remove",
            outcome="The file may come back after a power cut",
        ) from exc


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable only by the account running fieldkit; return it.

    Each folder created is made durable in its parent, so that files later fsynced
    inside it cannot be lost with a folder that was never recorded on disk. A folder
    that already exists and that nobody but its owner can enter or read (mode 0700 or
    narrower, such as 0500 on a copy made read-only) is left exactly as it is: no
    ``chmod``, which would fail on a read-only disk and stop a dying kit from being
    read or rescued.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        for folder in reversed(missing):
            # Another writer may make the same folder at the same moment; that is fine.
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=PRIVATE_DIR_MODE)
            _fsync_dir_raw(folder.parent, os.fsync)
        if missing or os.stat(path).st_mode & 0o077:
            os.chmod(path, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise StorageError.from_os_error(exc, path, action="create the folder", outcome="Nothing was saved") from exc
    return path
