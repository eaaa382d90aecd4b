"""Backup archives of a data folder (kit or hub): one tar file with a manifest, restored only whole.

A backup is a plain (uncompressed) USTAR tar. Its members are the folder's files under
their paths relative to the folder, and its *last* member is ``fieldkit-backup.json``,
the manifest: the kind of folder (``kit`` or ``hub``), the id of the kit or hub, when it
was made, and every file's path, size and SHA-256. The manifest comes last because it
is written once every file has been read and hashed; an archive cut short anywhere
therefore has no manifest and is refused as truncated.

Writing (:class:`BackupWriter`) goes to a hidden temporary file beside the target,
named like :func:`~fieldkit.core.storage.atomic.write_atomic`'s (``.NAME.<16 hex>.tmp``);
only once the manifest is written and the file fsynced is it renamed to the target
and the folder fsynced. A kill at any instant leaves the target as it was (absent, or
the previous complete backup) and at most a temporary file, which :func:`restore_backup`
refuses like any archive without its manifest.

Restoring (:func:`restore_backup`) never writes over anything: the target folder must
be new or empty. Each member is checked as the hub checks a bundle (a regular file only,
no absolute path, no ``..``, no link or device, no member twice, none running past the
end of the file) and written into a hidden folder beside the target; only when every
file matches the manifest (the same set of paths, each size and SHA-256) is that folder
renamed to the target. On any refusal the hidden folder is removed, so nothing changes.
"""

from __future__ import annotations

import contextlib
import datetime
import errno as errno_codes
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    StorageError,
    fsync_dir,
    remove_temp_files,
)
from fieldkit.core.storage.plaintar import TAR_BLOCK, TAR_PROBLEMS, compressed_as, is_plain_tar, member_problem

__all__ = [
    "BACKUP_FORMAT",
    "MANIFEST_NAME",
    "BackupError",
    "BackupFile",
    "BackupManifest",
    "BackupWriter",
    "folder_files",
    "read_manifest",
    "restore_backup",
]

BACKUP_FORMAT = "fieldkit-backup-1"
MANIFEST_NAME = "fieldkit-backup.json"
KINDS = ("kit", "hub")

_CHUNK = 1 << 20
# Paths a data folder uses: plain names joined by "/", none hidden (temporary files, the
# lock file and staging folders start with a dot and are never backed up).
_SAFE_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}){0,7}")
_MAX_MANIFEST_BYTES = 64 << 20


class BackupError(FieldkitError):
    """A backup could not be made or restored; ``str()`` says why. Nothing was changed."""


@dataclass(frozen=True)
class BackupFile:
    path: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class BackupManifest:
    kind: str
    source_id: str
    created: str
    files: tuple[BackupFile, ...]

    def to_bytes(self) -> bytes:
        document = {
            "format": BACKUP_FORMAT,
            "kind": self.kind,
            "id": self.source_id,
            "created": self.created,
            "files": [entry.to_json() for entry in self.files],
        }
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("utf-8")

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Choosing the files ----------------------------------------------------------------


def folder_files(root: Path, *, skip_dirs: Iterable[str] = (), skip: Callable[[str], bool] | None = None) -> list[str]:
    """Relative paths of the regular files under ``root`` that a backup holds, sorted.

    Hidden names (a leading dot: the lock file, temporary files, staging folders) are
    left out, as are the top-level folders in ``skip_dirs`` and paths ``skip`` names.
    Symbolic links and other special files are never followed: a data folder holds
    only files and folders, so one found there raises :class:`BackupError`.
    """
    root = Path(root)
    skipped = set(skip_dirs)
    found: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            raise BackupError(
                f"cannot read the folder {folder}: {error.strerror or error}; nothing was backed up"
            ) from None
        for entry in entries:
            relative = prefix + entry.name
            if entry.name.startswith(".") or (not prefix and entry.name in skipped):
                continue
            if skip is not None and skip(relative):
                continue
            if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
                raise BackupError(
                    f"{folder / entry.name} is not a plain file or folder (a link or a device); a data folder "
                    "holds none, so it was changed outside fieldkit. Nothing was backed up."
                )
            if not _SAFE_PATH.fullmatch(relative):
                raise BackupError(
                    f"{folder / entry.name} has a name fieldkit never gives a file; nothing was backed up. "
                    "Move it out of the data folder, then back up again."
                )
            if entry.is_dir():
                walk(Path(entry.path), relative + "/")
            else:
                found.append(relative)

    walk(root, "")
    return found


