"""The one engine policy: every process (worker, relay, sweep, notifier, the demo) makes its
engine here, never at import.

No pre-ping: it costs a round trip per checkout, on the hot path once per unit of work. A
connection that went stale (PostgreSQL restarted, a proxy dropped it) fails its first
statement instead; that connection is invalidated (Core does it, and so does
persistence.sql.Sql for the raw statements), the pool opens fresh ones, and the caller
retries: the worker's message is retried as an infrastructure error, the relay tries
again on its next pass, the notifier's consumer requeues its event and its senders claim
the row again on their next poll; `ordercare sweep` exits with the error, for its
supervisor to restart it (as before this policy was shared)
(tests/integration/test_notifier_store.py terminates its connections to prove it).
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
import psycopg.types.json
from sqlalchemy import Engine, create_engine


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for PostgreSQL through psycopg 3."""
    psycopg.types.json.set_json_loads(orjson.loads)  # documents read on the hot path
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,  # see the module's docstring
        pool_recycle=1800,
        hide_parameters=True,  # errors must not carry addresses or e-mails into logs
        connect_args={"connect_timeout": 5},
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
    )
