"""The relay's side of the outbox: claim a batch, delete what was published, defer the rest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, func, make_url, select, update

from persistence.messages import OutboundMessage
from persistence.tables import OutboxRow

_outbox = cast(Table, OutboxRow.__table__)


@dataclass(slots=True)
class Claim:
    """Rows locked for this relay until the claim's transaction ends."""

    conn: Connection
    ids: list[int]
    messages: list[OutboundMessage]

    def published(self, ids: list[int]) -> None:
        if ids:
            self.conn.execute(delete(_outbox).where(_outbox.c.id.in_(ids)))

    def defer(self, ids: list[int], seconds: float) -> None:
        """Publish these again later, not on the next pass."""
        if ids:
            later = datetime.now(UTC) + timedelta(seconds=seconds)
            self.conn.execute(
                update(_outbox)
                .where(_outbox.c.id.in_(ids))
                .values(attempts=_outbox.c.attempts + 1, available_at=later)
            )


class OutboxStore:
    """Outbox access for relays. Several relays may run: SKIP LOCKED keeps their batches apart."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def claim(self, limit: int) -> Iterator[Claim]:
        stmt = (
            select(_outbox)
            .where(_outbox.c.available_at <= datetime.now(UTC))
            .order_by(_outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.engine.connect() as conn, conn.begin():
            rows = conn.execute(stmt).all()
            messages = [
                OutboundMessage(r.exchange, r.routing_key, r.message_id, r.body, r.properties)
                for r in rows
            ]
            yield Claim(conn, [r.id for r in rows], messages)

    def backlog(self) -> tuple[int, float]:
        """Rows waiting, and the age in seconds of the oldest."""
        with self.engine.connect() as conn:
            count, oldest = conn.execute(select(func.count(), func.min(_outbox.c.created_at))).one()
        if oldest is None:
            return 0, 0.0
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        return int(count), max((datetime.now(UTC) - oldest).total_seconds(), 0.0)


class OutboxSignal:
    """Waits for PostgreSQL's NOTIFY from the outbox trigger; a plain timeout elsewhere."""

    CHANNEL = "ordercare_outbox"

    def __init__(self, url: str) -> None:
        self._conn: Any = None
        target = make_url(url)
        if target.get_backend_name() == "postgresql":
            import psycopg

            dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
            self._conn = psycopg.connect(dsn, autocommit=True)
            self._conn.execute(f"LISTEN {self.CHANNEL}")

    def wait(self, timeout: float) -> None:
        """Return on the next notification or after `timeout` seconds."""
        if self._conn is None:
            import time

            time.sleep(min(timeout, 0.05))
            return
        for _ in self._conn.notifies(timeout=timeout, stop_after=1):
            pass

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
