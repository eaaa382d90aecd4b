"""The hub store's tables in SQLAlchemy Core (sync.hub.schema) are exactly the schema the frozen SQL makes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from sync.hub.schema import metadata
from tests.hub_schemas import CURRENT, SCHEMA_SQL, make_old_database, table_shape

# Old releases' SQLite files and their upgrades; tests/test_hub_postgresql.py checks a PostgreSQL
# hub's tables against the same metadata.
pytestmark = pytest.mark.sqlite_only


def _from_metadata(path: Path) -> Path:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with engine.begin() as connection:
        metadata.create_all(connection)
    engine.dispose()
    return path


def test_the_tables_made_from_the_metadata_are_the_tables_the_sql_of_schema_6_makes(tmp_path: Path) -> None:
    make_old_database(tmp_path / "sql.sqlite", CURRENT)
    expected = table_shape(tmp_path / "sql.sqlite")
    found = table_shape(_from_metadata(tmp_path / "core.sqlite"))
    assert sorted(found) == sorted(expected)
    for name in expected:
        assert found[name] == expected[name], name
    # The comparison sees what matters: a missing index, column or AUTOINCREMENT is a difference.
    assert expected["events"]["autoincrement"] and not expected["versions"]["autoincrement"]  # type: ignore[index]
    connection = sqlite3.connect(tmp_path / "core.sqlite")
    connection.execute("DROP INDEX events_by_record")
    connection.close()
    assert table_shape(tmp_path / "core.sqlite")["events"] != expected["events"]


def test_every_column_has_a_type_both_sqlite_and_postgresql_have() -> None:
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateTable

    for table in metadata.sorted_tables:
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            CreateTable(table).compile(dialect=dialect)  # raises for a type the dialect lacks
        for column in table.columns:
            assert type(column.type).__name__ in {"Text", "Integer", "LargeBinary"}, (table.name, column.name)


def test_the_frozen_sql_of_each_old_schema_adds_to_the_one_before() -> None:
    for number in "23456":
        assert SCHEMA_SQL[number].startswith(SCHEMA_SQL[str(int(number) - 1)])