# --- Writing ---------------------------------------------------------------------------


class _HashingReader:
    """Reads exactly ``size`` bytes of a file for tarfile, hashing them on the way."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self._left = size
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            size = self._left
        data = self._handle.read(size)
        self._left -= len(data)
        self.digest.update(data)
        return data


class BackupWriter:
    """Writes one backup archive; the target appears only, and whole, at :meth:`commit`.

    Use as a context manager: leaving the block without ``commit`` (an error, a
    refusal) removes the temporary file and leaves the target as it was.
    """

    def __init__(self, out: Path, kind: str, source_id: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown backup kind {kind!r}")
        self.out = Path(out)
        self.kind = kind
        self.source_id = source_id
        self._files: list[BackupFile] = []
        if self.out.is_dir():
            raise BackupError(f"{self.out} is a folder; give the name of the backup file to write")
        if not self.out.parent.is_dir():
            raise BackupError(f"the folder {self.out.parent} does not exist; nothing was backed up")
        # Leftovers of a backup to the same file that was killed part-way.
        remove_temp_files(self.out)
        self.temp = self.out.parent / f".{self.out.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
            os.fchmod(fd, PRIVATE_FILE_MODE)
        except OSError as error:
            raise StorageError.from_os_error(
                error, self.out, action="write the backup", outcome="Nothing was written"
            ) from error
        self._handle: IO[bytes] = os.fdopen(fd, "wb")
        self._tar = tarfile.open(fileobj=self._handle, mode="w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
        self._committed = False

    def __enter__(self) -> BackupWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._committed:
            self.abort()

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        if not _SAFE_PATH.fullmatch(name) or name == MANIFEST_NAME:
            raise ValueError(f"{name!r} is not a path a backup may hold")
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = PRIVATE_FILE_MODE
        info.mtime = 0  # a record's file times say no more than its day; the archive says nothing
        return info

    def add_file(self, name: str, path: Path, *, missing_ok: bool = False) -> BackupFile | None:
        """Add the file at ``path`` as ``name``: the bytes it holds when opened.

        A file replaced while it is read (every fieldkit write is a rename) is read
        whole from the version that was opened. With ``missing_ok``, a file removed
        since it was listed (a draft finished meanwhile) is left out: ``None``.
        """
        try:
            handle = open(path, "rb")  # noqa: SIM115  # closed below
        except FileNotFoundError:
            if missing_ok:
                return None
            message = f"{path} disappeared while it was backed up; no backup was written"
            raise StorageError(message, path=Path(path)) from None
        except OSError as error:
            raise StorageError.from_os_error(
                error, Path(path), action="back up", outcome="The backup was not written"
            ) from error
        try:
            with handle:
                size = os.fstat(handle.fileno()).st_size
                reader = _HashingReader(handle, size)
                self._tar.addfile(self._info(name, size), reader)
        except OSError as error:
            raise StorageError.from_os_error(
                error, Path(path), action="back up", outcome="The backup was not written"
            ) from error
        entry = BackupFile(name, size, reader.digest.hexdigest())
        self._files.append(entry)
        return entry

    def commit(self) -> BackupManifest:
        """Write the manifest, flush to disk, and rename the archive to its name."""
        manifest = BackupManifest(self.kind, self.source_id, _now(), tuple(self._files))
        data = manifest.to_bytes()
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(data)
        info.mode = PRIVATE_FILE_MODE
        info.mtime = 0
        try:
            self._tar.addfile(info, io.BytesIO(data))
            self._tar.close()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self.temp, self.out)
        except OSError as error:
            self.abort()
            raise StorageError.from_os_error(
                error, self.out, action="write the backup", outcome="No backup was written"
            ) from error
        self._committed = True
        fsync_dir(self.out.parent)
        return manifest

    def abort(self) -> None:
        with contextlib.suppress(OSError, tarfile.TarError):
            self._tar.close()
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self.temp)


# --- Reading and restoring -------------------------------------------------------------


def _damaged(source: Path, detail: str) -> BackupError:
    return BackupError(
        f"{source} is not a complete fieldkit backup: {detail}. Nothing was restored; use another copy of the backup."
    )


def _open_archive(source: Path) -> tuple[BinaryIO, int]:
    try:
        handle = open(source, "rb")  # noqa: SIM115  # closed by the caller
    except OSError as error:
        raise BackupError(f"cannot read {source}: {error.strerror or error}; nothing was restored") from None
    try:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(TAR_BLOCK)
        handle.seek(0)
    except OSError as error:
        handle.close()
        raise BackupError(f"cannot read {source}: {error.strerror or error}; nothing was restored") from None
    compression = compressed_as(head)
    if compression is not None:
        handle.close()
        raise _damaged(source, f"it is {compression}-compressed, and a backup is a plain tar file; uncompress it first")
    if not is_plain_tar(head):
        handle.close()
        raise _damaged(source, "it is not a tar archive")
    return handle, size


def _members(source: Path, handle: BinaryIO, size: int) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """Each member, checked the way the hub checks a bundle's, in archive order."""
    try:
        tar = tarfile.open(fileobj=handle, mode="r:")  # noqa: SIM115  # closed with the handle
    except TAR_PROBLEMS as error:
        raise _damaged(source, f"it is not a tar archive ({error})") from None
    seen: set[str] = set()
    while True:
        try:
            member = tar.next()
        except TAR_PROBLEMS as error:
            raise _damaged(source, f"it is truncated or damaged ({error})") from None
        if member is None:
            return
        name = member.name
        shown = repr(name[:120])
        problem = member_problem(member, archive="a backup", inside="the restored folder")
        if problem is not None:
            raise _damaged(source, problem)
        if name != MANIFEST_NAME and not _SAFE_PATH.fullmatch(name):
            raise _damaged(source, f"member {shown} is not a name a data folder uses")
        if name in seen:
            raise _damaged(source, f"member {shown} appears more than once")
        seen.add(name)
        if member.offset_data + member.size > size:
            raise _damaged(source, f"it is truncated (member {shown} runs past the end of the file)")
        yield tar, member


