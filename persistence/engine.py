"""Engines are made here, by bootstrap, never at import."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
import psycopg.types.json
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from persistence.sql import sqlite_adapters


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for PostgreSQL (psycopg 3) or, for the embedded demo, SQLite."""
    psycopg.types.json.set_json_loads(orjson.loads)  # documents read on the hot path
    if url.startswith("sqlite"):
        sqlite_adapters()
        engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=_dumps,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per unit of work; a connection that went stale
        # fails its first statement, is invalidated, and the message is retried.
        pool_recycle=1800,
        hide_parameters=True,
        connect_args={"connect_timeout": 5},  # errors must not carry addresses or e-mails into logs
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
