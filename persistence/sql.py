"""Small dialect helpers: the same repository code runs on PostgreSQL and the demo's SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_new(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    stmt = dialect.insert(table).on_conflict_do_nothing().returning(key)
    return conn.execute(stmt, values).first() is not None


def upsert(conn: Connection, table: Table, keys: list[str]) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE every other column."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=others)
