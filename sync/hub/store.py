"""The hub's data folder: keys, enrolled sources, sealed records, quarantine, and the log.

Layout::

    HUBDIR/hub.json          public settings: hub id, age recipient, receipt public key
    HUBDIR/receipt-key.pem   Ed25519 key that signs receipts (0600: the hub signs unattended)
    HUBDIR/hub.sqlite        sources, tokens, record versions, merged bundles, events

The hub never holds the age identity: it stores ciphertext and clear metadata only.

Merging is order-free. The store is a set of record *versions* (record id, SHA-256 and
metadata, with the ciphertext). A record id with one version is accepted; a second
version of an id (other content or other metadata) is a conflict, and then every version
of that id is in quarantine until an operator decides. So any order, overlap or
repetition of bundles gives the same set, hence the same state. A bundle is merged in
one SQLite transaction, committed with ``synchronous=FULL`` before any receipt leaves:
a kill at any instant leaves the bundle wholly merged or not at all, and importing it
again finishes the job. ``docs/storage.md`` ("Hub store") explains the choices.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fieldkit.core.crypto.hubkeys import parse_recipient_text
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import ensure_private_dir, fsync_dir, write_atomic
from fieldkit.core.storage.settings import read_settings
from sync.protocol.bundle import (
    DEFAULT_LIMITS,
    BundleError,
    BundleReader,
    Limits,
    Manifest,
    RecordEntry,
    SourceRef,
)
from sync.protocol.enrolment import EnrolmentError
from sync.protocol.receipts import SignedDocumentError, load_public_key, make_receipt, public_key_text

__all__ = [
    "DB_FILE",
    "HUB_FILE",
    "RECEIPT_KEY_FILE",
    "HubConfig",
    "HubEvent",
    "HubStore",
    "HubStoreError",
    "ImportResult",
    "QuarantineItem",
    "Source",
    "StoredRecord",
    "init_hub",
    "load_hub_config",
]

HUB_FILE = "hub.json"
RECEIPT_KEY_FILE = "receipt-key.pem"
DB_FILE = "hub.sqlite"
HUB_FORMAT = "fieldkit-hub/1"
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources(
    kind TEXT NOT NULL, source_id TEXT NOT NULL, epoch INTEGER NOT NULL,
    public_key TEXT NOT NULL, status TEXT NOT NULL, enrolled TEXT NOT NULL, revoked TEXT,
    PRIMARY KEY(kind, source_id, epoch));
CREATE TABLE IF NOT EXISTS tokens(
    token_sha256 TEXT PRIMARY KEY, created TEXT NOT NULL, expires TEXT NOT NULL,
    used TEXT, used_by TEXT);
CREATE TABLE IF NOT EXISTS versions(
    id INTEGER PRIMARY KEY, record_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, kit_id TEXT NOT NULL, form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL, day TEXT NOT NULL, ciphertext BLOB NOT NULL,
    UNIQUE(record_id, sha256, kit_id, form_id, form_version, day));
CREATE TABLE IF NOT EXISTS bundles(
    bundle_sha256 TEXT PRIMARY KEY, source_kind TEXT NOT NULL, source_id TEXT NOT NULL,
    epoch INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    created TEXT NOT NULL, records INTEGER NOT NULL, imported TEXT NOT NULL,
    receipt BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
    code TEXT, source TEXT, bundle TEXT, label TEXT, record_id TEXT, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, id);
CREATE INDEX IF NOT EXISTS events_by_record ON events(record_id);
"""


_VERSION_COLUMNS = "record_id, kit_id, form_id, form_version, day, size, sha256, ciphertext"
_VERSION_ORDER = "ORDER BY record_id, sha256, kit_id, form_id, form_version, day"
_ALL_VERSIONS = f"SELECT {_VERSION_COLUMNS} FROM versions {_VERSION_ORDER}"  # noqa: S608  # nosec B608 - constants only
_ACCEPTED_VERSIONS = (  # built from the constants above, no input
    f"SELECT {_VERSION_COLUMNS} FROM versions WHERE record_id IN "  # noqa: S608  # nosec B608
    f"(SELECT record_id FROM versions GROUP BY record_id HAVING COUNT(*) = 1) {_VERSION_ORDER}"
)


