"""The outbox: messages written in the transaction of the change that caused them (`Outbox`),
and the relay's side (`OutboxStore`): claim a batch, delete what was published, defer the rest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from persistence.sql import Sql, jsonb


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """An AMQP message to publish once the transaction commits."""

    exchange: str
    routing_key: str
    message_id: str
    body: bytes
    properties: dict[str, Any]


class Outbox:
    """Messages written with the change that caused them; the relay publishes them."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def add(self, messages: list[OutboundMessage], at: datetime) -> None:
        self.sql.insert(
            "INSERT INTO outbox (exchange, routing_key, message_id, body, properties, created_at, "
            "available_at, attempts)",
            "(%(exchange)s, %(routing_key)s, %(message_id)s, %(body)s, %(properties)s::jsonb, %(at)s, "
            "%(at)s, 0)",
            [outbox_row(m, at) for m in messages],
        )


def outbox_row(m: OutboundMessage, at: datetime) -> dict[str, Any]:
    return {
        "exchange": m.exchange,
        "routing_key": m.routing_key,
        "message_id": m.message_id,
        "body": m.body,
        "properties": jsonb(m.properties),
        "at": at,
    }


#: A row a worker is still publishing itself: never tried, and its grace period not over
#: (`%(now)s` bound). Not a backlog.
IN_GRACE = "(attempts = 0 AND available_at > %(now)s)"


def delete(sql: Sql, ids: list[int]) -> None:
    """Remove rows the broker confirmed (a row already gone is simply not there)."""
    if ids:
        sql.run("DELETE FROM outbox WHERE id = ANY(%(ids)s)", {"ids": ids})


@dataclass(slots=True)
class Claim:
    """Rows locked for this relay until the claim's transaction ends."""

    sql: Sql
    ids: list[int]
    messages: list[OutboundMessage]

    def published(self, ids: list[int]) -> None:
        delete(self.sql, ids)

    def defer(self, ids: list[int], seconds: float) -> None:
        """Publish these again later, not on the next pass."""
        if ids:
            later = datetime.now(UTC) + timedelta(seconds=seconds)
            self.sql.run(
                "UPDATE outbox SET attempts = attempts + 1, available_at = %(later)s "
                "WHERE id = ANY(%(ids)s)",
                {"ids": ids, "later": later},
            )


#: The most body bytes one claim loads (8 MiB).
CLAIM_BYTES = 8 * 1024 * 1024


class OutboxStore:
    """Outbox access for relays. Several relays may run: SKIP LOCKED keeps their batches apart."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def claim(self, limit: int, max_bytes: int = CLAIM_BYTES) -> Iterator[Claim]:
        """Lock up to `limit` rows and load those whose bodies fit in `max_bytes` together
        (the first always): dead-letter copies may be 256 KiB each, and a relay holding
        500 of them would keep that memory. Rows locked but not loaded wait for the next."""
        with self.engine.connect() as conn, conn.begin():
            sql = Sql(conn)
            rows = sql.all(
                "WITH c AS (SELECT id, length(body) AS size FROM outbox WHERE available_at <= %(now)s "
                "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
                "w AS (SELECT id, sum(size) OVER (ORDER BY id) - size AS before FROM c) "
                "SELECT o.id, o.exchange, o.routing_key, o.message_id, o.body, o.properties "
                "FROM outbox o JOIN w ON o.id = w.id WHERE w.before < %(bytes)s ORDER BY o.id",
                {"now": datetime.now(UTC), "limit": limit, "bytes": max_bytes},
            )
            messages = [OutboundMessage(e, k, m, bytes(b), p) for _i, e, k, m, b, p in rows]
            yield Claim(sql, [r[0] for r in rows], messages)

    def delete(self, ids: list[int]) -> None:
        """Remove rows the broker confirmed to a worker that published them itself (one
        statement for many commands' rows; a row a relay already took is simply gone)."""
        if ids:
            with self.engine.connect() as conn, conn.begin():
                delete(Sql(conn), ids)

    def backlog(self) -> tuple[int, float]:
        """Rows waiting, and the age in seconds of the oldest. A row in its grace period (never
        tried, not yet available: its worker is publishing it itself) is no backlog; a row
        deferred after a failed try is."""
        with self.engine.connect() as conn:
            count, oldest = Sql(conn).one(
                f"SELECT count(*), min(created_at) FROM outbox WHERE NOT {IN_GRACE}",
                {"now": datetime.now(UTC)},
            ) or (0, None)
        if oldest is None:
            return 0, 0.0
        return int(count), max((datetime.now(UTC) - oldest).total_seconds(), 0.0)
