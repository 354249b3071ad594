"""The schema has one description in code, persistence/tables.py, and it is what the
migrations build: alembic's autogenerate finds no difference (what `ordercare db check` runs
in `ops/run test`), and a database built from tables.py alone has the very catalog a
migrated one has, down to what alembic does not compare (check constraints, partial
indexes' predicates, operator classes, comments)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, String, create_engine, text

from persistence.tables import Base
from tests import servers


@pytest.fixture
def migrated(database_url: str) -> Iterator[Engine]:
    """This test's database: a clone of the template every migration was applied to."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def differences(conn: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def test_alembic_finds_no_difference_between_the_migrations_and_tables_py(
    migrated: Engine,
) -> None:
    with migrated.connect() as conn:
        assert differences(conn, Base.metadata) == []


def test_a_column_that_differs_from_the_migrations_is_reported(migrated: Engine) -> None:
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["refunds"].c.failure_reason.type = String(200)  # the migration says 300

    with migrated.connect() as conn:
        [[change]] = differences(conn, drifted)

    assert (change[0], change[2], change[3]) == ("modify_type", "refunds", "failure_reason")


#: The catalog of the public schema: every column, index, constraint and comment, as
#: PostgreSQL itself prints their definitions.
CATALOG = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relname <> 'alembic_version'
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1, 2""",
    "constraints": """
        SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE c.relname <> 'alembic_version' ORDER BY 1, 2""",
    "table comments": """
        SELECT relname, obj_description(c.oid, 'pg_class') FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE c.relkind = 'r' AND relname <> 'alembic_version' ORDER BY 1""",
}


def catalog(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {part: [tuple(r) for r in conn.execute(text(sql))] for part, sql in CATALOG.items()}


def test_a_database_built_from_tables_py_alone_is_the_migrated_database(
    migrated: Engine,
) -> None:
    with servers.database_from("template0") as url:
        built = create_engine(url)
        try:
            with built.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))  # as 0004 does
                Base.metadata.create_all(conn)
            from_tables = catalog(built)
        finally:
            built.dispose()

    from_migrations = catalog(migrated)
    for part in CATALOG:
        assert from_tables[part] == from_migrations[part], part
