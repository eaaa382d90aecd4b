"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
    # Then: the same change in sync/hub/schema.py, SCHEMA_VERSION and HEAD_REVISION in
    # sync/hub/store.py, and the schema number releases before Alembic read (they refuse
    # a database whose number is not theirs):
    # op.execute("UPDATE meta SET value = 'N' WHERE key = 'schema'")


def downgrade() -> None:
    raise NotImplementedError("the hub store is never downgraded: restore a backup instead")
