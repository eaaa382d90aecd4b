"""Schema 5: operators and roles (sync.hub.operators); each session names its operator.

One row per named operator account (its role, its scrypt password hash, when it was
made and last changed, and whether it is disabled); changing or removing an operator
ends that operator's sessions and nobody else's.

Revision ID: schema5
Revises: schema4
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "schema5"
down_revision = "schema4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("changed", sa.Text, nullable=False),
        sa.Column("disabled", sa.Integer, nullable=False, server_default=sa.text("0")),
        if_not_exists=True,
    )
    op.add_column("sessions", sa.Column("operator_name", sa.Text))
    op.execute("UPDATE meta SET value = '5' WHERE key = 'schema'")


def downgrade() -> None:
    raise NotImplementedError("the hub store is never downgraded: restore a backup instead")