class HubStoreError(FieldkitError):
    """The hub folder is missing, damaged, or could not be written; ``str()`` says what."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Data the store hands out --------------------------------------------------------


@dataclass(frozen=True)
class HubConfig:
    """What any process may know about a hub without its keys."""

    data_dir: Path
    hub_id: str
    created: str
    recipient: str
    receipt_public_key: str


@dataclass(frozen=True)
class Source:
    """An enrolled kit (or hub) key: one row per id and key epoch."""

    kind: str
    source_id: str
    epoch: int
    public_key: str
    status: str  # "active" or "revoked"
    enrolled: str
    revoked: str | None

    @property
    def ref(self) -> SourceRef:
        return SourceRef(self.kind, self.source_id, self.epoch)


@dataclass(frozen=True)
class StoredRecord:
    """One stored record version: ciphertext with the metadata allowed in clear."""

    record_id: str
    kit_id: str
    form_id: str
    form_version: int
    day: str
    size: int
    sha256: str
    ciphertext: bytes


@dataclass(frozen=True)
class QuarantineItem:
    """A record id held in more than one version, with why each conflict arose."""

    record_id: str
    versions: tuple[StoredRecord, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class HubEvent:
    """One line of the hub's log: imports, refusals, conflicts, enrolments, revocations."""

    id: int
    at: str
    kind: str  # imported, refused, conflict, enrolled, revoked, token
    code: str | None
    source: str | None
    bundle: str | None
    label: str | None
    record_id: str | None
    message: str


@dataclass(frozen=True)
class ImportResult:
    """What happened to one bundle. ``receipt`` is set only once its records are durable."""

    label: str
    status: str  # "accepted", "already-merged" or "refused"
    new: int = 0
    duplicates: int = 0
    quarantined: int = 0
    code: str | None = None
    reason: str | None = None
    source: SourceRef | None = None
    bundle_sha256: str | None = None
    receipt: bytes | None = None

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def summary(self) -> str:
        """One line for the operator."""
        if self.status == "refused":
            return f"{self.label}: refused ({self.code}): {self.reason}"
        counts = f"{self.new} new, {self.duplicates} duplicates, {self.quarantined} quarantined"
        who = self.source.label() if self.source else "unknown source"
        if self.status == "already-merged":
            return f"{self.label}: already merged earlier (from {who}): {counts}"
        return f"{self.label}: accepted from {who}: {counts}"


# --- Creating and opening ------------------------------------------------------------


def _create_db_file(path: Path) -> None:
    # Created by us with 0600 so that SQLite's WAL and shared-memory files, which copy
    # the database file's mode, are private too.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.fsync(fd)
    os.close(fd)
    fsync_dir(path.parent)


def init_hub(data_dir: Path, recipient: str, *, hub_id: str | None = None) -> HubConfig:
    """Create a hub data folder (new or empty) for the hub whose age recipient is given."""
    data_dir = Path(data_dir)
    if (data_dir / HUB_FILE).exists():
        raise HubStoreError(f"{data_dir} already holds a hub; use another --data folder")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise HubStoreError(f"{data_dir} is not empty; a new hub needs an empty or new folder")
    recipient = parse_recipient_text(recipient)
    ensure_private_dir(data_dir)
    hub_id = hub_id or "hub-" + secrets.token_hex(6)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(data_dir / RECEIPT_KEY_FILE, pem)
    _create_db_file(data_dir / DB_FILE)
    HubStore._create_schema(data_dir / DB_FILE)
    config = {
        "format": HUB_FORMAT,
        "hub_id": hub_id,
        "created": _now(),
        "recipient": recipient,
        "receipt_public_key": public_key_text(key.public_key()),
    }
    # hub.json last: its presence says the folder is complete.
    write_atomic(data_dir / HUB_FILE, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    return load_hub_config(data_dir)


def load_hub_config(data_dir: Path) -> HubConfig:
    """The public settings of the hub in ``data_dir``."""
    path = Path(data_dir) / HUB_FILE
    data = read_settings(
        path,
        expected_format=HUB_FORMAT,
        what="hub settings file",
        missing=f"{data_dir} is not a hub folder ({HUB_FILE} is missing); run 'fieldkit hub init'",
        error=HubStoreError,
    )
    try:
        return HubConfig(
            data_dir=Path(data_dir),
            hub_id=str(data["hub_id"]),
            created=str(data["created"]),
            recipient=str(data["recipient"]),
            receipt_public_key=str(data["receipt_public_key"]),
        )
    except KeyError as error:
        raise HubStoreError(f"{path} is incomplete ({error}); restore it from a backup") from None


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise HubStoreError(f"{path} is missing; restore the hub folder from a backup")
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60.0)
    # WAL: readers (a hub page, an export) never block the importer. FULL: every commit
    # is fsynced before it returns, which is what allows a receipt to be sent.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


