"""The hub store's tables (``hub.sqlite``) as SQLAlchemy Core objects: schema 6.

This is the one description of the hub's tables. A new hub database is made from it
(``create_schema``); an older one is brought up to it by the Alembic revisions in
``sync.hub.migrations`` (``tests/test_hub_schema.py`` checks that both give the same
tables, and that they match the SQL the hub used before). The types are the portable
ones (Text, Integer, LargeBinary), so the same tables can be made on PostgreSQL.

The queries themselves are still plain SQL in ``sync.hub.store``; only making and
upgrading the database goes through SQLAlchemy and Alembic.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = ["metadata"]

metadata = MetaData()

_VERSION_KEY = ("record_id", "sha256", "kit_id", "form_id", "form_version", "day")


def _version_columns() -> list[Column]:
    """The columns of one record version (``versions`` and ``set_aside``)."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("record_id", Text, nullable=False),
        Column("sha256", Text, nullable=False),
        Column("size", Integer, nullable=False),
        Column("kit_id", Text, nullable=False),
        Column("form_id", Text, nullable=False),
        Column("form_version", Integer, nullable=False),
        Column("day", Text, nullable=False),
        Column("ciphertext", LargeBinary, nullable=False),
    ]


Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)
Table(
    "sources",
    metadata,
    Column("kind", Text, nullable=False),
    Column("source_id", Text, nullable=False),
    Column("epoch", Integer, nullable=False, autoincrement=False),
    Column("public_key", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("enrolled", Text, nullable=False),
    Column("revoked", Text),
    Column("valid_up_to", Integer),
    PrimaryKeyConstraint("kind", "source_id", "epoch"),
)
Table(
    "tokens",
    metadata,
    Column("token_sha256", Text, primary_key=True),
    Column("created", Text, nullable=False),
    Column("expires", Text, nullable=False),
    Column("used", Text),
    Column("used_by", Text),
)
Table(
    "enrolment_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("for_source", Text),
    Column("mac_key", Text, nullable=False),
    Column("created", Text, nullable=False),
    Column("expires", Text, nullable=False),
    Column("used", Text),
    Column("used_by", Text),
)
Table(
    "sessions",
    metadata,
    Column("id_sha256", Text, primary_key=True),
    Column("data", Text, nullable=False),
    Column("operator", Integer, nullable=False),
    Column("created", Text, nullable=False),
    Column("expires", Text, nullable=False),
    Column("operator_name", Text),
    Index("sessions_by_expiry", "expires"),
)
Table(
    "source_recipients",
    metadata,
    Column("kind", Text, nullable=False),
    Column("source_id", Text, nullable=False),
    Column("epoch", Integer, nullable=False, autoincrement=False),
    Column("recipients", Text, nullable=False),
    PrimaryKeyConstraint("kind", "source_id", "epoch"),
)
Table(
    "set_aside",
    metadata,
    *_version_columns(),
    Column("reason", Text, nullable=False),
    Column("at", Text, nullable=False),
    UniqueConstraint(*_VERSION_KEY),
)
Table(
    "centres",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("location", Text),
    Column("active", Integer, nullable=False),
    Column("added", Text, nullable=False),
    Column("changed", Text, nullable=False),
)
Table(
    "cycles",
    metadata,
    Column("cycle_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("start_day", Text, nullable=False),
    Column("end_day", Text, nullable=False),
    Column("forms", Text, nullable=False),
    Column("centres", Text, nullable=False),
    Column("added", Text, nullable=False),
    Column("closed", Text),
)
Table(
    "packs",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("made", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
)
Table(
    "form_versions",
    metadata,
    Column("form_id", Text, nullable=False),
    Column("version", Integer, nullable=False, autoincrement=False),
    Column("content_hash", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("added", Text, nullable=False),
    PrimaryKeyConstraint("form_id", "version"),
)
Table(
    "tallies",
    metadata,
    Column("source_kind", Text, nullable=False),
    Column("source_id", Text, nullable=False),
    Column("epoch", Integer, nullable=False, autoincrement=False),
    Column("last_seq", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("received", Text, nullable=False),
    PrimaryKeyConstraint("source_kind", "source_id", "epoch"),
)
Table(
    "audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
)
Table(
    "versions",
    metadata,
    *_version_columns(),
    Column("version_key", LargeBinary, nullable=False),
    # One version per record id and identity (version_key, sync.hub.store.version_key). Not the six columns
    # themselves, as set_aside is: at ~70 bytes a record instead of ~200, the index of a
    # hub of a million records is a third the size, and shallower (docs/performance.md).
    UniqueConstraint("record_id", "version_key"),
)
Table(
    "bundles",
    metadata,
    Column("bundle_sha256", Text, primary_key=True),
    Column("source_kind", Text, nullable=False),
    Column("source_id", Text, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("first_seq", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("created", Text, nullable=False),
    Column("records", Integer, nullable=False),
    Column("imported", Text, nullable=False),
    Column("receipt", LargeBinary, nullable=False),
)
Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("code", Text),
    Column("source", Text),
    Column("bundle", Text),
    Column("label", Text),
    Column("record_id", Text),
    Column("message", Text, nullable=False),
    Index("events_by_kind", "kind", "id"),
    Index("events_by_record", "record_id"),
    sqlite_autoincrement=True,
)
Table(
    "operators",
    metadata,
    Column("name", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created", Text, nullable=False),
    Column("changed", Text, nullable=False),
    Column("disabled", Integer, nullable=False, server_default=text("0")),
)
