"""Schema 2: enrolment tokens, operator sessions, set-aside versions, each kit's recipients.

enrolment_tokens replaces tokens (version 1 tokens, kept by hash, cannot prove
anything); sessions holds the operator's logins; set_aside holds versions of a record
id sent by another kit than the one it is held from, versions an operator set aside
when resolving quarantine, and records sealed to other keys than the kit's enrolment
approved; source_recipients holds the age recipients each kit key epoch said at
enrolment it seals to; sources.valid_up_to is a revoked key's revocation point.

Revision ID: schema2
Revises: schema1
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "schema2"
down_revision = "schema1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrolment_tokens",
        sa.Column("token_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("for_source", sa.Text),
        sa.Column("mac_key", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("expires", sa.Text, nullable=False),
        sa.Column("used", sa.Text),
        sa.Column("used_by", sa.Text),
        if_not_exists=True,
    )
    op.create_table(
        "sessions",
        sa.Column("id_sha256", sa.Text, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("operator", sa.Integer, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("expires", sa.Text, nullable=False),
        if_not_exists=True,
    )
    op.create_index("sessions_by_expiry", "sessions", ["expires"])
    op.create_table(
        "source_recipients",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("kind", "source_id", "epoch"),
        if_not_exists=True,
    )
    op.create_table(
        "set_aside",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("kit_id", sa.Text, nullable=False),
        sa.Column("form_id", sa.Text, nullable=False),
        sa.Column("form_version", sa.Integer, nullable=False),
        sa.Column("day", sa.Text, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.UniqueConstraint("record_id", "sha256", "kit_id", "form_id", "form_version", "day"),
        if_not_exists=True,
    )
    op.add_column("sources", sa.Column("valid_up_to", sa.Integer))
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")


def downgrade() -> None:
    raise NotImplementedError("the hub store is never downgraded: restore a backup instead")