def _parse_manifest(source: Path, data: bytes) -> BackupManifest:
    def refuse(detail: str) -> BackupError:
        return _damaged(source, f"its manifest {detail}")

    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise refuse("is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != BACKUP_FORMAT:
        raise refuse(f"is not of the format {BACKUP_FORMAT}")
    kind, source_id, created, files = (document.get(key) for key in ("kind", "id", "created", "files"))
    if kind not in KINDS or not isinstance(source_id, str) or not isinstance(created, str):
        raise refuse("does not say which kit or hub it is from")
    if not isinstance(files, list):
        raise refuse("lists no files")
    entries: list[BackupFile] = []
    for raw in files:
        if not isinstance(raw, dict) or set(raw) != {"path", "size", "sha256"}:
            raise refuse("has an entry without path, size and SHA-256")
        path, entry_size, digest = raw["path"], raw["size"], raw["sha256"]
        if not isinstance(path, str) or not _SAFE_PATH.fullmatch(path):
            raise refuse(f"names a path a data folder never uses ({str(path)[:120]!r})")
        if type(entry_size) is not int or entry_size < 0:
            raise refuse(f"gives {path} an impossible size")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise refuse(f"gives {path} an impossible SHA-256")
        entries.append(BackupFile(path, entry_size, digest))
    if len({entry.path for entry in entries}) != len(entries):
        raise refuse("lists a file twice")
    return BackupManifest(kind, source_id, created, tuple(entries))


def _read_member(source: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, sink: Callable[[bytes], None]) -> str:
    """Pass the member's bytes to ``sink`` in chunks; return their SHA-256."""
    digest = hashlib.sha256()
    try:
        extracted = tar.extractfile(member)
        if extracted is None:
            raise _damaged(source, f"member {member.name!r} has no data")
        left = member.size
        while left:
            chunk = extracted.read(min(_CHUNK, left))
            if not chunk:
                raise _damaged(source, f"it is truncated (member {member.name!r} is cut short)")
            digest.update(chunk)
            sink(chunk)
            left -= len(chunk)
    except TAR_PROBLEMS as error:
        raise _damaged(source, f"it is truncated or damaged ({error})") from None
    return digest.hexdigest()


def _check_against(source: Path, manifest: BackupManifest, found: dict[str, tuple[int, str]]) -> None:
    listed = {entry.path: entry for entry in manifest.files}
    extra = sorted(set(found) - set(listed))
    if extra:
        raise _damaged(source, f"it holds {extra[0]!r}, which its manifest does not list")
    missing = sorted(set(listed) - set(found))
    if missing:
        raise _damaged(source, f"{missing[0]!r} is listed in its manifest but missing")
    for path, (size, digest) in found.items():
        entry = listed[path]
        if size != entry.size or digest != entry.sha256:
            raise _damaged(source, f"{path!r} does not match its size and SHA-256 in the manifest: it was damaged")


def read_manifest(source: Path) -> BackupManifest:
    """Check a whole backup archive without writing anything; return its manifest."""
    source = Path(source)
    handle, size = _open_archive(source)
    with handle:
        return _walk(source, handle, size, lambda tar, member: _read_member(source, tar, member, lambda _chunk: None))


def _walk(
    source: Path, handle: BinaryIO, size: int, take: Callable[[tarfile.TarFile, tarfile.TarInfo], str]
) -> BackupManifest:
    """Every member through ``take`` (which returns its SHA-256), then the manifest checked against them all."""
    found: dict[str, tuple[int, str]] = {}
    manifest: BackupManifest | None = None
    for tar, member in _members(source, handle, size):
        if manifest is not None:
            raise _damaged(source, "it has members after its manifest")
        if member.name == MANIFEST_NAME:
            manifest = _parse_manifest(source, _read_bytes(source, tar, member))
            continue
        found[member.name] = (member.size, take(tar, member))
    if manifest is None:
        raise _damaged(source, "it has no manifest, so it was cut short (for example a backup stopped part-way)")
    _check_against(source, manifest, found)
    return manifest


def _read_bytes(source: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > _MAX_MANIFEST_BYTES:
        raise _damaged(source, "its manifest is impossibly large")
    parts: list[bytes] = []
    _read_member(source, tar, member, parts.append)
    return b"".join(parts)


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise BackupError(f"{target} is not a folder; restore into a new or empty folder")
    if target.is_dir():
        try:
            empty = not any(target.iterdir())
        except OSError as error:
            raise BackupError(f"cannot read {target}: {error.strerror or error}; nothing was restored") from None
        if not empty:
            raise BackupError(
                f"{target} is not empty. A restore never writes over a data folder: give a new or empty "
                "folder with --data. Nothing was restored."
            )
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist; nothing was restored")


def _write_restored(staging: Path, name: str, source: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    parts = name.split("/")
    folder = staging
    for part in parts[:-1]:
        folder = folder / part
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_DIR_MODE)
    path = folder / parts[-1]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)

        def sink(chunk: bytes) -> None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]

        digest = _read_member(source, tar, member, sink)
        os.fsync(fd)
    finally:
        os.close(fd)
    return digest


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, _files in os.walk(root):
        fsync_dir(Path(folder))


