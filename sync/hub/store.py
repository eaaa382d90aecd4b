"""The hub's data folder: keys, enrolled sources, sealed records, quarantine, and the log.

Layout::

    HUBDIR/hub.json          public settings: hub id, age recipient (and the earlier ones
                             after a key rotation), receipt public key
    HUBDIR/receipt-key.pem   Ed25519 key that signs receipts (0600: the hub signs unattended)
    HUBDIR/hub.sqlite        sources, tokens, record versions, merged bundles, events,
                             operator accounts and their sessions

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
import dataclasses
import datetime
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fieldkit.core.counts import count_of
from fieldkit.core.crypto import age
from fieldkit.core.crypto.hubkeys import parse_recipient_text, recipient_fingerprint
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import ensure_private_dir, fsync_dir, write_atomic
from fieldkit.core.storage.settings import read_settings
from sync.hub import audit
from sync.hub.audit import AuditEntry, Verdict
from sync.hub.database import (
    POSTGRESQL,
    SQLITE,
    Database,
    DatabaseError,
    PostgresTarget,
    postgres_connector,
    sqlite_connector,
)
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
    "DATABASE_ENVIRONMENT",
    "DB_FILE",
    "HUB_FILE",
    "IMPORT_CACHE_MIB",
    "RECEIPT_KEY_FILE",
    "HubConfig",
    "HubEvent",
    "HubStore",
    "HubStoreError",
    "ImportResult",
    "QuarantineItem",
    "SetAside",
    "Source",
    "StoredRecord",
    "StoredTally",
    "connect_database",
    "init_hub",
    "load_hub_config",
    "new_postgres_schema",
    "new_sqlite_database",
    "set_recipient",
    "version_key",
]

HUB_FILE = "hub.json"
RECEIPT_KEY_FILE = "receipt-key.pem"
DB_FILE = "hub.sqlite"
HUB_FORMAT = "fieldkit-hub/1"
SCHEMA_VERSION = "6"

# The tables are described once, in sync.hub.schema (SQLAlchemy Core), and older databases
# are brought up to them by the Alembic revisions in sync/hub/migrations (sync.hub.migrate).
# HEAD_REVISION is the newest of those revisions (tests/test_hub_schema.py checks it), so
# that opening an up-to-date database needs neither SQLAlchemy nor Alembic.
HEAD_REVISION = "schema6"

# What a read-only disk's database may be and still be read as it is: schema 5 differs
# from 6 only in the unique key of versions, which no read uses (made before Alembic or after).
_READABLE_AS_IS = {(SCHEMA_VERSION, None), ("5", None), ("5", "schema5")}

_VERSION_COLUMNS = "record_id, kit_id, form_id, form_version, day, size, sha256, ciphertext"
_VERSION_ORDER = "ORDER BY record_id, sha256, kit_id, form_id, form_version, day"
_ALL_VERSIONS = f"SELECT {_VERSION_COLUMNS} FROM versions {_VERSION_ORDER}"  # noqa: S608  # nosec B608 - constants only
_ACCEPTED_VERSIONS = (  # built from the constants above, no input
    f"SELECT {_VERSION_COLUMNS} FROM versions WHERE record_id IN "  # noqa: S608  # nosec B608
    f"(SELECT record_id FROM versions GROUP BY record_id HAVING COUNT(*) = 1) {_VERSION_ORDER}"
)


def version_key(sha256: str, kit_id: str, form_id: str, form_version: int, day: str) -> bytes:
    """16 bytes that tell one version of a record id from the others: the rest of its identity, hashed.

    A version is its record id with these five (the sealed bytes' SHA-256 and the
    metadata sent in clear); two versions of one id never share all five, so never
    their key (a 128-bit prefix of SHA-256: no one can make two collide).
    """
    identity = json.dumps([sha256, kit_id, form_id, form_version, day], separators=(",", ":"))
    return hashlib.sha256(identity.encode("utf-8")).digest()[:16]


def _unapproved_sealing(ciphertext: bytes, approved: Sequence[str]) -> str | None:
    """What is wrong with how a record is sealed, given the keys its kit's enrolment approved.

    The hub holds no identity at import, and an X25519 stanza does not name its key, so
    it checks what the header shows: one X25519 stanza per approved key, nothing else.
    An extra key (the attack of a seized kit) changes the count. A key swapped for
    another is not seen here; the kit's sealed settings (fieldkit.kit.settings_seal)
    refuse that on the kit.
    """
    try:
        stanzas = age.recipient_stanzas(ciphertext)
    except age.DecryptionError:
        return "not as an age file"
    types = [stanza.type for stanza in stanzas]
    if len(types) != len(approved) or any(kind != "X25519" for kind in types):
        return f"sealed to {len(types)} key(s) ({', '.join(sorted(set(types)))})"
    return None


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
    recipient: str  # the current one: what new kits, and kits through the next form pack, seal to
    receipt_public_key: str
    # The hub's recipients before a rotation ('fieldkit hub recipient'), oldest first:
    # records sealed to them still come in, from kits that have not applied a newer pack.
    earlier_recipients: tuple[str, ...] = ()
    # A national or global hub's PostgreSQL database (a libpq URL, never with a password)
    # and the schema in it that holds this hub's tables; None: hub.sqlite in the folder.
    database: str | None = None
    database_schema: str | None = None

    @property
    def postgres(self) -> PostgresTarget | None:
        """Where the hub's tables are on PostgreSQL; None for an SQLite hub."""
        if self.database and self.database_schema:
            return PostgresTarget(self.database, self.database_schema)
        return None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient this hub has had, the current one first."""
        return (self.recipient, *reversed(self.earlier_recipients))


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
    # For a revoked key: bundles wholly within sequence numbers 1..valid_up_to are still
    # accepted (what the kit sent before it was lost); None means none.
    valid_up_to: int | None = None

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
class StoredTally:
    """The newest sealed tally of declined interviews of one kit key epoch."""

    source_kind: str
    source_id: str
    epoch: int
    last_seq: int
    ciphertext: bytes
    received: str


@dataclass(frozen=True)
class QuarantineItem:
    """A record id held in more than one version, with why each conflict arose."""

    record_id: str
    versions: tuple[StoredRecord, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SetAside:
    """A record version kept out of the accepted set, and why."""

    record: StoredRecord
    reason: str
    at: str


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
        counts = f"{self.new} new, {self.duplicates} duplicates, {self.quarantined} quarantined or set aside"
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


DATABASE_ENVIRONMENT = "FIELDKIT_HUB_DATABASE"


def init_hub(
    data_dir: Path,
    recipient: str,
    *,
    hub_id: str | None = None,
    actor: str | None = None,
    database: str | None = None,
) -> HubConfig:
    """Create a hub data folder (new or empty) for the hub whose age recipient is given.

    ``database`` is a PostgreSQL URL for a national or global hub (its tables go into a
    new schema of their own there); without it, or the ``FIELDKIT_HUB_DATABASE``
    environment variable, the hub keeps them in ``hub.sqlite`` in the folder. The audit
    trail starts with the hub's creation (``actor``: by default the OS account).
    """
    data_dir = Path(data_dir)
    if (data_dir / HUB_FILE).exists():
        raise HubStoreError(f"{data_dir} already holds a hub; use another --data folder")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise HubStoreError(f"{data_dir} is not empty; a new hub needs an empty or new folder")
    recipient = parse_recipient_text(recipient)
    if database is None:
        database = os.environ.get(DATABASE_ENVIRONMENT) or None
    hub_id = hub_id or "hub-" + secrets.token_hex(6)
    target = _postgres_target(database, hub_id) if database else None
    ensure_private_dir(data_dir)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(data_dir / RECEIPT_KEY_FILE, pem)
    config: dict[str, object] = {
        "format": HUB_FORMAT,
        "hub_id": hub_id,
        "created": _now(),
        "recipient": recipient,
        "receipt_public_key": public_key_text(key.public_key()),
    }
    if target is not None:
        config["database"] = target.url
        config["database_schema"] = target.schema
    else:
        _create_db_file(data_dir / DB_FILE)
    _create_schema(_config_from(data_dir, config))
    # hub.json last: its presence says the folder is complete.
    write_hub_settings(data_dir, config)
    with HubStore(data_dir) as store:
        store.audit(actor, "hub.created", hub_id, {"recipient": recipient_fingerprint(recipient)})
        return store.config


def _create_schema(config: HubConfig) -> None:
    """Make the hub's tables in its new, empty database (the SQLite file, or a new PostgreSQL schema)."""
    from sync.hub import migrate

    creator, dialect = _raw_connector(config)
    migrate.create_schema(creator, dialect, SCHEMA_VERSION, pg_schema=config.database_schema)


