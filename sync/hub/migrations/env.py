"""Alembic's environment for the hub store's migrations.

At run time the hub passes its own connection, already inside the one transaction the
whole upgrade runs in (``sync.hub.migrate``), as ``config.attributes["connection"]``.
From the ``alembic`` command (developers, ``docs/development.md``) the database is named
with ``-x url=sqlite:///path/to/hub.sqlite``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from sync.hub.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transaction_per_migration=False,  # one transaction for the whole upgrade
        transactional_ddl=True,  # SQLite and PostgreSQL both roll back DDL
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("name the database: alembic -c sync/hub/migrations/alembic.ini -x url=sqlite:///PATH ...")
    return url


shared = context.config.attributes.get("connection")
if shared is not None:
    _run(shared)
elif context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(_url(), poolclass=NullPool)
    with engine.connect() as connection:
        _run(connection)
        connection.commit()
