"""Sealed records, one file each, so that storing one costs the same at 100 or 100,000.

Layout under the store's root::

    records/<shard>/<record_id>.age    the sealed (age-encrypted) response
    records/<shard>/<record_id>.json   its clear metadata; its presence marks completion

``<shard>`` is the first two hex characters of the id, which keeps each folder to a few
hundred names at 100,000 records. Each file is written with :func:`write_atomic`; the
ciphertext comes first and the sidecar second, so a crash between the two leaves a
ciphertext without a sidecar: an incomplete write that was never acknowledged, which
``ids()`` ignores and ``repair()`` removes.

The security model allows only ``record_id``, ``form_id``, ``form_version``, ``size``
and ``day`` in clear; ``put`` refuses any other metadata. For the same reason the file
times of both files (and of their shard folder) are set to midnight UTC of ``day``:
exact to the second, they would say when an interview ended more closely than the
payload itself does (it rounds to the hour). The counts file below and the records
folder get the same times after each ``put``.

``records/counts.json`` keeps the number of complete records per form, so that the
kit's operator page, fetched at every pairing, costs the same at 100 records and at
100,000 instead of reading every sidecar. It is updated *before* each change, with the
change noted in a one-entry journal (``record_id -> [form_id, +1 or -1]``); a reader
checks each journal entry against the sidecar's presence (one ``stat``), so a crash
between the counts and the record leaves counts that still read right, and the next
write folds the journal in. A missing, torn or hand-edited counts file (its SHA-256
no longer matches) is rebuilt from the sidecars. See docs/storage.md.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from fieldkit.core.storage.atomic import (
    FsyncFunc,
    StorageError,
    ensure_private_dir,
    fsync_dir,
    is_temp_file_name,
    remove_durably,
    write_atomic,
)
from fieldkit.core.storage.checksummed import read_checksummed, write_checksummed
from fieldkit.core.storage.locks import CANNOT_WRITE, writer_lock

__all__ = ["METADATA_KEYS", "RecordStore", "validate_record_id"]

METADATA_KEYS = frozenset({"record_id", "form_id", "form_version", "size", "day"})

RECORDS_DIR_NAME = "records"

CIPHERTEXT_SUFFIX = ".age"
SIDECAR_SUFFIX = ".json"
COUNTS_FILE_NAME = "counts.json"
_COUNTS_FORMAT = 1

# Only this exact shape is accepted: it doubles as the guard that keeps a crafted id
# ("../x", "/etc/x", "a\n") from naming a file outside the store.
_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def validate_record_id(record_id: object) -> str:
    """Return ``record_id`` if it is a lowercase UUID string; raise ``ValueError`` if not."""
    if not isinstance(record_id, str) or _RECORD_ID.fullmatch(record_id) is None:
        raise ValueError(f"record id must be a lowercase UUID, got {record_id!r}")
    return record_id


def _validate_metadata(record_id: str, ciphertext: bytes, metadata: dict[str, Any]) -> None:
    if not isinstance(metadata, dict):
        raise ValueError("record metadata must be a dict")
    keys = set(metadata)
    if keys != METADATA_KEYS:
        extra = sorted(map(str, keys - METADATA_KEYS))
        missing = sorted(METADATA_KEYS - keys)
        raise ValueError(
            f"record metadata in clear must hold exactly {sorted(METADATA_KEYS)}; extra: {extra}, missing: {missing}"
        )
    if metadata["record_id"] != record_id:
        raise ValueError("metadata record_id does not match the record id")
    form_id = metadata["form_id"]
    if not isinstance(form_id, str) or not form_id:
        raise ValueError("metadata form_id must be a non-empty string")
    version = metadata["form_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("metadata form_version must be a whole number, 1 or more")
    size = metadata["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size != len(ciphertext):
        raise ValueError("metadata size must equal the ciphertext length in bytes")
    day = metadata["day"]
    if not isinstance(day, str) or _DAY.fullmatch(day) is None:
        raise ValueError("metadata day must be a date written YYYY-MM-DD")
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"metadata day is not a real date: {day!r}") from None


def _positive(counts: Mapping[str, int]) -> dict[str, int]:
    return {form_id: count for form_id, count in sorted(counts.items()) if count > 0}


def _set_times_to_day(paths: Iterable[Path], day: str) -> None:
    """Access and modification times to midnight UTC of ``day`` (no call can set the ctime).

    Best effort: a file system that refuses it leaves the exact times, which is no reason
    to call a durable record unsaved.
    """
    moment = datetime.datetime.combine(date.fromisoformat(day), datetime.time(), datetime.UTC).timestamp()
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path, (moment, moment))


def _encode_metadata(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode("utf-8")


class RecordStore:
    """Sealed records, one file each, written atomically, so the cost of one write does
    not grow with the store.

    ``put`` and ``repair`` take ``writer_lock(root)`` themselves (it is re-entrant, so a
    caller may already hold it); readers need no lock, as they only trust a record once
    its sidecar exists.
    """

    def __init__(self, root: Path, *, fsync: FsyncFunc = os.fsync) -> None:
        self.root = Path(root)
        self._fsync = fsync
        self._records_dir = self.root / RECORDS_DIR_NAME
        try:
            ensure_private_dir(self._records_dir)
        except StorageError as error:
            # A read-only disk (an SD card failing): reading must still work, so a dying
            # kit can be inspected and rescued; a write says what is wrong when it is tried.
            if error.errno not in CANNOT_WRITE:
                raise

    # -- paths -------------------------------------------------------------------------

    def _shard_dir(self, record_id: str) -> Path:
        return self._records_dir / record_id[:2]

    def _ciphertext_path(self, record_id: str) -> Path:
        return self._shard_dir(record_id) / f"{record_id}{CIPHERTEXT_SUFFIX}"

    def _sidecar_path(self, record_id: str) -> Path:
        return self._shard_dir(record_id) / f"{record_id}{SIDECAR_SUFFIX}"

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- writing -----------------------------------------------------------------------

    def put(self, record_id: str, ciphertext: bytes, metadata: dict[str, Any]) -> None:
        """Store a record; when this returns, it is on disk for good.

        Storing the same bytes and metadata again is a no-op, so a retry after an
        error is always safe. Different content under an existing id is refused.
        """
        validate_record_id(record_id)
        ciphertext = bytes(ciphertext)
        _validate_metadata(record_id, ciphertext, metadata)
        encoded_metadata = _encode_metadata(metadata)
        ciphertext_path = self._ciphertext_path(record_id)
        sidecar_path = self._sidecar_path(record_id)
        with writer_lock(self.root):
            if sidecar_path.exists():
                if self._same_record(record_id, ciphertext, metadata):
                    # A retry after a failed folder fsync lands here: flush the folder again
                    # so that "saved" is only ever said about names that are on disk.
                    fsync_dir(self._shard_dir(record_id), self._fsync)
                    return
                raise StorageError(
                    f"Could not save {self._relative(ciphertext_path)}: record already exists "
                    "with different content. Nothing was saved; this is a bug, please report it.",
                    path=ciphertext_path,
                )

            # Counted first, with the record in the journal: a crash from here on leaves
            # counts that a reader corrects by looking for the sidecar.
            counts = self._counts_for_update()
            counts[metadata["form_id"]] += 1
            self._write_counts(counts, {record_id: [metadata["form_id"], 1]})
            ensure_private_dir(self._shard_dir(record_id))
            write_atomic(ciphertext_path, ciphertext, fsync=self._fsync)
            try:
                write_atomic(sidecar_path, encoded_metadata, fsync=self._fsync)
            except StorageError:
                # Without its sidecar the ciphertext is an unacknowledged, incomplete record;
                # tidy it now if the disk lets us (repair() catches it otherwise).
                if not sidecar_path.exists():
                    with contextlib.suppress(StorageError):
                        remove_durably(ciphertext_path)
                raise
            _set_times_to_day(
                (ciphertext_path, sidecar_path, self._shard_dir(record_id), self._counts_path(), self._records_dir),
                metadata["day"],
            )

    def _same_record(self, record_id: str, ciphertext: bytes, metadata: dict[str, Any]) -> bool:
        try:
            return self.get(record_id) == ciphertext and self.metadata(record_id) == metadata
        except KeyError:
            return False

    # -- reading -----------------------------------------------------------------------

    def _read(self, path: Path, record_id: str) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyError(record_id) from None
        except OSError as exc:
            raise StorageError.from_os_error(exc, path, action="read", outcome="Nothing was changed") from exc

    def get(self, record_id: str) -> bytes:
        """The sealed bytes of a complete record; ``KeyError`` if there is none."""
        validate_record_id(record_id)
        if not self._sidecar_path(record_id).exists():
            raise KeyError(record_id)
        return self._read(self._ciphertext_path(record_id), record_id)

    def metadata(self, record_id: str) -> dict[str, Any]:
        """The clear metadata of a complete record; ``KeyError`` if there is none."""
        validate_record_id(record_id)
        sidecar_path = self._sidecar_path(record_id)
        raw = self._read(sidecar_path, record_id)
        try:
            loaded = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            loaded = None
        if not isinstance(loaded, dict):
            # Atomic writes never leave this behind; the file was changed outside fieldkit.
            raise StorageError(
                f"Could not read {self._relative(sidecar_path)}: it does not hold record "
                "metadata, so it was changed outside fieldkit; restore it from a backup.",
                path=sidecar_path,
            )
        return loaded

    def __contains__(self, record_id: object) -> bool:
        try:
            validate_record_id(record_id)
        except ValueError:
            return False
        assert isinstance(record_id, str)
        return self._sidecar_path(record_id).exists()

    def _shard_dirs(self) -> list[Path]:
        try:
            entries = list(os.scandir(self._records_dir))
        except FileNotFoundError:
            return []
        shards = [Path(e.path) for e in entries if e.is_dir() and _SHARD.fullmatch(e.name)]
        return sorted(shards)

    def ids(self) -> Iterator[str]:
        """Ids of complete records (sidecar written), in sorted order."""
        for shard in self._shard_dirs():
            names = sorted(entry.name for entry in os.scandir(shard))
            for name in names:
                if not name.endswith(SIDECAR_SUFFIX):
                    continue
                record_id = name[: -len(SIDECAR_SUFFIX)]
                if _RECORD_ID.fullmatch(record_id) and record_id.startswith(shard.name):
                    yield record_id

    def count(self) -> int:
        """How many complete records the store holds."""
        return sum(1 for _ in self.ids())

    # -- counts ------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Complete records per form id (forms with none left out), without reading the records.

        Rebuilds the counts file from the sidecars first when it is missing or cannot be
        trusted (this once, the cost grows with the store).
        """
        doc = self._read_counts()
        if doc is None:
            try:
                with writer_lock(self.root):
                    return _positive(self._counts_for_update())
            except StorageError as error:
                if error.errno not in CANNOT_WRITE:
                    raise
                return _positive(self._count_sidecars())  # read-only: counted, not saved
        return _positive(self._resolve(doc))

    def rebuild_counts(self) -> dict[str, int]:
        """Count every sidecar again and rewrite the counts file; return the counts."""
        with writer_lock(self.root):
            counts = self._count_sidecars()
            self._write_counts(counts, {})
        return _positive(counts)

    def _counts_path(self) -> Path:
        return self._records_dir / COUNTS_FILE_NAME

    def _read_counts(self) -> dict[str, Any] | None:
        doc = read_checksummed(self._counts_path())
        if doc is None or doc.get("format") != _COUNTS_FORMAT:
            return None
        forms, journal = doc.get("forms"), doc.get("journal")
        if not isinstance(forms, dict) or not isinstance(journal, dict):
            return None
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in forms.values()):
            return None
        for record_id, entry in journal.items():
            if (
                _RECORD_ID.fullmatch(record_id) is None
                or not isinstance(entry, list)
                or len(entry) != 2
                or not isinstance(entry[0], str)
                or entry[1] not in (1, -1)
            ):
                return None
        return doc

    def _resolve(self, doc: Mapping[str, Any]) -> Counter[str]:
        """The counts with each journal entry checked against the records on disk."""
        counts: Counter[str] = Counter(doc["forms"])
        for record_id, (form_id, change) in doc["journal"].items():
            present = record_id in self
            if change == 1 and not present:
                counts[form_id] -= 1  # counted, but the record never reached the disk
            elif change == -1 and present:
                counts[form_id] += 1  # uncounted, but the record was not removed
        return counts

    def _count_sidecars(self) -> Counter[str]:
        return Counter(self.metadata(record_id)["form_id"] for record_id in self.ids())

    def _counts_for_update(self) -> Counter[str]:
        """Counts with the journal folded in; the caller holds the writer lock."""
        doc = self._read_counts()
        if doc is None:
            counts = self._count_sidecars()
            self._write_counts(counts, {})
            return counts
        return self._resolve(doc)

    def _write_counts(self, counts: Mapping[str, int], journal: Mapping[str, list[Any]]) -> None:
        doc = {"format": _COUNTS_FORMAT, "forms": _positive(counts), "journal": dict(journal)}
        write_checksummed(self._counts_path(), doc, fsync=self._fsync)

    def _uncount(self, record_ids: list[str]) -> None:
        """Before removing records: counts without them, each one in the journal."""
        forms: dict[str, str] = {}
        unreadable = False
        for record_id in record_ids:
            if record_id in self and record_id not in forms:
                try:
                    forms[record_id] = self.metadata(record_id)["form_id"]
                except StorageError:
                    unreadable = True  # its form is unknown: count everything again instead
        if unreadable:
            remove_durably(self._counts_path())  # the next reader counts the sidecars again
            return
        if not forms:
            return
        counts = self._counts_for_update()
        for form_id in forms.values():
            counts[form_id] -= 1
        self._write_counts(counts, {record_id: [form_id, -1] for record_id, form_id in forms.items()})

    # -- recovery ----------------------------------------------------------------------

    def repair(self) -> list[str]:
        """Remove what an interrupted write left behind; return those paths (root-relative).

        That is: temporary files of :func:`write_atomic`, and ciphertexts whose sidecar
        was never written (``put`` had not returned, so nobody was told "saved").
        Complete records and unknown files are left alone. Holds the writer lock, so a
        ``put`` running elsewhere at the same moment is never mistaken for a leftover.
        """
        removed: list[str] = []
        with writer_lock(self.root):
            self._repair_locked(removed)
        return removed

    def _repair_locked(self, removed: list[str]) -> None:
        for shard in self._shard_dirs():
            names = set(os.listdir(shard))
            for name in sorted(names):
                path = shard / name
                if is_temp_file_name(name):
                    remove_durably(path)
                    removed.append(self._relative(path))
                elif name.endswith(CIPHERTEXT_SUFFIX):
                    record_id = name[: -len(CIPHERTEXT_SUFFIX)]
                    if _RECORD_ID.fullmatch(record_id) and f"{record_id}{SIDECAR_SUFFIX}" not in names:
                        remove_durably(path)
                        removed.append(self._relative(path))

    # -- removal -----------------------------------------------------------------------

    def delete(self, record_ids: Iterable[str]) -> int:
        """Remove complete records for good (a hub acknowledged them); return how many.

        Sidecars go first, so a crash part-way leaves at worst ciphertexts without
        sidecar, which ``repair()`` removes. Each shard folder is flushed once per step
        rather than once per file, so pruning thousands of records stays quick.
        """
        ids = [validate_record_id(record_id) for record_id in record_ids]
        removed: list[str] = []
        with writer_lock(self.root):
            self._uncount(ids)
            for record_id in ids:
                if self._unlink(self._sidecar_path(record_id)):
                    removed.append(record_id)
            self._flush_shards(removed)
            for record_id in removed:
                self._unlink(self._ciphertext_path(record_id))
            self._flush_shards(removed)
        return len(removed)

    def _unlink(self, path: Path) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError.from_os_error(exc, path, action="remove", outcome="Nothing more was removed") from exc
        return True

    def _flush_shards(self, record_ids: list[str]) -> None:
        for shard in sorted({self._shard_dir(record_id) for record_id in record_ids}):
            fsync_dir(shard, self._fsync)