def new_sqlite_database(path: Path) -> Database:
    """A new SQLite file ``path`` (0600) with the hub's tables, opened; the caller closes it."""
    _create_db_file(path)
    from sync.hub import migrate

    connect = sqlite_connector(path, page_size=PAGE_SIZE)
    migrate.create_schema(connect, SQLITE, SCHEMA_VERSION)
    return Database(connect(), SQLITE)


def new_postgres_schema(database: str, config: HubConfig) -> HubConfig:
    """The hub ``config`` with its tables in a new, empty schema of the PostgreSQL ``database``."""
    target = _postgres_target(database, config.hub_id)
    moved = dataclasses.replace(config, database=target.url, database_schema=target.schema)
    _create_schema(moved)
    return moved


def _postgres_target(database: str, hub_id: str) -> PostgresTarget:
    """Where a new hub's tables go on PostgreSQL; refused (nothing written) when unusable or taken."""
    import psycopg

    from sync.hub.database import DatabaseUrlError, parse_database_url, schema_name

    try:
        target = PostgresTarget(parse_database_url(database), schema_name(hub_id, secrets.token_hex(4)))
    except DatabaseUrlError as error:
        raise HubStoreError(f"{error}; nothing was made") from None
    try:
        with postgres_connector(target)() as connection:
            taken = connection.execute(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name=%s", (target.schema,)
            ).fetchone()
    except psycopg.Error as error:
        raise HubStoreError(
            f"cannot connect to the PostgreSQL database {target.shown()}: {str(error).strip()}. Check the URL, that "
            "the server is running and that this account may connect and create a schema; nothing was made"
        ) from None
    if taken:
        raise HubStoreError(
            f"the PostgreSQL database already holds a schema {target.schema}; run 'fieldkit hub init' again "
            "(it picks another name); nothing was made"
        )
    return target


def _config_from(data_dir: Path, data: Mapping[str, Any]) -> HubConfig:
    """The settings of ``hub.json`` (already read) as a :class:`HubConfig`; raises ``KeyError`` when incomplete."""
    database = data.get("database")
    return HubConfig(
        data_dir=Path(data_dir),
        hub_id=str(data["hub_id"]),
        created=str(data["created"]),
        recipient=str(data["recipient"]),
        receipt_public_key=str(data["receipt_public_key"]),
        earlier_recipients=tuple(str(item) for item in data.get("earlier_recipients") or ()),
        database=str(database) if database else None,
        database_schema=str(data["database_schema"]) if database else None,
    )


def read_hub_settings(data_dir: Path) -> dict[str, Any]:
    """The hub's ``hub.json`` as it is stored, for a change written back by :func:`write_hub_settings`."""
    return read_settings(
        Path(data_dir) / HUB_FILE,
        expected_format=HUB_FORMAT,
        what="hub settings file",
        missing=f"{data_dir} is not a hub folder ({HUB_FILE} is missing); run 'fieldkit hub init'",
        error=HubStoreError,
    )


def write_hub_settings(data_dir: Path, settings: Mapping[str, Any]) -> None:
    """Replace the hub's ``hub.json`` atomically (a crash leaves the old file or the new one)."""
    write_atomic(Path(data_dir) / HUB_FILE, (json.dumps(settings, indent=2) + "\n").encode("utf-8"))


def load_hub_config(data_dir: Path) -> HubConfig:
    """The public settings of the hub in ``data_dir``."""
    data = read_hub_settings(data_dir)
    try:
        return _config_from(Path(data_dir), data)
    except KeyError as error:
        raise HubStoreError(f"{Path(data_dir) / HUB_FILE} is incomplete ({error}); restore it from a backup") from None


# Said when the hub folder cannot be trusted to hold what it should. Never "restore over
# it": a disk going bad, or a folder half copied, may still hold good data that a
# restore would overwrite.
_RESCUE = (
    "copy the whole hub folder to another disk before anything else, and do not restore a backup over it: "
    "restore the last backup into a new folder ('fieldkit hub restore --from FILE --data NEWFOLDER') "
    "if the copy cannot be opened either"
)


def _read_only(folder: Path, error: BaseException | None = None) -> bool:
    """True when the folder's disk is mounted read-only (or SQLite says it cannot write)."""
    if error is not None and "readonly" in str(error).replace("-", "").replace(" ", "").lower():
        return True
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def disk_problem(folder: Path, error: BaseException | None = None) -> str:
    """What is wrong with a hub folder that cannot be opened or written, and what to do first."""
    if _read_only(folder, error):
        return f"the disk holding {folder} is read-only, or failing (a failing disk is often remounted read-only); " + (
            _RESCUE
        )
    return _RESCUE


def set_recipient(data_dir: Path, recipient: str) -> tuple[HubConfig, HubConfig]:
    """Make ``recipient`` the hub's current one (after ``hub keygen --rotate``); the earlier ones are kept.

    Returns the settings before and after. The next form pack carries the new recipient
    to the kits (``sync.hub.packing``); records sealed to an earlier one still open with
    the newest identity file, which holds every earlier identity.
    """
    recipient = parse_recipient_text(recipient)
    before = load_hub_config(data_dir)
    if recipient == before.recipient:
        raise HubStoreError(f"{recipient} is already this hub's current recipient; nothing was changed")
    data = read_hub_settings(data_dir)
    earlier = [item for item in (*before.earlier_recipients, before.recipient) if item != recipient]
    data["recipient"] = recipient
    data["earlier_recipients"] = earlier
    write_hub_settings(data_dir, data)
    return before, load_hub_config(data_dir)


# The page size of new hub databases (SQLite fixes it when it writes the first page; an
# older hub keeps its 4 KiB). A record of 2-3 KB is larger than a 1 KiB page, so SQLite
# keeps it in full overflow pages plus a small part beside other records: under 10% lost,
# where a 4 KiB page held one record and 1-2 KB of nothing. And a record id inserted at
# random into the versions index changes one 1 KiB leaf, not 4 KiB, in every commit.
PAGE_SIZE = 1024
# The page cache of a store that imports ('hub serve', 'hub import'): a hub of a million
# records keeps the upper levels of its versions index and most of its leaves in memory.
# Other commands keep SQLite's default of 2 MiB, so an export's memory stays flat.
IMPORT_CACHE_MIB = 128


