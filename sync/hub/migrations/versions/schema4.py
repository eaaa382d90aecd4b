"""Schema 4: the audit trail (sync.hub.audit), one row per operator action, chained by hash.

The newest (seq, hash) is kept in meta as 'audit_head', written in the same
transaction. Append-only: nothing updates or deletes it.

Revision ID: schema4
Revises: schema3
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "schema4"
down_revision = "schema3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        if_not_exists=True,
    )
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")


def downgrade() -> None:
    raise NotImplementedError("the hub store is never downgraded: restore a backup instead")
