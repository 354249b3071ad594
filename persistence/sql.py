"""Raw SQL on the connection SQLAlchemy manages: the hot path's statements, written once.

SQLAlchemy owns the engine, the pool, transactions, the schema and the migrations. The
statements a command runs go straight to the driver, because Core's per-statement work
(cache key, compilation lookup, result wrapping) cost more than the database itself
(ops/bench: about 0.11 ms a statement). Each statement is written in PostgreSQL's
dialect with `%(name)s` parameters; for the embedded demo's SQLite it is translated
once (named parameters, no `::jsonb` casts, no row locks).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

Row = tuple[Any, ...]

#: The most parameters PostgreSQL's protocol carries in one statement.
MAX_PARAMETERS = 65535


class Sql:
    """Statements on one SQLAlchemy connection's driver connection, inside its transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    @property
    def driver(self) -> Any:
        """The driver connection under SQLAlchemy's, read per call (it changes on reconnect);
        inside SQLAlchemy's transaction, whose commit and rollback stay SQLAlchemy's."""
        return self.conn.connection.driver_connection

    def one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None:
        return self._cursor(sql, params).fetchone()  # type: ignore[no-any-return]

    def all(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        return list(self._cursor(sql, params).fetchall())

    def run(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._cursor(sql, params)

    def insert(
        self, head: str, values: str, rows: Sequence[dict[str, Any]], tail: str = ""
    ) -> None:
        """One multi-row INSERT: `head` VALUES `values` (with %(name)s placeholders) per row,
        then `tail`. One statement and one round trip, where executemany costs a protocol
        exchange per row."""
        if not rows:
            return
        params = {f"{key}_{n}": value for n, row in enumerate(rows) for key, value in row.items()}
        self.run(_multi(head, values, len(rows)) + tail, params)

    def _cursor(self, sql: str, params: dict[str, Any] | None) -> Any:
        if params and len(params) > MAX_PARAMETERS:  # psycopg would call it an OperationalError
            raise ValueError(
                f"{len(params)} parameters in one statement; the limit is {MAX_PARAMETERS}"
            )
        driver = self.driver
        try:
            if self.postgres:
                return driver.execute(sql, params or {})
            return driver.execute(_sqlite(sql), params or {})
        except (psycopg.Error, sqlite3.Error) as exc:
            lost = bool(getattr(driver, "closed", False) or getattr(driver, "broken", False))
            if lost:  # tell the pool, as Core would: this connection is not to be reused
                self.conn.invalidate(exc)
            raise _translated(sql, exc, lost) from exc


def in_list(values: Sequence[Any], name: str = "v") -> tuple[str, dict[str, Any]]:
    """Placeholders and parameters for `IN (...)`, on every backend."""
    marks = ", ".join(f"%({name}{i})s" for i in range(len(values)))
    return marks, {f"{name}{i}": value for i, value in enumerate(values)}


def _translated(sql: str, exc: Exception, lost: bool = False) -> Exception:
    """The driver's error as SQLAlchemy's (IntegrityError, OperationalError, …), as Core would
    raise it: without the parameters (they may hold personal data), the statement shortened."""
    base = psycopg.Error if isinstance(exc, psycopg.Error) else sqlite3.Error
    shown = sql if len(sql) <= 300 else sql[:300] + " …"
    return DBAPIError.instance(
        shown, None, exc, base, hide_parameters=True, connection_invalidated=lost
    )


@cache
def _multi(head: str, values: str, count: int) -> str:
    tuples = ", ".join(re.sub(r"%\((\w+)\)s", rf"%(\1_{n})s", values) for n in range(count))
    return f"{head} VALUES {tuples}"


@cache
def _sqlite(sql: str) -> str:
    sql = re.sub(r"%\((\w+)\)s", r":\1", sql)
    sql = sql.replace("::jsonb", "")
    return re.sub(r"\s+FOR UPDATE( SKIP LOCKED)?", "", sql)


def jsonb(value: Any) -> str:
    """A document parameter (cast with `::jsonb` in the statement)."""
    return orjson.dumps(value).decode()


def doc(value: Any) -> Any:
    """A document column: PostgreSQL returns it parsed, SQLite as text."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def dec(value: Any) -> Decimal:
    """A money column: NUMERIC on PostgreSQL, a decimal string on SQLite."""
    return value if isinstance(value, Decimal) else Decimal(value)


def stamp(value: Any) -> datetime:
    """A timestamp column: aware on PostgreSQL, ISO text on SQLite."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def sqlite_adapters() -> None:
    """Store Decimal and datetime on SQLite as the text `dec` and `stamp` read back."""
    sqlite3.register_adapter(Decimal, lambda d: format(d, "f"))
    sqlite3.register_adapter(datetime, lambda d: d.isoformat(sep=" "))