def _connector(
    config: HubConfig, *, read_only: bool = False, cache_mib: int | None = None
) -> Callable[[], Database]:
    """A function that opens the hub's database: its SQLite file, or its schema on PostgreSQL.

    ``read_only`` is for SQLite on a read-only disk (see :func:`_connect_read_only`);
    ``cache_mib`` is SQLite's page cache (PostgreSQL keeps its own, the server's).
    Failing to connect raises :class:`DatabaseError` too, or :class:`HubStoreError` when
    the SQLite file is not there at all.
    """
    target = config.postgres
    if target is not None:
        connect_postgres = postgres_connector(target)

        def connect() -> Database:
            import psycopg

            try:
                return Database(connect_postgres(), POSTGRESQL)
            except psycopg.Error as error:
                raise DatabaseError(str(error).strip()) from error

        return connect
    path = config.data_dir / DB_FILE
    connect_sqlite = sqlite_connector(path, page_size=PAGE_SIZE, cache_mib=cache_mib)

    def connect_file() -> Database:
        if not path.exists():
            raise HubStoreError(f"{path} is missing, so {path.parent} is not a whole hub folder: {_RESCUE}")
        try:
            return Database(_connect_read_only(path) if read_only else connect_sqlite(), SQLITE)
        except sqlite3.Error as error:
            raise DatabaseError(str(error)) from error

    return connect_file


def connect_database(config: HubConfig) -> Database:
    """A connection of its own to the hub's database, each statement its own transaction.

    For tools and tests that look at the tables directly, as someone holding the disk or
    the database server could; the store itself goes through :class:`HubStore`.
    """
    return _connector(config)()


def _raw_connector(config: HubConfig) -> tuple[Callable[[], Any], str]:
    """The driver's own connections to the hub's database, for SQLAlchemy and Alembic, and the dialect."""
    if config.postgres is not None:
        return postgres_connector(config.postgres, autocommit=False), POSTGRESQL
    return sqlite_connector(config.data_dir / DB_FILE, page_size=PAGE_SIZE), SQLITE


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """The database on a read-only disk: read-only, or immutable when SQLite cannot share its WAL index.

    Immutable would ignore a write-ahead log, so it is used only when there is none
    to read (no ``-wal`` file, or an empty one): then the file alone holds every commit.
    """
    location = "file:" + urllib.parse.quote(str(Path(path).resolve()))
    connection = sqlite3.connect(location + "?mode=ro", uri=True, check_same_thread=False, timeout=60.0)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    return sqlite3.connect(location + "?immutable=1", uri=True, check_same_thread=False)


def copy_database(source: Path, dest: Path) -> None:
    """Copy the SQLite database ``source`` into the new file ``dest`` with SQLite's online backup API.

    The copy is one read transaction: it holds the database as it was at one commit,
    while ``hub serve`` and imports go on merging (WAL mode lets them write meanwhile).
    It is opened read-only, so a hub folder on a read-only disk can still be copied; on
    a disk so read-only that SQLite cannot even share its write-ahead index, the file is
    read as immutable (nothing can write to it then). The copy is checked with
    ``PRAGMA integrity_check`` before this returns.
    """
    if not Path(source).is_file():
        raise HubStoreError(f"{source} is missing; nothing was backed up")
    try:
        reader = _connect_read_only(source)
        try:
            writer = sqlite3.connect(dest)
            try:
                reader.backup(writer)
                checked = writer.execute("PRAGMA integrity_check").fetchall()
            finally:
                writer.close()
        finally:
            reader.close()
    except sqlite3.Error as error:
        raise HubStoreError(f"cannot copy the hub database {source}: {error}; nothing was backed up") from error
    if checked != [("ok",)]:
        raise HubStoreError(
            f"the copy of {source} fails SQLite's integrity check ({checked[0][0]}); nothing was backed up. "
            "The database may be damaged: copy the whole hub folder to another disk before anything else."
        )


# --- The store -----------------------------------------------------------------------


