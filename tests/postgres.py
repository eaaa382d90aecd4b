"""A real PostgreSQL server for the tests, and a fresh database in it for each test.

scripts/test.sh (so CI) starts a throwaway server with scripts/postgres.sh and exports its
URL as FIELDKIT_TEST_POSTGRES. Without that variable, a session on a machine with
PostgreSQL's server programs starts its own server the same way (one per pytest worker)
and deletes it at the end; a machine without them skips the tests that need one, and CI
(CI=true) fails them instead, so a missing server can never pass for a green run.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"
ENVIRONMENT = "FIELDKIT_TEST_POSTGRES"
TCP_ENVIRONMENT = "FIELDKIT_TEST_POSTGRES_TCP"  # the same server over 127.0.0.1, with its password


@dataclass(frozen=True)
class PostgresServer:
    url: str  # the maintenance database "postgres" over the unix socket, no password
    tcp_url: str | None  # the same over 127.0.0.1, with the password


def with_database(url: str, name: str) -> str:
    """``url`` (a libpq ``postgresql://`` URL) naming database ``name`` instead."""
    return urlsplit(url)._replace(path="/" + name).geturl()


def sqlalchemy_url(url: str) -> str:
    """The same server and database for SQLAlchemy, through psycopg (version 3)."""
    scheme, rest = url.split("://", 1)
    assert scheme in ("postgresql", "postgres"), url
    return "postgresql+psycopg://" + rest


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must test against a real PostgreSQL (scripts/test.sh starts one)")
    pytest.skip(reason)


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server`` under a random name, dropped on leaving
    even if connections to it are left open."""
    import psycopg
    from psycopg import sql

    name = "fieldkit_test_" + secrets.token_hex(6)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test server: the one scripts/test.sh started, else one of this session's own."""
    url = os.environ.get(ENVIRONMENT)
    if url:
        yield PostgresServer(url, os.environ.get(TCP_ENVIRONMENT))
        return
    folder = Path(tempfile.mkdtemp(prefix="fieldkit-postgres-"))
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    try:
        if started.returncode != 0:
            unavailable(
                f"no test PostgreSQL: {ENVIRONMENT} is not set and scripts/postgres.sh could not start one: "
                + (started.stderr.strip().splitlines() or [f"exit status {started.returncode}"])[-1]
            )
        yield PostgresServer(started.stdout.strip(), (folder / "tcp.url").read_text(encoding="utf-8").strip())
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=120, check=False)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A libpq URL (``postgresql://...``, unix socket) of a new, empty database for this test only."""
    with fresh_database(postgres_server.url) as url:
        yield url