# --- The store -----------------------------------------------------------------------


class HubStore:
    """A hub data folder opened for use. Safe to share between threads (one lock)."""

    def __init__(self, data_dir: Path, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.config = load_hub_config(data_dir)
        self.data_dir = Path(data_dir)
        self.limits = limits
        self._lock = threading.RLock()
        try:
            self._db = _connect(self.data_dir / DB_FILE)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.Error as error:
            raise HubStoreError(
                f"cannot open the hub database in {self.data_dir}: {error}; restore the hub folder from a backup"
            ) from error
        if found is None or found[0] != SCHEMA_VERSION:
            self._db.close()
            raise HubStoreError(f"the hub database in {self.data_dir} was made by another version of fieldkit")
        self._receipt_key: Ed25519PrivateKey | None = None

    @staticmethod
    def _create_schema(path: Path) -> None:
        connection = _connect(path)
        try:
            connection.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}INSERT INTO meta VALUES('schema', '{SCHEMA_VERSION}');COMMIT;"  # nosec B608
            )
        finally:
            connection.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> HubStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _db_error(self, error: sqlite3.Error, action: str) -> HubStoreError:
        return HubStoreError(
            f"Could not {action} the hub database in {self.data_dir}: {error}. Nothing was "
            "changed; free disk space or check the disk, then try again."
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing write: durable (fsynced) when the ``with`` block ends."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise self._db_error(error, "write to") from error
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise self._db_error(error, "save in") from error
                raise

    def _query(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, parameters).fetchall()
            except sqlite3.Error as error:
                raise self._db_error(error, "read") from error

    @property
    def receipt_signing_key(self) -> Ed25519PrivateKey:
        """The hub's receipt key (loaded once from ``receipt-key.pem``)."""
        if self._receipt_key is None:
            path = self.data_dir / RECEIPT_KEY_FILE
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (OSError, ValueError) as error:
                raise HubStoreError(f"cannot load the receipt key {path}: {error}") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise HubStoreError(f"{path} is not an Ed25519 key")
            if public_key_text(key.public_key()) != self.config.receipt_public_key:
                raise HubStoreError(f"{path} does not match {HUB_FILE}; restore both from a backup")
            self._receipt_key = key
        return self._receipt_key

    # -- the log -------------------------------------------------------------------

    @staticmethod
    def _log(
        db: sqlite3.Connection,
        kind: str,
        message: str,
        *,
        code: str | None = None,
        source: str | None = None,
        bundle: str | None = None,
        label: str | None = None,
        record_id: str | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO events(at, kind, code, source, bundle, label, record_id, message) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), kind, code, source, bundle, label, record_id, message),
        )

    def events(self, kinds: tuple[str, ...] | None = None, limit: int | None = None) -> list[HubEvent]:
        """Log entries, oldest first; ``limit`` keeps the latest N of the chosen kinds."""
        where = ""
        parameters: tuple[object, ...] = ()
        if kinds:
            where = f"WHERE kind IN ({','.join('?' * len(kinds))})"
            parameters = tuple(kinds)
        sql = f"SELECT * FROM events {where} ORDER BY id DESC"  # noqa: S608  # nosec B608 - placeholders only
        if limit is not None:
            sql += " LIMIT ?"
            parameters += (limit,)
        rows = self._query(sql, parameters)
        return [HubEvent(*row) for row in reversed(rows)]

    # -- sources -------------------------------------------------------------------

    def sources(self) -> list[Source]:
        """Every enrolled key, sorted by kind, id and epoch."""
        rows = self._query("SELECT * FROM sources ORDER BY kind, source_id, epoch")
        return [Source(*row) for row in rows]

    def key_for(self, ref: SourceRef) -> Ed25519PublicKey:
        """The enrolled key that must have signed a bundle from ``ref``.

        Raises :class:`BundleError` ``unknown-source`` or ``revoked-source``.
        """
        rows = self._query(
            "SELECT epoch, public_key, status, revoked FROM sources WHERE kind=? AND source_id=?",
            (ref.kind, ref.id),
        )
        if not rows:
            raise BundleError(
                "unknown-source",
                f"{ref.kind} {ref.id} is not enrolled at this hub; enrol it ('fieldkit hub "
                "enrol') before importing its bundles",
            )
        revoked = [row for row in rows if row[2] == "revoked"]
        if revoked:
            raise BundleError(
                "revoked-source",
                f"{ref.kind} {ref.id} was revoked on {revoked[0][3]}; bundles it signed are refused, old or new",
            )
        for epoch, public_key, _status, _revoked in rows:
            if epoch == ref.epoch:
                return load_public_key(public_key, f"enrolled key of {ref.id}")
        raise BundleError(
            "unknown-source",
            f"{ref.kind} {ref.id} is enrolled, but not its key epoch {ref.epoch}; a kit restored "
            "from a backup must be enrolled again",
        )

    def revoke(self, source_id: str) -> int:
        """Revoke every key epoch of a kit or hub; return how many were active."""
        with self._transaction() as db:
            rows = db.execute("SELECT kind, epoch, status FROM sources WHERE source_id=?", (source_id,)).fetchall()
            if not rows:
                raise HubStoreError(f"no kit or hub with id {source_id!r} is enrolled here")
            active = sum(1 for row in rows if row[2] == "active")
            if active:
                db.execute(
                    "UPDATE sources SET status='revoked', revoked=? WHERE source_id=? AND status='active'",
                    (_now(), source_id),
                )
                self._log(
                    db,
                    "revoked",
                    f"{rows[0][0]} {source_id} revoked; its bundles will be refused",
                    source=source_id,
                )
            return active

    def add_token(self, token_sha256: str, expires: str) -> None:
        """Remember a one-time enrolment token (only its hash is kept)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO tokens(token_sha256, created, expires) VALUES(?, ?, ?)",
                (token_sha256, _now(), expires),
            )
            self._log(db, "token", f"enrolment token created, valid until {expires}")

    def enrol_with_token(self, token_sha256: str, ref: SourceRef, public_key: str, *, now: str | None = None) -> Source:
        """Consume a token and enrol ``ref`` with ``public_key``, all in one transaction.

        Repeating the same enrolment (a lost response) is allowed and changes nothing.
        Raises :class:`EnrolmentError` when the token or the source is not acceptable.
        """
        now = now or _now()
        claimant = f"{ref.kind}:{ref.id}:{ref.epoch}"
        with self._transaction() as db:
            rows = db.execute(
                "SELECT epoch, public_key, status FROM sources WHERE kind=? AND source_id=?",
                (ref.kind, ref.id),
            ).fetchall()
            if any(row[2] == "revoked" for row in rows):
                raise EnrolmentError(
                    f"{ref.kind} {ref.id} was revoked at this hub and cannot enrol again; "
                    "create a new kit ('fieldkit init') instead"
                )
            same_epoch = [row for row in rows if row[0] == ref.epoch]
            if same_epoch and same_epoch[0][1] != public_key:
                raise EnrolmentError(
                    f"{ref.kind} {ref.id} key epoch {ref.epoch} is already enrolled with "
                    "another key; this request is refused"
                )
            token = db.execute(
                "SELECT expires, used, used_by FROM tokens WHERE token_sha256=?", (token_sha256,)
            ).fetchone()
            if token is None:
                raise EnrolmentError("the enrolment token is not known at this hub")
            expires, used, used_by = token
            if used is not None and used_by != claimant:
                raise EnrolmentError("the enrolment token was already used by another kit")
            if used is None and expires < now:
                raise EnrolmentError(
                    f"the enrolment token expired on {expires}; create a new one with 'fieldkit hub enrol'"
                )
            if used is None:
                db.execute(
                    "UPDATE tokens SET used=?, used_by=? WHERE token_sha256=?",
                    (now, claimant, token_sha256),
                )
            if not same_epoch:
                db.execute(
                    "INSERT INTO sources VALUES(?, ?, ?, ?, 'active', ?, NULL)",
                    (ref.kind, ref.id, ref.epoch, public_key, now),
                )
                self._log(db, "enrolled", f"{ref.label()} enrolled", source=ref.id)
            row = db.execute(
                "SELECT * FROM sources WHERE kind=? AND source_id=? AND epoch=?",
                (ref.kind, ref.id, ref.epoch),
            ).fetchone()
        return Source(*row)

    # -- importing -----------------------------------------------------------------

    def import_bundle(self, source: Path | bytes | BinaryIO, *, label: str | None = None) -> ImportResult:
        """Verify and merge one bundle; never raises for a bad bundle, it reports it.

        Accepted bundles come back with a signed receipt, made only after the commit
        that made their records durable. Refusals are logged with their reason.
        """
        if label is None:
            label = Path(source).name if isinstance(source, str | os.PathLike) else "bundle"
        ref: SourceRef | None = None
        bundle_sha256: str | None = None
        try:
            with BundleReader.open(source, self.limits) as reader:
                bundle_sha256 = reader.manifest_sha256
                merged = self._merged(bundle_sha256)
                if merged is not None:
                    # The same signed manifest was verified and merged before: nothing in
                    # this file would be stored, so the rest of it is not read at all.
                    ref, count, receipt = merged
                    reader.verify_signature(self.key_for(ref))
                    return ImportResult(
                        label, "already-merged", duplicates=count, source=ref,
                        bundle_sha256=bundle_sha256, receipt=receipt,
                    )  # fmt: skip
                manifest = reader.manifest
                ref = manifest.source
                reader.verify_signature(self.key_for(ref))
                return self._merge(reader, manifest, label)
        except BundleError as error:
            self._log_refusal(error, label, ref, bundle_sha256)
            return ImportResult(
                label, "refused", code=error.code, reason=str(error), source=ref,
                bundle_sha256=bundle_sha256,
            )  # fmt: skip
        except SignedDocumentError as error:
            # An enrolled key that cannot be loaded: the hub database is damaged.
            raise HubStoreError(str(error)) from None

    def _merged(self, bundle_sha256: str) -> tuple[SourceRef, int, bytes] | None:
        row = self._query(
            "SELECT source_kind, source_id, epoch, records, receipt FROM bundles WHERE bundle_sha256=?",
            (bundle_sha256,),
        )
        if not row:
            return None
        kind, source_id, epoch, count, receipt = row[0]
        return SourceRef(kind, source_id, epoch), count, bytes(receipt)

    def _log_refusal(self, error: BundleError, label: str, ref: SourceRef | None, bundle_sha256: str | None) -> None:
        with self._transaction() as db:
            self._log(
                db,
                "refused",
                f"{label}: {error}",
                code=error.code,
                source=ref.id if ref else None,
                bundle=bundle_sha256,
                label=label,
            )

    def _merge(self, reader: BundleReader, manifest: Manifest, label: str) -> ImportResult:
        bundle_sha256 = reader.manifest_sha256
        new = duplicates = quarantined = 0
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM bundles WHERE bundle_sha256=?", (bundle_sha256,)).fetchone():
                # Another process merged it while we read; report it as such.
                merged = self._merged(bundle_sha256)
                assert merged is not None
                return ImportResult(
                    label, "already-merged", duplicates=merged[1], source=merged[0],
                    bundle_sha256=bundle_sha256, receipt=merged[2],
                )  # fmt: skip
            for entry, ciphertext in reader.iter_records():
                outcome = self._merge_record(db, entry, ciphertext, manifest.source, label)
                if outcome == "new":
                    new += 1
                elif outcome == "duplicate":
                    duplicates += 1
                else:
                    quarantined += 1
            receipt = make_receipt(self.receipt_signing_key, self.config.hub_id, manifest, bundle_sha256)
            db.execute(
                "INSERT INTO bundles VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bundle_sha256, manifest.source.kind, manifest.source.id,
                    manifest.source.epoch, manifest.first_seq, manifest.last_seq,
                    manifest.created, len(manifest.records), _now(), receipt,
                ),
            )  # fmt: skip
            self._log(
                db,
                "imported",
                f"{label}: accepted from {manifest.source.label()}: {new} new, "
                f"{duplicates} duplicates, {quarantined} quarantined",
                source=manifest.source.id,
                bundle=bundle_sha256,
                label=label,
            )
        return ImportResult(
            label, "accepted", new=new, duplicates=duplicates, quarantined=quarantined,
            source=manifest.source, bundle_sha256=bundle_sha256, receipt=receipt,
        )  # fmt: skip

    def _merge_record(
        self,
        db: sqlite3.Connection,
        entry: RecordEntry,
        ciphertext: bytes,
        source: SourceRef,
        label: str,
    ) -> str:
        identity = (entry.sha256, entry.kit_id, entry.form_id, entry.form_version, entry.day)
        held = db.execute(
            "SELECT sha256, kit_id, form_id, form_version, day FROM versions WHERE record_id=?",
            (entry.record_id,),
        ).fetchall()
        if identity in held:
            return "duplicate"
        db.execute(
            "INSERT INTO versions(record_id, sha256, size, kit_id, form_id, form_version, day, "
            "ciphertext) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.record_id, entry.sha256, entry.size, entry.kit_id, entry.form_id,
                entry.form_version, entry.day, ciphertext,
            ),
        )  # fmt: skip
        if not held:
            return "new"
        self._log(
            db,
            "conflict",
            _conflict_reason(entry, held, source, label),
            code="conflict",
            source=source.id,
            label=label,
            record_id=entry.record_id,
        )
        return "quarantined"

    # -- reading -------------------------------------------------------------------

    def record_count(self) -> int:
        """How many record ids the hub holds in exactly one version (accepted)."""
        rows = self._query(
            "SELECT COUNT(*) FROM (SELECT record_id FROM versions GROUP BY record_id HAVING COUNT(*) = 1)"
        )
        return int(rows[0][0])

    def iter_records(self, *, include_quarantined: bool = False) -> Generator[StoredRecord, None, None]:
        """Every accepted record with its ciphertext, sorted by record id.

        Quarantined ids (held in several versions) are left out unless asked for, and
        then every version of each comes out. For export, forwarding and reports.
        """
        sql = _ALL_VERSIONS if include_quarantined else _ACCEPTED_VERSIONS
        # A connection of its own, so a long export never holds the store's lock.
        connection = _connect(self.data_dir / DB_FILE)
        try:
            for row in connection.execute(sql):
                yield StoredRecord(*row[:7], bytes(row[7]))  # type: ignore[call-arg]  # 8 columns: python/mypy#14648
        finally:
            connection.close()

    def quarantine(self) -> list[QuarantineItem]:
        """Record ids in conflict, each with all its versions and the reasons logged."""
        ids = [
            row[0]
            for row in self._query(
                "SELECT record_id FROM versions GROUP BY record_id HAVING COUNT(*) > 1 ORDER BY record_id"
            )
        ]
        items = []
        for record_id in ids:
            versions = self._query(
                "SELECT record_id, kit_id, form_id, form_version, day, size, sha256, ciphertext "
                "FROM versions WHERE record_id=? ORDER BY sha256, kit_id, form_id, "
                "form_version, day",
                (record_id,),
            )
            reasons = self._query(
                "SELECT message FROM events WHERE kind='conflict' AND record_id=? ORDER BY id",
                (record_id,),
            )
            items.append(
                QuarantineItem(
                    record_id,
                    tuple(StoredRecord(*row[:7], bytes(row[7])) for row in versions),  # type: ignore[call-arg]  # 8 columns, as above
                    tuple(row[0] for row in reasons),
                )
            )
        return items

    def state_digest(self) -> str:
        """SHA-256 over the hub's state (versions with their bytes, bundles, sources).

        The log and tokens are history, not state, and are left out: two hubs that
        merged the same bundles in any order have the same digest.
        """
        digest = hashlib.sha256()
        for record in self.iter_records(include_quarantined=True):
            line = [
                record.record_id, record.sha256, record.size, record.kit_id, record.form_id,
                record.form_version, record.day, hashlib.sha256(record.ciphertext).hexdigest(),
            ]  # fmt: skip
            digest.update(json.dumps(["version", *line]).encode() + b"\n")
        for row in self._query(
            "SELECT bundle_sha256, source_kind, source_id, epoch, first_seq, last_seq, created, "
            "records FROM bundles ORDER BY bundle_sha256"
        ):
            digest.update(json.dumps(["bundle", *row]).encode() + b"\n")
        for row in self._query(
            "SELECT kind, source_id, epoch, public_key, status FROM sources ORDER BY kind, source_id, epoch"
        ):
            digest.update(json.dumps(["source", *row]).encode() + b"\n")
        return digest.hexdigest()


_IDENTITY_NAMES = ("sha256", "kit_id", "form_id", "form_version", "day")


def _conflict_reason(entry: RecordEntry, held: list[tuple], source: SourceRef, label: str) -> str:
    ours = (entry.sha256, entry.kit_id, entry.form_id, entry.form_version, entry.day)
    same_bytes = [row for row in held if row[0] == entry.sha256]
    if same_bytes:
        changed = ", ".join(
            f"{name} {mine!r} vs {theirs!r}"
            for name, mine, theirs in zip(_IDENTITY_NAMES, ours, same_bytes[0], strict=True)
            if mine != theirs
        )
        what = f"the same sealed bytes with other metadata ({changed})"
    else:
        held_hashes = ", ".join(sorted(row[0][:12] + "..." for row in held))
        what = f"other sealed bytes (sha256 {entry.sha256[:12]}..., held: {held_hashes})"
    return (
        f"record {entry.record_id}: {source.label()} sent {what} in {label}; the record id "
        "was already held, so every version is kept in quarantine until an operator decides"
    )
