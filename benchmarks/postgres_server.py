"""A throwaway PostgreSQL server for the benchmarks that measure a hub on PostgreSQL.

The same script the tests use (``scripts/postgres.sh``), with ``FIELDKIT_POSTGRES_DURABLE=1``:
the server fsyncs every commit, as a real hub's does, so the figures are not those of the
tests' fsync-less cluster. Without PostgreSQL's server programs it raises ``RuntimeError``
and the benchmark says so instead of measuring SQLite twice.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"


@contextmanager
def durable_postgres(database: str = "fieldkit_bench") -> Iterator[str]:
    """The URL of a new database ``database`` on a durable throwaway server, deleted on leaving."""
    import psycopg
    from psycopg import sql

    folder = Path(tempfile.mkdtemp(prefix="fieldkit-bench-postgres-"))
    environment = {**os.environ, "FIELDKIT_POSTGRES_DURABLE": "1"}
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)],
        capture_output=True, text=True, timeout=120, check=False, env=environment,
    )  # fmt: skip
    try:
        if started.returncode != 0:
            raise RuntimeError("no PostgreSQL server for the benchmark: " + (started.stderr.strip() or "start failed"))
        server = started.stdout.strip()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        yield urlsplit(server)._replace(path="/" + database).geturl()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=120, check=False)
