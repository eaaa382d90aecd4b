"""Schema 3: the monitoring programme (centres, cycles, form packs, form versions, tallies).

centres is the registry (names and locations never leave the hub); cycles are the
assessment rounds (forms and centres are JSON lists of ids; an empty centre list means
every active centre); packs lists every form pack the hub signed, in version order;
form_versions keeps the YAML of every form version the hub ever packed; tallies keeps,
per kit key epoch, the newest sealed tally of declined interviews that kit sent.

Revision ID: schema3
Revises: schema2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "schema3"
down_revision = "schema2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "centres",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("active", sa.Integer, nullable=False),
        sa.Column("added", sa.Text, nullable=False),
        sa.Column("changed", sa.Text, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "cycles",
        sa.Column("cycle_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("start_day", sa.Text, nullable=False),
        sa.Column("end_day", sa.Text, nullable=False),
        sa.Column("forms", sa.Text, nullable=False),
        sa.Column("centres", sa.Text, nullable=False),
        sa.Column("added", sa.Text, nullable=False),
        sa.Column("closed", sa.Text),
        if_not_exists=True,
    )
    op.create_table(
        "packs",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("made", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "form_versions",
        sa.Column("form_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("added", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("form_id", "version"),
        if_not_exists=True,
    )
    op.create_table(
        "tallies",
        sa.Column("source_kind", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("received", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("source_kind", "source_id", "epoch"),
        if_not_exists=True,
    )
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")


def downgrade() -> None:
    raise NotImplementedError("the hub store is never downgraded: restore a backup instead")
