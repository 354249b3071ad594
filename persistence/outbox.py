"""The relay's side of the outbox: claim a batch, delete what was published, defer the rest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from persistence.messages import OutboundMessage
from persistence.sql import Sql, doc, in_list, stamp


@dataclass(slots=True)
class Claim:
    """Rows locked for this relay until the claim's transaction ends."""

    sql: Sql
    ids: list[int]
    messages: list[OutboundMessage]

    def published(self, ids: list[int]) -> None:
        if ids:
            where, params = self._ids(ids)
            self.sql.run(f"DELETE FROM outbox WHERE {where}", params)

    def defer(self, ids: list[int], seconds: float) -> None:
        """Publish these again later, not on the next pass."""
        if ids:
            where, params = self._ids(ids)
            params["later"] = datetime.now(UTC) + timedelta(seconds=seconds)
            self.sql.run(
                f"UPDATE outbox SET attempts = attempts + 1, available_at = %(later)s WHERE {where}",
                params,
            )

    def _ids(self, ids: list[int]) -> tuple[str, dict[str, Any]]:
        """One statement text whatever the batch size on PostgreSQL (= ANY of an array)."""
        if self.sql.postgres:
            return "id = ANY(%(ids)s)", {"ids": ids}
        marks, params = in_list(ids)
        return f"id IN ({marks})", params


class OutboxStore:
    """Outbox access for relays. Several relays may run: SKIP LOCKED keeps their batches apart."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def claim(self, limit: int) -> Iterator[Claim]:
        with self.engine.connect() as conn, conn.begin():
            sql = Sql(conn)
            rows = sql.all(
                "SELECT id, exchange, routing_key, message_id, body, properties FROM outbox "
                "WHERE available_at <= %(now)s ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
                {"now": datetime.now(UTC), "limit": limit},
            )
            messages = [OutboundMessage(e, k, m, bytes(b), doc(p)) for _i, e, k, m, b, p in rows]
            yield Claim(sql, [r[0] for r in rows], messages)

    def backlog(self) -> tuple[int, float]:
        """Rows waiting, and the age in seconds of the oldest."""
        with self.engine.connect() as conn:
            count, oldest = Sql(conn).one("SELECT count(*), min(created_at) FROM outbox") or (
                0,
                None,
            )
        if oldest is None:
            return 0, 0.0
        oldest_at = stamp(oldest)
        oldest_at = oldest_at if oldest_at.tzinfo else oldest_at.replace(tzinfo=UTC)
        return int(count), max((datetime.now(UTC) - oldest_at).total_seconds(), 0.0)