def restore_backup(source: Path, target: Path, *, kind: str) -> BackupManifest:
    """Restore the backup ``source`` of a ``kind`` folder into ``target`` (new or empty).

    The archive is checked whole (every member, then the manifest against them) while
    it is written into a hidden folder beside ``target``; only then does that folder
    become ``target``. On any refusal nothing is left behind.
    """
    source, target = Path(source), Path(target)
    _check_target(target)
    handle, size = _open_archive(source)
    staging = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    try:
        with handle:
            try:
                staging.mkdir(mode=PRIVATE_DIR_MODE)
            except OSError as error:
                raise StorageError.from_os_error(
                    error, target, action="restore into", outcome="Nothing was restored"
                ) from error

            def write(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
                try:
                    return _write_restored(staging, member.name, source, tar, member)
                except OSError as error:
                    raise StorageError.from_os_error(
                        error, target / member.name, action="restore", outcome="Nothing was restored"
                    ) from error

            manifest = _walk(source, handle, size, write)
        if manifest.kind != kind:
            other = "fieldkit hub restore" if manifest.kind == "hub" else "fieldkit restore"
            raise BackupError(
                f"{source} is the backup of a {manifest.kind} ({manifest.source_id}), not of a {kind}: "
                f"restore it with '{other}'. Nothing was restored."
            )
        _fsync_tree(staging)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _move_into_place(staging: Path, target: Path) -> None:
    try:
        if target.is_dir():
            target.rmdir()  # empty, checked above; rename cannot replace a folder on every system
        os.rename(staging, target)
    except OSError as error:
        if error.errno == errno_codes.ENOTEMPTY:
            raise BackupError(f"{target} is no longer empty; nothing was restored") from None
        raise StorageError.from_os_error(
            error, target, action="restore into", outcome="Nothing was restored"
        ) from error
    fsync_dir(target.parent)
