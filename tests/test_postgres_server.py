"""The test PostgreSQL server (scripts/postgres.sh) and the per-test database fixture work.

The hub's store will run on PostgreSQL too (SQLAlchemy Core, psycopg); its tests need a
real server and a database of their own each, which these tests prove they get.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.postgres import TCP_ENVIRONMENT, PostgresServer, fresh_database, sqlalchemy_url, unavailable

SEEN_DATABASES: set[str] = set()


def _tables(connection) -> list[str]:
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
    ).fetchall()
    return sorted(row[0] for row in rows)


def test_psycopg_and_sqlalchemy_both_reach_the_test_database(postgres_url: str) -> None:
    import psycopg
    import sqlalchemy as sa

    name = urlsplit(postgres_url).path.lstrip("/")
    assert name.startswith("fieldkit_test_"), postgres_url
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == (name,)
        assert _tables(connection) == []
        connection.execute("CREATE TABLE bundles (id TEXT PRIMARY KEY, records INTEGER NOT NULL)")
        connection.execute("INSERT INTO bundles VALUES (%s, %s)", ("bundle-1", 3))

    engine = sa.create_engine(sqlalchemy_url(postgres_url))
    try:
        assert sa.inspect(engine).get_table_names() == ["bundles"]
        bundles = sa.Table("bundles", sa.MetaData(), autoload_with=engine)
        with engine.begin() as connection:
            connection.execute(sa.insert(bundles).values(id="bundle-2", records=5))
        with engine.connect() as connection:
            total = connection.execute(sa.select(sa.func.sum(bundles.c.records))).scalar_one()
            assert total == 8
            assert connection.execute(sa.text("SELECT current_database()")).scalar_one() == name
    finally:
        engine.dispose()


@pytest.mark.parametrize("turn", ["first", "second"])
def test_every_test_gets_a_different_empty_database(postgres_url: str, turn: str) -> None:
    """Both turns create the same table: had they shared a database, the later would see it."""
    import psycopg

    name = urlsplit(postgres_url).path.lstrip("/")
    assert name not in SEEN_DATABASES
    SEEN_DATABASES.add(name)
    with psycopg.connect(postgres_url) as connection:
        assert _tables(connection) == []
        connection.execute("CREATE TABLE probe (turn TEXT NOT NULL)")
        connection.execute("INSERT INTO probe VALUES (%s)", (turn,))
        assert connection.execute("SELECT turn FROM probe").fetchall() == [(turn,)]


def test_the_database_is_dropped_afterwards_even_with_a_connection_left_open(
    postgres_server: PostgresServer,
) -> None:
    import psycopg

    def exists(name: str) -> bool:
        with psycopg.connect(postgres_server.url) as admin:
            return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    with fresh_database(postgres_server.url) as url:
        name = urlsplit(url).path.lstrip("/")
        left_open = psycopg.connect(url)
        assert exists(name)
    try:
        assert not exists(name)
        with pytest.raises(psycopg.OperationalError):
            left_open.execute("SELECT 1")
    finally:
        left_open.close()


def test_the_socket_needs_no_password_and_tcp_needs_the_right_one(postgres_server: PostgresServer) -> None:
    import psycopg

    socket = urlsplit(postgres_server.url)
    assert socket.password is None and "host=/" in socket.query, postgres_server.url
    with psycopg.connect(postgres_server.url) as connection:
        assert connection.execute("SELECT current_setting('listen_addresses')").fetchone() == ("127.0.0.1",)
    if not postgres_server.tcp_url:
        unavailable(f"the test server's 127.0.0.1 URL is not known ({TCP_ENVIRONMENT} is not set)")
    assert postgres_server.tcp_url
    tcp = urlsplit(postgres_server.tcp_url)
    assert tcp.hostname == "127.0.0.1" and tcp.password
    with psycopg.connect(postgres_server.tcp_url) as connection:
        assert connection.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)
    wrong = tcp._replace(netloc=f"{tcp.username}:not-the-password@127.0.0.1:{tcp.port}").geturl()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong)