class HubStore:
    """A hub data folder opened for use. Safe to share between threads (one lock)."""

    def __init__(self, data_dir: Path, *, limits: Limits = DEFAULT_LIMITS, cache_mib: int | None = None) -> None:
        """``cache_mib``: SQLite's page cache for the store's connection (``IMPORT_CACHE_MIB`` to import)."""
        self.config = load_hub_config(data_dir)
        self.data_dir = Path(data_dir)
        self.limits = limits
        self._lock = threading.RLock()
        self._connect = _connector(self.config, cache_mib=cache_mib)
        try:
            found = self._open(self._connect)
        except DatabaseError as error:
            if self.config.postgres is not None:
                raise HubStoreError(
                    f"cannot open {self.where} ({error}): check that the PostgreSQL server is running and "
                    "that this account may connect to it; nothing was changed"
                ) from error
            if not _read_only(self.data_dir, error):
                raise HubStoreError(
                    f"cannot open the hub database in {self.data_dir} ({error}): {disk_problem(self.data_dir, error)}"
                ) from error
            try:  # a read-only disk: reading commands still work, so the hub can be inspected and rescued
                self._connect = _connector(self.config, read_only=True)
                found = self._open(self._connect)
                if found in _READABLE_AS_IS:  # upgraded (or stamped) once writable
                    found = (SCHEMA_VERSION, HEAD_REVISION)
            except DatabaseError as again:
                raise HubStoreError(
                    f"cannot open the hub database in {self.data_dir} ({again}): {disk_problem(self.data_dir, again)}"
                ) from again
        if found != (SCHEMA_VERSION, HEAD_REVISION):
            self._upgrade()
        self._receipt_key: Ed25519PrivateKey | None = None

    @property
    def where(self) -> str:
        """The hub's database, for messages: its folder, or its PostgreSQL database and schema."""
        target = self.config.postgres
        if target is not None:
            return f"the hub's PostgreSQL database {target.shown()}"
        return f"the hub database in {self.data_dir}"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: which database holds the hub."""
        return self._db.dialect

    def _open(self, connect: Callable[[], Database]) -> tuple[str | None, str | None]:
        """Connect with ``connect``; the schema number and Alembic revision; the connection is closed on failure."""
        connection = connect()
        try:
            row = connection.execute("SELECT (SELECT value FROM meta WHERE key='schema')").fetchone()
            number = row[0] if row else None
            revision = None
            if connection.has_table("alembic_version"):
                row = connection.execute("SELECT (SELECT max(version_num) FROM alembic_version)").fetchone()
                revision = row[0] if row else None
        except BaseException:
            connection.close()
            raise
        self._db = connection
        return number, revision

    def _upgrade(self) -> None:
        """Bring an older database up to date with Alembic (sync.hub.migrate), in one transaction.

        The audit trail records an upgrade (from schema 3, its first entry). A database
        of a newer fieldkit is refused and left as it is.
        """
        from alembic.util.exc import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        from sync.hub import migrate

        creator, dialect = _raw_connector(self.config)
        failures: tuple[type[BaseException], ...] = (SQLAlchemyError, CommandError, DatabaseError, *self._db.errors)
        try:
            before, after = migrate.upgrade(creator, dialect)
        except migrate.SchemaTooNew:
            self._db.close()
            raise HubStoreError(f"{self.where} was made by another version of fieldkit") from None
        except failures as error:
            self._db.close()
            cause = getattr(error, "orig", None) or error
            problem = f"; {disk_problem(self.data_dir, cause)}" if _read_only(self.data_dir, cause) else ""
            raise HubStoreError(f"cannot update {self.where}: {cause}{problem}") from error
        if before != after:
            self.audit(None, "store.upgraded", "", {"from_schema": before, "to_schema": after})

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> HubStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _db_error(self, error: BaseException, action: str) -> HubStoreError:
        if self.config.postgres is not None:
            return HubStoreError(
                f"Could not {action} {self.where}: {error}. Nothing was changed; check the database server "
                "and its disk, then try again."
            )
        if _read_only(self.data_dir, error):
            return HubStoreError(
                f"Could not {action} the hub database in {self.data_dir}: {error}. Nothing was changed: "
                f"{disk_problem(self.data_dir, error)}."
            )
        return HubStoreError(
            f"Could not {action} the hub database in {self.data_dir}: {error}. Nothing was "
            "changed; free disk space or check the disk, then try again."
        )

    @contextmanager
    def _transaction(self) -> Iterator[Database]:
        """One all-or-nothing write: durable (fsynced) when the ``with`` block ends."""
        with self._lock:
            try:
                self._reconnect_if_broken()
                self._db.begin_write()
            except DatabaseError as error:
                raise self._db_error(error, "write to") from error
            try:
                yield self._db
                self._db.commit()
            except BaseException as error:
                self._db.rollback()
                if isinstance(error, DatabaseError):
                    raise self._db_error(error, "save in") from error
                raise

    def transaction(self) -> contextlib.AbstractContextManager[Database]:
        """One all-or-nothing write, for the modules beside the store that keep their own
        tables (the centre registry, cycles and packs: ``sync.hub.registry`` and others)."""
        return self._transaction()

    def read(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple]:
        """One read of the tables that modules beside the store keep (no write lock taken)."""
        return self._query(sql, parameters)

    @staticmethod
    def log_event(db: Database, kind: str, message: str) -> None:
        """In the caller's transaction (:meth:`transaction`): one line in the hub's log."""
        HubStore._log(db, kind, message)

    def _reconnect_if_broken(self) -> None:
        """After a PostgreSQL server restart or a dropped link, a new connection (the failed call raised already)."""
        if self._db.broken:
            self._db = self._connect()

    def _query(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple]:
        with self._lock:
            try:
                self._reconnect_if_broken()
                return self._db.execute(sql, parameters).fetchall()
            except DatabaseError as error:
                raise self._db_error(error, "read") from error

    def reader(self) -> Database:
        """A connection of its own, for a long read (an export, a hub page) that must not hold the store's lock.

        The caller closes it.
        """
        try:
            return self._connect()
        except DatabaseError as error:
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
                raise HubStoreError(
                    f"{path} does not match {HUB_FILE}: one of them was changed or replaced. Copy the hub folder "
                    "elsewhere first, then restore the last backup into a new folder ('fieldkit hub restore')"
                )
            self._receipt_key = key
        return self._receipt_key

    # -- the log -------------------------------------------------------------------

    @staticmethod
    def _log(
        db: Database,
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

    # -- the audit trail (sync.hub.audit) ------------------------------------------

    def audit(
        self, actor: str | None, action: str, subject: str = "", detail: Mapping[str, object] | None = None
    ) -> AuditEntry:
        """Add one entry to the audit trail in a transaction of its own (exports, reports, logins).

        Changes made in a store transaction write their entry in that transaction instead.
        ``actor`` None means the OS account running this process (``cli:NAME``).
        """
        with self._transaction() as db:
            return audit.append(db, actor or audit.cli_actor(), action, subject, detail)

    def audit_entries(self, limit: int | None = None) -> list[AuditEntry]:
        """Entries of the audit trail, oldest first; ``limit`` keeps the newest N."""
        with self._lock:
            try:
                return audit.entries(self._db, limit=limit)
            except DatabaseError as error:
                raise self._db_error(error, "read") from error

    def audit_head(self) -> tuple[int, str] | None:
        """The newest entry's (seq, hash) as the head row keeps it; None before the first."""
        with self._lock:
            try:
                return audit.head(self._db)
            except DatabaseError as error:
                raise self._db_error(error, "read") from error

    def verify_audit(self, expected_head: tuple[int, str] | None = None) -> Verdict:
        """Check the whole audit chain and its head (see :func:`sync.hub.audit.verify`)."""
        with self._lock:
            try:
                return audit.verify(self._db, expected_head=expected_head)
            except DatabaseError as error:
                raise self._db_error(error, "read") from error

    # -- sources -------------------------------------------------------------------

    def sources(self) -> list[Source]:
        """Every enrolled key, sorted by kind, id and epoch."""
        rows = self._query("SELECT * FROM sources ORDER BY kind, source_id, epoch")
        return [Source(*row) for row in rows]

    def key_for(self, ref: SourceRef, last_seq: int | None = None) -> Ed25519PublicKey:
        """The enrolled key that must have signed a bundle from ``ref`` (reaching ``last_seq``).

        Only the key epoch the bundle names counts: revoking one epoch (an impostor's)
        leaves the others as they were. A revoked epoch still signs bundles wholly within
        its ``valid_up_to`` point. Raises :class:`BundleError` ``unknown-source`` or
        ``revoked-source``.
        """
        rows = self._query(
            "SELECT epoch, public_key, status, revoked, valid_up_to FROM sources WHERE kind=? AND source_id=?",
            (ref.kind, ref.id),
        )
        if not rows:
            raise BundleError(
                "unknown-source",
                f"{ref.kind} {ref.id} is not enrolled at this hub; enrol it ('fieldkit hub "
                "enrol') before importing its bundles",
            )
        for epoch, public_key, status, revoked, valid_up_to in rows:
            if epoch != ref.epoch:
                continue
            if status == "revoked" and (last_seq is None or valid_up_to is None or last_seq > valid_up_to):
                kept = (
                    f"only bundles within sequence numbers 1-{valid_up_to} are still accepted"
                    if valid_up_to
                    else "bundles it signed are refused"
                )
                reach = f" (this one reaches {last_seq})" if last_seq is not None and valid_up_to else ""
                raise BundleError(
                    "revoked-source",
                    f"{ref.kind} {ref.id} was revoked on {revoked} (key epoch {ref.epoch}); {kept}{reach}",
                )
            return load_public_key(public_key, f"enrolled key of {ref.id}")
        raise BundleError(
            "unknown-source",
            f"{ref.kind} {ref.id} is enrolled, but not its key epoch {ref.epoch}; a kit restored "
            "from a backup must be enrolled again",
        )

    def revoke(
        self, source_id: str, *, epoch: int | None = None, keep_up_to: int | None = None, actor: str | None = None
    ) -> int:
        """Revoke a kit's or hub's key epochs (all, or ``epoch``); return how many were active.

        Revoking keeps what the source sent before: bundles wholly within sequence numbers
        up to ``keep_up_to`` stay acceptable, by default up to the last sequence number
        this hub acknowledged to that key epoch (so a lost kit's last USB bundle is not
        lost). Later bundles are refused.
        """
        if keep_up_to is not None and keep_up_to < 0:
            raise HubStoreError("--keep-up-to must be a sequence number (0 or more)")
        with self._transaction() as db:
            rows = db.execute("SELECT kind, epoch, status FROM sources WHERE source_id=?", (source_id,)).fetchall()
            if not rows:
                raise HubStoreError(f"no kit or hub with id {source_id!r} is enrolled here")
            if epoch is not None:
                rows = [row for row in rows if row[1] == epoch]
                if not rows:
                    raise HubStoreError(f"{source_id} has no key epoch {epoch} here ('fieldkit hub kits' lists them)")
            active = [row for row in rows if row[2] == "active"]
            if keep_up_to is not None:
                # An operator who learns later how far a lost kit got moves the point.
                for kind, row_epoch, _status in rows:
                    if _status == "revoked":
                        db.execute(
                            "UPDATE sources SET valid_up_to=? WHERE kind=? AND source_id=? AND epoch=?",
                            (keep_up_to, kind, source_id, row_epoch),
                        )
                        self._log(
                            db, "revoked",
                            f"{kind} {source_id} key epoch {row_epoch}: bundles within sequence numbers "
                            f"1-{keep_up_to} now stay acceptable",
                            source=source_id,
                        )  # fmt: skip
            for kind, row_epoch, _status in active:
                point = keep_up_to
                if point is None:
                    found = db.execute(
                        "SELECT MAX(last_seq) FROM bundles WHERE source_kind=? AND source_id=? AND epoch=?",
                        (kind, source_id, row_epoch),
                    ).fetchone()
                    point = int(found[0] or 0)
                db.execute(
                    "UPDATE sources SET status='revoked', revoked=?, valid_up_to=? "
                    "WHERE kind=? AND source_id=? AND epoch=?",
                    (_now(), point, kind, source_id, row_epoch),
                )
                kept = f"bundles within sequence numbers 1-{point} stay acceptable" if point else "no bundle is kept"
                self._log(
                    db,
                    "revoked",
                    f"{kind} {source_id} key epoch {row_epoch} revoked; later bundles will be refused, {kept}",
                    source=source_id,
                )
                audit.append(
                    db, actor or audit.cli_actor(), f"{kind}.revoked", source_id,
                    {"epoch": row_epoch, "keep_up_to": point},
                )  # fmt: skip
            if keep_up_to is not None:
                moved = [row_epoch for _kind, row_epoch, status in rows if status == "revoked"]
                if moved:
                    audit.append(db, actor or audit.cli_actor(), "revocation.point", source_id,
                                 {"epochs": moved, "keep_up_to": keep_up_to})  # fmt: skip
            return len(active)

    def add_token(
        self,
        token_id: str,
        mac_key: bytes,
        expires: str,
        *,
        kind: str,
        for_source: str | None,
        actor: str | None = None,
    ) -> None:
        """Remember a one-time enrolment token by its id, with the key that checks its proofs.

        The token itself is not kept. The proof key is: the hub must check requests with
        it, and must answer with it so the kit knows this hub made the token.
        """
        what = f"{kind} token" + (f" for {for_source} (a new key epoch)" if for_source else "")
        with self._transaction() as db:
            db.execute(
                "INSERT INTO enrolment_tokens(token_id, kind, for_source, mac_key, created, expires) "
                "VALUES(?, ?, ?, ?, ?, ?)",
                (token_id, kind, for_source, mac_key.hex(), _now(), expires),
            )
            self._log(db, "token", f"enrolment {what} created, valid until {expires}")
            # Never the token nor its proof key: who made one, for what, until when.
            audit.append(db, actor or audit.cli_actor(), "token.created", for_source or "",
                         {"kind": kind, "expires": expires})  # fmt: skip

    def token_proof(self, token_id: str) -> tuple[str, bytes]:
        """The kind of the token named ``token_id`` and its proof key; ``EnrolmentError`` if unknown."""
        rows = self._query("SELECT kind, mac_key FROM enrolment_tokens WHERE token_id=?", (token_id,))
        if not rows:
            raise EnrolmentError(
                "the enrolment token is not known at this hub (a token from another hub, mistyped, "
                "or made by an older version of fieldkit); ask the hub operator for a new one"
            )
        return str(rows[0][0]), bytes.fromhex(rows[0][1])

    def enrol_with_token(
        self,
        token_id: str,
        ref: SourceRef,
        public_key: str,
        *,
        now: str | None = None,
        recipients: Sequence[str] | None = None,
        actor: str | None = None,
    ) -> Source:
        """Consume a token and enrol ``ref`` with ``public_key``, all in one transaction.

        The token must be of ``ref``'s kind. A kit or hub already enrolled here gets
        another key (a new epoch) only with a token the operator made for that id
        (``fieldkit hub enrol --for ID``): a fresh token in a stranger's hands cannot
        take over a kit's id. Repeating the same enrolment (a lost response) is allowed
        and changes nothing. ``recipients``, the age keys a kit says it seals to, are
        kept: records of that key epoch sealed to any other number or kind of key are
        set aside at import (``_unapproved_sealing``). Raises :class:`EnrolmentError`
        when refused.
        """
        now = now or _now()
        claimant = f"{ref.kind}:{ref.id}:{ref.epoch}"
        with self._transaction() as db:
            token = db.execute(
                "SELECT kind, for_source, expires, used, used_by FROM enrolment_tokens WHERE token_id=?", (token_id,)
            ).fetchone()
            if token is None:
                raise EnrolmentError("the enrolment token is not known at this hub")
            kind, for_source, expires, used, used_by = token
            if kind != ref.kind:
                raise EnrolmentError(
                    f"this token enrols a {kind}, not a {ref.kind}; ask the hub operator for a {ref.kind} "
                    f"token ('fieldkit hub enrol{' --kind hub' if ref.kind == 'hub' else ''}')"
                )
            if for_source is not None and for_source != ref.id:
                raise EnrolmentError(f"this token was made for {kind} {for_source} only, not for {ref.id}")
            rows = db.execute(
                "SELECT epoch, public_key, status FROM sources WHERE kind=? AND source_id=?",
                (ref.kind, ref.id),
            ).fetchall()
            same_epoch = [row for row in rows if row[0] == ref.epoch]
            if same_epoch and same_epoch[0][2] == "revoked":
                raise EnrolmentError(
                    f"{ref.label()} was revoked at this hub and cannot enrol again; "
                    "create a new kit ('fieldkit init') instead"
                )
            if same_epoch and same_epoch[0][1] != public_key:
                raise EnrolmentError(
                    f"{ref.kind} {ref.id} key epoch {ref.epoch} is already enrolled with "
                    "another key; this request is refused"
                )
            if rows and not same_epoch and for_source != ref.id:
                epochs = ", ".join(str(row[0]) for row in rows)
                raise EnrolmentError(
                    f"{ref.kind} {ref.id} is already enrolled here (key epoch {epochs}); a new key epoch "
                    f"needs the operator's approval: a token made for it with 'fieldkit hub enrol --for {ref.id}'"
                )
            if used is not None and used_by != claimant:
                raise EnrolmentError("the enrolment token was already used by another kit")
            if used is None and expires < now:
                raise EnrolmentError(
                    f"the enrolment token expired on {expires}; create a new one with 'fieldkit hub enrol'"
                )
            if used is None:
                db.execute(
                    "UPDATE enrolment_tokens SET used=?, used_by=? WHERE token_id=?",
                    (now, claimant, token_id),
                )
            if not same_epoch:
                db.execute(
                    "INSERT INTO sources VALUES(?, ?, ?, ?, 'active', ?, NULL, NULL)",
                    (ref.kind, ref.id, ref.epoch, public_key, now),
                )
                message = f"{ref.label()} enrolled"
                if recipients is not None:
                    db.execute(
                        "INSERT INTO source_recipients VALUES(?, ?, ?, ?)",
                        (ref.kind, ref.id, ref.epoch, json.dumps(list(recipients))),
                    )
                    shown = ", ".join(recipient_fingerprint(recipient) for recipient in recipients)
                    message += f"; it seals records to {len(recipients)} key(s): {shown}"
                self._log(db, "enrolled", message, source=ref.id)
                detail: dict[str, object] = {"epoch": ref.epoch}
                if recipients is not None:
                    detail["recipients"] = [recipient_fingerprint(recipient) for recipient in recipients]
                audit.append(db, actor or audit.cli_actor(), f"{ref.kind}.enrolled", ref.id, detail)
            row = db.execute(
                "SELECT * FROM sources WHERE kind=? AND source_id=? AND epoch=?",
                (ref.kind, ref.id, ref.epoch),
            ).fetchone()
        return Source(*row)

    # -- operator sessions (sync.hub.web.sessions) ----------------------------------

    _MAX_ANONYMOUS_SESSIONS = 1000

    def load_session(self, id_sha256: str, *, now: str) -> str | None:
        """The data of an unexpired session, or None."""
        rows = self._query("SELECT data FROM sessions WHERE id_sha256=? AND expires>?", (id_sha256, now))
        return str(rows[0][0]) if rows else None

    def save_session(
        self, id_sha256: str, data: str, *, operator: bool, now: str, expires: str, operator_name: str | None = None
    ) -> None:
        """Create or update a session; expired ones go, and visitors who never logged in are bounded.

        ``operator_name`` says whose session it is (:meth:`end_operator_sessions`).
        """
        with self._transaction() as db:
            known = db.execute("SELECT expires FROM sessions WHERE id_sha256=?", (id_sha256,)).fetchone()
            if known is None:
                db.execute("DELETE FROM sessions WHERE expires<=?", (now,))
                db.execute(
                    "DELETE FROM sessions WHERE id_sha256 IN (SELECT id_sha256 FROM sessions WHERE operator=0 "
                    "ORDER BY created DESC LIMIT 1000000000 OFFSET ?)",  # every one after the newest N
                    (self._MAX_ANONYMOUS_SESSIONS - 1,),
                )
                db.execute(
                    "INSERT INTO sessions(id_sha256, data, operator, created, expires, operator_name) "
                    "VALUES(?, ?, ?, ?, ?, ?)",
                    (id_sha256, data, int(operator), now, expires, operator_name),
                )
            else:  # the lifetime counts from the start, not from the last page
                db.execute(
                    "UPDATE sessions SET data=?, operator=?, operator_name=? WHERE id_sha256=?",
                    (data, int(operator), operator_name, id_sha256),
                )

    def delete_session(self, id_sha256: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id_sha256=?", (id_sha256,))

    def end_operator_sessions(self, db: Database, name: str) -> int:
        """In the caller's transaction: end the sessions of operator ``name``; how many there were."""
        count = db.execute("SELECT COUNT(*) FROM sessions WHERE operator_name=?", (name,)).fetchone()[0]
        db.execute("DELETE FROM sessions WHERE operator_name=?", (name,))
        return int(count)

    def unlock_login(self, *, actor: str | None = None) -> str:
        """Ask the serving hub to forget wrong-password counts (it checks at the next login)."""
        marker = _now() + " " + secrets.token_hex(4)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES('login_unlock', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (marker,),
            )
            self._log(db, "unlock", "login limits lifted by the operator")
            audit.append(db, actor or audit.cli_actor(), "login.unlocked")
        return marker

    def login_unlock_marker(self) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key='login_unlock'")
        return str(rows[0][0]) if rows else None

    # -- importing -----------------------------------------------------------------

    def import_bundle(
        self, source: Path | bytes | BinaryIO, *, label: str | None = None, actor: str | None = None
    ) -> ImportResult:
        """Verify and merge one bundle; never raises for a bad bundle, it reports it.

        Accepted bundles come back with a signed receipt, made only after the commit
        that made their records durable. Refusals are logged with their reason. A merge
        and a refusal leave an audit entry (``bundle.imported``) in their own transaction;
        a bundle merged before changes nothing and writes nothing, not even an entry (a
        kit on a poor link re-sends often, and the first merge is in the trail).
        ``actor`` None means the OS account (a ``hub import``).
        """
        actor = actor or audit.cli_actor()
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
                    ref, count, receipt, last_seq = merged
                    reader.verify_signature(self.key_for(ref, last_seq))
                    return ImportResult(
                        label, "already-merged", duplicates=count, source=ref,
                        bundle_sha256=bundle_sha256, receipt=receipt,
                    )  # fmt: skip
                manifest = reader.manifest
                ref = manifest.source
                reader.verify_signature(self.key_for(ref, manifest.last_seq))
                return self._merge(reader, manifest, label, actor)
        except BundleError as error:
            self._log_refusal(error, label, ref, bundle_sha256, actor)
            return ImportResult(
                label, "refused", code=error.code, reason=str(error), source=ref,
                bundle_sha256=bundle_sha256,
            )  # fmt: skip
        except SignedDocumentError as error:
            # An enrolled key that cannot be loaded: the hub database is damaged.
            raise HubStoreError(str(error)) from None

    def _merged(self, bundle_sha256: str) -> tuple[SourceRef, int, bytes, int] | None:
        row = self._query(
            "SELECT source_kind, source_id, epoch, records, receipt, last_seq FROM bundles WHERE bundle_sha256=?",
            (bundle_sha256,),
        )
        if not row:
            return None
        kind, source_id, epoch, count, receipt, last_seq = row[0]
        return SourceRef(kind, source_id, epoch), count, bytes(receipt), int(last_seq)

    def _log_refusal(
        self, error: BundleError, label: str, ref: SourceRef | None, bundle_sha256: str | None, actor: str
    ) -> None:
        with self._transaction() as db:
            detail = _import_detail("refused", bundle_sha256, label, ref)
            detail["code"] = error.code
            audit.append(db, actor, "bundle.imported", ref.id if ref else "", detail)
            self._log(
                db,
                "refused",
                f"{label}: {error}",
                code=error.code,
                source=ref.id if ref else None,
                bundle=bundle_sha256,
                label=label,
            )

    def _merge(self, reader: BundleReader, manifest: Manifest, label: str, actor: str) -> ImportResult:
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
            approved = self._approved_recipients(db, manifest.source)
            for entry, ciphertext in reader.iter_records():
                outcome = self._merge_record(db, entry, ciphertext, manifest.source, label, approved)
                if outcome == "new":
                    new += 1
                elif outcome == "duplicate":
                    duplicates += 1
                else:
                    quarantined += 1
            if reader.tally is not None:
                self._merge_tally(db, manifest, reader.tally, approved)
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
            detail = _import_detail("accepted", bundle_sha256, label, manifest.source, records=len(manifest.records))
            detail.update(new=new, duplicates=duplicates, quarantined=quarantined)
            audit.append(db, actor, "bundle.imported", manifest.source.id, detail)
        return ImportResult(
            label, "accepted", new=new, duplicates=duplicates, quarantined=quarantined,
            source=manifest.source, bundle_sha256=bundle_sha256, receipt=receipt,
        )  # fmt: skip

    def _merge_record(
        self,
        db: Database,
        entry: RecordEntry,
        ciphertext: bytes,
        source: SourceRef,
        label: str,
        approved: tuple[str, ...] | None = None,
    ) -> str:
        identity = (entry.sha256, entry.kit_id, entry.form_id, entry.form_version, entry.day)
        held = db.execute(
            "SELECT sha256, kit_id, form_id, form_version, day FROM versions WHERE record_id=?",
            (entry.record_id,),
        ).fetchall()
        if identity in held:
            return "duplicate"
        unapproved = _unapproved_sealing(ciphertext, approved) if approved is not None else None
        if unapproved is not None:
            # A kit whose settings were edited on a seized disk could seal to an extra key:
            # such a record is kept, but set aside for the operator, never exported.
            reason = (
                f"record {entry.record_id}: {source.label()} sent it in {label} {unapproved}, but its "
                f"enrolment approved {len(approved or ())} X25519 key(s); set aside"
            )
            self._set_aside(db, entry, ciphertext, reason)
            self._log(
                db, "conflict", reason, code="unapproved-recipients", source=source.id, label=label,
                record_id=entry.record_id,
            )  # fmt: skip
            return "quarantined"
        if held and all(row[1] != entry.kit_id for row in held):
            # The record id is held from another kit: a re-send under this kit's name (of a
            # ciphertext copied from a USB bundle, say) never displaces it. It is set
            # aside for the operator, and the held record stays accepted.
            reason = (
                f"record {entry.record_id}: {source.label()} sent it as kit {entry.kit_id} in {label}, but it "
                f"is held from kit {held[0][1]}; set aside, the held record stays accepted"
            )
            self._set_aside(db, entry, ciphertext, reason)
            self._log(
                db, "conflict", reason, code="other-kit", source=source.id, label=label, record_id=entry.record_id
            )
            return "quarantined"
        db.execute(
            "INSERT INTO versions(record_id, sha256, size, kit_id, form_id, form_version, day, "
            "ciphertext, version_key) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.record_id, entry.sha256, entry.size, entry.kit_id, entry.form_id,
                entry.form_version, entry.day, ciphertext, version_key(*identity),
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

    @staticmethod
    def _merge_tally(
        db: Database, manifest: Manifest, ciphertext: bytes, approved: tuple[str, ...] | None
    ) -> None:
        """Keep the bundle's tally if it is the newest of its kit key epoch.

        Tallies are cumulative, so only the newest counts: the one of the bundle with the
        highest last sequence number (the kit numbers a changed tally after every record
        and tally before it). A tally not sealed as the kit's records are refuses the whole
        bundle (the transaction is rolled back), so the kit hears why.
        """
        if manifest.source.kind != "kit":
            raise BundleError(
                "bad-tally", f"{manifest.source.label()} sent a tally; only kits count declined interviews"
            )
        problem = _unapproved_sealing(ciphertext, approved) if approved is not None else None
        if problem is None and approved is None:
            try:
                age.recipient_stanzas(ciphertext)
            except age.DecryptionError:
                problem = "not as an age file"
        if problem is not None:
            raise BundleError(
                "bad-tally",
                f"the tally of declined interviews from {manifest.source.label()} is sealed {problem}; "
                "the bundle is refused",
            )
        db.execute(
            "INSERT INTO tallies(source_kind, source_id, epoch, last_seq, ciphertext, received) "
            "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(source_kind, source_id, epoch) DO UPDATE SET "
            "last_seq=excluded.last_seq, ciphertext=excluded.ciphertext, received=excluded.received "
            "WHERE excluded.last_seq > tallies.last_seq",
            (
                manifest.source.kind, manifest.source.id, manifest.source.epoch, manifest.last_seq,
                ciphertext, _now()[:10],
            ),
        )  # fmt: skip

    def tallies(self) -> list[StoredTally]:
        """The newest sealed tally of every kit key epoch, in order of kit and epoch."""
        rows = self._query(
            "SELECT source_kind, source_id, epoch, last_seq, ciphertext, received FROM tallies "
            "ORDER BY source_kind, source_id, epoch"
        )
        return [StoredTally(row[0], row[1], int(row[2]), int(row[3]), bytes(row[4]), row[5]) for row in rows]

    @staticmethod
    def _set_aside(db: Database, entry: RecordEntry, ciphertext: bytes, reason: str) -> None:
        db.execute(
            "INSERT INTO set_aside(record_id, sha256, size, kit_id, form_id, form_version, day, "
            "ciphertext, reason, at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                entry.record_id, entry.sha256, entry.size, entry.kit_id, entry.form_id,
                entry.form_version, entry.day, ciphertext, reason, _now(),
            ),
        )  # fmt: skip

    @staticmethod
    def _approved_recipients(db: Database, ref: SourceRef) -> tuple[str, ...] | None:
        """The recipients ``ref`` said at enrolment it seals to; None when it enrolled without saying."""
        row = db.execute(
            "SELECT recipients FROM source_recipients WHERE kind=? AND source_id=? AND epoch=?",
            (ref.kind, ref.id, ref.epoch),
        ).fetchone()
        return tuple(json.loads(row[0])) if row else None

    def approved_recipients(self, ref: SourceRef) -> tuple[str, ...] | None:
        with self._lock:
            return self._approved_recipients(self._db, ref)

    # -- reading -------------------------------------------------------------------

    def forwarding_hubs(self) -> set[str]:
        """The hubs that forwarded records here (a bundle of theirs was merged)."""
        rows = self._query("SELECT DISTINCT source_id FROM bundles WHERE source_kind = ?", ("hub",))
        return {str(row[0]) for row in rows}

    def record_count(self) -> int:
        """How many record ids the hub holds in exactly one version (accepted)."""
        rows = self._query(
            "SELECT COUNT(*) FROM (SELECT record_id FROM versions GROUP BY record_id HAVING COUNT(*) = 1) AS accepted"
        )
        return int(rows[0][0])

    def iter_records(self, *, include_quarantined: bool = False) -> Generator[StoredRecord, None, None]:
        """Every accepted record with its ciphertext, sorted by record id.

        Quarantined ids (held in several versions) are left out unless asked for, and
        then every version of each comes out. For export, forwarding and reports.
        """
        sql = _ALL_VERSIONS if include_quarantined else _ACCEPTED_VERSIONS
        # A connection of its own, so a long export never holds the store's lock.
        connection = self.reader()
        try:
            for row in connection.stream(sql):
                yield StoredRecord(*row[:7], bytes(row[7]))  # type: ignore[call-arg]  # 8 columns: python/mypy#14648
        except DatabaseError as error:
            raise self._db_error(error, "read") from error
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

    def set_aside(self) -> list[SetAside]:
        """Versions kept out of the accepted set: re-sends under another kit's name, operator choices."""
        rows = self._query(
            f"SELECT {_VERSION_COLUMNS}, reason, at FROM set_aside {_VERSION_ORDER}"  # noqa: S608  # nosec B608
        )
        return [SetAside(StoredRecord(*row[:7], bytes(row[7])), row[8], row[9]) for row in rows]  # type: ignore[call-arg]

    # -- resolving quarantine ------------------------------------------------------

    def _find_version(self, db: Database, record_id: str, version: str) -> tuple[str, str, tuple]:
        """The one version of ``record_id`` named ``SHA-PREFIX`` or ``SHA-PREFIX@KIT``: (table, kit, row)."""
        prefix, _, kit = version.partition("@")
        if len(prefix) < 8 or any(ch not in "0123456789abcdef" for ch in prefix):
            raise HubStoreError(
                f"name a version by at least 8 characters of its sha256 (and @KIT when two kits sent it): {version!r}"
            )
        found = []
        for table in ("versions", "set_aside"):
            rows = db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM {table} WHERE record_id=?",  # noqa: S608  # nosec B608 - constants
                (record_id,),
            ).fetchall()
            found += [(table, row) for row in rows if row[6].startswith(prefix) and (not kit or row[1] == kit)]
        if not found:
            raise HubStoreError(f"record {record_id} has no version {version} here ('fieldkit hub quarantine list')")
        if len(found) > 1:
            names = ", ".join(f"{row[6][:12]}@{row[1]}" for _table, row in found)
            raise HubStoreError(f"{version} names more than one version of record {record_id}: {names}; add @KIT")
        table, row = found[0]
        return table, row[1], row

    def release(self, record_id: str, version: str, *, actor: str | None = None) -> int:
        """Make ``version`` the accepted version of ``record_id``; the others are set aside.

        Returns how many other versions were set aside. The operator's decision is logged.
        """
        with self._transaction() as db:
            table, kit, row = self._find_version(db, record_id, version)
            others = db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE record_id=?",  # noqa: S608  # nosec B608
                (record_id,),
            ).fetchall()
            reason = f"record {record_id}: set aside by the operator, who accepted version {row[6][:12]}@{kit}"
            moved = 0
            for other in others:
                if other == row:
                    continue
                db.execute(
                    "INSERT INTO set_aside(record_id, kit_id, form_id, form_version, day, size, sha256, "
                    "ciphertext, reason, at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (*other, reason, _now()),
                )
                db.execute(
                    "DELETE FROM versions WHERE record_id=? AND sha256=? AND kit_id=? AND form_id=? "
                    "AND form_version=? AND day=?",
                    (other[0], other[6], other[1], other[2], other[3], other[4]),
                )
                moved += 1
            if table == "set_aside":
                record_id, kit, form_id, form_version, day, _size, sha256, _ciphertext = row
                db.execute(
                    "INSERT INTO versions(record_id, kit_id, form_id, form_version, day, size, sha256, ciphertext, "
                    "version_key) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*row, version_key(sha256, kit, form_id, form_version, day)),
                )
                self._delete_aside(db, row)
            self._log(
                db, "resolved", f"record {record_id}: version {row[6][:12]}@{kit} accepted by the operator; "
                f"{count_of(moved, 'other version', 'other versions')} set aside", code="release", record_id=record_id,
            )  # fmt: skip
            audit.append(db, actor or audit.cli_actor(), "quarantine.released", record_id,
                         {"version": f"{row[6][:12]}@{kit}", "set_aside": moved})  # fmt: skip
            return moved

    @staticmethod
    def _delete_aside(db: Database, row: tuple) -> None:
        db.execute(
            "DELETE FROM set_aside WHERE record_id=? AND sha256=? AND kit_id=? AND form_id=? "
            "AND form_version=? AND day=?",
            (row[0], row[6], row[1], row[2], row[3], row[4]),
        )

    def drop(self, record_id: str, version: str, *, actor: str | None = None) -> None:
        """Delete one version of ``record_id`` for good (the operator's decision, logged)."""
        with self._transaction() as db:
            table, kit, row = self._find_version(db, record_id, version)
            if table == "versions":
                db.execute(
                    "DELETE FROM versions WHERE record_id=? AND sha256=? AND kit_id=? AND form_id=? "
                    "AND form_version=? AND day=?",
                    (row[0], row[6], row[1], row[2], row[3], row[4]),
                )
            else:
                self._delete_aside(db, row)
            self._log(
                db, "resolved", f"record {record_id}: version {row[6][:12]}@{kit} dropped by the operator",
                code="drop", record_id=record_id,
            )  # fmt: skip
            audit.append(db, actor or audit.cli_actor(), "quarantine.dropped", record_id,
                         {"version": f"{row[6][:12]}@{kit}"})  # fmt: skip

    def drop_source(self, kit_id: str, *, actor: str | None = None) -> int:
        """Delete every record version sent as ``kit_id``, which must be revoked; return how many.

        For a hostile kit: once revoked, what it sent can go, and the records it put in
        quarantine come out of it.
        """
        with self._transaction() as db:
            rows = db.execute("SELECT status FROM sources WHERE kind='kit' AND source_id=?", (kit_id,)).fetchall()
            if not rows:
                raise HubStoreError(f"no kit with id {kit_id!r} is enrolled here")
            if any(row[0] != "revoked" for row in rows):
                raise HubStoreError(
                    f"kit {kit_id} is not revoked: revoke it first ('fieldkit hub revoke {kit_id}'); only "
                    "a revoked kit's records can be dropped"
                )
            count = db.execute("DELETE FROM versions WHERE kit_id=?", (kit_id,)).rowcount
            count += db.execute("DELETE FROM set_aside WHERE kit_id=?", (kit_id,)).rowcount
            self._log(
                db, "resolved", f"{count} record versions sent as revoked kit {kit_id} dropped by the operator",
                code="drop-source", source=kit_id,
            )  # fmt: skip
            audit.append(db, actor or audit.cli_actor(), "quarantine.dropped-kit", kit_id, {"versions": count})
            return count

    def state_digest(self) -> str:
        """SHA-256 over the hub's state (record versions with their bytes, bundles, sources).

        Record versions count whether accepted or set aside, and so does each kit key
        epoch's newest tally, so two hubs that merged the same bundles in any order have
        the same digest. (Which of two kits' versions of
        one record id is accepted does depend on order, by design: the first held is never
        displaced by another kit; the other is set aside for the operator.) The log,
        tokens and sessions are history, not state, and are left out.
        """
        digest = hashlib.sha256()
        held = [*self.iter_records(include_quarantined=True), *(aside.record for aside in self.set_aside())]
        held.sort(key=lambda r: (r.record_id, r.sha256, r.kit_id, r.form_id, r.form_version, r.day))
        for record in held:
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
        for tally in self.tallies():  # the newest per kit key epoch: the same in any order
            line = [tally.source_kind, tally.source_id, tally.epoch, tally.last_seq]
            digest.update(json.dumps(["tally", *line, hashlib.sha256(tally.ciphertext).hexdigest()]).encode() + b"\n")
        return digest.hexdigest()


def _import_detail(
    result: str, bundle_sha256: str | None, label: str, ref: SourceRef | None, *, records: int | None = None
) -> dict[str, object]:
    """The audit detail of one import: the bundle's hash, its file name, the kit key, counts."""
    detail: dict[str, object] = {"result": result, "bundle_sha256": bundle_sha256 or "", "file": Path(label).name}
    if ref is not None:
        detail.update(kind=ref.kind, epoch=ref.epoch)
    if records is not None:
        detail["records"] = records
    return detail


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
