"""Schema 1: the first hub store (sources, tokens, record versions, bundles, events).

A hub database of schema 1 made before Alembic is stamped with this revision when it is
first opened (``sync.hub.migrate``); from an empty database this makes schema 1.
Revisions are frozen history: they spell their tables out and never import
``sync.hub.schema``, which describes only the newest schema.

Revision ID: schema1
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "schema1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "sources",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("enrolled", sa.Text, nullable=False),
        sa.Column("revoked", sa.Text),
        sa.PrimaryKeyConstraint("kind", "source_id", "epoch"),
        if_not_exists=True,
    )
    op.create_table(
        "tokens",
        sa.Column("token_sha256", sa.Text, primary_key=True),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("expires", sa.Text, nullable=False),
        sa.Column("used", sa.Text),
        sa.Column("used_by", sa.Text),
        if_not_exists=True,
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("kit_id", sa.Text, nullable=False),
        sa.Column("form_id", sa.Text, nullable=False),
        sa.Column("form_version", sa.Integer, nullable=False),
        sa.Column("day", sa.Text, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("record_id", "sha256", "kit_id", "form_id", "form_version", "day"),
        if_not_exists=True,
    )
    op.create_table(
        "bundles",
        sa.Column("bundle_sha256", sa.Text, primary_key=True),
        sa.Column("source_kind", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("first_seq", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("imported", sa.Text, nullable=False),
        sa.Column("receipt", sa.LargeBinary, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("code", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("bundle", sa.Text),
        sa.Column("label", sa.Text),
        sa.Column("record_id", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        sqlite_autoincrement=True,
        if_not_exists=True,
    )
    op.create_index("events_by_kind", "events", ["kind", "id"], if_not_exists=True)
    op.create_index("events_by_record", "events", ["record_id"], if_not_exists=True)
    op.execute("INSERT INTO meta(key, value) VALUES ('schema', '1')")


def downgrade() -> None:
    raise NotImplementedError("the hub store is never downgraded: restore a backup instead")
