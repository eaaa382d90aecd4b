"""Schema 6: the versions table is unique on (record_id, version_key), a compact key.

``version_key`` is 16 bytes hashed from the rest of a version's identity (sha256,
kit_id, form_id, form_version, day: ``sync.hub.store.version_key``). The unique index
on all six columns took ~200 bytes a record; this one takes ~70, so a hub of a million
records keeps its index in memory and inserts touch fewer pages. The table is rebuilt
(SQLite cannot drop a constraint in place), rows and ids unchanged.

Revision ID: schema6
Revises: schema5
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.hub.store import version_key

revision = "schema6"
down_revision = "schema5"
branch_labels = None
depends_on = None

# The table as this revision leaves it, frozen here: a later revision may change sync.hub.schema.
_VERSIONS = sa.Table(
    "versions",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("kit_id", sa.Text, nullable=False),
    sa.Column("form_id", sa.Text, nullable=False),
    sa.Column("form_version", sa.Integer, nullable=False),
    sa.Column("day", sa.Text, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("version_key", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("record_id", "version_key"),
)


def upgrade() -> None:
    op.add_column("versions", sa.Column("version_key", sa.LargeBinary))
    connection = op.get_bind()
    page = sa.text(
        "SELECT id, sha256, kit_id, form_id, form_version, day FROM versions WHERE id > :after ORDER BY id LIMIT 10000"
    )
    after = 0
    while rows := connection.execute(page, {"after": after}).fetchall():  # a page at a time: a big hub's rows
        keys = [{"id": row[0], "key": version_key(*row[1:])} for row in rows]
        connection.execute(sa.text("UPDATE versions SET version_key = :key WHERE id = :id"), keys)
        after = rows[-1][0]
    # The new table is made from _VERSIONS and the rows copied into it, in this transaction.
    with op.batch_alter_table("versions", copy_from=_VERSIONS, recreate="always"):
        pass
    op.execute("UPDATE meta SET value = '6' WHERE key = 'schema'")


def downgrade() -> None:
    raise NotImplementedError("the hub store is never downgraded: restore a backup instead")
