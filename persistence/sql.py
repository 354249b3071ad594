"""Raw SQL on the connection SQLAlchemy manages: the hot path's statements, written once.

SQLAlchemy owns the engine, the pool, transactions, the schema and the migrations. The
statements a command runs go straight to the driver, because Core's per-statement work
(cache key, compilation lookup, result wrapping) cost more than the database itself
(ops/bench: about 0.11 ms a statement). Each statement is written in PostgreSQL's
dialect with `%(name)s` parameters and runs as written: PostgreSQL is the one database.
tests/integration/test_statements.py plans every statement against the migrated schema.

psycopg hands back NUMERIC as Decimal, jsonb parsed and timestamptz as aware datetimes,
so rows need no conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        self.run(_multi(head, values, tuple(rows[0]), len(rows)) + tail, params)

    def _cursor(self, sql: str, params: dict[str, Any] | None) -> Any:
        if params and len(params) > MAX_PARAMETERS:  # psycopg would call it an OperationalError
            raise ValueError(
                f"{len(params)} parameters in one statement; the limit is {MAX_PARAMETERS}"
            )
        driver = self.driver
        try:
            return driver.execute(sql, params or {})
        except psycopg.Error as exc:
            lost = bool(getattr(driver, "closed", False) or getattr(driver, "broken", False))
            if lost:  # tell the pool, as Core would: this connection is not to be reused
                self.conn.invalidate(exc)
            raise _translated(sql, exc, lost) from exc


def _translated(sql: str, exc: Exception, lost: bool = False) -> Exception:
    """The driver's error as SQLAlchemy's (IntegrityError, OperationalError, …), as Core would
    raise it: without the parameters (they may hold personal data), the statement shortened."""
    shown = sql if len(sql) <= 300 else sql[:300] + " …"
    return DBAPIError.instance(
        shown, None, exc, psycopg.Error, hide_parameters=True, connection_invalidated=lost
    )


@cache
def _multi(head: str, values: str, keys: tuple[str, ...], count: int) -> str:
    """`values` once per row, each placeholder %(key)s numbered %(key_n)s."""

    def numbered(n: int) -> str:
        text = values
        for key in keys:
            text = text.replace(f"%({key})s", f"%({key}_{n})s")
        return text

    return f"{head} VALUES {', '.join(numbered(n) for n in range(count))}"


def jsonb(value: Any) -> str:
    """A document parameter (cast with `::jsonb` in the statement)."""
    return orjson.dumps(value).decode()
